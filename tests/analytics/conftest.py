"""Engines for analytics tests: every test taking ``engine`` runs on DuckDB and on Spark.

Analyses are compared with a plain-Python reference over the same event list;
inputs are Arrow tables turned into Ibis memtables, which each engine runs
through its own connection (``Engine.to_arrow``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pytest

from finpersona.config import Settings
from finpersona.engine import Engine, connect
from tests.conftest import ENGINES

_ENGINES: dict[str, Engine] = {}


def engine_for(name: str) -> Engine:
    if name not in _ENGINES:
        settings = Settings(engine=name, spark_master="local[2]",  # type: ignore[arg-type]
                            spark_conf={"spark.sql.shuffle.partitions": "2",
                                        "spark.default.parallelism": "2"})
        _ENGINES[name] = connect(settings)
    return _ENGINES[name]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield engine_for(str(request.param))


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> ir.Table:
    """An in-memory input table with an explicit schema (empty lists keep their types)."""
    return ibis.memtable(pa.Table.from_pylist(rows, schema=schema))


EVENT_SCHEMA = pa.schema([("customer_key", pa.string()), ("anonymous_key", pa.string()),
                          ("session_id", pa.string()), ("event_time", pa.timestamp("us")),
                          ("event_name", pa.string()), ("page", pa.string()),
                          ("platform", pa.string()), ("dwell_ms", pa.int64())])
TXN_SCHEMA = pa.schema([("customer_key", pa.string()), ("txn_time", pa.timestamp("us")),
                        ("amount", pa.decimal128(18, 4)), ("direction", pa.string()),
                        ("txn_type", pa.string()), ("channel", pa.string()),
                        ("mcc", pa.string()), ("city", pa.string()), ("status", pa.string())])


def examples_for(engine: Engine, duckdb: int = 60, spark: int = 6) -> int:
    """Hypothesis examples per engine: Spark answers each query in about a second."""
    return spark if engine.name == "spark" else duckdb
