"""Engine-independent computation: one pipeline on DuckDB (default) or Apache Spark."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finpersona.engine.base import Engine, EngineError

if TYPE_CHECKING:
    from finpersona.config import Settings

ENGINES = ("duckdb", "spark")


def connect(settings: Settings) -> Engine:
    """The engine the settings name; imported only when used."""
    if settings.engine == "duckdb":
        from finpersona.engine.duckdb import DuckDBEngine

        return DuckDBEngine(settings)
    if settings.engine == "spark":
        from finpersona.engine.spark import SparkEngine

        return SparkEngine(settings)
    raise EngineError(f"unknown engine {settings.engine!r}; choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "EngineError", "connect"]
