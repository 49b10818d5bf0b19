"""MaxCompute's JSON type and its functions, answered alike on DuckDB (its JSON type) and on Spark
(its VARIANT), printed as MaxCompute prints a JSON value: compact text, an object's keys sorted.

JSON '…' and JSON_PARSE of a constant string, JSON_VALID of one, JSON_TYPE, JSON_LENGTH,
JSON_EXISTS, JSON_EXTRACT, JSON_FORMAT, JSON_OBJECT and JSON_ARRAY. A JSON value comes only from
these (trailhouse has no JSON columns), so a function that takes one refuses anything else. The
text of a constant is read here, by Python's strict parser, and written in its canonical form:
DuckDB's and Spark's own parsers disagree on text that is not strict JSON (trailing commas, NaN,
duplicate keys, text after the value), which is why JSON_PARSE and JSON_VALID of a column are
refused (docs/sql-functions.md).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar, cast

from sqlglot import exp

from trailhouse.warehouse.sql import json_complex
from trailhouse.warehouse.sql.diagnostics import ARGUMENT_TYPE, UnsupportedSql
from trailhouse.warehouse.sql.functions import arity

# sqlglot's expression classes cannot be subclassed here: each function is carried by a class
# nothing else in the MaxCompute dialect produces, and written for each engine by `duckdb_sql`
# and `spark_sql` (JSONExtract is GET_JSON_OBJECT's `[*]`, json_paths.JsonWildcard).
JsonValue = exp.ParseJSON  # a JSON value from its canonical text (or NULL)
JsonTypeOf = exp.JSONType  # JSON_TYPE(json)
JsonLength = exp.JSONKeysAtDepth  # JSON_LENGTH(json): this, and the path's value as `expression`
JsonExists = exp.JSONExists  # JSON_EXISTS(json, path): this, path
JsonPathValue = exp.JSONBExtract  # JSON_EXTRACT(json, path): this, expression
JsonFormat = exp.JSONFormat  # JSON_FORMAT(json)
JsonObject = exp.JSONObject  # JSON_OBJECT(k1, v1, …): expressions
JsonArray = exp.JSONArray  # JSON_ARRAY(e1, …): expressions

_Tree = TypeVar("_Tree", bound=exp.Expr)
_JSON_VALUED = (JsonValue, JsonPathValue, JsonObject, JsonArray)
# With TO_JSON's member text (json_complex.py), written for each engine here too.
NODES = (*_JSON_VALUED, JsonTypeOf, JsonLength, JsonExists, JsonFormat, *json_complex.NODES)

# A JSON path of the JSON type's functions: $ then .key, ['key'] and [n] steps.
_STEP = re.compile(r"\.([^.\[\]'\"*]+)|\['([^'\"]*)'\]|\[([0-9]+)\]")


def _unwrapped(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def is_json(node: exp.Expression) -> bool:
    """Whether `node` is a MaxCompute JSON value (as this module builds one)."""
    return isinstance(_unwrapped(node), _JSON_VALUED)


def canonical(text: str) -> str:
    """The JSON text as MaxCompute prints the value: compact, keys sorted; ValueError when the
    text is not strict JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    value = json.loads(text, parse_constant=refuse)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _bad_token(text: str) -> str:
    stripped = text.strip()
    match = re.match(r"[^\s,:\[\]{}]+|.", stripped)
    return match.group() if match else stripped


def json_value_of(name: str, node: exp.Expression) -> exp.Expression:
    """A JSON value of a constant string (JSON '…', JSON_PARSE('…')): its canonical text."""
    node = _unwrapped(node)
    if isinstance(node, exp.Null):
        return JsonValue(this=exp.null())
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(
            f"{name} of a value that is not a constant string is not supported: trailhouse's "
            "engines disagree on text that is not strict JSON (trailing commas, NaN, duplicate "
            "keys); parse a constant, or read the text with GET_JSON_OBJECT",
            name,
        )
    text = str(node.this)
    try:
        fixed = canonical(text)
    except ValueError:
        raise UnsupportedSql(
            f'Invalid input syntax for type json, detail:Token "{_bad_token(text)}" is invalid',
            name,
        ) from None
    return JsonValue(this=exp.Literal.string(fixed))


