"""MaxCompute's type rules, applied to a parsed query before either engine sees it.

- `1.5` and `1e3` are DOUBLE (a DECIMAL is written `1.5BD`); DuckDB and Spark read DECIMAL.
- CEIL and FLOOR answer a BIGINT; DuckDB's answer a DOUBLE for a DOUBLE.
- CAST to an integer type cuts the fraction off (`CAST(1.6 AS BIGINT)` is 1, and so is
  `CAST('1.6' AS BIGINT)`); DuckDB rounds, and Spark refuses the string.
- GREATEST and LEAST over STRING and numbers compare them as DOUBLE.
- A STRING constant in arithmetic or a mathematical function is a DOUBLE ('3' + 1 is 4.0,
  ABS('-2') is 2.0).
- INITCAP's words are separated by spaces.
- DIV is a BIGINT.
"""

from __future__ import annotations

from typing import TypeGuard

from sqlglot import exp

_T = exp.DataType.Type
_INTEGER_TYPES = {_T.TINYINT, _T.SMALLINT, _T.INT, _T.BIGINT}
# The text of an integer, which converts exactly; anything else goes through DOUBLE.
_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"


def apply_conversions(tree: exp.Expr) -> None:
    """Rewrite `tree` in place so both engines convert types as MaxCompute does."""
    for literal in list(tree.find_all(exp.Literal)):
        _double_literal(literal)
    for node in list(tree.find_all(exp.Ceil, exp.Floor)):
        if isinstance(node, (exp.Ceil, exp.Floor)):
            _bigint_result(node)
    for cast in list(tree.find_all(exp.Cast, exp.TryCast)):
        _truncating_cast(cast)
    for node in list(tree.find_all(exp.Greatest, exp.Least)):
        if isinstance(node, (exp.Greatest, exp.Least)):
            _compare_as_double(node)
    for operation in list(tree.find_all(*_ARITHMETIC)):
        _string_operands_as_double(operation)
    for call in list(tree.find_all(*_MATH)):
        for argument in call.args.values():
            if _numeric_text(argument):
                argument.replace(exp.cast(argument.copy(), _T.DOUBLE))
    for division in list(tree.find_all(exp.IntDiv)):
        # DIV is a BIGINT whatever its operands (DuckDB's `//` of two INTs is an INT).
        if not (isinstance(division.parent, exp.Cast) and division.parent.to.this == _T.BIGINT):
            division.replace(exp.cast(division.copy(), _T.BIGINT))
    for initcap in tree.find_all(exp.Initcap):
        # MaxCompute's words are separated by spaces (sqlglot's default is every whitespace).
        initcap.set("expression", exp.Literal.string(" "))


_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
# Mathematical functions whose STRING argument MaxCompute converts to DOUBLE (ABS('-2') is 2.0).
_MATH = (exp.Abs, exp.Ceil, exp.Floor, exp.Sqrt, exp.Exp, exp.Ln, exp.Log, exp.Pow, exp.Sign)


def _numeric_text(node: object) -> TypeGuard[exp.Literal]:
    """A STRING constant that is a number: one that is not stays a STRING, and is refused
    (ODPS-0130121) where a number is needed, before the job runs."""
    if not isinstance(node, exp.Literal) or not node.is_string:
        return False
    try:
        float(str(node.this))
    except ValueError:
        return False
    return True


def _string_operands_as_double(operation: exp.Binary) -> None:
    # MaxCompute converts a STRING in arithmetic to DOUBLE ('3' + 1 is 4.0). Done for string
    # constants: DuckDB refuses a STRING column there, and trailhouse refuses it too (with
    # ODPS-0130121) rather than guess.
    for side in ("this", "expression"):
        operand = operation.args.get(side)
        if _numeric_text(operand):
            operand.replace(exp.cast(operand.copy(), _T.DOUBLE))


def _double_literal(literal: exp.Literal) -> None:
    if literal.is_string or not any(c in str(literal.this) for c in ".eE"):
        return
    parent = literal.parent
    if isinstance(parent, (exp.Cast, exp.TryCast)) and parent.this is literal:
        return  # CAST(1.5 AS DECIMAL(10,2)) and 1.5BD stay exact
    if isinstance(parent, exp.DataTypeParam):
        return
    literal.replace(exp.cast(literal.copy(), _T.DOUBLE))


def _bigint_result(node: exp.Ceil | exp.Floor) -> None:
    if node.args.get("decimals") is not None or node.args.get("to") is not None:
        return
    parent = node.parent
    if isinstance(parent, exp.Cast) and parent.to.this == _T.BIGINT:
        return
    node.replace(exp.cast(node.copy(), _T.BIGINT))


def _truncating_cast(cast: exp.Cast | exp.TryCast) -> None:
    if cast.to.this not in _INTEGER_TYPES:
        return
    value = cast.this
    if isinstance(value, exp.Literal) and not value.is_string and str(value.this).isdigit():
        return  # an integer literal converts exactly
    if isinstance(value, (exp.Cast, exp.TryCast)) and value.to.this in _INTEGER_TYPES:
        return
    if isinstance(value, (exp.Floor, exp.Ceil, exp.IntDiv)):
        return  # already a whole number
    if isinstance(value, exp.Null):
        return
    # An integer's text converts exactly; anything else through DOUBLE, the fraction cut off.
    kind = type(cast)  # Hive's CAST is a TRY_CAST: a string that is not a number gives NULL
    text = exp.cast(value.copy(), _T.VARCHAR)
    whole = exp.RegexpLike(this=text, expression=exp.Literal.string(_INTEGER_TEXT))
    double = kind(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    toward_zero = exp.If(
        this=exp.GTE(this=double, expression=exp.Literal.number(0)),
        true=exp.Floor(this=double.copy()),
        false=exp.Ceil(this=double.copy()),
    )
    converted = exp.If(
        this=whole,
        true=kind(this=value.copy(), to=cast.to.copy()),
        false=exp.cast(toward_zero, cast.to.copy()),
    )
    cast.replace(exp.paren(converted, copy=False))


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "number"
    if isinstance(node, (exp.Cast, exp.TryCast)):
        if node.to.this in (_T.VARCHAR, _T.TEXT):
            return "string"
        if node.to.is_type(*exp.DataType.NUMERIC_TYPES):
            return "decimal" if node.to.this == _T.DECIMAL else "number"
    if isinstance(node, exp.Neg):
        return _kind(node.this)
    return ""


def _compare_as_double(node: exp.Greatest | exp.Least) -> None:
    args = [node.this, *node.expressions]
    kinds = {_kind(a) for a in args}
    if "string" not in kinds or not kinds & {"number", "decimal"}:
        return
    converted = [exp.cast(a.copy(), _T.DOUBLE) for a in args]
    node.set("this", converted[0])
    node.set("expressions", converted[1:])
