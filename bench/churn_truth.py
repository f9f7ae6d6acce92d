"""Churn and propensity against the hidden truth, at a chosen bank size.

Usage::

    python bench/churn_truth.py --customers 10000 [--seed 11] [--work DIR] [--json OUT]

A synthetic bank is generated (``dirty_rate`` 0, as the model tests' bank), ingested
and built at 2025-06-30, 2025-09-30 and 2025-12-31 (kept in ``--work``, default
bench/results/work, and reused).
The churn and propensity models are trained on the 2025-06-30 snapshot and tested
on 2025-09-30 with the outcomes of the following 90 days. For each outcome the
table shows the test AUC of the model, the AUC of the hidden truth's probability
on the same customers and labels, their gap, the events in training and test, and
the mean predicted probability against the observed rate. A second table compares
the churn label with the planted churn (recall and precision) for a few quiet
periods and kept shares. This is how docs/models/churn-propensity.md measured its
figures and what bank size the 0.03 criterion needs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from finpersona.analytics.data import open_analytics
from finpersona.build import build
from finpersona.config import Workspace, open_workspace
from finpersona.ingest import ingest_directory
from finpersona.models.churn import SPEC as CHURN
from finpersona.models.data import to_frame
from finpersona.models.metrics import auc
from finpersona.models.outcomes import ChurnOutcome
from finpersona.models.propensity import PRODUCT_TYPES, unpack_targets
from finpersona.models.propensity import SPEC as PROPENSITY
from finpersona.models.training import load_set
from finpersona.privacy import load_or_create_secrets, pseudonym
from finpersona.schema import Pii
from finpersona.synth import generate_demo_bank
from machine import REPO, machine_facts

BUILD_DATES = (date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31))
TRAIN_AS_OF, TEST_AS_OF = BUILD_DATES[0], BUILD_DATES[1]
HORIZON = 90
PLANTED = ("time_deposit", "wealth_management", "fund", "insurance", "credit_card")


def prepare(customers: int, seed: int, work: Path) -> tuple[Workspace, Path]:
    root = work / f"churn-truth-{customers}-{seed}"
    if (root / "READY").exists():
        return open_workspace(root / "ws", create=False), root / "bank" / "truth"
    shutil.rmtree(root, ignore_errors=True)
    summary = generate_demo_bank(root / "bank", customers=customers, seed=seed,
                                 dirty_rate=0.0)
    ws = open_workspace(root / "ws")
    ingest_directory(ws, summary.source_dir)
    for day in BUILD_DATES:
        build(ws, day)
    (root / "READY").write_text("ok\n", encoding="utf-8")
    return ws, summary.truth_dir


def _truth(ws: Workspace, truth_dir: Path, name: str) -> pd.DataFrame:
    frame = pq.read_table(truth_dir / f"{name}.parquet").to_pandas()
    key = load_or_create_secrets(ws.secrets_dir).pseudonym_key
    frame["customer_key"] = frame.customer_id.map(
        lambda v: pseudonym(v, Pii.CUSTOMER_REF, key))
    return frame


def _row(name: str, y: Any, p: Any, truth: Any, train_events: int) -> dict[str, Any]:
    ours, best = auc(y, p), auc(y, truth)
    return {"outcome": name, "model_auc": round(ours, 4), "truth_auc": round(best, 4),
            "gap": round(best - ours, 4), "train_events": train_events,
            "test_events": int(np.sum(y)), "test_rows": len(y),
            "mean_probability": round(float(np.mean(p)), 4),
            "observed_rate": round(float(np.mean(y)), 4)}


def measure(ws: Workspace, truth_dir: Path) -> list[dict[str, Any]]:
    churn = _truth(ws, truth_dir, "churn").set_index("customer_key")
    hazard = _truth(ws, truth_dir, "acquisition").pivot(
        index="customer_key", columns="product_type", values="hazard_per_day")
    with open_analytics(ws) as ctx:
        sets = {spec.name: (load_set(ctx, spec, TRAIN_AS_OF), load_set(ctx, spec, TEST_AS_OF))
                for spec in (CHURN, PROPENSITY)}
    rows = []
    train, test = sets["churn"]
    model = CHURN.make_estimator().fit(train.X, train.y)
    truth = 1 - np.exp(-churn.churn_hazard_per_day.loc[test.X.index] * HORIZON)
    rows.append(_row("churn", test.y, model.predict_proba(test.X)[:, 1], truth,
                     int(train.y.sum())))
    train, test = sets["propensity"]
    model = PROPENSITY.make_estimator().fit(train.X, train.y)
    p = model.predict_proba(test.X)
    outcomes = unpack_targets(test.y, PRODUCT_TYPES)
    outcomes.index = test.X.index
    mu = churn.churn_hazard_per_day.loc[test.X.index].to_numpy()
    gone = (churn.churned_at.loc[test.X.index]
            < pd.Timestamp(TEST_AS_OF + timedelta(days=1))).to_numpy()
    for kind in PLANTED:
        lam = hazard[kind].loc[test.X.index].to_numpy()
        total = lam + mu
        true_p = np.where(gone, 0.0, lam / total * (1 - np.exp(-total * HORIZON)))
        eligible = outcomes[kind].notna().to_numpy()
        rows.append(_row(kind, outcomes[kind][eligible], p[kind][eligible],
                         true_p[eligible], model.events_[kind]))
    return rows


def agreement(ws: Workspace, truth_dir: Path) -> list[dict[str, Any]]:
    """The churn label against the planted churn, for a few quiet periods and kept shares."""
    left = _truth(ws, truth_dir, "churn").set_index("customer_key").churned_at
    rows = []
    with open_analytics(ws) as ctx:
        for quiet, kept in ((90, 0.2), (45, 0.2), (30, 0.2), (30, 0.1), (30, 0.5), (14, 0.2)):
            row: dict[str, Any] = {"quiet_days": quiet, "kept_share": kept}
            for as_of in (TRAIN_AS_OF, TEST_AS_OF):
                outcome = ChurnOutcome(HORIZON, quiet, kept)
                labels = to_frame(ctx, outcome.labels(ctx, as_of)).target.astype(bool)
                start = pd.Timestamp(as_of + timedelta(days=1))
                when = left.loc[labels.index]
                planted = when.notna() & (when >= start) & (
                    when < start + pd.Timedelta(days=HORIZON))
                both = int((labels & planted).sum())
                row[f"recall {as_of}"] = round(both / max(int(planted.sum()), 1), 3)
                row[f"precision {as_of}"] = round(both / max(int(labels.sum()), 1), 3)
                row[f"population {as_of}"] = len(labels)
            rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=lambda s: int(float(s)), default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "results" / "work")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ws, truth_dir = prepare(args.customers, args.seed, args.work)
    rows = measure(ws, truth_dir)
    agreed = agreement(ws, truth_dir)
    print(f"bank: {args.customers} customers, seed {args.seed}; "
          f"{time.perf_counter() - started:.0f} s")
    print(markdown(rows))
    print()
    print(markdown(agreed))
    if args.json is not None:
        args.json.write_text(json.dumps({"customers": args.customers, "seed": args.seed,
                                         "rows": rows, "agreement": agreed,
                                         "machine": machine_facts()},
                                        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
