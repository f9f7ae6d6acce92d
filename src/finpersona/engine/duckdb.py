"""DuckDB, embedded: the default engine. Nothing to start, data stays in this process."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from finpersona.engine.base import Engine

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


@ibis.udf.scalar.builtin(name="json_extract_string")
def _json_extract_string(text: str, path: str) -> str:  # type: ignore[empty-body,unused-ignore]
    """DuckDB builtin."""


@ibis.udf.scalar.builtin(name="json_valid")
def _json_valid(text: str) -> bool:  # type: ignore[empty-body,unused-ignore]
    """DuckDB builtin."""


@ibis.udf.scalar.builtin(name="json_type")
def _json_type(text: str) -> str:  # type: ignore[empty-body,unused-ignore]
    """DuckDB builtin."""


class DuckDBEngine(Engine):
    name = "duckdb"
    backref_format = "\\{}"
    _spill_dir = ""

    def _connect(self) -> BaseBackend:
        # Timestamps are stored zone-less in UTC, so no TimeZone (ICU) setting is needed.
        config: dict[str, str | int] = {}
        if self.settings.duckdb_threads:
            config["threads"] = self.settings.duckdb_threads
        # Staged source rows may exceed memory: cap DuckDB at about a third of the machine
        # (Python holds Arrow batches and quarantined rows beside it) and let it spill to
        # a private folder that is removed when the engine closes.
        config["memory_limit"] = self.settings.duckdb_memory_limit or (
            f"{psutil.virtual_memory().total * 35 // 100 // 2**20}MB")
        # Row order never matters here (windows order by file and line explicitly), and
        # keeping it costs DuckDB memory on large loads.
        config["preserve_insertion_order"] = "false"
        self._spill_dir = tempfile.mkdtemp(prefix="finpersona-duckdb-")
        config["temp_directory"] = self._spill_dir
        # Working tables live in a scratch database file, not in memory: DuckDB's buffer
        # manager then evicts their (compressed) blocks to disk under memory pressure,
        # where in-memory temp tables of a 1e6-customer load outgrow the cap.
        scratch = str(Path(self._spill_dir) / "scratch.duckdb")
        return ibis.duckdb.connect(database=scratch, **config)

    def _close(self) -> None:
        super()._close()
        shutil.rmtree(self._spill_dir, ignore_errors=True)

    def stage(self, name: str, batches: Iterable[pa.Table], schema: pa.Schema) -> ir.Table:
        raw = self.con.con
        empty = schema.empty_table()
        raw.register("_fp_empty", empty)
        raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _fp_empty')
        raw.unregister("_fp_empty")
        for batch in batches:
            raw.register("_fp_batch", batch)
            raw.execute(f'INSERT INTO "{name}" SELECT * FROM _fp_batch')
            raw.unregister("_fp_batch")
        self._staged.append(name)
        return self.con.table(name)

    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        table = self.con.create_table(name, expr, overwrite=True)
        self._staged.append(name)
        return table

    def _drop_staged(self, name: str) -> None:
        self.con.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def read_parquet(self, dirs: list[Path]) -> ir.Table:
        files = [str(p) for d in dirs for p in sorted(d.glob("*.parquet"))]
        return self.con.read_parquet(files)

    def write_parquet(self, expr: ir.Table, directory: Path) -> None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        codec = self.settings.parquet_compression
        self.con._register_in_memory_tables(expr)
        sql = str(self.con.compile(expr))
        raw = self.con.con
        relation = raw.sql(sql)
        # DuckDB sums BIGINT into HUGEINT, which Parquet stores as DOUBLE, while Ibis (and
        # Spark) say BIGINT; write BIGINT so the warehouse schema is the same on every engine.
        columns = ", ".join(
            f'CAST("{name}" AS BIGINT) AS "{name}"' if str(kind) == "HUGEINT" else f'"{name}"'
            for name, kind in zip(relation.columns, relation.types, strict=True))
        target = str(directory / "part-0000.parquet").replace("'", "''")
        compression = "uncompressed" if codec == "none" else codec
        raw.execute(f"COPY (SELECT {columns} FROM ({sql})) TO '{target}' "
                    f"(FORMAT parquet, COMPRESSION {compression})")

    def to_arrow_batches(self, expr: ir.Table, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        # Ibis's own batch reader calls a DuckDB method that is deprecated in 1.5.
        self.con._register_in_memory_tables(expr)
        sql = str(self.con.compile(expr))
        yield from self.con.con.execute(sql).to_arrow_reader(rows)

    def map_batches(self, expr: ir.Table, fn: Callable[[pa.RecordBatch], pa.RecordBatch],
                    schema: pa.Schema, directory: Path, rows: int = 50_000) -> None:
        # Vectorised batches streamed from DuckDB's Arrow reader: memory stays at a few
        # batches whatever the customer count.
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        codec = self.settings.parquet_compression
        with pq.ParquetWriter(directory / "part-0000.parquet", schema,
                              compression=codec) as writer:
            for batch in self.to_arrow_batches(expr, rows):
                if batch.num_rows:
                    out = fn(batch)
                    writer.write_table(pa.Table.from_batches([out]).cast(schema))

    def json_get(self, text: ir.StringValue, field: str) -> ir.StringValue:
        # json_extract_string raises on malformed input, so guard it per row.
        return ibis.ifelse(
            _json_valid(text), _json_extract_string(text, f"$.{field}"), ibis.null(str)
        )

    def json_is_object(self, text: ir.StringValue) -> ir.BooleanValue:
        valid = _json_valid(text).fill_null(False)
        return valid & (ibis.ifelse(valid, _json_type(text), "") == "OBJECT")
