"""Which statements of a SQL text write, and where: the planner refuses a write into an
`actiontrail_*` project (or a table delivery writes) with MaxCompute's permission error, and any
write but those a project of one's own runs (warehouse/sql/user_writes.py) as unsupported.

A write is any statement that is not a query: sqlglot's DML and DDL nodes (INSERT, the multi-table
`FROM … INSERT …`, CREATE, DROP, ALTER, TRUNCATE, DELETE, UPDATE, MERGE) and the statements it
only keeps as text (`CREATE TABLE … LIFECYCLE n`, as PyODPS's `o.create_table` writes it, `MSCK`,
`GRANT`, …). Their targets are read from the tree, or, for text, from the names after `TABLE`,
`VIEW` or `INTO`; a write whose target cannot be read is taken to write the current project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from trailhouse.errors import NoPermission, SqlSemanticError
from trailhouse.warehouse.model import PROJECT_PREFIX

_WRITES = (
    exp.Insert,
    exp.MultitableInserts,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Drop,
    exp.Create,
    exp.Alter,
    exp.TruncateTable,
)
# Statements sqlglot keeps as text (exp.Command) that change a table, a project or a grant.
_WRITING_COMMANDS = frozenset(
    {
        "ALTER",
        "COPY",
        "CREATE",
        "DELETE",
        "DROP",
        "EXPORT",
        "GRANT",
        "IMPORT",
        "INSERT",
        "MERGE",
        "MSCK",
        "PURGE",
        "RENAME",
        "REPLACE",
        "REVOKE",
        "TRUNCATE",
        "UNLOAD",
        "UPDATE",
        "UPSERT",
    }
)
_LOADS_TABLE = re.compile(r"\b(?:INTO|OVERWRITE)\s+TABLE\b", re.IGNORECASE)
_NAMED = re.compile(
    r"\b(?:TABLE|VIEW|INTO|OVERWRITE)\s+(?:TABLE\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
    r"((?:`[^`]+`|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|[\w$]+))*)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Target:
    """A table a statement writes (`table` is "" when the statement names none)."""

    project: str
    table: str

    @property
    def delivered(self) -> bool:
        """True for a table only ActionTrail delivery writes: any table of an `actiontrail_*`
        project, and a trail's `actiontrail_*` table in any project."""
        return self.project.startswith(PROJECT_PREFIX) or self.table.startswith(PROJECT_PREFIX)


def write_kind(statement: exp.Expr) -> str | None:
    """The statement's keyword (INSERT, DROP, …) when it writes; None for a query or a read."""
    if isinstance(statement, exp.Command):
        keyword = str(statement.this).split()[0].upper() if str(statement.this).split() else ""
        if keyword == "LOAD":  # MaxCompute's LOAD … TABLE writes; DuckDB's LOAD <extension> not
            rest = statement.expression
            text = rest.name if isinstance(rest, exp.Literal) else str(rest or "")
            return keyword if _LOADS_TABLE.search(text) else None
        return keyword if keyword in _WRITING_COMMANDS else None
    if isinstance(statement, exp.MultitableInserts):
        return "INSERT"
    if isinstance(statement, exp.TruncateTable):
        return "TRUNCATE"
    if isinstance(statement, _WRITES):
        return statement.key.upper()
    return None


def targets(statement: exp.Expr, project: str) -> list[Target]:
    """The tables a writing statement writes, names resolved against the current `project`."""
    if isinstance(statement, exp.Command):
        rest = statement.expression
        text = f"{statement.this} {rest.name if isinstance(rest, exp.Literal) else rest or ''}"
        found = [_split(match.group(1), project) for match in _NAMED.finditer(text)]
        return found or [Target(project, "")]
    if isinstance(statement, exp.MultitableInserts):
        nodes = [insert.this for insert in statement.expressions]
    elif isinstance(statement, exp.Drop | exp.TruncateTable):
        nodes = list(statement.args.get("tables") or statement.expressions or [statement.this])
    else:
        nodes = [statement.this]
    found = []
    for node in nodes:
        table = node if isinstance(node, exp.Table) else (node.find(exp.Table) if node else None)
        if table is None:
            found.append(Target(project, ""))
        else:
            found.append(Target((table.db or project).lower(), table.name.lower()))
    return found or [Target(project, "")]


def _split(name: str, project: str) -> Target:
    parts = [part.strip().strip("`").lower() for part in name.split(".")]
    if len(parts) == 1:
        return Target(project, parts[0])
    return Target(parts[0], parts[-1])  # project.table or project.schema.table


def is_user_write(statement: exp.Expr) -> bool:
    """True for the statements a project of one's own runs: CREATE TABLE, INSERT, DROP TABLE,
    ALTER TABLE … ADD|DROP PARTITION (user_writes.py reads them and refuses the forms of them it
    does not run)."""
    if isinstance(statement, exp.Insert):
        return True
    kind = str(statement.args.get("kind") or "").upper()
    if isinstance(statement, exp.Alter) and kind == "TABLE":
        actions = statement.args.get("actions") or []
        return all(isinstance(a, exp.AddPartition | exp.DropPartition) for a in actions)
    return isinstance(statement, exp.Create | exp.Drop) and kind == "TABLE"


def refuse_writes(project: str, statements: list[exp.Expr]) -> None:
    """NoPermission for a write into what delivery writes (nothing runs, nothing changes);
    SqlSemanticError for any other write but CREATE TABLE, INSERT and DROP TABLE."""
    for statement in statements:
        kind = write_kind(statement)
        if kind is None:
            continue
        for target in targets(statement, project.lower()):
            if target.delivered:
                where = f"{target.project}.{target.table}" if target.table else target.project
                raise NoPermission(
                    f"ODPS-0130013:Authorization exception - {kind} on {where} refused: a "
                    f"project named {PROJECT_PREFIX}* (and a trail's {PROJECT_PREFIX}* table) "
                    "accepts table writes only from ActionTrail delivery, so that its audit "
                    "events stay exactly as recorded; keep results in a project of your own"
                )
        if not is_user_write(statement):
            raise SqlSemanticError(
                f"Semantic analysis exception - {kind} is not supported; trailhouse SQL runs "
                "SELECT and, in a project of one's own, CREATE TABLE, CREATE TABLE … AS SELECT, "
                "INSERT INTO|OVERWRITE TABLE … SELECT and DROP TABLE (docs/pyodps.md)"
            )
