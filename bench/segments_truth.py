"""Segments, risk preference grade and lifecycle stage against the hidden truth.

Usage::

    python bench/segments_truth.py --customers 10000 [--seed 11] [--work DIR] [--json OUT]
                                   [--resamples 20]

The bank is the one bench/churn_truth.py prepares (generated with ``dirty_rate`` 0 as
the model tests' bank, ingested and built at 2025-06-30, 2025-09-30 and 2025-12-31;
kept in ``--work`` and reused). At each date it prints:

- segmentation: the k the silhouette chose, the silhouette per k, the adjusted Rand
  index (ARI) of the segments against the hidden personas, bootstrap stability (ARI of
  refits on ``--resamples`` resamples against the full model), segment sizes and names,
  and at the last date the persona x segment table and variants (no PCA, no
  winsorising, tags only, Gaussian mixture by BIC, and each with k fixed at 7);
- risk preference: coverage, Spearman correlation and share within one grade of the
  grade the hidden risk appetite deserves, next to the questionnaire alone and the
  holdings alone;
- lifecycle: agreement of the model stage (no churn score) with ``lifecycle_stage``, and
  the early warning: with the churn model (trained on the first snapshot) scoring the
  second, the hidden 90-day churn rate of the customers the score moves to declining
  against those it leaves growing or mature.

docs/models/segments.md and docs/models/risk-and-lifecycle.md quote its output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

from churn_truth import BUILD_DATES, prepare
from finpersona.analytics.data import AnalyticsData, open_analytics
from finpersona.config import Workspace
from finpersona.models import lifecycle, risk_preference, segments
from finpersona.models.data import to_frame
from finpersona.models.spec import TrainingSet
from finpersona.privacy import load_or_create_secrets, pseudonym
from finpersona.schema import Pii
from machine import REPO, machine_facts

# The grade an appetite deserves: the questionnaire scores about 25 x (appetite - 1)
# and risk_tolerance_level cuts the score at 20, 40, 60 and 80.
APPETITE_EDGES = (1.8, 2.6, 3.4, 4.2)


def truth(ws: Workspace, truth_dir: Path, name: str = "customers") -> pd.DataFrame:
    frame = pq.read_table(truth_dir / f"{name}.parquet").to_pandas()
    key = load_or_create_secrets(ws.secrets_dir).pseudonym_key
    frame["customer_key"] = frame.customer_id.map(
        lambda v: pseudonym(v, Pii.CUSTOMER_REF, key))
    return frame.set_index("customer_key")


def segmentation(ctx: AnalyticsData, day: date, persona_of: pd.Series, resamples: int,
                 variants: bool) -> dict[str, Any]:
    frame = to_frame(ctx, segments.SPEC.features(ctx, day))
    persona = persona_of.reindex(frame.index)
    started = time.perf_counter()
    model = segments.SPEC.make_estimator().fit(frame)
    seconds = time.perf_counter() - started
    stability = segments.bootstrap_stability(model, frame, resamples)
    out: dict[str, Any] = {
        "as_of": day.isoformat(), "customers": len(frame), "k": model.k_,
        "components": model.n_components_, "fit_seconds": round(seconds, 1),
        "ari_vs_personas": round(adjusted_rand_score(persona, model.labels_), 4),
        "silhouette": {str(k): round(v, 4) for k, v in model.scores_.items()},
        "stability": stability.to_dict(),
        "segments": [{"cluster": p.cluster, "share": round(p.share, 4), "name": p.name,
                      "traits": [f"{t.feature} {t.top_cell.value} TGI {t.top_cell.tgi:.0f}"
                                 for t in p.traits[:3]]} for p in model.profiles_]}
    if variants:
        out["personas_by_segment"] = pd.crosstab(persona, model.labels_).to_dict("index")
        tags_only = [c for c in frame.columns if not c.endswith(("_share", "_ticket"))]
        runs = {"default": (frame, {}), "no PCA": (frame, {"components": None}),
                "no winsorising": (frame, {"winsor": 0.0}), "tags only": (frame[tags_only], {}),
                "gmm by BIC": (frame, {"method": "gmm", "n_init": 2})}
        out["variants"] = {}
        for name, (data, params) in runs.items():
            chosen = segments.CustomerSegmentation(**params).fit(data)
            seven = segments.CustomerSegmentation(**params, k_min=7, k_max=7).fit(data)
            out["variants"][name] = {
                "k": chosen.k_, "ari": round(adjusted_rand_score(persona, chosen.labels_), 4),
                "ari_k7": round(adjusted_rand_score(persona, seven.labels_), 4)}
    return out


def risk(ctx: AnalyticsData, day: date, appetite_of: pd.Series) -> dict[str, Any]:
    frame = to_frame(ctx, risk_preference.SPEC.features(ctx, day))
    appetite = appetite_of.reindex(frame.index)
    grader = risk_preference.SPEC.make_estimator().fit(frame)
    grade = pd.Series(grader.predict(frame), index=frame.index)
    graded = grade.notna()
    level = grade[graded].str[1].astype(int)
    deserved = pd.Series(1 + np.searchsorted(APPETITE_EDGES, appetite[graded], side="right"),
                         index=level.index)
    q = frame.questionnaire_level.dropna()
    b = pd.Series(grader.behaviour_level(frame), index=frame.index)
    held = b > 0
    metrics = risk_preference.SPEC.evaluate(grader, TrainingSet(frame, None, day))
    return {
        "as_of": day.isoformat(), "coverage": round(float(graded.mean()), 4),
        "spearman": round(float(spearmanr(level, appetite[graded]).statistic), 4),
        "within_one_grade": round(float((abs(level - deserved) <= 1).mean()), 4),
        "exact_grade": round(float((level == deserved).mean()), 4),
        "questionnaire_only": {"coverage": round(len(q) / len(frame), 4), "spearman": round(
            float(spearmanr(q, appetite[q.index]).statistic), 4)},
        "holdings_only": {"coverage": round(float(held.mean()), 4), "spearman": round(
            float(spearmanr(b[held], appetite[held]).statistic), 4)},
        "raised_share": round(metrics.get("raised_share", 0.0), 4),
        "lowered_share": round(metrics.get("lowered_share", 0.0), 4),
        "grades": {k: round(v, 4) for k, v in grader.grade_shares_.items()}}


def stages(ctx: AnalyticsData, day: date) -> dict[str, Any]:
    frame = to_frame(ctx, lifecycle.SPEC.features(ctx, day))
    tag = to_frame(ctx, ctx.tags(day, columns=["lifecycle_stage"])).lifecycle_stage
    got = lifecycle.SPEC.make_estimator().fit(frame).predict(frame)
    return {"as_of": day.isoformat(),
            "equal_to_lifecycle_stage": float((got == tag.reindex(frame.index).to_numpy()).mean()),
            "stages": {s: round(float((got == s).mean()), 4) for s in lifecycle.STAGES}}


def early_warning(ctx: AnalyticsData, churned_at: pd.Series) -> dict[str, Any]:
    """Does the score's early warning mean anything? The churn model is trained on the
    first snapshot, scores the second; among customers the rule alone calls growing or
    mature there, the hidden churn rate over the next 90 days of those the score moves
    to declining against those it leaves."""
    from finpersona.models.churn import SPEC as CHURN
    from finpersona.models.training import load_set

    train = load_set(ctx, CHURN, BUILD_DATES[0])
    churn = CHURN.make_estimator().fit(train.X, train.y)
    day = BUILD_DATES[1]
    p = CHURN.outputs(churn, to_frame(ctx, CHURN.features(ctx, day))).churn_probability
    frame = to_frame(ctx, lifecycle.SPEC.features(ctx, day))
    frame = frame.assign(churn_probability=p.reindex(frame.index))
    rule = lifecycle.SPEC.make_estimator().fit(frame)
    with_score = rule.predict(frame)
    without = rule.predict(frame.assign(churn_probability=np.nan))
    when = pd.to_datetime(churned_at.reindex(frame.index))
    start, end = pd.Timestamp(day), pd.Timestamp(day) + pd.Timedelta(days=90)
    left = ((when > start) & (when <= end)).to_numpy()
    active = np.isin(without, ["growing", "mature"])
    moved = active & (with_score == "declining")
    kept = active & ~moved
    return {"as_of": day.isoformat(), "threshold": rule.churn_threshold,
            "moved_share_of_active": round(float(moved.sum() / active.sum()), 4),
            "moved": int(moved.sum()), "churn_rate_moved": round(float(left[moved].mean()), 4),
            "churn_rate_kept": round(float(left[kept].mean()), 4),
            "churn_rate_declining_by_trend": round(float(
                left[without == "declining"].mean()), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "results" / "work")
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    ws, truth_dir = prepare(args.customers, args.seed, args.work)
    hidden = truth(ws, truth_dir)
    report: dict[str, Any] = {"machine": machine_facts(), "customers": args.customers,
                              "seed": args.seed, "segments": [], "risk": [], "lifecycle": []}
    with open_analytics(ws) as ctx:
        for day in BUILD_DATES:
            report["segments"].append(segmentation(ctx, day, hidden.persona, args.resamples,
                                                   variants=day == BUILD_DATES[-1]))
            report["risk"].append(risk(ctx, day, hidden.risk_appetite))
            report["lifecycle"].append(stages(ctx, day))
        report["early_warning"] = early_warning(ctx, truth(ws, truth_dir, "churn").churned_at)
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
