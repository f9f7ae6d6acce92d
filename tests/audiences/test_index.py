"""The audience-count index against a plain-Python three-valued evaluator and DuckDB.

The reference evaluator and the SQL printer below are written from SQL's rules,
without the index's helpers, so a shared mistake cannot hide.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from finpersona.audiences._bsi import BitSlicedIndex
from finpersona.audiences.index import TagIndex, UnknownTagError
from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    CompareOp,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Tag,
    Truthy,
)
from finpersona.tags.types import TagSignature, ValueType

RFM = ("重要价值", "重要发展", "重要保持", "重要挽留",
       "一般价值", "一般发展", "一般保持", "一般挽留")
SEG = ("a_b", "a%b", "axb", "A", "ab", "", "a\\b", "重要")


def tag(name: str) -> Tag:
    return Tag(name, 0)


def cmp(name: str, op: str, value: Any) -> Compare:
    return Compare(tag(name), CompareOp(op), value, 0)


# ------------------------------------------------------------------ reference evaluator
def like_matches(pattern: str, text: str) -> bool:
    """SQL LIKE by dynamic programming over characters (no escape character)."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        p = pattern[i]
        if p == "%":
            return match(i + 1, j) or (j < len(text) and match(i, j + 1))
        if j == len(text):
            return False
        return (p == "_" or p == text[j]) and match(i + 1, j + 1)

    return match(0, 0)


def evaluate(node: Node, row: dict[str, Any]) -> bool | None:  # noqa: PLR0911 - one per node kind
    """SQL three-valued logic on one row: True, False or None (unknown)."""
    if isinstance(node, Not):
        inner = evaluate(node.operand, row)
        return None if inner is None else not inner
    if isinstance(node, And):
        results = [evaluate(op, row) for op in node.operands]
        if False in results:
            return False
        return None if None in results else True
    if isinstance(node, Or):
        results = [evaluate(op, row) for op in node.operands]
        if True in results:
            return True
        return None if None in results else False
    value = row[node.tag.name]
    if isinstance(node, IsNull):
        return (value is None) != node.negated
    if value is None:
        return None
    result: bool
    if isinstance(node, Truthy):
        result = value is True
    elif isinstance(node, Compare):
        ops: dict[CompareOp, Callable[[Any, Any], bool]] = {
            CompareOp.EQ: lambda a, b: a == b, CompareOp.NE: lambda a, b: a != b,
            CompareOp.LT: lambda a, b: a < b, CompareOp.LE: lambda a, b: a <= b,
            CompareOp.GT: lambda a, b: a > b, CompareOp.GE: lambda a, b: a >= b}
        result = ops[node.op](value, node.value)
    elif isinstance(node, Between):
        result = (node.low <= value <= node.high) != node.negated
    elif isinstance(node, InList):
        result = any(value == v for v in node.values) != node.negated
    else:
        result = like_matches(node.pattern, value) != node.negated
    return result


def brute_count(rows: Sequence[dict[str, Any]], node: Node) -> int:
    return sum(1 for row in rows if evaluate(node, row) is True)


# ------------------------------------------------------------------ SQL printer (DuckDB)
def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def to_sql(node: Node, params: list[Any]) -> str:  # noqa: PLR0911 - one per node kind
    """A WHERE clause with every literal bound as ``?``."""
    if isinstance(node, Not):
        return f"(NOT {to_sql(node.operand, params)})"
    if isinstance(node, And | Or):
        glue = " AND " if isinstance(node, And) else " OR "
        return "(" + glue.join(to_sql(op, params) for op in node.operands) + ")"
    column = quote(node.tag.name)
    neg = "NOT " if getattr(node, "negated", False) else ""
    if isinstance(node, IsNull):
        return f"({column} IS {neg}NULL)"
    if isinstance(node, Truthy):
        return f"({column} = TRUE)"
    if isinstance(node, Compare):
        params.append(node.value)
        return f"({column} {node.op.value} ?)"
    if isinstance(node, Between):
        params += [node.low, node.high]
        return f"({column} {neg}BETWEEN ? AND ?)"
    if isinstance(node, InList):
        params += list(node.values)
        return f"({column} {neg}IN ({', '.join('?' for _ in node.values)}))"
    params.append(node.pattern)
    return f"({column} {neg}LIKE ?)"


