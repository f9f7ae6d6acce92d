"""The credit scorecard against the hidden true default probability, on a bench bank.

Usage (after ``bench/models.py`` has prepared and trained the bank)::

    python bench/credit_truth.py [--work bench/results/work] [--customers 100000]

Re-creates the held-out split the registered ``credit_risk`` version was tested on,
scores it with that version and with the generator's ``true_pd``, and prints both
AUCs on the same customers and outcomes, their gap, and a paired bootstrap standard
error of the gap (the issue asks for a gap within 0.03).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from finpersona.analytics.data import open_analytics
from finpersona.config import open_workspace
from finpersona.models.catalog import get_spec, outcome_days
from finpersona.models.metrics import auc
from finpersona.models.registry import ModelRegistry
from finpersona.models.training import prepare
from finpersona.privacy import load_or_create_secrets, pseudonym
from finpersona.schema import Pii
from machine import REPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "results" / "work")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=500)
    args = parser.parse_args()
    root = args.work / f"models-{args.customers}"
    ws = open_workspace(root / "ws", create=False)
    spec = get_spec("credit_risk", ws.settings)
    card, estimator = ModelRegistry(ws.models_dir).load("credit_risk")
    with open_analytics(ws) as ctx:
        test = prepare(ctx, spec, outcome_days("credit_risk", ws.settings)).test
    key = load_or_create_secrets(ws.secrets_dir).pseudonym_key
    truth = pq.read_table(root / "bank" / "truth" / "customers.parquet").to_pandas()
    truth["customer_key"] = truth.customer_id.map(
        lambda v: pseudonym(v, Pii.CUSTOMER_REF, key))
    true_pd = truth.set_index("customer_key").true_pd.reindex(test.X.index).to_numpy()
    assert test.y is not None and not np.isnan(true_pd).any()
    y = test.y.to_numpy()
    ours = estimator.predict_proba(test.X)[:, 1]
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(args.resamples):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            gaps.append(auc(y[i], true_pd[i]) - auc(y[i], ours[i]))
    result = {"model": card.ref, "split": card.split, "customers": len(y),
              "defaults": int(y.sum()), "model_auc": round(auc(y, ours), 4),
              "true_pd_auc": round(auc(y, true_pd), 4),
              "gap": round(auc(y, true_pd) - auc(y, ours), 4),
              "gap_bootstrap_se": round(float(np.std(gaps)), 4)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
