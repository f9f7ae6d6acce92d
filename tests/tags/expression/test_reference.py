"""The reference evaluator: SQL's three-valued logic and comparisons, in plain Python."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ibis
import pytest

from finpersona.tags.expression import evaluate, parse, to_ibis

# Truth values of a and b: True, False, or None (unknown, from a null tag value).
VALUES = [True, False, None]


def row(a: bool | None, b: bool | None) -> dict[str, Any]:
    return {"a": a, "b": b}


@pytest.mark.parametrize("a", VALUES)
@pytest.mark.parametrize("b", VALUES)
def test_kleene_logic(a: bool | None, b: bool | None) -> None:
    def sql_and(x: bool | None, y: bool | None) -> bool | None:
        if x is False or y is False:
            return False
        return None if x is None or y is None else True

    def sql_or(x: bool | None, y: bool | None) -> bool | None:
        if x is True or y is True:
            return True
        return None if x is None or y is None else False

    assert evaluate(parse("a AND b"), row(a, b)) is sql_and(a, b)
    assert evaluate(parse("a OR b"), row(a, b)) is sql_or(a, b)
    assert evaluate(parse("NOT a"), row(a, b)) is (None if a is None else not a)
    assert evaluate(parse("a IS NULL"), row(a, b)) is (a is None)
    assert evaluate(parse("a IS NOT NULL"), row(a, b)) is (a is not None)


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("x = 0.1", 0.1, True),  # the float 0.1 and Decimal('0.1') differ; SQL casts to DOUBLE
    ("x > 5", math.nan, True),  # NaN sorts above every number on DuckDB and Spark
    ("x = 5", math.nan, False),
    ("x IS NULL", math.nan, False),
    ("x = 3", Decimal("3.00"), True),
    ("x < 3.5", 3, True),
    ("x BETWEEN 1 AND 3", 3, True),  # inclusive
    ("x NOT BETWEEN 1 AND 3", None, None),
    ("x NOT IN (1, 2)", None, None),
    ("x NOT IN (1, 2)", 3, True),
    ("x = 'a'", "a ", False),  # no blank padding
    ("x LIKE 'a%'", "a\nb", True),
    ("x LIKE '_'", "重", True),
    ("x LIKE 'A%'", "a", False),  # case-sensitive
    ("x >= DATE '2025-01-02'", date(2025, 1, 2), True),
    ("x >= '2025-01-02'", date(2025, 1, 1), False),
    ("x >= DATE '2025-01-02'", datetime(2025, 1, 2, 0, 0, 1), True),
    ("x < DATE '2025-01-02'", datetime(2025, 1, 1, 23, 59), True),
    ("x = TRUE", True, True),
    ("x != FALSE", None, None),
    ("x", False, False),
])
def test_comparisons(text: str, value: Any, expected: bool | None) -> None:
    assert evaluate(parse(text), {"x": value}) is expected


def test_wrong_rows_are_errors() -> None:
    with pytest.raises(KeyError):
        evaluate(parse("y = 1"), {"x": 1})
    with pytest.raises(TypeError, match="cannot compare x"):
        evaluate(parse("x = 1"), {"x": "1"})
    with pytest.raises(TypeError, match="yes/no"):
        evaluate(parse("x"), {"x": 1})
    with pytest.raises(TypeError, match="cannot compare x"):
        evaluate(parse("x = TRUE"), {"x": 1})  # bool is an int in Python, not in SQL


def test_timestamps_compare_with_dates_at_midnight_on_duckdb() -> None:
    times = [datetime(2025, 1, 1, 23, 59), datetime(2025, 1, 2), datetime(2025, 1, 2, 8), None]
    table = ibis.memtable({"t": times}, schema={"t": "timestamp"})
    tree = parse("t >= DATE '2025-01-02'")
    con = ibis.duckdb.connect()
    try:
        result = con.to_pyarrow(table.select(r=to_ibis(tree, table.__getitem__)))
    finally:
        con.disconnect()
    assert result.column("r").to_pylist() == [evaluate(tree, {"t": t}) for t in times]
    assert result.column("r").to_pylist() == [False, True, True, None]