def duckdb_count(con: duckdb.DuckDBPyConnection, node: Node) -> int:
    params: list[Any] = []
    where = to_sql(node, params)
    found = con.execute(f"SELECT count(*) FROM snap WHERE {where}", params).fetchone()
    assert found is not None
    return int(found[0])


# ------------------------------------------------------------------ a small fixed snapshot
SMALL_SIGS = {
    "age": TagSignature("age", ValueType.INT),
    "aum": TagSignature("aum", ValueType.DECIMAL),
    "rfm_class": TagSignature("rfm_class", ValueType.CATEGORY, RFM),
    "has_credit_card": TagSignature("has_credit_card", ValueType.BOOL),
    "opened": TagSignature("opened", ValueType.DATE),
}
D = date(2024, 1, 1)
SMALL = pa.table({
    "customer_key": [f"c{i}" for i in range(8)],
    "age": pa.array([20, None, 35, 50, 2, 35, -7, 80], pa.int64()),
    "aum": pa.array([1.2345, 100.0, None, -3.5, 0.0, 2.5, 1.2344, 1e9]),
    "rfm_class": ["重要价值", "一般挽留", None, "重要保持", "重要价值", "一般价值", "重要挽留",
                  "一般发展"],
    "has_credit_card": [True, False, None, True, False, True, None, False],
    "opened": [D, None, date(1960, 5, 5), date(2024, 2, 29), D + timedelta(1), D, None,
               date(1970, 1, 1)],
})


@pytest.fixture(scope="module")
def small() -> TagIndex:
    return TagIndex.build(SMALL, SMALL_SIGS)


def rows_of(index: TagIndex, node: Node) -> list[int]:
    selected = index.select(node)
    assert index.count(node) == len(selected)
    return list(selected)


@pytest.mark.parametrize(("node", "expected"), [
    (cmp("age", "=", 35), [2, 5]),
    (cmp("age", "!=", 35), [0, 3, 4, 6, 7]),
    (cmp("age", "<", 20), [4, 6]),
    (cmp("age", "<=", 20), [0, 4, 6]),
    (cmp("age", ">", 35), [3, 7]),
    (cmp("age", ">=", 35), [2, 3, 5, 7]),
    (cmp("age", "<", Decimal("2.5")), [4, 6]),
    (cmp("age", "<=", Decimal("1.99")), [6]),
    (cmp("age", ">", Decimal("49.999")), [3, 7]),
    (cmp("age", "=", Decimal("35.0")), [2, 5]),
    (cmp("age", "=", Decimal("35.5")), []),
    (cmp("age", "!=", Decimal("35.5")), [0, 2, 3, 4, 5, 6, 7]),
    (cmp("age", "<", 10**30), [0, 2, 3, 4, 5, 6, 7]),
    (cmp("age", ">", -(10**30)), [0, 2, 3, 4, 5, 6, 7]),
    (cmp("age", ">", 80), []),
    (cmp("age", "<", -7), []),
    (Between(tag("age"), 2, 35, 0), [0, 2, 4, 5]),
    (Between(tag("age"), Decimal("2.5"), Decimal("35.5"), 0), [0, 2, 5]),
    (Between(tag("age"), 35, 2, 0), []),
    (Between(tag("age"), 2, 35, 0, negated=True), [3, 6, 7]),
    (InList(tag("age"), (35, 80, 36, Decimal("20.0")), 0), [0, 2, 5, 7]),
    (InList(tag("age"), (35, Decimal("20.5")), 0, negated=True), [0, 3, 4, 6, 7]),
    (IsNull(tag("age"), 0), [1]),
    (IsNull(tag("age"), 0, negated=True), [0, 2, 3, 4, 5, 6, 7]),
])
def test_int_operators(small: TagIndex, node: Node, expected: list[int]) -> None:
    assert rows_of(small, node) == expected


