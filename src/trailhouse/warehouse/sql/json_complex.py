"""TO_JSON and FROM_JSON: MaxCompute's conversions between JSON text and its ARRAY, MAP and
STRUCT values, answered alike on DuckDB and on Spark by the rules their pages state.

FROM_JSON(jsonStr, schema) of a constant string is read here by those rules (a member that does
not map to the schema's type is left out of an ARRAY or a MAP, and is NULL in a STRUCT) and
written as the typed ARRAY(…)/MAP(…)/NAMED_STRUCT(…) it gives; of a column it is refused, as
JSON_PARSE of a column is, because the two engines read text that is not strict JSON differently
(docs/sql-functions.md). TO_JSON of a value written as ARRAY(…), MAP(…), NAMED_STRUCT(…) or
FROM_JSON(…) is written as string concatenation: a STRUCT's keys in lower case, its NULL fields
left out, a MAP's and an ARRAY's NULLs as `null`; a constant member is printed here, any other
through the engine's own JSON of a STRING, integer or BOOLEAN (`JsonText`), and a member of
another type fails the job naming its type.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from trailhouse.warehouse.sql.diagnostics import ARGUMENT_TYPE, UnsupportedSql
from trailhouse.warehouse.sql.functions import arity

# The JSON text of one member that is not a constant: each engine writes its own (duckdb_sql,
# spark_sql). sqlglot's FORMAT JSON node, which nothing else in the MaxCompute dialect produces.
JsonText = exp.FormatJson
NODES = (JsonText,)

# --- schemas ------------------------------------------------------------------------------------

_INTEGERS = {"TINYINT": 2**7, "SMALLINT": 2**15, "INT": 2**31, "BIGINT": 2**63}
_SCALARS = frozenset({*_INTEGERS, "DOUBLE", "STRING", "BOOLEAN"})
_NOT_RUN = frozenset(
    {"FLOAT", "DECIMAL", "CHAR", "VARCHAR", "BINARY", "DATE", "DATETIME", "TIMESTAMP"}
    | {"TIMESTAMP_NTZ", "JSON", "INTERVAL"}
)
_TOKEN = re.compile(r"\s*(`[^`]*`|[A-Za-z_][A-Za-z0-9_]*|\(\s*\d+\s*(?:,\s*\d+\s*)?\)|[<>:,])")


@dataclass(frozen=True)
class Shape:
    """A MaxCompute type of a FROM_JSON schema: a scalar, ARRAY<T>, MAP<STRING,T> or STRUCT."""

    name: str  # BIGINT, …, STRING, BOOLEAN, ARRAY, MAP or STRUCT
    parts: tuple[Shape, ...] = ()
    fields: tuple[str, ...] = ()

    def sql(self) -> str:
        """The type in Spark's words, which sqlglot reads and writes for either engine."""
        if self.name == "ARRAY":
            return f"ARRAY<{self.parts[0].sql()}>"
        if self.name == "MAP":
            return f"MAP<STRING, {self.parts[0].sql()}>"
        if self.name == "STRUCT":
            inner = ", ".join(
                f"`{f}`: {p.sql()}" for f, p in zip(self.fields, self.parts, strict=True)
            )
            return f"STRUCT<{inner}>"
        return self.name

    def data_type(self) -> exp.DataType:
        """The type as sqlglot's node."""
        return exp.DataType.build(self.sql(), dialect="spark")


