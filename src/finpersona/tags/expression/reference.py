"""A plain-Python evaluator with SQL's three-valued logic: the reference for tests.

It is deliberately simple and independent of Ibis, so that comparing it with
what the engines compute catches mistakes in either. ``None`` is "unknown".

Comparison rules mirror what DuckDB and Spark do with the literals
:func:`~finpersona.tags.expression.ibis_compiler.to_ibis` builds:

- a float value compares with a literal converted to float (SQL casts the
  DECIMAL literal to DOUBLE), so ``0.1 = 0.1`` holds although the float 0.1 and
  ``Decimal('0.1')`` differ in Python; NaN (not null in SQL) is greater than
  every number and equal to none of the literals, as on both engines;
- ints and Decimals compare exactly;
- a date value compares with ``DATE '…'`` or a quoted ISO date; a datetime
  value with a date literal at midnight (SQL casts the date to a timestamp);
- LIKE has no escape character and ``%`` / ``_`` match line breaks too.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

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
from finpersona.tags.expression.literals import (
    format_literal,
    is_number,
    like_pattern_problem,
    like_regex,
    parse_iso_date,
)

_OPS: dict[CompareOp, Callable[[Any, Any], bool]] = {
    CompareOp.EQ: operator.eq,
    CompareOp.NE: operator.ne,
    CompareOp.LT: operator.lt,
    CompareOp.LE: operator.le,
    CompareOp.GT: operator.gt,
    CompareOp.GE: operator.ge,
}


def evaluate(node: Node, row: Mapping[str, Any]) -> bool | None:
    """The expression's value for one row: True, False or None (unknown).

    ``row`` maps tag names to Python values (None for null). A customer is selected
    only where this is True. Raises KeyError for a tag missing from the row and
    TypeError for a comparison the type checker would have refused.
    """
    if isinstance(node, Not):
        inner = evaluate(node.operand, row)
        return None if inner is None else not inner
    if isinstance(node, And):
        result: bool | None = True
        for operand in node.operands:
            value = evaluate(operand, row)
            if value is False:
                return False  # false AND unknown is false
            if value is None:
                result = None
        return result
    if isinstance(node, Or):
        result = False
        for operand in node.operands:
            value = evaluate(operand, row)
            if value is True:
                return True  # true OR unknown is true
            if value is None:
                result = None
        return result

    return _predicate(node, row[node.tag.name])


def _predicate(  # noqa: PLR0911 - one return per kind of condition
        node: Compare | Between | InList | Like | IsNull | Truthy, value: Any) -> bool | None:
    name = node.tag.name
    if isinstance(node, IsNull):
        return (value is None) != node.negated  # never unknown
    if value is None:
        return None  # every other condition on a null is unknown
    if isinstance(node, Truthy):
        if not isinstance(value, bool):
            raise TypeError(f"{name} is used as a yes/no condition but holds {value!r}")
        return value
    if isinstance(node, Compare):
        left, right = _pair(name, value, node.value)
        return bool(_OPS[node.op](left, right))
    if isinstance(node, Between):
        low_left, low = _pair(name, value, node.low)
        high_left, high = _pair(name, value, node.high)
        inside = bool(low <= low_left) and bool(high_left <= high)
        return inside != node.negated
    if isinstance(node, InList):
        found = False
        for literal in node.values:
            left, right = _pair(name, value, literal)
            found = found or bool(left == right)
        return found != node.negated
    if isinstance(node, Like):
        if not isinstance(value, str):
            raise TypeError(f"LIKE on {name}, which holds {value!r}, not text")
        problem = like_pattern_problem(node.pattern)
        if problem:
            raise ValueError(problem)
        return (like_regex(node.pattern).fullmatch(value) is not None) != node.negated
    raise TypeError(f"not an expression node: {node!r}")


def _pair(name: str, value: Any, literal: Literal) -> tuple[Any, Any]:
    """The row value and the literal in a form Python compares the way SQL does."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        if isinstance(literal, bool):
            return value, literal
    elif isinstance(value, float):
        if is_number(literal):
            assert isinstance(literal, int | Decimal)
            return (math.inf if math.isnan(value) else value), float(literal)
    elif isinstance(value, int | Decimal):
        if is_number(literal):
            return value, literal
    elif isinstance(value, datetime):  # before date: datetime is a date in Python
        day = _as_date(literal)
        if day is not None:
            return value, datetime.combine(day, time(), tzinfo=value.tzinfo)
    elif isinstance(value, date):
        day = _as_date(literal)
        if day is not None:
            return value, day
    elif isinstance(value, str) and isinstance(literal, str):
        return value, literal
    raise TypeError(f"cannot compare {name} value {value!r} with {format_literal(literal)}")


def _as_date(literal: Literal) -> date | None:
    if isinstance(literal, str):
        return parse_iso_date(literal)
    if isinstance(literal, date):
        return literal
    return None