@pytest.mark.parametrize(("node", "expected"), [
    (cmp("aum", "=", Decimal("1.2345")), [0]),
    (cmp("aum", "=", Decimal("1.23450")), [0]),
    # more than 4 decimals: compared exactly with the stored 4-decimal value
    (cmp("aum", "=", Decimal("1.23451")), []),
    (cmp("aum", "<", Decimal("1.23449")), [3, 4, 6]),
    (cmp("aum", "<=", Decimal("1.2345")), [0, 3, 4, 6]),
    (cmp("aum", ">", Decimal("1.23449")), [0, 1, 5, 7]),
    (cmp("aum", ">=", 100), [1, 7]),
    (cmp("aum", "<", 0), [3]),
    (Between(tag("aum"), Decimal("-3.5"), Decimal("1.2344"), 0), [3, 4, 6]),
    (InList(tag("aum"), (Decimal("2.5"), 100, Decimal("0.00001")), 0), [1, 5]),
    (cmp("aum", "=", 1_000_000_000), [7]),
    (IsNull(tag("aum"), 0), [2]),
])
def test_decimal_operators(small: TagIndex, node: Node, expected: list[int]) -> None:
    assert rows_of(small, node) == expected


@pytest.mark.parametrize(("node", "expected"), [
    (cmp("opened", "=", D), [0, 5]),
    (cmp("opened", "<", D), [2, 7]),
    (cmp("opened", ">=", date(2024, 1, 2)), [3, 4]),
    (Between(tag("opened"), date(1960, 1, 1), date(1970, 1, 1), 0), [2, 7]),
    (InList(tag("opened"), (date(2024, 2, 29), date(1999, 1, 1)), 0, negated=True),
     [0, 2, 4, 5, 7]),
    (cmp("opened", "!=", D), [2, 3, 4, 7]),
])
def test_date_operators(small: TagIndex, node: Node, expected: list[int]) -> None:
    assert rows_of(small, node) == expected


@pytest.mark.parametrize(("node", "expected"), [
    (cmp("rfm_class", "=", "重要价值"), [0, 4]),
    (cmp("rfm_class", "!=", "重要价值"), [1, 3, 5, 6, 7]),
    (cmp("rfm_class", "=", "不存在"), []),
    (InList(tag("rfm_class"), ("重要价值", "一般挽留"), 0), [0, 1, 4]),
    (InList(tag("rfm_class"), ("重要价值", "一般挽留"), 0, negated=True), [3, 5, 6, 7]),
    (Like(tag("rfm_class"), "重要%", 0), [0, 3, 4, 6]),
    (Like(tag("rfm_class"), "%挽留", 0), [1, 6]),
    (Like(tag("rfm_class"), "_般__", 0), [1, 5, 7]),
    (Like(tag("rfm_class"), "%价%", 0), [0, 4, 5]),
    (Like(tag("rfm_class"), "重要_", 0), []),
    (Like(tag("rfm_class"), "重要%", 0, negated=True), [1, 5, 7]),
    (Like(tag("rfm_class"), "%", 0), [0, 1, 3, 4, 5, 6, 7]),
    # code-point order, as DuckDB's binary collation: 一 (U+4E00) < 重 (U+91CD)
    (cmp("rfm_class", "<", "重"), [1, 5, 7]),
    (Between(tag("rfm_class"), "一般价值", "一般发展", 0), [5, 7]),
    (IsNull(tag("rfm_class"), 0), [2]),
])
def test_category_operators(small: TagIndex, node: Node, expected: list[int]) -> None:
    assert rows_of(small, node) == expected


@pytest.mark.parametrize(("node", "expected"), [
    (Truthy(tag("has_credit_card"), 0), [0, 3, 5]),
    (cmp("has_credit_card", "=", True), [0, 3, 5]),
    (cmp("has_credit_card", "=", False), [1, 4, 7]),
    (cmp("has_credit_card", "!=", True), [1, 4, 7]),
    (cmp("has_credit_card", "<", True), [1, 4, 7]),
    (Not(Truthy(tag("has_credit_card"), 0), 0), [1, 4, 7]),
    (IsNull(tag("has_credit_card"), 0), [2, 6]),
    (InList(tag("has_credit_card"), (True, False), 0), [0, 1, 3, 4, 5, 7]),
])
def test_bool_operators(small: TagIndex, node: Node, expected: list[int]) -> None:
    assert rows_of(small, node) == expected


def test_not_keeps_unknown_unknown(small: TagIndex) -> None:
    p = cmp("age", ">=", 35)  # age null on row 1
    assert 1 not in small.select(p)
    assert 1 not in small.select(Not(p, 0))
    assert 1 not in small.select(Not(Not(p, 0), 0))
    assert small.count(p) + small.count(Not(p, 0)) == small.size - 1
    # IS NULL is never unknown: it and its negation cover every row
    for name in SMALL_SIGS:
        null = small.count(IsNull(tag(name), 0))
        assert null + small.count(Not(IsNull(tag(name), 0), 0)) == small.size
        assert small.count(IsNull(tag(name), 0, negated=True)) == small.size - null