class _SchemaError(ValueError):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = _TOKEN.match(text, position)
            if match is None:
                raise _SchemaError(f"unexpected {text[position:].strip()[:10]!r}")
            self.tokens.append(match.group(1))
            position = match.end()
        self.index = 0

    def peek(self) -> str:
        return self.tokens[self.index] if self.index < len(self.tokens) else ""

    def take(self, wanted: str = "") -> str:
        token = self.peek()
        if not token or (wanted and token != wanted):
            raise _SchemaError(f"expected {wanted or 'a type'} at {token or 'the end'!r}")
        self.index += 1
        return token

    def name(self) -> str:
        token = self.take()
        if token.startswith("`"):
            return token[1:-1]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            raise _SchemaError(f"expected a field name at {token!r}")
        return token

    def fields(self, closing: str, colon: bool) -> Shape:
        names: list[str] = []
        parts: list[Shape] = []
        while True:
            names.append(self.name())
            if colon:
                self.take(":")
            parts.append(self.shape())
            if self.peek() != ",":
                break
            self.take(",")
        if closing:
            self.take(closing)
        if len({n.lower() for n in names}) != len(names):
            raise _SchemaError("a STRUCT's field names must differ (in any case)")
        return Shape("STRUCT", tuple(parts), tuple(names))

    def shape(self) -> Shape:
        word = self.take().upper()
        if word == "INTEGER":
            word = "INT"
        if word in ("ARRAY", "MAP", "STRUCT"):
            self.take("<")
            if word == "STRUCT":
                return self.fields(">", colon=True)
            if word == "ARRAY":
                element = self.shape()
                self.take(">")
                return Shape("ARRAY", (element,))
            key = self.shape()
            self.take(",")
            value = self.shape()
            self.take(">")
            if key.name != "STRING":
                raise _NotRun(f"a MAP whose keys are {key.name}, not STRING")
            return Shape("MAP", (value,))
        if self.peek().startswith("("):
            self.take()
        if word in _NOT_RUN:
            raise _NotRun(word)
        if word not in _SCALARS:
            raise _SchemaError(f"{word} is not a MaxCompute type")
        return Shape(word)


class _NotRun(ValueError):
    pass


def parse_schema(text: str) -> Shape:
    """A FROM_JSON schema (`array<bigint>`, `map<string,string>`, `struct<a:int>`, or the
    shorthand `a int, b double`); UnsupportedSql when it is no type, or one not run here."""
    try:
        reader = _Reader(text)
        shorthand = len(reader.tokens) > 1 and reader.tokens[1] not in ("<", "(")
        shape = reader.fields("", colon=False) if shorthand else reader.shape()
        if reader.peek():
            raise _SchemaError(f"unexpected {reader.peek()!r} after the type")
    except _NotRun as exc:
        raise UnsupportedSql(
            f"FROM_JSON: the type {exc} in the schema is not supported; the schema's types may "
            "be BIGINT, INT, SMALLINT, TINYINT, DOUBLE, STRING, BOOLEAN, ARRAY<…>, "
            "MAP<STRING,…> and STRUCT<…>",
            "FROM_JSON",
        ) from None
    except _SchemaError as exc:
        raise UnsupportedSql(
            f"Invalid argument - FROM_JSON: the schema {text!r} is not a type: {exc}",
            "FROM_JSON",
            ARGUMENT_TYPE,
        ) from None
    return shape


# --- FROM_JSON ----------------------------------------------------------------------------------


class _Number(str):
    """A JSON number as written (1e3 stays 1e3 when it becomes a STRING)."""


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    return json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=refuse)


def _text(value: Any) -> str:
    # Compact JSON text of a member given to a STRING, numbers as written.
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_text(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(value, ensure_ascii=False)


_MISSING = object()  # a member whose JSON type does not map to the schema's type


def _converted(shape: Shape, value: Any) -> Any:
    """The value by the page's type table, _MISSING when its JSON type does not map."""
    if value is None:
        return None
    name = shape.name
    if name == "STRING":
        return value if isinstance(value, str) and not isinstance(value, _Number) else _text(value)
    if name == "BOOLEAN":
        return value if isinstance(value, bool) else _MISSING
    if name == "DOUBLE":
        return float(value) if isinstance(value, _Number) else _MISSING
    if name in _INTEGERS:
        if isinstance(value, _Number) and re.fullmatch(r"-?\d+", value):
            number = int(value)
            bound = _INTEGERS[name]
            return number if -bound <= number < bound else _MISSING
        return _MISSING
    if name == "ARRAY":
        if not isinstance(value, list):
            return _MISSING
        items = [_converted(shape.parts[0], v) for v in value]
        return [v for v in items if v is not _MISSING]
    if not isinstance(value, dict):
        return _MISSING
    if name == "MAP":
        entries = {k: _converted(shape.parts[0], v) for k, v in value.items()}
        return {k: v for k, v in entries.items() if v is not _MISSING}
    out = {}
    for field, part in zip(shape.fields, shape.parts, strict=True):
        member = _converted(part, value.get(field))
        out[field] = None if member is _MISSING else member
    return out


def _typed(shape: Shape, value: Any) -> exp.Expression:
    """The engines' expression of a converted value of this shape."""
    if value is None:
        return exp.Cast(this=exp.null(), to=shape.data_type())
    name = shape.name
    if name == "STRING":
        return exp.Literal.string(value)
    if name == "BOOLEAN":
        return exp.Boolean(this=value)
    if name in _INTEGERS or name == "DOUBLE":
        return exp.Cast(this=exp.Literal.number(repr(value)), to=shape.data_type())
    if name == "ARRAY":
        items = [_typed(shape.parts[0], v) for v in value]
        return exp.Cast(this=exp.Array(expressions=items), to=shape.data_type())
    if name == "MAP":
        keys = exp.Array(expressions=[exp.Literal.string(k) for k in value])
        values = exp.Array(expressions=[_typed(shape.parts[0], v) for v in value.values()])
        return exp.Cast(this=exp.VarMap(keys=keys, values=values), to=shape.data_type())
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(f, quoted=True), expression=_typed(p, value[f]))
        for f, p in zip(shape.fields, shape.parts, strict=True)
    ]
    return exp.Struct(expressions=fields)


