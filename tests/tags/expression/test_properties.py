"""Random well-typed trees: they print and parse back, and DuckDB agrees with the reference.

The generator only builds trees the type checker accepts, so every example also
checks that the checker does not refuse a valid expression.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finpersona.tags.expression import (
    check,
    evaluate,
    parse,
    same_tree,
    to_text,
)
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
    Tag,
    Truthy,
)
from finpersona.tags.types import ValueType

from . import CATEGORY_VALUES, SIGNATURES, TAGS, run_duckdb

PROFILE = settings(max_examples=150, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])

DAY0 = date(2025, 1, 1)
ORDERING = [CompareOp.LT, CompareOp.LE, CompareOp.GT, CompareOp.GE]
EQUALITY = [CompareOp.EQ, CompareOp.NE]

# -- literals: chosen near the row values so comparisons go both ways ------------------------
whole = st.integers(-4, 4)
fraction = st.sampled_from(["-1.5", "-0.0", "0.005", "0.1", "0.25", "0.3", "1.0", "2.50",
                            "10.05"]).map(Decimal)
numbers: st.SearchStrategy[int | Decimal] = st.one_of(whole, fraction)
integral = st.one_of(whole, whole.map(lambda n: Decimal(n).quantize(Decimal("0.0"))))
days = st.integers(-2, 8).map(lambda k: DAY0 + timedelta(days=k))
day_literals: st.SearchStrategy[Literal] = st.one_of(days, days.map(date.isoformat))
categories = st.sampled_from(CATEGORY_VALUES)


@st.composite
def like_patterns(draw: st.DrawFn) -> str:
    """A category value with some characters turned into wildcards or dropped."""
    value = draw(categories)
    out = ["%"] if draw(st.booleans()) else []
    for char in value:
        out.append(draw(st.sampled_from([char, char, char, "_", "%", ""])))
    if draw(st.booleans()):
        out.append("%")
    return "".join(out)


def literals_for(kind: ValueType, op: CompareOp | None) -> st.SearchStrategy[Any]:
    if kind is ValueType.BOOL:
        return st.booleans()
    if kind is ValueType.INT:
        return integral if op in EQUALITY else numbers
    if kind is ValueType.DECIMAL:
        return numbers
    if kind is ValueType.CATEGORY:
        return categories
    return day_literals


def _key(value: Literal) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


@st.composite
def predicates(draw: st.DrawFn) -> Node:
    name = draw(st.sampled_from(TAGS))
    kind = SIGNATURES[name].type
    tag = Tag(name, 0)
    forms = ["compare", "in", "isnull"]
    if kind is ValueType.BOOL:
        forms.append("truthy")
    if kind is ValueType.CATEGORY:
        forms += ["like", "like"]  # the pattern space is large; try it more often
    if kind in (ValueType.INT, ValueType.DECIMAL, ValueType.DATE):
        forms.append("between")
    form = draw(st.sampled_from(forms))
    negated = draw(st.booleans())
    if form == "truthy":
        return Truthy(tag, 0)
    if form == "isnull":
        return IsNull(tag, 0, negated)
    if form == "like":
        return Like(tag, draw(like_patterns()), 0, negated)
    if form == "in":
        values = draw(st.lists(literals_for(kind, CompareOp.EQ), min_size=1, max_size=3))
        return InList(tag, tuple(values), 0, negated)
    if form == "between":
        low, high = sorted(draw(st.lists(literals_for(kind, None), min_size=2, max_size=2)),
                           key=_key)
        return Between(tag, low, high, 0, negated)
    ops = EQUALITY if kind in (ValueType.BOOL, ValueType.CATEGORY) else EQUALITY + ORDERING
    op = draw(st.sampled_from(ops))
    return Compare(tag, op, draw(literals_for(kind, op)), 0)


def _flat(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    # The parser flattens nested ANDs / ORs; generated trees must be in the same form.
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else [operand])
    return kind(tuple(flat), 0)


trees = st.recursive(
    predicates(),
    lambda children: st.one_of(
        children.map(lambda child: Not(child, 0)),
        st.lists(children, min_size=2, max_size=3).map(lambda ops: _flat(And, ops)),
        st.lists(children, min_size=2, max_size=3).map(lambda ops: _flat(Or, ops)),
    ),
    max_leaves=8,
)

# The values each column takes in the rows; None is SQL's null, NaN is not null.
POOLS: dict[str, list[Any]] = {
    "flag": [None, True, False],
    "n": [None, *range(-3, 4)],
    "amt": [None, *map(Decimal, ["-1.50", "0.00", "0.01", "0.25", "1.00", "2.50", "10.05"])],
    "ratio": [None, -2.5, 0.0, 0.1, 0.25, 0.3, 1.0, math.nan],
    "cat": [None, *CATEGORY_VALUES],
    "day": [None, *(DAY0 + timedelta(days=k) for k in range(-1, 7))],
}
rows = st.fixed_dictionaries({name: st.sampled_from(pool) for name, pool in POOLS.items()})
# Every value of every column, in a few combinations, appended to each example's rows:
# rare cases (NaN, a line break in a category) are then tested by every tree that can
# reach them instead of only when Hypothesis happens to draw them.
# Column j cycles through its pool with a shift of j every lap, so each value appears
# and meets different values of the other columns.
CORNERS = [
    {name: pool[(k + j * (k // len(pool))) % len(pool)]
     for j, (name, pool) in enumerate(POOLS.items())}
    for k in range(2 * max(len(pool) for pool in POOLS.values()))
]


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    connection = ibis.duckdb.connect()
    yield connection
    connection.disconnect()


@PROFILE
@given(trees)
def test_printed_trees_parse_back_and_type_check(tree: Node) -> None:
    text = to_text(tree)
    again = parse(text)
    assert same_tree(again, tree), text
    assert to_text(again) == text
    check(again, SIGNATURES, text=text)


@PROFILE
@given(tree=trees, table=st.lists(rows, min_size=1, max_size=12))
def test_duckdb_agrees_with_the_reference_evaluator(con: Any, tree: Node,
                                                   table: list[dict[str, Any]]) -> None:
    table = table + CORNERS
    [engine] = run_duckdb(con, [tree], table)
    expected = [evaluate(tree, row) for row in table]
    assert engine == expected, to_text(tree)
