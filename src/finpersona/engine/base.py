"""The engine contract: everything the pipeline needs from a compute engine.

The pipeline builds Ibis expressions and never asks which engine runs them.
What differs between engines (how data is registered, how Parquet is laid out,
which builtin does JSON) is implemented once per engine in a subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from finpersona.config import Settings


class EngineError(Exception):
    """An engine is missing, misconfigured or failed."""


class Engine(ABC):
    """A connection to one compute engine, opened lazily on first use."""

    name: ClassVar[str]
    # How a regex replacement refers to capture group N ("\\1" in RE2, "$1" in Java).
    backref_format: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._con: BaseBackend | None = None
        self._staged: list[str] = []

    # -- connection -------------------------------------------------------------------
    @property
    def con(self) -> BaseBackend:
        if self._con is None:
            self._con = self._connect()
        return self._con

    @abstractmethod
    def _connect(self) -> BaseBackend: ...

    def close(self) -> None:
        if self._con is not None:
            for name in self._staged:
                self._drop_staged(name)
            self._staged.clear()
            self._close()
            self._con = None

    def _close(self) -> None:
        self.con.disconnect()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- moving data in and out ----------------------------------------------------------
    @abstractmethod
    def stage(self, name: str, batches: Iterable[pa.Table], schema: pa.Schema) -> ir.Table:
        """Load Arrow data into engine memory (never the warehouse) as a table."""

    @abstractmethod
    def _drop_staged(self, name: str) -> None: ...

    def release(self, *names: str) -> None:
        """Free staged or materialised tables as soon as a step no longer needs them."""
        for name in names:
            if name in self._staged:
                self._drop_staged(name)
                self._staged.remove(name)

    @abstractmethod
    def materialize(self, expr: ir.Table, name: str) -> ir.Table:
        """Compute an expression once into engine memory; later reads reuse the result.

        Release it with :meth:`release` when done.
        """

    @abstractmethod
    def read_parquet(self, dirs: list[Path]) -> ir.Table:
        """A table over the Parquet files in the given dataset folders."""

    @abstractmethod
    def write_parquet(self, expr: ir.Table, directory: Path) -> None:
        """Write the expression's rows as Parquet files into a new folder."""

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        # On this engine's connection: an expression over in-memory tables only (tests,
        # small lookups) would otherwise run on Ibis's default backend.
        return self.con.to_pyarrow(expr)

    def to_arrow_batches(self, expr: ir.Table, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        reader = expr.to_pyarrow_batches(chunk_size=rows)
        yield from reader

    @abstractmethod
    def map_batches(self, expr: ir.Table, fn: Callable[[pa.RecordBatch], pa.RecordBatch],
                    schema: pa.Schema, directory: Path, rows: int = 50_000) -> None:
        """Apply a vectorised Python function to the rows in batches; write Parquet.

        This is how fitted models score every customer where the data lives: ``fn``
        takes an Arrow batch of ``expr``'s rows and returns a batch with ``schema``.
        It must be picklable (Spark ships it to its executors) and must not depend on
        how rows are split into batches.
        """

    def scalar(self, expr: ir.Scalar) -> Any:
        return self.con.execute(expr)

    # -- engine-specific functions ---------------------------------------------------------
    def template(self, text: str) -> str:
        """A replacement template with ``{1}``-style group references in this engine's syntax."""
        out = text
        for n in range(9, 0, -1):
            out = out.replace("{" + str(n) + "}", self.backref_format.format(n))
        return out

    @abstractmethod
    def json_get(self, text: ir.StringValue, field: str) -> ir.StringValue:
        """The field of a JSON object as text (nested values as JSON); null if absent/invalid."""

    @abstractmethod
    def json_is_object(self, text: ir.StringValue) -> ir.BooleanValue:
        """True when the text parses as a JSON object."""
