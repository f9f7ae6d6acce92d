"""A larger synthetic bank for the models: ingested once on DuckDB, built at three dates.

Model tests compare what a model learns with the generator's hidden truth
(``truth/customers.parquet`` and friends), which needs more customers than the
600 of the shared bank. All tests that use it run on one xdist worker.
"""

from __future__ import annotations

import hashlib
import json
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
from finpersona.privacy.keys import KEYS_FILE
from finpersona.schema import Pii
from finpersona.synth import SynthSummary, generate_demo_bank
from tests.conftest import make_workspace

# 20,000, not 10,000: with fewer, funds and credit cards have too few take-ups a quarter
# for the boosted model to come within 0.03 of the hidden truth's AUC (measured in
# docs/models/churn-propensity.md). The bank takes about a minute to build.
MODEL_BANK_CUSTOMERS = 20_000
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


def _fixed_secrets(root: Path) -> Path:
    """Test-only keys, the same every run: pseudonyms, and so the key-hashed holdout
    and every figure the model tests print, are reproducible."""
    folder = root / "secrets"
    folder.mkdir(mode=0o700, parents=True)
    digest = hashlib.sha256(f"model-bank-{MODEL_BANK_SEED}".encode()).hexdigest()
    keys = {"version": 1, "created_at": "2025-01-01T00:00:00+00:00",
            "pseudonym_key": digest, "vault_key": hashlib.sha256(digest.encode()).hexdigest()}
    path = folder / KEYS_FILE
    path.write_text(json.dumps(keys), encoding="utf-8")
    path.chmod(0o600)
    return folder


@pytest.fixture(scope="session")
def model_bank(tmp_path_factory: pytest.TempPathFactory) -> ModelBank:
    root = tmp_path_factory.mktemp("model-bank")
    summary = generate_demo_bank(root / "bank", customers=MODEL_BANK_CUSTOMERS,
                                 seed=MODEL_BANK_SEED, dirty_rate=0.0)
    workspace = make_workspace(root / "ws", "duckdb", _fixed_secrets(root))
    ingest_directory(workspace, summary.source_dir)
    for day in MODEL_AS_OF:
        build(workspace, day)
    return ModelBank(summary, workspace)