def _json_argument(name: str, node: exp.Expression) -> exp.Expression:
    if isinstance(_unwrapped(node), exp.Null):
        return JsonValue(this=exp.null())
    if not is_json(node):
        raise UnsupportedSql(
            f"Invalid argument type - function {name} takes a JSON value (JSON '…', "
            "JSON_PARSE, JSON_EXTRACT, JSON_OBJECT, JSON_ARRAY); for JSON text in a STRING use "
            "GET_JSON_OBJECT",
            name,
            ARGUMENT_TYPE,
        )
    return node


def path_steps(name: str, node: exp.Expression) -> list[str | int] | None:
    """The steps of a constant JSON path (None for NULL); refused when it is no path."""
    node = _unwrapped(node)
    if isinstance(node, exp.Null):
        return None
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(f"{name}: the JSON path must be a string constant", name)
    path = str(node.this)
    steps: list[str | int] = []
    position = 1
    while path.startswith("$") and position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            break
        key, quoted, index = match.groups()
        steps.append(int(index) if index is not None else (key if key is not None else quoted))
        position = match.end()
    if not path.startswith("$") or position != len(path):
        raise UnsupportedSql(
            f"Invalid argument - Param json path {path} is invalid: trailhouse reads $ then "
            ".key, ['key'] and [n] steps",
            name,
        )
    return steps


def _path(steps: list[str | int]) -> exp.Literal:
    # Carried in the tree as MaxCompute's `['key']` form; each engine writes its own.
    return exp.Literal.string(
        "$" + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps)
    )


def _typed_null(kind: str) -> exp.Expression:
    return exp.cast(exp.null(), exp.DataType.build(kind))