def test_and_or_with_unknown(small: TagIndex) -> None:
    unknown_on_1 = cmp("age", "=", 20)  # row 1: unknown; row 0: true
    false_on_1 = cmp("rfm_class", "=", "重要价值")  # row 1: false
    true_on_1 = Not(false_on_1, 0)
    # unknown AND false is false; NOT of it is true
    assert 1 in small.select(Not(And((unknown_on_1, false_on_1), 0), 0))
    # unknown AND true is unknown; so is its NOT
    assert 1 not in small.select(And((unknown_on_1, true_on_1), 0))
    assert 1 not in small.select(Not(And((unknown_on_1, true_on_1), 0), 0))
    # unknown OR true is true; unknown OR false is unknown, and so is its NOT
    assert 1 in small.select(Or((unknown_on_1, true_on_1), 0))
    assert 1 not in small.select(Or((unknown_on_1, false_on_1), 0))
    assert 1 not in small.select(Not(Or((unknown_on_1, false_on_1), 0), 0))


def test_unknown_tag_is_a_key_error(small: TagIndex) -> None:
    with pytest.raises(KeyError, match="unknown tag 'income'") as caught:
        small.count(And((cmp("age", ">", 1), cmp("income", ">", 3)), 0))
    assert isinstance(caught.value, UnknownTagError)
    assert "age" in str(caught.value)  # lists what the index does hold


@pytest.mark.parametrize("node", [
    cmp("age", "=", "35"),
    cmp("age", "=", True),
    cmp("aum", "<", 1.5),  # float literals are not exact: the AST carries Decimal
    cmp("opened", "<", 20240101),
    cmp("rfm_class", "=", 1),
    cmp("has_credit_card", "=", 1),
    Truthy(tag("age"), 0),
    Like(tag("age"), "1%", 0),
    Like(tag("has_credit_card"), "t%", 0),
])
def test_type_mismatch_is_a_type_error(small: TagIndex, node: Node) -> None:
    with pytest.raises(TypeError):
        small.count(node)


def test_keys_and_tags(small: TagIndex) -> None:
    assert small.size == 8
    assert small.tags() == list(SMALL_SIGS)
    rows = small.select(Like(tag("rfm_class"), "重要%", 0))
    assert small.keys(rows).to_pylist() == ["c0", "c3", "c4", "c6"]
    assert small.keys(BitMap()).to_pylist() == []
    with pytest.raises(IndexError):
        small.keys(BitMap([8]))


def test_save_load_round_trip(small: TagIndex, tmp_path: Path) -> None:
    small.save(tmp_path / "index")
    assert (tmp_path / "index" / "manifest.json").exists()
    loaded = TagIndex.load(tmp_path / "index")
    assert loaded.size == small.size
    assert loaded.tags() == small.tags()
    nodes: list[Node] = [
        cmp("age", ">=", 35), Like(tag("rfm_class"), "%挽留", 0), IsNull(tag("opened"), 0),
        Not(Truthy(tag("has_credit_card"), 0), 0), Between(tag("aum"), 0, 100, 0),
        InList(tag("opened"), (D,), 0, negated=True),
    ]
    for node in nodes:
        assert loaded.select(node) == small.select(node)
        assert loaded.keys(loaded.select(node)) == small.keys(small.select(node))
    # saving again over the same folder is fine
    loaded.save(tmp_path / "index")
    assert TagIndex.load(tmp_path / "index").count(nodes[0]) == small.count(nodes[0])


