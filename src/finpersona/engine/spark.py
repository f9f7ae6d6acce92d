"""Apache Spark through PySpark: the scale-out engine, local[N] or a cluster.

Differences from DuckDB that matter to the pipeline, handled here:
timestamps are kept zone-less (TIMESTAMP_NTZ, session zone UTC), Arrow is used
for every transfer, and Python workers run the driver's interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from finpersona.engine.base import Engine, EngineError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


@ibis.udf.scalar.builtin(name="get_json_object")
def _get_json_object(text: str, path: str) -> str:  # type: ignore[empty-body,unused-ignore]
    """Spark builtin."""


BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.sql.ansi.enabled": "false",
    "spark.driver.memory": "4g",
    "spark.sql.parquet.compression.codec": "zstd",
    # The cleaning projections are wide; whole-stage code for them exceeds Java's 64 KB
    # method limit and Spark then interprets row by row (3x slower, measured on ingest).
    "spark.sql.codegen.wholeStage": "false",
}


class SparkEngine(Engine):
    name = "spark"
    backref_format = "${}"
    _session: Any = None

    def _connect(self) -> BaseBackend:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # PySpark is an optional extra
            raise EngineError(
                "the Spark engine needs PySpark: pip install 'finpersona[spark]' (and Java 17)"
            ) from exc
        # Workers must run the same interpreter as the driver (same packages).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        conf = dict(BASE_CONF)
        codec = self.settings.parquet_compression
        conf["spark.sql.parquet.compression.codec"] = "none" if codec == "none" else codec
        conf.update(self.settings.spark_conf)
        builder = SparkSession.builder.master(self.settings.spark_master).appName("finpersona")
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:
            master = self.settings.spark_master
            raise EngineError(f"could not start Spark ({master}): {exc}") from exc
        # getOrCreate may return a session started elsewhere; apply what can change at runtime.
        for key, value in conf.items():
            if key.startswith("spark.sql.") and "codec" not in key:
                session.conf.set(key, value)
        session.conf.set("spark.sql.parquet.compression.codec",
                         conf["spark.sql.parquet.compression.codec"])
        session.sparkContext.setLogLevel("ERROR")
        self._session = session
        return ibis.pyspark.connect(session)

    @property
    def session(self) -> Any:
        """The SparkSession, started on first use like the Ibis connection."""
        if self._session is None:
            self.con  # noqa: B018 - connecting sets the session
        return self._session

    def _close(self) -> None:
        # The session is shared by the process (tests reuse it); stop only our views.
        pass

    def stage(self, name: str, batches: Iterable[pa.Table], schema: pa.Schema) -> ir.Table:
        con = self.con
        spark_schema = _spark_schema(schema)
        frame = self.session.createDataFrame([], schema=spark_schema)
        for batch in batches:  # one file at a time, so the driver never holds them all
            if batch.num_rows:
                frame = frame.unionByName(self.session.createDataFrame(batch,
                                                                        schema=spark_schema))
        frame = frame.cache()
        frame.count()
        frame.createOrReplaceTempView(name)
        self._staged.append(name)
        return con.table(name)

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        # Raw SQL bypasses Ibis's registration of in-memory tables (memtables): do it here.
        self.con._register_in_memory_tables(expr)
        frame = self.session.sql(str(self.con.compile(expr))).cache()
        frame.count()  # force it now, so later reads hit the cache
        frame.createOrReplaceTempView(name)
        self._staged.append(name)
        return self.con.table(name)

    def _drop_staged(self, name: str) -> None:
        frame = self.session.table(name)
        frame.unpersist()
        self.session.catalog.dropTempView(name)

    def read_parquet(self, dirs: list[Path]) -> ir.Table:
        frame = self.session.read.parquet(*[str(d) for d in dirs])
        view = f"_fp_parquet_{abs(hash(tuple(map(str, dirs)))):x}"
        frame.createOrReplaceTempView(view)
        return self.con.table(view)

    def write_parquet(self, expr: ir.Table, directory: Path) -> None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.con.to_parquet(expr, str(directory))  # Spark writes a folder of part files
        for marker in directory.glob("_SUCCESS"):
            marker.unlink()
        for crc in directory.glob(".*.crc"):
            crc.unlink()

    def map_batches(self, expr: ir.Table, fn: Callable[[pa.RecordBatch], pa.RecordBatch],
                    schema: pa.Schema, directory: Path, rows: int = 50_000) -> None:
        # Arrow batches on the executors (mapInArrow): the fitted model travels with
        # ``fn`` and scores each partition where it lies; nothing is collected.
        from pyspark.sql.pandas.types import from_arrow_schema

        self.con._register_in_memory_tables(expr)
        frame = self.session.sql(str(self.con.compile(expr)))

        def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                if batch.num_rows:
                    yield from pa.Table.from_batches([fn(batch)]).cast(schema).to_batches()

        self.session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(rows))
        out = frame.mapInArrow(apply, from_arrow_schema(schema))
        if directory.exists():
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        out.write.parquet(str(directory))
        for marker in directory.glob("_SUCCESS"):
            marker.unlink()
        for crc in directory.glob(".*.crc"):
            crc.unlink()

    def json_get(self, text: ir.StringValue, field: str) -> ir.StringValue:
        return _get_json_object(text, f"$.{field}")

    def json_is_object(self, text: ir.StringValue) -> ir.BooleanValue:
        stripped = text.strip()
        return (
            stripped.startswith("{") & _get_json_object(text, "$").notnull()
        ).fill_null(False)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as spark_types

    mapping = {
        pa.string(): spark_types.StringType(),
        pa.large_string(): spark_types.StringType(),
        pa.int64(): spark_types.LongType(),
        pa.int32(): spark_types.IntegerType(),
        pa.bool_(): spark_types.BooleanType(),
    }
    fields = []
    for f in schema:
        if f.type not in mapping:
            raise EngineError(f"cannot stage Arrow type {f.type} on Spark")
        fields.append(spark_types.StructField(f.name, mapping[f.type], True))
    return spark_types.StructType(fields)
