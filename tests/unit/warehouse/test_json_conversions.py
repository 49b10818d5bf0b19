"""TO_JSON and FROM_JSON beyond their pages' example tables (family_examples.py): a member of a
type the two engines print differently fails the job naming its type, in MaxCompute's words on
DuckDB and Spark alike, and the page's BigQuery-compatible example is refused naming its flag."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from builders import WarehouseFixture, root
from conformance_helpers import ENGINES, engine_warehouse

from trailhouse.errors import ApiError
from trailhouse.warehouse.model import JobStatus


@pytest.fixture(scope="module", params=ENGINES)
def tw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WarehouseFixture]:
    yield from engine_warehouse(request, tmp_path_factory)


@pytest.mark.parametrize(
    ("member", "kind"),
    [
        ("x / 4", "DOUBLE"),
        ("CAST('2015-08-26' AS DATE)", "DATE"),
        ("CAST('2015-08-26 01:02:03' AS DATETIME)", "DATETIME"),  # the engines: TIMESTAMP
    ],
)
def test_a_member_of_another_type_fails_the_job_naming_it(
    tw: WarehouseFixture, member: str, kind: str
) -> None:
    jobs = tw.warehouse.jobs
    sql = f"SELECT to_json(named_struct('k', {member})) FROM (SELECT 1 AS x) t"
    job = jobs.wait(root(), jobs.submit(root(), tw.project, sql).job_id, timeout=120)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "ODPS-0121095", job.error_message
    assert job.error_message == (
        f"Invalid argument - TO_JSON of a value of type {kind} is not supported: a member "
        "that is not a constant must be a STRING, an integer or a BOOLEAN"
    )


def test_the_bigquery_compatible_example_is_refused_naming_its_flag(tw: WarehouseFixture) -> None:
    # The TO_JSON page's third example keeps NULL fields under this flag.
    script = (
        "SET odps.sql.bigquery.compatible=true;\n"
        'SELECT TO_JSON(named_struct("k1", CAST(NULL AS STRING), "k2", "v2"));'
    )
    with pytest.raises(ApiError) as refused:
        tw.warehouse.jobs.submit(root(), tw.project, script)
    assert "odps.sql.bigquery.compatible" in refused.value.message