def test_decimals_with_few_places_compare_exactly(tmp_path: Path) -> None:
    """Money in whole cents is stored at 2 decimals; literals still compare exactly."""
    table = pa.table({"customer_key": ["a", "b", "c", "d"],
                      "spend": pa.array([1.5, 2.0, None, -0.25])})
    sigs = {"spend": TagSignature("spend", ValueType.DECIMAL)}
    built = TagIndex.build(table, sigs)
    built.save(tmp_path)
    for index in (built, TagIndex.load(tmp_path)):
        assert list(index.select(cmp("spend", "=", Decimal("1.50")))) == [0]
        assert list(index.select(cmp("spend", "=", Decimal("1.5001")))) == []
        assert list(index.select(cmp("spend", "<", Decimal("1.5001")))) == [0, 3]
        assert list(index.select(cmp("spend", ">", Decimal("1.49999")))) == [0, 1]
        assert list(index.select(cmp("spend", ">=", Decimal("-0.251")))) == [0, 1, 3]
        assert list(index.select(Between(tag("spend"), Decimal("-0.25"), 2, 0))) == [0, 1, 3]


def test_load_without_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TagIndex.load(tmp_path)


def test_other_physical_forms() -> None:
    """Chunked columns, dictionary categories, Arrow decimals, all-null and empty tables."""
    rfm = pa.array(["重要价值", None, "一般挽留", "重要价值"]).dictionary_encode()
    table = pa.Table.from_batches([
        pa.record_batch({"customer_key": ["a", "b"], "rfm": rfm[:2],
                         "aum": pa.array([Decimal("1.23456"), None], pa.decimal128(12, 5)),
                         "n": pa.array([1, None], pa.int32()),
                         "empty": pa.nulls(2)}),
        pa.record_batch({"customer_key": ["c", "d"], "rfm": rfm[2:],
                         "aum": pa.array([Decimal("-2"), Decimal("1.2346")],
                                         pa.decimal128(12, 5)),
                         "n": pa.array([3, 4], pa.int32()),
                         "empty": pa.nulls(2)}),
    ])
    sigs = {"rfm": TagSignature("rfm", ValueType.CATEGORY),
            "aum": TagSignature("aum", ValueType.DECIMAL),
            "n": TagSignature("n", ValueType.INT),
            "empty": TagSignature("empty", ValueType.INT)}
    index = TagIndex.build(table, sigs)
    assert list(index.select(cmp("rfm", "=", "重要价值"))) == [0, 3]
    assert list(index.select(cmp("aum", "=", Decimal("1.2346")))) == [0, 3]  # 1.23456 rounded
    assert list(index.select(cmp("n", ">", 2))) == [2, 3]
    assert index.count(IsNull(tag("empty"), 0)) == 4
    assert index.count(Not(cmp("empty", "=", 1), 0)) == 0

    empty = TagIndex.build(table.slice(0, 0), sigs)
    assert empty.size == 0
    assert empty.count(Or((cmp("n", ">", 2), IsNull(tag("rfm"), 0)), 0)) == 0


@pytest.mark.parametrize(("column", "sig", "error"), [
    (pa.array([1.5]), ValueType.INT, TypeError),
    (pa.array(["x"]), ValueType.DECIMAL, TypeError),
    (pa.array([1]), ValueType.CATEGORY, TypeError),
    (pa.array([float("nan")]), ValueType.DECIMAL, ValueError),
    (pa.array([1e15]), ValueType.DECIMAL, ValueError),
])
def test_bad_columns(column: pa.Array, sig: ValueType, error: type[Exception]) -> None:
    table = pa.table({"customer_key": ["a"], "t": column})
    with pytest.raises(error, match="'t'"):
        TagIndex.build(table, {"t": TagSignature("t", sig)})


def test_missing_columns() -> None:
    with pytest.raises(KeyError, match="customer_key"):
        TagIndex.build(pa.table({"id": ["a"]}), {})
    with pytest.raises(KeyError, match="'income'"):
        TagIndex.build(SMALL, {"age": SMALL_SIGS["age"], "income": SMALL_SIGS["age"]})


# ------------------------------------------------------------------ the BSI alone
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 200),
       extreme=st.booleans(), bounds=st.lists(st.integers(-(2**64), 2**64), min_size=2,
                                              max_size=2))
def test_bsi_between_matches_numpy(seed: int, n: int, extreme: bool, bounds: list[int]) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(-50, 50, n, dtype=np.int64)
    if extreme and n >= 2:
        values[0], values[1] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    present = rng.random(n) < 0.8
    bsi = BitSlicedIndex.build(values, present)
    within = BitMap(np.flatnonzero(rng.random(n) < 0.5).tolist())
    chosen = [int(v) for v in values[:3]]
    for low, high in [(bounds[0], bounds[1]), (min(chosen, default=0), max(chosen, default=0)),
                      (bounds[0] % 97 - 50, bounds[1] % 97 - 50)]:
        for lo, hi in [(low, high), (None, high), (low, None), (low, low)]:
            expected = [i for i in range(n) if present[i]
                        and (lo is None or int(values[i]) >= lo)
                        and (hi is None or int(values[i]) <= hi)]
            assert list(bsi.between(lo, hi)) == expected
            assert list(bsi.between(lo, hi, within)) == [i for i in expected if i in within]