def _json_parse(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_PARSE", args, 1, 1)
    return json_value_of("JSON_PARSE", args[0])


def _json_valid(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_VALID", args, 1, 1)
    node = _unwrapped(args[0])
    if isinstance(node, exp.Null):
        return _typed_null("BOOLEAN")
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(
            "JSON_VALID of a value that is not a constant string is not supported: trailhouse's "
            "engines disagree on text that is not strict JSON (trailing commas, NaN, duplicate "
            "keys)",
            "JSON_VALID",
        )
    try:
        canonical(str(node.this))
    except ValueError:
        return exp.false()
    return exp.true()


def _json_type(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_TYPE", args, 1, 1)
    return JsonTypeOf(this=_json_argument("JSON_TYPE", args[0]))


def _json_extract(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_EXTRACT", args, 2, 2)
    json_node = _json_argument("JSON_EXTRACT", args[0])
    steps = path_steps("JSON_EXTRACT", args[1])
    if steps is None:
        return JsonValue(this=exp.null())
    return JsonPathValue(this=json_node, expression=_path(steps))


def _json_exists(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_EXISTS", args, 2, 2)
    json_node = _json_argument("JSON_EXISTS", args[0])
    steps = path_steps("JSON_EXISTS", args[1])
    if steps is None:
        return _typed_null("BOOLEAN")
    return JsonExists(this=json_node, path=_path(steps))


def _json_length(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_LENGTH", args, 1, 2)
    json_node = _json_argument("JSON_LENGTH", args[0])
    if len(args) == 2:
        steps = path_steps("JSON_LENGTH", args[1])
        if steps is None:
            return _typed_null("BIGINT")
        json_node = JsonPathValue(this=json_node, expression=_path(steps))
    return JsonLength(this=json_node)


def _json_format(args: list[exp.Expression]) -> exp.Expression:
    arity("JSON_FORMAT", args, 1, 1)
    return JsonFormat(this=_json_argument("JSON_FORMAT", args[0]))


def _json_object(args: list[exp.Expression]) -> exp.Expression:
    if len(args) < 2 or len(args) % 2:
        raise UnsupportedSql(
            f"JSON_OBJECT takes keys and values in pairs, at least one pair; got {len(args)} "
            "arguments",
            "JSON_OBJECT",
        )
    seen: set[str] = set()
    for key in args[::2]:
        node = _unwrapped(key)
        if not isinstance(node, exp.Literal) or not node.is_string:
            raise UnsupportedSql("JSON_OBJECT: each key must be a string constant", "JSON_OBJECT")
        if str(node.this) in seen:
            raise UnsupportedSql(f"JSON_OBJECT: the key {node.this!r} is repeated", "JSON_OBJECT")
        seen.add(str(node.this))
    return JsonObject(expressions=list(args))


def _json_array(args: list[exp.Expression]) -> exp.Expression:
    return JsonArray(expressions=list(args))


BUILDERS = {
    "JSON_ARRAY": _json_array,
    "JSON_EXISTS": _json_exists,
    "JSON_EXTRACT": _json_extract,
    "JSON_FORMAT": _json_format,
    "JSON_LENGTH": _json_length,
    "JSON_OBJECT": _json_object,
    "JSON_PARSE": _json_parse,
    "JSON_TYPE": _json_type,
    "JSON_VALID": _json_valid,
}


def prepare(tree: exp.Expr) -> None:
    """JSON '…' literals of the parsed query as their canonical text (refused when invalid)."""
    for node in list(tree.find_all(exp.ParseJSON)):
        if node.args.get("is_literal"):
            node.replace(json_value_of("JSON", node.this))


# --- DuckDB -------------------------------------------------------------------------------------


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _steps_of(literal: exp.Expression) -> list[str | int]:
    steps = path_steps("JSON", literal)
    return steps or []


def _duckdb_path(literal: exp.Expression) -> exp.Literal:
    steps = _steps_of(literal)
    return exp.Literal.string(
        "$" + "".join(f"[{s}]" if isinstance(s, int) else f'."{s}"' for s in steps)
    )


def _case(
    branches: list[tuple[exp.Expression, exp.Expression]], default: exp.Expression
) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=when, true=then) for when, then in branches], default=default)


def _is_null(node: exp.Expression) -> exp.Expression:
    return exp.Is(this=node.copy(), expression=exp.null())


def _eq(node: exp.Expression, text: str) -> exp.Expression:
    return exp.EQ(this=node, expression=exp.Literal.string(text))


def _canonical_duckdb(node: exp.Expression) -> exp.Expression:
    # DuckDB's VARIANT sorts an object's keys, as MaxCompute's JSON value has them.
    variant = exp.cast(node, exp.DataType.build("VARIANT", dialect="duckdb"))
    return exp.cast(variant, exp.DataType.build("JSON"))


def lower_for_duckdb(tree: _Tree) -> _Tree:
    """The tree with this module's nodes written for DuckDB, arguments before their calls."""
    for node in reversed(list(tree.walk())):
        if isinstance(node, NODES):
            lowered = duckdb_sql(node)
            if node is tree:
                return cast(_Tree, lowered)
            node.replace(lowered)
    return tree


def duckdb_sql(node: exp.Expr) -> exp.Expr:
    """The DuckDB expression of one of this module's nodes (others are returned as they are)."""
    if isinstance(node, json_complex.NODES):
        return json_complex.duckdb_sql(node)
    if isinstance(node, JsonValue) and not node.args.get("is_literal"):
        return exp.cast(node.this, exp.DataType.build("JSON"))
    if isinstance(node, JsonPathValue):
        return _call("JSON_EXTRACT", node.this, _duckdb_path(node.expression))
    if isinstance(node, JsonExists):
        return _call("JSON_EXISTS", node.this, _duckdb_path(node.args["path"]))
    if isinstance(node, JsonFormat):
        return exp.cast(node.this, exp.DataType.build("VARCHAR"))
    if isinstance(node, JsonTypeOf):
        kind = _call("JSON_TYPE", node.this)
        numbers = exp.In(
            this=kind.copy(),
            expressions=[exp.Literal.string(t) for t in ("UBIGINT", "BIGINT", "DOUBLE", "HUGEINT")],
        )
        names = [("ARRAY", "array"), ("OBJECT", "object"), ("VARCHAR", "string")]
        names += [("BOOLEAN", "boolean"), ("NULL", "null")]
        branches = [(_eq(kind.copy(), t), exp.Literal.string(n)) for t, n in names]
        return _case([*branches, (numbers, exp.Literal.string("number"))], exp.null())
    if isinstance(node, JsonLength):
        value = node.this
        kind = _call("JSON_TYPE", value.copy())
        array = _call("JSON_ARRAY_LENGTH", value.copy())
        keys = _call("LEN", _call("JSON_KEYS", value.copy()))
        length = _case(
            [
                (_is_null(value), exp.null()),
                (_eq(kind.copy(), "ARRAY"), array),
                (_eq(kind.copy(), "OBJECT"), keys),
            ],
            exp.Literal.number(1),
        )
        return exp.cast(length, exp.DataType.build("BIGINT"))
    if isinstance(node, JsonObject):
        return _canonical_duckdb(_call("JSON_OBJECT", *node.expressions))
    if isinstance(node, JsonArray):
        return _canonical_duckdb(_call("JSON_ARRAY", *node.expressions))
    return node


# --- Spark --------------------------------------------------------------------------------------

_VARIANT = "VARIANT"


def _spark_path(literal: exp.Expression) -> exp.Literal:
    steps = _steps_of(literal)
    return exp.Literal.string(
        "$" + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps)
    )


def _starts(node: exp.Expression, prefix: str) -> exp.Expression:
    return exp.Like(this=node, expression=exp.Literal.string(prefix + "%"))


def spark_sql(node: Any) -> exp.Expression:
    """The Spark expression of one of this module's nodes (others are returned as they are)."""
    if isinstance(node, json_complex.NODES):
        return json_complex.spark_sql(node)
    if isinstance(node, JsonValue):
        if isinstance(node.this, exp.Null):
            return exp.cast(exp.null(), exp.DataType.build(_VARIANT, dialect="spark"))
        return _call("PARSE_JSON", node.this)
    if isinstance(node, JsonPathValue):
        return _call("VARIANT_GET", node.this, _spark_path(node.expression))
    if isinstance(node, JsonExists):
        found = exp.Not(
            this=_is_null(_call("VARIANT_GET", node.this, _spark_path(node.args["path"])))
        )
        return _case([(_is_null(node.this), _typed_null("BOOLEAN"))], found)
    if isinstance(node, JsonFormat):
        return _call("TO_JSON", node.this)
    if isinstance(node, JsonTypeOf):
        kind = _call("SCHEMA_OF_VARIANT", node.this)
        numbers = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL")
        is_number = cast(exp.Expression, exp.or_(*(_starts(kind.copy(), t) for t in numbers)))
        branches: list[tuple[exp.Expression, exp.Expression]] = [
            (_starts(kind.copy(), "ARRAY"), exp.Literal.string("array")),
            (_starts(kind.copy(), "OBJECT"), exp.Literal.string("object")),
            (_eq(kind.copy(), "STRING"), exp.Literal.string("string")),
            (_eq(kind.copy(), "BOOLEAN"), exp.Literal.string("boolean")),
            (_eq(kind.copy(), "VOID"), exp.Literal.string("null")),
            (is_number, exp.Literal.string("number")),
        ]
        return _case(branches, _typed_null("STRING"))
    if isinstance(node, JsonLength):
        value = node.this
        kind = _call("SCHEMA_OF_VARIANT", value.copy())
        as_array = _call(
            "VARIANT_GET",
            value.copy(),
            exp.Literal.string("$"),
            exp.Literal.string("array<variant>"),
        )
        as_map = _call(
            "VARIANT_GET",
            value.copy(),
            exp.Literal.string("$"),
            exp.Literal.string("map<string,variant>"),
        )
        length = _case(
            [
                (_is_null(value), exp.null()),
                (_starts(kind.copy(), "ARRAY"), _call("SIZE", as_array)),
                (_starts(kind.copy(), "OBJECT"), _call("SIZE", as_map)),
            ],
            exp.Literal.number(1),
        )
        return exp.cast(length, exp.DataType.build("BIGINT"))
    if isinstance(node, JsonObject):
        return _call("TO_VARIANT_OBJECT", _call("NAMED_STRUCT", *node.expressions))
    if isinstance(node, JsonArray):
        if not node.expressions:
            return _call("PARSE_JSON", exp.Literal.string("[]"))
        variants = [_as_variant(e) for e in node.expressions]
        return _call("TO_VARIANT_OBJECT", _call("ARRAY", *variants))
    return cast(exp.Expression, node)


_SPARK_JSON_VALUED = frozenset({"PARSE_JSON", "VARIANT_GET", "TO_VARIANT_OBJECT"})


def spark_json_valued(node: exp.Expression) -> bool:
    """Whether a Spark expression this module wrote is a VARIANT (a JSON value)."""
    node = _unwrapped(node)
    if isinstance(node, exp.Anonymous):
        return str(node.this).upper() in _SPARK_JSON_VALUED and len(node.expressions) <= 2
    return isinstance(node, exp.Cast) and node.to.sql(dialect="spark").upper() == _VARIANT


def _as_variant(node: exp.Expression) -> exp.Expression:
    if spark_json_valued(node):
        return node
    return exp.cast(node, exp.DataType.build(_VARIANT, dialect="spark"))