def _unwrapped(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _from_json(args: list[exp.Expression]) -> exp.Expression:
    arity("FROM_JSON", args, 2, 2)
    schema = _unwrapped(args[1])
    if not isinstance(schema, exp.Literal) or not schema.is_string:
        raise UnsupportedSql("FROM_JSON: the schema must be a string constant", "FROM_JSON")
    shape = parse_schema(str(schema.this))
    text = _unwrapped(args[0])
    if isinstance(text, exp.Null):
        return _typed(shape, None)
    if not isinstance(text, exp.Literal) or not text.is_string:
        raise UnsupportedSql(
            "FROM_JSON of a value that is not a constant string is not supported: trailhouse's "
            "engines disagree on text that is not strict JSON (trailing commas, NaN, duplicate "
            "keys) and on members that do not fit the schema; read the text with "
            "GET_JSON_OBJECT or JSON_TUPLE",
            "FROM_JSON",
        )
    try:
        value = _converted(shape, _strict(str(text.this)))
    except ValueError:
        value = None  # text that is not JSON gives NULL
    return _typed(shape, None if value is _MISSING else value)


# --- TO_JSON ------------------------------------------------------------------------------------


def _literal(text: str) -> exp.Expression:
    return exp.Literal.string(text)


def _concat(*parts: exp.Expression) -> exp.Expression:
    return exp.Concat(expressions=list(parts), safe=True, coalesce=False)


def _constant_json(node: exp.Expression) -> str | None:
    """The JSON text of a constant member ('null' for NULL), None when it is not a constant."""
    node = _unwrapped(node)
    if isinstance(node, (exp.Cast, exp.TryCast)) and isinstance(_unwrapped(node.this), exp.Null):
        return "null"
    if isinstance(node, exp.Null):
        return "null"
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if isinstance(node, exp.Literal):
        if node.is_string:
            return json.dumps(str(node.this), ensure_ascii=False)
        return _number_json(str(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        text = _number_json(str(node.this.this))
        return None if text is None else "-" + text
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        kind = node.to.this
        if kind in exp.DataType.INTEGER_TYPES and not node.this.is_string:
            return _number_json(str(node.this.this))
        if kind == exp.DataType.Type.DOUBLE and not node.this.is_string:
            return _double_json(float(str(node.this.this)))
    return None


def _number_json(text: str) -> str | None:
    if re.fullmatch(r"\d+", text):
        return str(int(text))
    try:
        number = float(text)
    except ValueError:
        return None
    return _double_json(number)


def _double_json(number: float) -> str:
    # Java prints a DOUBLE plainly from 10^-3 to 10^7 (0.8, 100.0), as Python does; outside it
    # with an exponent in its own way (1.0E20), which neither engine is asked to match.
    if not math.isfinite(number) or not (number == 0 or 1e-3 <= abs(number) < 1e7):
        raise UnsupportedSql(
            f"TO_JSON of the DOUBLE {number!r} is not supported: trailhouse prints a DOUBLE in "
            "JSON only from 0.001 to 10^7, where it needs no exponent (0.8, 100.0)",
            "TO_JSON",
        )
    return repr(number)


def _member(node: exp.Expression) -> exp.Expression:
    """The JSON text of a member (never NULL: a NULL member is `null`)."""
    inner = _unwrapped(node)
    if isinstance(inner, exp.Cast) and isinstance(
        _unwrapped(inner.this), (exp.Struct, exp.Array, exp.VarMap)
    ):
        inner = _unwrapped(inner.this)  # FROM_JSON's typed value
    if isinstance(inner, (exp.Struct, exp.Array, exp.VarMap)):
        return _composed(inner)
    constant = _constant_json(inner)
    if constant is not None:
        return _literal(constant)
    return exp.Coalesce(this=JsonText(this=node.copy()), expressions=[_literal("null")])


def _is_null_member(node: exp.Expression) -> bool | None:
    """True for a NULL constant, False for a value never NULL, None when it is known only as
    the query runs."""
    inner = _unwrapped(node)
    if _constant_json(inner) == "null":
        return True
    if isinstance(inner, (exp.Struct, exp.Array, exp.VarMap)) or _constant_json(inner):
        return False
    if isinstance(inner, exp.Cast) and isinstance(
        _unwrapped(inner.this), (exp.Struct, exp.Array, exp.VarMap)
    ):
        return False
    return None


def _struct_fields(node: exp.Struct) -> list[tuple[str, exp.Expression]]:
    fields: list[tuple[str, exp.Expression]] = []
    for field in node.expressions:
        if not isinstance(field, exp.PropertyEQ):
            raise UnsupportedSql("TO_JSON: each STRUCT field needs its name", "TO_JSON")
        fields.append((field.name.lower(), field.expression))
    names = [n for n, _ in fields]
    if len(set(names)) != len(names):
        raise UnsupportedSql(
            "TO_JSON: a STRUCT whose keys are the same in lower case is not supported", "TO_JSON"
        )
    return fields


def _map_entries(node: exp.VarMap) -> list[tuple[str, exp.Expression]]:
    keys = list(node.args["keys"].expressions)
    values = list(node.args["values"].expressions)
    entries: list[tuple[str, exp.Expression]] = []
    for key, value in zip(keys, values, strict=True):
        text = _constant_json(key)
        if text is None or text == "null":
            raise UnsupportedSql("TO_JSON: a MAP's keys must be constants", "TO_JSON")
        name = json.loads(text)
        entries.append((name if isinstance(name, str) else text, value))
    if len({k for k, _ in entries}) != len(entries):
        raise UnsupportedSql("TO_JSON: a MAP's keys must differ", "TO_JSON")
    return entries


def _composed(node: exp.Expression) -> exp.Expression:
    """The JSON text of an ARRAY(…), MAP(…) or NAMED_STRUCT(…) value."""
    if isinstance(node, exp.Array):
        if not node.expressions:
            return _literal("[]")
        parts: list[exp.Expression] = []
        for index, item in enumerate(node.expressions):
            if index:
                parts.append(_literal(","))
            parts.append(_member(item))
        return _concat(_literal("["), *parts, _literal("]"))
    if isinstance(node, exp.VarMap):
        pairs = [(json.dumps(k, ensure_ascii=False), v) for k, v in _map_entries(node)]
        if not pairs:
            return _literal("{}")
        parts = []
        for index, (key, value) in enumerate(pairs):
            parts.append(_literal(("," if index else "") + key + ":"))
            parts.append(_member(value))
        return _concat(_literal("{"), *parts, _literal("}"))
    # A STRUCT: keys in lower case, a NULL field left out (the page's rules). Each field that
    # is written starts with a comma, and the first comma is cut.
    written: list[exp.Expression] = []
    for key, value in _struct_fields(node):  # type: ignore[arg-type]
        null = _is_null_member(value)
        if null is True:
            continue
        text = _concat(_literal("," + json.dumps(key, ensure_ascii=False) + ":"), _member(value))
        if null is None:
            text = exp.Case(
                ifs=[
                    exp.If(this=exp.Is(this=value.copy(), expression=exp.null()), true=_literal(""))
                ],
                default=text,
            )
        written.append(text)
    if not written:
        return _literal("{}")
    body = _concat(*written) if len(written) > 1 else written[0]
    return _concat(
        _literal("{"), exp.Substring(this=body, start=exp.Literal.number(2)), _literal("}")
    )


def _to_json(args: list[exp.Expression]) -> exp.Expression:
    arity("TO_JSON", args, 1, 1)
    node = _unwrapped(args[0])
    if isinstance(node, exp.Cast) and isinstance(_unwrapped(node.this), exp.Null):
        return exp.Cast(this=exp.null(), to=exp.DataType.build("STRING"))
    if isinstance(node, exp.Cast) and isinstance(
        _unwrapped(node.this), (exp.Struct, exp.Array, exp.VarMap)
    ):
        node = _unwrapped(node.this)
    if not isinstance(node, (exp.Struct, exp.Array, exp.VarMap)):
        raise UnsupportedSql(
            "Invalid argument type - function TO_JSON takes an ARRAY, MAP or STRUCT written in "
            "the call (ARRAY(…), MAP(…), NAMED_STRUCT(…) or FROM_JSON(…)); of any other "
            "expression trailhouse cannot tell its STRUCT keys and NULL fields before it runs",
            "TO_JSON",
            ARGUMENT_TYPE,
        )
    return _composed(node)


BUILDERS = {"FROM_JSON": _from_json, "TO_JSON": _to_json}


# --- engines ------------------------------------------------------------------------------------

_RUN_TYPES_DUCKDB = ("VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "BOOLEAN", '"NULL"')
_RUN_TYPES_SPARK = ("string", "tinyint", "smallint", "int", "bigint", "boolean", "void")


# The engines' names of a type (TYPEOF) that MaxCompute names otherwise: a DATETIME is DuckDB's
# TIMESTAMP and Spark's timestamp, MaxCompute's TIMESTAMP DuckDB's TIMESTAMP WITH TIME ZONE.
_MAXCOMPUTE_NAMES = {
    "ERROR": {"TIMESTAMP": "DATETIME", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "BLOB": "BINARY"},
    "RAISE_ERROR": {"timestamp": "DATETIME", "timestamp_ntz": "DATETIME", "binary": "BINARY"},
}


def _maxcompute_name(kind: exp.Expression, raise_name: str) -> exp.Expression:
    """MaxCompute's name of the type an engine's TYPEOF gives, in the query."""
    renamed = _MAXCOMPUTE_NAMES[raise_name]
    return exp.Case(
        ifs=[
            exp.If(this=exp.EQ(this=kind.copy(), expression=_literal(engine)), true=_literal(name))
            for engine, name in renamed.items()
        ],
        default=exp.Upper(this=kind),
    )


def _refusal(value: exp.Expression, raise_name: str) -> exp.Expression:
    kind = exp.Anonymous(this="TYPEOF", expressions=[value.copy()])
    message = _concat(
        _literal("TO_JSON of a value of type "),
        _maxcompute_name(kind, raise_name),
        _literal(
            " is not supported: a member that is not a constant must be a STRING, an "
            "integer or a BOOLEAN"
        ),
    )
    return exp.Anonymous(this=raise_name, expressions=[message])


def _guarded(
    value: exp.Expression, text: exp.Expression, types: tuple[str, ...], raise_name: str
) -> exp.Expression:
    kind = exp.Anonymous(this="TYPEOF", expressions=[value.copy()])
    allowed = exp.In(this=kind, expressions=[_literal(t) for t in types])
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.null()), true=exp.null())],
        default=exp.Case(
            ifs=[exp.If(this=allowed, true=text)], default=_refusal(value, raise_name)
        ),
    )


def duckdb_sql(node: exp.Expression) -> exp.Expression:
    """DuckDB's JSON text of one member (VARCHAR)."""
    value = node.this
    text = exp.cast(
        exp.Anonymous(this="TO_JSON", expressions=[value.copy()]), exp.DataType.build("VARCHAR")
    )
    return _guarded(value, text, _RUN_TYPES_DUCKDB, "ERROR")


def spark_sql(node: exp.Expression) -> exp.Expression:
    """Spark's JSON text of one member: its one-element array's text without the brackets."""
    value = node.this
    array = exp.Anonymous(this="TO_JSON", expressions=[exp.Array(expressions=[value.copy()])])
    length = exp.Sub(this=exp.Length(this=array.copy()), expression=exp.Literal.number(2))
    text = exp.Substring(this=array, start=exp.Literal.number(2), length=length)
    return _guarded(value, text, _RUN_TYPES_SPARK, "RAISE_ERROR")
