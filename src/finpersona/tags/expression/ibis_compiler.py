"""The tree as an Ibis boolean expression, which runs unchanged on DuckDB and Spark.

SQL's own AND / OR / NOT, comparisons, BETWEEN, IN and LIKE already have the
three-valued semantics the language promises, so each node maps to the one
Ibis operation that compiles to that SQL construct. Literals are always
``ibis.literal`` values with an explicit type, chosen from the column's type:

- numbers: BIGINT for whole numbers, ``DECIMAL(p, s)`` with exactly the digits
  written for decimals (an untyped Decimal literal becomes DECIMAL(18, 3) on
  DuckDB and would round ``0.0005`` to ``0.001``), and DOUBLE when the column
  is floating point so both engines compare two doubles;
- dates: DATE literals, also for a quoted ``'YYYY-MM-DD'`` (which the type
  checker accepted for a date tag);
- text: VARCHAR / STRING; bools: BOOLEAN.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.datatypes as dt

from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    CompareOp,
    InList,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Or,
    Truthy,
)
from finpersona.tags.expression.lexer import MAX_DIGITS
from finpersona.tags.expression.literals import (
    format_literal,
    is_number,
    like_pattern_problem,
    parse_iso_date,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

_OPS: dict[CompareOp, Callable[[Any, Any], Any]] = {
    CompareOp.EQ: operator.eq,
    CompareOp.NE: operator.ne,
    CompareOp.LT: operator.lt,
    CompareOp.LE: operator.le,
    CompareOp.GT: operator.gt,
    CompareOp.GE: operator.ge,
}


def to_ibis(node: Node, resolve: Callable[[str], ir.Value]) -> ir.BooleanValue:
    """The boolean column of ``node``; ``resolve(name)`` gives the column of a tag.

    Null where SQL's three-valued logic says unknown; filter with it to select the
    rows where the expression is true.
    """
    if isinstance(node, Not):
        return ~to_ibis(node.operand, resolve)
    if isinstance(node, And):
        return functools.reduce(operator.and_, (to_ibis(n, resolve) for n in node.operands))
    if isinstance(node, Or):
        return functools.reduce(operator.or_, (to_ibis(n, resolve) for n in node.operands))
    return _predicate(node, resolve(node.tag.name))


def _predicate(node: Compare | Between | InList | Like | IsNull | Truthy,
               column: ir.Value) -> ir.BooleanValue:
    name = node.tag.name
    dtype = column.type()
    if isinstance(node, IsNull):
        is_null = _is_null(column, dtype)
        return ~is_null if node.negated else is_null
    if isinstance(node, Truthy):
        if not dtype.is_boolean():
            raise TypeError(f"{name} is used as a yes/no condition but is {dtype}")
        return column
    if isinstance(node, Compare):
        return _OPS[node.op](column, _literal(name, dtype, node.value))
    if isinstance(node, Between):
        result = column.between(_literal(name, dtype, node.low), _literal(name, dtype, node.high))
    elif isinstance(node, InList):
        result = column.isin([_literal(name, dtype, v) for v in node.values])
    else:
        problem = like_pattern_problem(node.pattern)
        if problem:
            raise ValueError(problem)
        result = column.like(ibis.literal(node.pattern, type=dt.string))
    # NOT over the positive form: the same three-valued result as NOT BETWEEN / NOT IN /
    # NOT LIKE on both engines (no nulls can appear in the literal lists).
    return ~result if node.negated else result


def _is_null(column: ir.Value, dtype: dt.DataType) -> ir.BooleanValue:
    if dtype.is_floating():
        # Ibis compiles isnull() on a float column to "IS NULL OR isnan()" for Spark only;
        # NaN is a value, not a null, in SQL and on DuckDB. IS NOT DISTINCT FROM NULL is a
        # plain null test on both.
        return column.identical_to(ibis.null(dtype))
    return column.isnull()


def _literal(name: str, dtype: dt.DataType, value: Literal) -> ir.Scalar:
    """``value`` as a literal of a type that compares with ``dtype`` the same on every engine."""
    if isinstance(value, bool):
        if dtype.is_boolean():
            return ibis.literal(value, type=dt.boolean)
    elif is_number(value) and dtype.is_numeric():
        assert isinstance(value, int | Decimal)
        if dtype.is_floating():
            return ibis.literal(float(value), type=dt.float64)
        if isinstance(value, int):
            return ibis.literal(value, type=dt.int64)
        return ibis.literal(value, type=_decimal_type(value, dtype))
    elif dtype.is_date() or dtype.is_timestamp():
        day = parse_iso_date(value) if isinstance(value, str) else value
        if isinstance(day, date):
            return ibis.literal(day, type=dt.date)
    elif isinstance(value, str) and dtype.is_string():
        return ibis.literal(value, type=dt.string)
    raise TypeError(f"cannot compare {name} ({dtype}) with {format_literal(value)}")


def _decimal_type(value: Decimal, column: dt.DataType) -> dt.Decimal:
    """A DECIMAL(p, s) holding ``value`` exactly, as written, and the column's values too.

    Ibis refuses BETWEEN (and comparisons) between decimals when neither type can be
    cast to the other without losing digits, e.g. DECIMAL(12, 2) and 0.005's
    DECIMAL(3, 3); widening the literal to cover the column keeps it comparable. The
    value is unchanged, so the engines compare exactly as before.
    """
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: the parser only makes plain numbers
    scale = max(0, -exponent)
    whole_digits = max(0, len(digits) + exponent)
    if column.is_decimal() and column.precision is not None:
        column_scale = column.scale or 0
        scale = max(scale, column_scale)
        whole_digits = max(whole_digits, column.precision - column_scale)
    if whole_digits + scale > MAX_DIGITS:  # keep the literal's own digits, drop the widening
        scale = min(scale, MAX_DIGITS - max(0, len(digits) + exponent))
        whole_digits = MAX_DIGITS - scale
    return dt.Decimal(precision=max(1, whole_digits + scale), scale=scale)
