"""Partition pruning: which `ds` partitions a query's WHERE clause can match.

Conjuncts that compare the table's `ds` with a constant (`=`, `<`, `<=`, `>`, `>=`, BETWEEN, IN)
prune; a constant may be an expression without columns (`TO_CHAR(DATEADD(GETDATE(), -7,
'dd'), 'yyyymmdd')`), evaluated by the constant evaluator. Anything else prunes nothing: the
WHERE clause still runs, so pruning only skips files that could not match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from trailhouse.warehouse.schema import PARTITION_COLUMN
from trailhouse.warehouse.sql.scopes import source_of

ConstantEvaluator = Callable[[exp.Expr], Any]


class PartitionPruner:
    """Tests partitions against the `ds` conjuncts of a query."""

    def __init__(self, evaluate: ConstantEvaluator) -> None:
        self._evaluate = evaluate

    def prune(self, scope: Scope, node: exp.Table, partitions: list[str]) -> list[str]:
        """The partitions the WHERE clause of `scope` leaves for the table `node`."""
        select = scope.expression
        where = select.args.get("where") if isinstance(select, exp.Select) else None
        if where is None:
            return partitions
        kept = partitions
        for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
            test = self._partition_test(scope, node, conjunct)
            if test is not None:
                kept = [ds for ds in kept if test(ds)]
        return kept

    def limits_partitions(self, scope: Scope, node: exp.Table) -> bool:
        """Whether the WHERE clause of `scope` has a `ds` condition for the table `node`."""
        select = scope.expression
        where = select.args.get("where") if isinstance(select, exp.Select) else None
        if where is None:
            return False
        conjuncts = where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
        return any(self._partition_test(scope, node, c) is not None for c in conjuncts)

    def _partition_test(
        self, scope: Scope, node: exp.Table, conjunct: exp.Expr
    ) -> Callable[[str], bool] | None:
        """A test of `ds` values equivalent to the conjunct, or None when it is not one."""
        if isinstance(conjunct, exp.Paren):
            return self._partition_test(scope, node, conjunct.this)
        if isinstance(conjunct, exp.Between) and self._is_ds(scope, node, conjunct.this):
            low, high = self._constant(conjunct.args["low"]), self._constant(conjunct.args["high"])
            if low is None or high is None:
                return None
            return lambda ds: _compare(ds, low) >= 0 and _compare(ds, high) <= 0
        if isinstance(conjunct, exp.In) and self._is_ds(scope, node, conjunct.this):
            if conjunct.args.get("query") or not conjunct.expressions:
                return None
            values = [self._constant(e) for e in conjunct.expressions]
            if any(v is None for v in values):
                return None
            return lambda ds: any(_compare(ds, v) == 0 for v in values)
        operators: dict[type[exp.Expression], Callable[[int], bool]] = {
            exp.EQ: lambda c: c == 0,
            exp.GT: lambda c: c > 0,
            exp.GTE: lambda c: c >= 0,
            exp.LT: lambda c: c < 0,
            exp.LTE: lambda c: c <= 0,
        }
        flipped: dict[type[exp.Expression], type[exp.Expression]] = {
            exp.EQ: exp.EQ,
            exp.GT: exp.LT,
            exp.GTE: exp.LTE,
            exp.LT: exp.GT,
            exp.LTE: exp.GTE,
        }
        kind = type(conjunct)
        if kind not in operators:
            return None
        left, right = conjunct.this, conjunct.expression
        if not self._is_ds(scope, node, left):
            if not self._is_ds(scope, node, right):
                return None
            left, right, kind = right, left, flipped[kind]
        value = self._constant(right)
        if value is None:
            return None
        accept = operators[kind]
        return lambda ds: accept(_compare(ds, value))

    def _is_ds(self, scope: Scope, node: exp.Table, expression: exp.Expr) -> bool:
        return (
            isinstance(expression, exp.Column)
            and expression.name.lower() == PARTITION_COLUMN
            and source_of(scope, expression) is node
        )

    def _constant(self, expression: exp.Expr) -> Any:
        if any(isinstance(n, (exp.Column, exp.Subquery, exp.Query)) for n in expression.walk()):
            return None
        if isinstance(expression, exp.Literal):
            return expression.this if expression.is_string else _number(expression.this)
        try:
            return self._evaluate(expression)
        except Exception:  # not foldable here: no pruning on this conjunct, the query decides
            return None


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _compare(ds: str, value: Any) -> int:
    """Compare a partition value with a constant as MaxCompute does (numbers as numbers)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(ds)
        return (number > value) - (number < value)
    text = str(value)
    return (ds > text) - (ds < text)
