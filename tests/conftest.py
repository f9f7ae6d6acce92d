"""Shared fixtures: one small synthetic bank per session, ingested and built once per engine.

Engine-dependent tests take the ``ingested`` fixture, which is parametrised by
engine: every such test runs on DuckDB and on Spark (``-m "not spark"`` skips Spark).
Both workspaces share one set of secrets so that pseudonyms, and so whole
tables, can be compared across engines.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from finpersona.build import BuildReport, build
from finpersona.config import Workspace, open_workspace
from finpersona.ingest import IngestReport, ingest_directory
from finpersona.privacy import load_or_create_secrets
from finpersona.synth import SynthSummary, generate_demo_bank

# All Spark tests run on one xdist worker, so one JVM and one Spark ingest serve them all.
SPARK_MARKS = (pytest.mark.spark, pytest.mark.xdist_group("spark"))
ENGINES = ["duckdb", pytest.param("spark", marks=SPARK_MARKS)]
BANK_CUSTOMERS = 600
BANK_SEED = 5
BANK_DIRTY_RATE = 0.03
FIRST_AS_OF = date(2025, 12, 31)


@dataclass
class Ingested:
    engine: str
    workspace: Workspace
    report: IngestReport
    built: BuildReport


def make_workspace(root: Path, engine: str, secrets_dir: Path | None = None) -> Workspace:
    """A workspace with uncompressed Parquet (so byte scans see every value) and small Spark."""
    root.mkdir(parents=True, exist_ok=True)
    settings = {"engine": engine, "parquet_compression": "none",
                "spark_master": "local[2]",
                "spark_conf": {"spark.sql.shuffle.partitions": "2",
                               "spark.default.parallelism": "2"}}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    if secrets_dir is not None:
        shutil.copytree(secrets_dir, root / "secrets")
    return open_workspace(root)


@pytest.fixture(scope="session")
def bank(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    return generate_demo_bank(tmp_path_factory.mktemp("bank"), customers=BANK_CUSTOMERS,
                              seed=BANK_SEED, dirty_rate=BANK_DIRTY_RATE)


@pytest.fixture(scope="session")
def shared_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "secrets"
    load_or_create_secrets(path)
    return path


@pytest.fixture(scope="session")
def ingest_with(bank: SynthSummary, shared_secrets: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Ingested]:
    cache: dict[str, Ingested] = {}

    def get(engine: str) -> Ingested:
        if engine not in cache:
            ws = make_workspace(tmp_path_factory.mktemp(f"ws-{engine}"), engine, shared_secrets)
            report = ingest_directory(ws, bank.source_dir)
            built = build(ws, FIRST_AS_OF)
            cache[engine] = Ingested(engine, ws, report, built)
        return cache[engine]

    return get


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ingested(engine_name: str, ingest_with: Callable[[str], Ingested]) -> Ingested:
    return ingest_with(engine_name)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A small local[1] Spark session for unit tests that compare with a Python reference."""
    pytest.importorskip("pyspark")
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    already_running = SparkSession.getActiveSession() is not None
    session = (SparkSession.builder.master("local[1]").appName("finpersona-unit-test")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    if not already_running:
        session.stop()
