"""A larger synthetic bank for the models: ingested once on DuckDB, built at three dates.

Model tests compare what a model learns with the generator's hidden truth
(``truth/customers.parquet`` and friends), which needs more customers than the
600 of the shared bank. All tests that use it run on one xdist worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from finpersona.build import build
from finpersona.config import Workspace
from finpersona.ingest import ingest_directory
from finpersona.privacy import load_or_create_secrets, pseudonym
from finpersona.schema import Pii
from finpersona.synth import SynthSummary, generate_demo_bank
from tests.conftest import make_workspace

MODEL_BANK_CUSTOMERS = 10_000
MODEL_BANK_SEED = 11
# Features are taken at a snapshot; outcomes in the window after it. Training uses the
# earlier dates, testing the later ones: a time-based split with no leakage.
MODEL_AS_OF = (date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31))
MODEL_GROUP = pytest.mark.xdist_group("model_bank")


@dataclass(frozen=True)
class ModelBank:
    summary: SynthSummary
    workspace: Workspace

    @property
    def truth_dir(self) -> Path:
        return self.summary.truth_dir

    def truth(self, name: str = "customers") -> pd.DataFrame:
        """A hidden-truth table with ``customer_key`` added (the warehouse's pseudonym)."""
        frame = pq.read_table(self.truth_dir / f"{name}.parquet").to_pandas()
        key = load_or_create_secrets(self.workspace.secrets_dir).pseudonym_key
        id_column = "customer_id" if "customer_id" in frame.columns else "true_customer_id"
        frame["customer_key"] = frame[id_column].map(
            lambda v: None if v is None or pd.isna(v) else pseudonym(v, Pii.CUSTOMER_REF, key))
        return frame


@pytest.fixture(scope="session")
def model_bank(tmp_path_factory: pytest.TempPathFactory) -> ModelBank:
    root = tmp_path_factory.mktemp("model-bank")
    summary = generate_demo_bank(root / "bank", customers=MODEL_BANK_CUSTOMERS,
                                 seed=MODEL_BANK_SEED, dirty_rate=0.0)
    workspace = make_workspace(root / "ws", "duckdb")
    ingest_directory(workspace, summary.source_dir)
    for day in MODEL_AS_OF:
        build(workspace, day)
    return ModelBank(summary, workspace)
