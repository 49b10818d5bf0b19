"""Which SQL statements write, and where (`warehouse/sql/writes.py`): every write into an
`actiontrail_*` project, or a trail's `actiontrail_*` table, is NoPermission whatever form it
takes (as sqlglot parses it or only as text); any other write is not supported; reads pass."""

from __future__ import annotations

import pytest

from trailhouse.errors import NoPermission, SqlSemanticError
from trailhouse.warehouse.sql.dialect import parse_statements
from trailhouse.warehouse.sql.writes import refuse_writes

DELIVERY = "actiontrail_1111222233334444"
OWN = "analyst_results"

# (current project, SQL, what is raised or None, the words the message holds)
CASES = [
    (
        DELIVERY,
        "CREATE TABLE t (a STRING) PARTITIONED BY (ds STRING) LIFECYCLE 10",
        NoPermission,
        "CREATE on actiontrail_1111222233334444.t",
    ),
    (
        OWN,
        f"CREATE TABLE IF NOT EXISTS `{DELIVERY}`.`t` (a STRING) LIFECYCLE 1",
        NoPermission,
        f"{DELIVERY}.t",
    ),
    (OWN, f"CREATE TABLE {DELIVERY}.t AS SELECT 1 AS a", NoPermission, "CREATE on"),
    (
        OWN,
        "DROP TABLE IF EXISTS actiontrail_my_trail",
        NoPermission,
        "DROP on analyst_results.actiontrail_my_trail",
    ),
    (DELIVERY, "DROP TABLE other.t", None, ""),  # another project: the planner decides
    (OWN, f"DROP TABLE {DELIVERY}.t", NoPermission, "DROP on"),
    (DELIVERY, "ALTER TABLE t ADD PARTITION (ds='20260101')", NoPermission, "ALTER on"),
    (
        OWN,
        f"ALTER TABLE {DELIVERY}.t DROP IF EXISTS PARTITION (ds='20260101')",
        NoPermission,
        "ALTER on",
    ),
    (OWN, f"TRUNCATE TABLE {DELIVERY}.t", NoPermission, "TRUNCATE on"),
    (
        DELIVERY,
        "INSERT OVERWRITE TABLE t PARTITION (ds='20260101') SELECT 1",
        NoPermission,
        "INSERT on",
    ),
    (OWN, f"INSERT INTO {DELIVERY}.t SELECT 1", NoPermission, "INSERT on"),
    (
        OWN,
        f"WITH a AS (SELECT 1) INSERT INTO {DELIVERY}.t SELECT * FROM a",
        NoPermission,
        "INSERT on",
    ),
    (OWN, f"FROM src INSERT OVERWRITE TABLE {DELIVERY}.t SELECT a", NoPermission, "INSERT on"),
    (OWN, f"DELETE FROM {DELIVERY}.t WHERE 1 = 1", NoPermission, "DELETE on"),
    (OWN, f"UPDATE {DELIVERY}.t SET a = 1", NoPermission, "UPDATE on"),
    (OWN, f"CREATE VIEW {DELIVERY}.v AS SELECT 1", NoPermission, "CREATE on"),
    (DELIVERY, "MSCK REPAIR TABLE t", NoPermission, "MSCK on"),
    (OWN, f"GRANT SELECT ON TABLE {DELIVERY}.t TO USER x", NoPermission, "GRANT on"),
    (OWN, f"LOAD INTO TABLE {DELIVERY}.t FROM LOCATION 'oss://x'", NoPermission, "LOAD on"),
    (OWN, "INSERT INTO mine SELECT 1", None, ""),  # a project of one's own: user_writes.py
    (OWN, "CREATE TABLE mine AS SELECT 1 AS a", None, ""),
    (OWN, "DROP TABLE IF EXISTS mine", None, ""),
    (OWN, "ALTER TABLE mine ADD COLUMNS (b STRING)", SqlSemanticError, "ALTER is not supported"),
    (OWN, "TRUNCATE TABLE mine", SqlSemanticError, "TRUNCATE is not supported"),
    (OWN, "CREATE VIEW v AS SELECT 1", SqlSemanticError, "CREATE is not supported"),
    (OWN, "DELETE FROM mine WHERE 1 = 1", SqlSemanticError, "DELETE is not supported"),
    (OWN, "LOAD httpfs", None, ""),  # DuckDB's LOAD <extension>: not a write; refused later
    (DELIVERY, "SELECT 1", None, ""),
    (DELIVERY, "DESC t", None, ""),
]


@pytest.mark.parametrize(("project", "sql", "raised", "says"), CASES)
def test_writes_are_found_in_every_form(
    project: str, sql: str, raised: type[Exception] | None, says: str
) -> None:
    statements = parse_statements(sql)
    if raised is None:
        refuse_writes(project, statements)
        return
    with pytest.raises(raised) as caught:
        refuse_writes(project, statements)
    assert says in str(caught.value)
    if raised is NoPermission:
        assert str(caught.value).startswith("ODPS-0130013:Authorization exception")
        assert "only from ActionTrail delivery" in str(caught.value)