# ------------------------------------------------------------------ random snapshots and trees
PROP_SIGS = {
    "rfm": TagSignature("rfm", ValueType.CATEGORY, RFM),
    "seg ment": TagSignature("seg ment", ValueType.CATEGORY, SEG),  # a name that needs quoting
    "vip": TagSignature("vip", ValueType.BOOL),
    "cc": TagSignature("cc", ValueType.BOOL),
    "age": TagSignature("age", ValueType.INT),
    "cnt": TagSignature("cnt", ValueType.INT),
    "aum": TagSignature("aum", ValueType.DECIMAL),
    "spend": TagSignature("spend", ValueType.DECIMAL),
    "opened": TagSignature("opened", ValueType.DATE),
    "birthday": TagSignature("birthday", ValueType.DATE),
}
OPENED_FROM = date(2020, 1, 1)
BORN_FROM = date(1950, 1, 1)


def scaled(places: int) -> Callable[[int], Decimal]:
    return lambda k: Decimal(k).scaleb(-places)


def _aum(rng: np.random.Generator, n: int) -> list[Any]:
    fine = rng.integers(-(10**6), 10**6, n)
    common = rng.choice([0, 15000, 1_000_000, -5], n)
    return [Decimal(int(k)).scaleb(-4) for k in np.where(rng.random(n) < 0.5, common, fine)]


def _cnt(rng: np.random.Generator, n: int) -> list[Any]:
    wide = rng.integers(-(2**40), 2**40, n)
    return [int(v) for v in np.where(rng.random(n) < 0.3, rng.integers(-3, 4, n), wide)]


# Small domains for most tags, so that equality and IN hit rows often.
COLUMN_VALUES: dict[str, Callable[[np.random.Generator, int], list[Any]]] = {
    "rfm": lambda rng, n: [str(v) for v in rng.choice(RFM, n)],
    "seg ment": lambda rng, n: [str(v) for v in rng.choice(SEG, n)],
    "vip": lambda rng, n: [bool(v) for v in rng.random(n) < 0.4],
    "cc": lambda rng, n: [bool(v) for v in rng.random(n) < 0.6],
    "age": lambda rng, n: [int(v) for v in rng.integers(18, 31, n)],
    "cnt": _cnt,
    "aum": _aum,
    "spend": lambda rng, n: [Decimal(int(k)).scaleb(-1) for k in rng.integers(0, 51, n)],
    "opened": lambda rng, n: [OPENED_FROM + timedelta(int(k)) for k in rng.integers(0, 60, n)],
    "birthday": lambda rng, n: [BORN_FROM + timedelta(int(k))
                                for k in rng.integers(0, 20000, n)],
}


