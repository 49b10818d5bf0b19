"""EXPLODE and POSEXPLODE, MaxCompute's table-generating functions, in `LATERAL VIEW [OUTER]` and
alone in a select list (docs/sql-functions.md, "LATERAL VIEW").

`EXPLODE(array)` gives a row per element (one column, `col` unless named), `EXPLODE(map)` a row
per entry (two columns, `key` and `value`), `POSEXPLODE(array)` a row per element with its
position from 0 (`pos`, `val`). A NULL or empty input gives no row, and with OUTER one row of
NULLs, so the row it joins is kept. The canonical tree keeps MaxCompute's own form (Spark reads
it as written); `lower_for_duckdb` turns each view into a lateral join over UNNEST. Anywhere
else (inside an expression, beside other columns) they are refused by name, as MaxCompute
refuses them there.
"""

from __future__ import annotations

from sqlglot import exp

from trailhouse.warehouse.sql.diagnostics import UnsupportedSql

_UDTFS = (exp.Explode, exp.Posexplode)


def _name(node: exp.Expression) -> str:
    return "POSEXPLODE" if isinstance(node, exp.Posexplode) else "EXPLODE"


def prepare(tree: exp.Expr) -> None:
    """Check every LATERAL VIEW EXPLODE/POSEXPLODE, turn one alone in a select list into a
    LATERAL VIEW of its FROM, and refuse one anywhere else."""
    for select in list(tree.find_all(exp.Select)):
        _select_list(select)
        for lateral in select.args.get("laterals") or []:
            if isinstance(lateral.this, _UDTFS):
                _check_view(lateral)
    for node in tree.find_all(*_UDTFS):
        if not isinstance(node.parent, exp.Lateral):
            raise UnsupportedSql(
                f"{_name(node)} is a table-generating function: use it alone in the select list "
                f"(SELECT {_name(node)}(…) AS (…) FROM …) or in LATERAL VIEW {_name(node)}(…) "
                "t AS …",
                _name(node),
            )


def _columns(node: exp.Expression, names: list[exp.Identifier]) -> int:
    """How many columns the call gives: POSEXPLODE 2, EXPLODE 1 of an array or 2 of a map
    (decided by the names given, or without names by a MAP(…) argument)."""
    if isinstance(node, exp.Posexplode):
        return 2
    if names:
        return len(names)
    return 2 if isinstance(node.this, (exp.Map, exp.VarMap)) else 1


def _check_view(lateral: exp.Lateral) -> None:
    node = lateral.this
    alias = lateral.args.get("alias")
    names = list(alias.columns) if isinstance(alias, exp.TableAlias) else []
    if not isinstance(alias, exp.TableAlias) or not alias.this:
        raise UnsupportedSql(
            f"LATERAL VIEW {_name(node)} needs a table alias and column names: "
            f"LATERAL VIEW {_name(node)}(…) t AS …",
            _name(node),
        )
    wanted = _columns(node, names)
    if not names or len(names) != wanted or len(names) > 2:
        raise UnsupportedSql(
            f"LATERAL VIEW {_name(node)} gives {'two columns' if wanted == 2 else 'one column'}"
            f" ({'pos, val' if isinstance(node, exp.Posexplode) else 'col, or key, value of a map'}"
            f"): name {'them' if wanted == 2 else 'it'} after AS, got {len(names)}",
            _name(node),
        )


def _select_list(select: exp.Select) -> None:
    """SELECT EXPLODE(x) [AS c | AS (c1, c2)] FROM … as SELECT v.c… FROM … LATERAL VIEW."""
    projections = list(select.expressions)
    found = [p for p in projections if isinstance(_call(p), _UDTFS)]
    if not found:
        return
    if len(projections) != 1:
        raise UnsupportedSql(
            f"{_name(_call(found[0]))} in the select list must be the only expression there; use "
            "LATERAL VIEW to select other columns with it",
            _name(_call(found[0])),
        )
    projection = found[0]
    node = _call(projection)
    if isinstance(projection, exp.Aliases):
        names = [exp.to_identifier(n.name) for n in projection.expressions]
    elif isinstance(projection, exp.Alias):
        names = [exp.to_identifier(projection.alias)]
    else:
        names = []
    if not names:
        if isinstance(node, exp.Posexplode):
            names = [exp.to_identifier("pos"), exp.to_identifier("val")]
        elif _columns(node, []) == 2:
            names = [exp.to_identifier("key"), exp.to_identifier("value")]
        else:
            names = [exp.to_identifier("col")]
    view = exp.to_identifier("__udtf")
    lateral = exp.Lateral(
        this=node.copy(),
        view=True,
        outer=False,
        alias=exp.TableAlias(this=view, columns=names),
    )
    select.set("expressions", [exp.column(n.name, table=view.name) for n in names])
    if select.args.get("from_") is None:  # SELECT EXPLODE(ARRAY(1, 2)): a view of one row
        select.from_(exp.select(exp.Literal.number(1)).subquery("__one"), copy=False)
    select.append("laterals", lateral)


def _call(projection: exp.Expression) -> exp.Expression:
    return projection.this if isinstance(projection, (exp.Alias, exp.Aliases)) else projection


def lower_for_duckdb(tree: exp.Expr) -> exp.Expr:
    """Each LATERAL VIEW [OUTER] EXPLODE/POSEXPLODE as a lateral join over UNNEST: a CROSS JOIN,
    or for OUTER a LEFT JOIN … ON TRUE (a NULL or empty input keeps its row, with NULLs)."""
    for select in list(tree.find_all(exp.Select)):
        laterals = select.args.get("laterals") or []
        if not any(isinstance(lateral.this, _UDTFS) for lateral in laterals):
            continue
        kept = []
        for lateral in laterals:
            if not isinstance(lateral.this, _UDTFS):
                kept.append(lateral)
                continue
            alias = lateral.args["alias"]
            names = [n.name for n in alias.columns]
            row = exp.Subquery(this=exp.select(*_unnests(lateral.this, names)))
            view = exp.Lateral(this=row, alias=exp.TableAlias(this=alias.this.copy()))
            if lateral.args.get("outer"):
                join = exp.Join(this=view, side="LEFT", on=exp.true())
            else:
                join = exp.Join(this=view, kind="CROSS")
            select.append("joins", join)
        select.set("laterals", kept or None)
    return tree


def _unnests(node: exp.Expression, names: list[str]) -> list[exp.Expr]:
    value = node.this
    if isinstance(node, exp.Posexplode):
        positions = exp.func("RANGE", exp.func("LEN", value.copy()))
        return [
            exp.alias_(exp.cast(exp.Unnest(expressions=[positions]), "INT"), names[0]),
            exp.alias_(exp.Unnest(expressions=[value.copy()]), names[1]),
        ]
    if len(names) == 2:
        return [
            exp.alias_(exp.Unnest(expressions=[exp.func("MAP_KEYS", value.copy())]), names[0]),
            exp.alias_(exp.Unnest(expressions=[exp.func("MAP_VALUES", value.copy())]), names[1]),
        ]
    return [exp.alias_(exp.Unnest(expressions=[value.copy()]), names[0])]
