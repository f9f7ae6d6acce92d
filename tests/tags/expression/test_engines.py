"""Fixed expressions over fixed rows: DuckDB and Spark both agree with the reference evaluator.

The rows hold the cases where engines could part ways: nulls in every column,
NaN, decimals finer than a default literal, quotes, Chinese, and a line break
inside a category value (``%`` and ``_`` must match it on both engines).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import ibis
import pytest

from finpersona.tags.expression import (
    ExpressionError,
    compile_expression,
    evaluate,
    parse,
    to_ibis,
)
from finpersona.tags.expression.ast import Like, Tag

from . import SIGNATURES, SPARK_SCHEMA, TAGS, rows_table, run_duckdb

ROWS: list[dict[str, Any]] = [
    {"flag": True, "n": 1, "amt": Decimal("0.01"), "ratio": 0.1, "cat": "low",
     "day": date(2025, 1, 1)},
    {"flag": False, "n": 2, "amt": Decimal("10.05"), "ratio": 0.3, "cat": "o'neil",
     "day": date(2025, 1, 3)},
    {"flag": None, "n": None, "amt": None, "ratio": None, "cat": None, "day": None},
    {"flag": True, "n": -1, "amt": Decimal("-1.50"), "ratio": math.nan, "cat": "重要价值",
     "day": date(2025, 1, 4)},
    {"flag": False, "n": 0, "amt": Decimal("0.00"), "ratio": 1.0, "cat": "line\nbreak",
     "day": date(2025, 1, 2)},
    {"flag": None, "n": 3, "amt": Decimal("2.50"), "ratio": 0.25, "cat": "100%",
     "day": None},
    {"flag": True, "n": None, "amt": Decimal("0.25"), "ratio": -2.5, "cat": "a_b",
     "day": date(2025, 1, 5)},
    {"flag": False, "n": 1, "amt": None, "ratio": 0.0, "cat": "重要发展",
     "day": date(2024, 12, 31)},
]

EXPRESSIONS = [
    "flag",
    "NOT flag",
    "flag = FALSE",
    "flag != TRUE",
    "flag IN (TRUE)",
    "flag IS NULL",
    "n BETWEEN -1 AND 2",
    "n NOT BETWEEN -1 AND 2",
    "n IN (1, 3)",
    "n NOT IN (1)",
    "n > 1.5",
    "n = 2.0",
    "amt >= 0.25",
    "amt = 10.05",
    "amt < 0.005",
    "amt BETWEEN 0.005 AND 1",
    "amt NOT IN (0, -1.5)",
    "ratio = 0.1",
    "ratio > 0.25",
    "ratio IN (0.3, 1)",
    "ratio IS NOT NULL",
    "ratio BETWEEN -3 AND 0.1",
    "cat = 'o''neil'",
    "cat LIKE '重要%'",
    "cat NOT LIKE '%a_b%'",
    "cat LIKE '100%'",
    "cat IN ('low', 'line\nbreak')",
    "cat LIKE 'line%'",
    "cat LIKE 'line_break'",
    "day >= DATE '2025-01-03'",
    "day BETWEEN '2025-01-02' AND '2025-01-04'",
    "day NOT IN (DATE '2025-01-01')",
    "NOT (flag OR n > 0)",
    "flag AND n > 0 OR cat = 'low'",
    "NOT flag AND NOT n = 1",
    "cat IS NULL OR (day < DATE '2025-01-02' AND amt != 0)",
]

# The column types of COLUMNS, for unbound tables (SQL text only, no engine).
SIGNATURES_TYPES = {"flag": "boolean", "n": "int64", "amt": "decimal(12, 2)",
                    "ratio": "float64", "cat": "string", "day": "date"}

TREES = [compile_expression(text, SIGNATURES) for text in EXPRESSIONS]
# The same expressions straight from the parser: quoted dates stay strings.
PARSED = [parse(text) for text in EXPRESSIONS]


def expected() -> list[list[bool | None]]:
    return [[evaluate(tree, row) for row in ROWS] for tree in TREES]


@pytest.fixture(scope="module")
def duckdb_con() -> Iterator[Any]:
    connection = ibis.duckdb.connect()
    yield connection
    connection.disconnect()


def test_reference_values_for_a_few_rows() -> None:
    # Spot checks that the reference itself says what SQL says.
    by_text = dict(zip(EXPRESSIONS, expected(), strict=True))
    assert by_text["flag"] == [True, False, None, True, False, None, True, False]
    assert by_text["ratio > 0.25"][3] is True  # NaN is above every number
    assert by_text["ratio IS NOT NULL"][3] is True  # NaN is not null
    assert by_text["NOT (flag OR n > 0)"] == [False, False, None, False, True, False, False,
                                             False]
    assert by_text["cat LIKE 'line_break'"][4] is True


def test_duckdb_agrees_with_the_reference(duckdb_con: Any) -> None:
    assert run_duckdb(duckdb_con, TREES, ROWS) == expected()
    assert run_duckdb(duckdb_con, PARSED, ROWS) == expected()


def test_filtering_selects_only_rows_where_the_expression_is_true(duckdb_con: Any) -> None:
    table = ibis.memtable(rows_table(ROWS))
    tree = compile_expression("NOT flag = TRUE", SIGNATURES)  # null flags are not selected
    selected = duckdb_con.to_pyarrow(table.filter(to_ibis(tree, table.__getitem__))
                                     .order_by("i")).column("i").to_pylist()
    assert selected == [1, 4, 7]


def test_nothing_is_formatted_into_sql_text() -> None:
    table = ibis.table(SIGNATURES_TYPES, name="t")
    tree = parse("cat = 'x'' OR 1=1 --' AND amt >= 0.0005")
    sql = ibis.to_sql(table.filter(to_ibis(tree, table.__getitem__)), dialect="duckdb")
    assert "'x'' OR 1=1 --'" in sql  # quoted by the compiler, as one literal
    # The literal keeps all its digits, widened to cover amt's DECIMAL(12, 2).
    assert "CAST(0.0005 AS DECIMAL(14, 4))" in sql


def test_backslash_in_like_is_refused_by_every_compiler() -> None:
    tree = Like(Tag("cat", 0), "a\\%", 0)
    table = ibis.table(SIGNATURES_TYPES, name="t")
    with pytest.raises(ValueError, match="backslash"):
        to_ibis(tree, table.__getitem__)
    with pytest.raises(ValueError, match="backslash"):
        evaluate(tree, {"cat": "a%"})
    with pytest.raises(ExpressionError, match="backslash"):
        compile_expression("cat LIKE 'a\\%'", SIGNATURES)




@pytest.mark.spark
@pytest.mark.xdist_group("spark")
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j's sockets, not ours
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spark_agrees_with_the_reference(spark: Any) -> None:
    records = [(i, *(row[name] for name in TAGS)) for i, row in enumerate(ROWS)]
    spark.createDataFrame(records, schema=SPARK_SCHEMA).createOrReplaceTempView("expr_rows")
    con = ibis.pyspark.connect(spark)
    table = con.table("expr_rows")
    columns = {f"e{k}": to_ibis(tree, table.__getitem__) for k, tree in enumerate(TREES)}
    # Collected through Spark itself: Ibis's to_pyarrow goes through pandas, which warns.
    result = spark.sql(con.compile(table.select("i", **columns).order_by("i"))).collect()
    assert [[row[f"e{k}"] for row in result] for k in range(len(TREES))] == expected()
