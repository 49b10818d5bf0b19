"""The write statements trailhouse SQL runs in a project of one's own, read from sqlglot's tree.

`CREATE TABLE [IF NOT EXISTS] t (col type [COMMENT '…'], …) [COMMENT '…'] [PARTITIONED BY (k
STRING, …)] [LIFECYCLE n]`, `CREATE TABLE [IF NOT EXISTS] t AS SELECT …`, `INSERT INTO|OVERWRITE
TABLE t [PARTITION (k='v', …)] SELECT …`, `DROP TABLE [IF EXISTS] t` and `ALTER TABLE t
ADD|DROP [IF [NOT] EXISTS] PARTITION (k='v', …)` (PyODPS's `create_partition`,
`delete_partition`). Anything else that
writes (ALTER, TRUNCATE, DELETE, dynamic partitions, a column list after the table name, …) is
refused naming what is not supported (`UnsupportedSql`). Which project may be written, and by
whom, is decided apart (warehouse/sql/writes.py for `actiontrail_*`, warehouse/access.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from trailhouse.errors import InvalidParameter
from trailhouse.warehouse.model import UserColumn
from trailhouse.warehouse.sql.dialect import UnsupportedSql
from trailhouse.warehouse.sql.types import maxcompute_type_of
from trailhouse.warehouse.user_tables import normal_type

# MaxCompute's `LIFECYCLE n` (days before an unchanged table is deleted), which sqlglot does not
# read: trailhouse keeps tables until they are dropped, so the clause is blanked before parsing.
LIFECYCLE = re.compile(r"\bLIFECYCLE\s+\d+\s*(?=;?\s*\Z)", re.IGNORECASE)


class WriteKind:
    """The statements a project of one's own accepts."""

    CREATE = "CREATE TABLE"
    CTAS = "CREATE TABLE AS"
    INSERT = "INSERT"
    DROP = "DROP TABLE"
    ADD_PARTITION = "ADD PARTITION"
    DROP_PARTITION = "DROP PARTITION"


@dataclass(frozen=True, slots=True)
class WriteStatement:
    """One write statement as read: what it does, to which table, with what.

    `tolerant` is IF NOT EXISTS (CREATE) or IF EXISTS (DROP); `partition` the static partition
    an INSERT names; `query` the SELECT of a CTAS or INSERT.
    """

    kind: str
    project: str
    table: str
    columns: tuple[UserColumn, ...] = ()
    partition_keys: tuple[UserColumn, ...] = ()
    comment: str = ""
    tolerant: bool = False
    overwrite: bool = False
    partition: tuple[tuple[str, str], ...] = ()
    query: exp.Query | None = None


def without_lifecycle(sql: str) -> str:
    """The SQL with a trailing `LIFECYCLE n` blanked (positions kept)."""
    return LIFECYCLE.sub(lambda found: " " * len(found.group(0)), sql)


def read_write(statement: exp.Expr, project: str) -> WriteStatement:
    """The write a statement makes, names resolved against the current `project`;
    UnsupportedSql naming the form when trailhouse does not run it."""
    if isinstance(statement, exp.Create) and str(statement.args.get("kind")).upper() == "TABLE":
        return _create(statement, project)
    if isinstance(statement, exp.Insert):
        return _insert(statement, project)
    if isinstance(statement, exp.Drop) and str(statement.args.get("kind")).upper() == "TABLE":
        tables = list(statement.args.get("tables") or [statement.this])
        if len(tables) != 1 or not isinstance(tables[0], exp.Table):
            raise UnsupportedSql("DROP TABLE drops one table at a time")
        owner, name = _target(tables[0], project)
        return WriteStatement(
            WriteKind.DROP, owner, name, tolerant=bool(statement.args.get("exists"))
        )
    if isinstance(statement, exp.Alter) and len(statement.args.get("actions") or []) == 1:
        return _alter(statement, project)
    raise UnsupportedSql(
        "this write is not supported; a project of one's own runs CREATE TABLE, CREATE TABLE "
        "… AS SELECT, INSERT INTO|OVERWRITE TABLE … SELECT and DROP TABLE (docs/pyodps.md)"
    )


