"""Tests of the expression language, and the small world they share.

``SIGNATURES`` and ``COLUMNS`` describe one tag of each type (two for decimal:
one stored as DECIMAL, one as DOUBLE, since literals are typed differently for
each); ``run_duckdb`` evaluates trees over rows through Ibis, the way the
pipeline does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import pyarrow as pa

from finpersona.tags.expression import Node, to_ibis
from finpersona.tags.types import TagSignature, ValueType

CATEGORY_VALUES = ("low", "medium", "high", "重要价值", "重要发展", "o'neil", "100%", "a_b",
                   "line\nbreak")

SIGNATURES: dict[str, TagSignature] = {
    s.name: s
    for s in (
        TagSignature("flag", ValueType.BOOL),
        TagSignature("n", ValueType.INT),
        TagSignature("amt", ValueType.DECIMAL),
        TagSignature("ratio", ValueType.DECIMAL),
        TagSignature("cat", ValueType.CATEGORY, CATEGORY_VALUES),
        TagSignature("day", ValueType.DATE),
    )
}

COLUMNS = pa.schema([
    ("i", pa.int64()),
    ("flag", pa.bool_()),
    ("n", pa.int64()),
    ("amt", pa.decimal128(12, 2)),
    ("ratio", pa.float64()),
    ("cat", pa.string()),
    ("day", pa.date32()),
])
SPARK_SCHEMA = ("i long, flag boolean, n long, amt decimal(12,2), ratio double, cat string, "
                "day date")
TAGS = [name for name in COLUMNS.names if name != "i"]


def rows_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The rows as Arrow, numbered by ``i`` so results can be put back in order."""
    data = {name: [row[name] for row in rows] for name in TAGS}
    return pa.table({"i": list(range(len(rows))), **data}, schema=COLUMNS)


def run_duckdb(con: Any, trees: Sequence[Node], rows: Sequence[Mapping[str, Any]]
               ) -> list[list[bool | None]]:
    """Each tree's value on each row, computed by DuckDB from ``to_ibis``."""
    table = ibis.memtable(rows_table(rows))
    columns = {f"e{k}": to_ibis(tree, lambda name: table[name]) for k, tree in enumerate(trees)}
    result = con.to_pyarrow(table.select("i", **columns).order_by("i")).to_pydict()
    return [result[f"e{k}"] for k in range(len(trees))]