ARROW_TYPES = {ValueType.CATEGORY: pa.string(), ValueType.BOOL: pa.bool_(),
               ValueType.INT: pa.int64(), ValueType.DECIMAL: pa.float64(),
               ValueType.DATE: pa.date32()}


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[pa.Table, list[dict[str, Any]]]:
    # Mostly a few hundred rows; an empty snapshot now and then.
    n = 0 if draw(st.integers(0, 15)) == 15 else draw(st.integers(1, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    null_rate = draw(st.sampled_from([0.1, 0.0, 0.3, 0.1, 1.0, 0.1]))
    columns: dict[str, list[Any]] = {"customer_key": [f"k{i:04d}" for i in range(n)]}
    keys = pa.array(columns["customer_key"], pa.string())
    arrays: dict[str, pa.Array] = {"customer_key": keys}
    for name, sig in PROP_SIGS.items():
        values = COLUMN_VALUES[name](rng, n)
        rate = null_rate if rng.random() < 0.7 else 0.0
        values = [None if drop else v for v, drop in zip(values, rng.random(n) < rate,
                                                          strict=True)]
        columns[name] = values
        physical = [float(v) if isinstance(v, Decimal) else v for v in values]
        arrays[name] = pa.array(physical, ARROW_TYPES[sig.type])
    rows = [{name: columns[name][i] for name in PROP_SIGS} for i in range(n)]
    return pa.table(arrays), rows


LITERALS: dict[str, st.SearchStrategy[Any]] = {
    "rfm": st.sampled_from([*RFM, "重要", "价值"]),
    "seg ment": st.sampled_from([*SEG, "a", "b", "zz"]),
    "vip": st.booleans(),
    "cc": st.booleans(),
    "age": st.one_of(st.integers(15, 33), st.integers(150, 330).map(scaled(1))),
    "cnt": st.one_of(st.integers(-4, 4), st.integers(-(2**41), 2**41)),
    "aum": st.one_of(st.sampled_from([Decimal(0), Decimal("1.5"), Decimal(100), Decimal(-5)]),
                     st.integers(-(10**6), 10**6).map(scaled(4)),
                     st.integers(-(10**8), 10**8).map(scaled(6)),
                     st.integers(-100, 100)),
    "spend": st.one_of(st.integers(0, 50).map(scaled(1)), st.integers(0, 5000).map(scaled(3)),
                       st.integers(-1, 6)),
    "opened": st.dates(date(2019, 12, 25), date(2020, 3, 5)),
    "birthday": st.dates(date(1949, 1, 1), date(2005, 1, 1)),
}
PATTERN_PIECES = {
    "rfm": ["%", "_", "重要", "一般", "价值", "挽留", "发展", "保持", "要", "值"],
    "seg ment": ["%", "_", "a", "b", "x", "A", "\\", "%b", "重"],
}


def leaves() -> st.SearchStrategy[Node]:
    options: list[st.SearchStrategy[Node]] = []
    for name, sig in PROP_SIGS.items():
        t, lit = st.just(tag(name)), LITERALS[name]
        zero = st.just(0)
        options += [
            st.builds(Compare, t, st.sampled_from(list(CompareOp)), lit, zero),
            st.builds(Between, t, lit, lit, zero, st.booleans()),
            st.builds(InList, t, st.lists(lit, min_size=1, max_size=4).map(tuple), zero,
                      st.booleans()),
            st.builds(IsNull, t, zero, st.booleans()),
        ]
        if sig.type is ValueType.BOOL:
            options.append(st.builds(Truthy, t, zero))
        if sig.type is ValueType.CATEGORY:
            pattern = st.lists(st.sampled_from(PATTERN_PIECES[name]), max_size=4).map("".join)
            options.append(st.builds(Like, t, pattern, zero, st.booleans()))
    return st.one_of(options)


def trees(depth: int) -> st.SearchStrategy[Node]:
    """Expression trees at most ``depth`` levels deep."""
    leaf = leaves()
    if depth <= 1:
        return leaf
    sub = trees(depth - 1)
    operands = st.lists(sub, min_size=2, max_size=3).map(tuple)
    shapes = {"leaf": leaf, "not": st.builds(Not, sub, st.just(0)),
              "and": st.builds(And, operands, st.just(0)),
              "or": st.builds(Or, operands, st.just(0))}
    # Not st.one_of(leaf, ...): it would flatten into the dozens of leaf kinds and
    # almost never pick a connective.
    return st.sampled_from(["leaf", "not", "and", "and", "or", "or"]).flatmap(shapes.__getitem__)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(snapshot=snapshots(), nodes=st.lists(trees(4), min_size=1, max_size=4),
       predicates=st.lists(leaves(), min_size=4, max_size=10))
def test_counts_match_brute_force_and_duckdb(
        snapshot: tuple[pa.Table, list[dict[str, Any]]], nodes: list[Node],
        predicates: list[Node]) -> None:
    """Whole trees check the logic; single predicates, many per snapshot, the operators
    (inside a tree one wrong predicate is often masked by the others)."""
    table, rows = snapshot
    index = TagIndex.build(table, PROP_SIGS)
    con = duckdb.connect()
    try:
        con.register("snap", table)
        for node in [*nodes, *predicates]:
            expected = brute_count(rows, node)
            assert index.count(node) == expected, node
            assert len(index.select(node)) == expected, node
            assert duckdb_count(con, node) == expected, node
    finally:
        con.close()