def _create(statement: exp.Create, project: str) -> WriteStatement:
    target = statement.this
    definitions: list[exp.Expr] = []
    if isinstance(target, exp.Schema):
        definitions = list(target.expressions)
        target = target.this
    if not isinstance(target, exp.Table):
        raise UnsupportedSql("CREATE TABLE needs a table name")
    owner, name = _target(target, project)
    comment = ""
    keys: tuple[UserColumn, ...] = ()
    properties = statement.args.get("properties")
    for prop in properties.expressions if isinstance(properties, exp.Properties) else []:
        if isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty) and isinstance(prop.this, exp.Schema):
            keys = tuple(_column(d) for d in prop.this.expressions)
        else:
            raise UnsupportedSql(
                f"CREATE TABLE … {prop.sql(dialect='hive')} is not supported; name columns, a "
                "COMMENT, PARTITIONED BY and LIFECYCLE only"
            )
    query = statement.expression
    tolerant = bool(statement.args.get("exists"))
    if isinstance(query, exp.Query):
        if definitions:
            raise UnsupportedSql("CREATE TABLE … AS SELECT takes its columns from the query")
        if keys:
            raise UnsupportedSql(
                "CREATE TABLE … PARTITIONED BY … AS SELECT is not supported; CREATE the table, "
                "then INSERT INTO TABLE t PARTITION (k='v') SELECT …"
            )
        return WriteStatement(
            WriteKind.CTAS, owner, name, comment=comment, tolerant=tolerant, query=query
        )
    if query is not None:
        raise UnsupportedSql("CREATE TABLE … AS needs a SELECT")
    if not definitions:
        raise UnsupportedSql("CREATE TABLE needs its columns: CREATE TABLE t (a BIGINT, …)")
    columns = tuple(_column(d) for d in definitions)
    return WriteStatement(
        WriteKind.CREATE, owner, name, columns, keys, comment=comment, tolerant=tolerant
    )


def _insert(statement: exp.Insert, project: str) -> WriteStatement:
    target = statement.this
    if isinstance(target, exp.Schema):
        raise UnsupportedSql(
            "INSERT with a column list is not supported; SELECT every column of the table in "
            "its order"
        )
    if not isinstance(target, exp.Table):
        raise UnsupportedSql("INSERT needs a table: INSERT INTO TABLE t SELECT …")
    owner, name = _target(target, project)
    spec = target.args.get("partition")
    partition = _static_partition(spec if isinstance(spec, exp.Partition) else None)
    query = statement.expression
    if not isinstance(query, exp.Query):
        raise UnsupportedSql("INSERT … VALUES is not supported; INSERT … SELECT")
    return WriteStatement(
        WriteKind.INSERT,
        owner,
        name,
        overwrite=bool(statement.args.get("overwrite")),
        partition=partition,
        query=query,
    )


def _alter(statement: exp.Alter, project: str) -> WriteStatement:
    target = statement.this
    if not isinstance(target, exp.Table):
        raise UnsupportedSql("ALTER TABLE needs a table name")
    owner, name = _target(target, project)
    action = statement.args["actions"][0]
    if isinstance(action, exp.AddPartition):
        kind, specs = WriteKind.ADD_PARTITION, [action.this]
    elif isinstance(action, exp.DropPartition):
        kind, specs = WriteKind.DROP_PARTITION, list(action.expressions)
    else:
        raise UnsupportedSql("ALTER TABLE runs ADD PARTITION and DROP PARTITION only")
    if len(specs) != 1:
        raise UnsupportedSql(f"{kind} takes one partition at a time")
    return WriteStatement(
        kind,
        owner,
        name,
        tolerant=bool(action.args.get("exists")),
        partition=_static_partition(specs[0]),
    )


def _static_partition(spec: exp.Expr | None) -> tuple[tuple[str, str], ...]:
    """The key values of PARTITION (k='v', …); UnsupportedSql for a dynamic partition."""
    pairs: list[tuple[str, str]] = []
    for condition in spec.expressions if spec is not None else []:
        if not (
            isinstance(condition, exp.EQ)
            and isinstance(condition.this, exp.Column)
            and isinstance(condition.expression, exp.Literal)
        ):
            raise UnsupportedSql(
                f"partition {condition.sql(dialect='hive')}: dynamic partitions are not "
                "supported; name each key's value, PARTITION (k='v')"
            )
        pairs.append((condition.this.name.lower(), condition.expression.name))
    return tuple(pairs)


def _target(table: exp.Table, project: str) -> tuple[str, str]:
    if table.catalog:  # project.schema.table: the one schema is `default`
        if table.db.lower() != "default":
            raise UnsupportedSql(f"schema {table.db}: projects have one schema, default")
        return table.catalog.lower(), table.name.lower()
    return (table.db or project).lower(), table.name.lower()


def _column(definition: exp.Expr) -> UserColumn:
    if not isinstance(definition, exp.ColumnDef) or not isinstance(
        definition.args.get("kind"), exp.DataType
    ):
        raise UnsupportedSql(f"{definition.sql(dialect='hive')}: name a column and its type")
    comment = ""
    for constraint in definition.args.get("constraints") or []:
        if isinstance(constraint.args.get("kind"), exp.CommentColumnConstraint):
            comment = constraint.args["kind"].this.name
        else:
            raise UnsupportedSql(f"column {definition.name}: constraints are not supported")
    written = maxcompute_type_of(definition.args["kind"])
    try:
        odps_type = normal_type(written)
    except InvalidParameter as exc:
        raise UnsupportedSql(f"column {definition.name}: {exc.message}") from exc
    return UserColumn(definition.name.lower(), odps_type, comment)
