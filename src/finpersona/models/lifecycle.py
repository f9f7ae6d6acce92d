"""Lifecycle stage with the churn score: the ``lifecycle_stage`` rule, told early by the model.

The tag ``lifecycle_stage`` (tags/catalogue/lifecycle.yaml) stages customers on what
has already happened. This rule (docs/models/risk-and-lifecycle.md), version
:data:`RULE_VERSION`, writes the model tag ``lifecycle_stage_model`` with the same six
stages and the same checks, in the same order, plus one: a customer the churn model
scores at ``churn_threshold`` or more is *declining* before the transactions show it.
The default threshold, 0.10, is where the churn model's ``churn_risk`` band "high" starts
(about three times the bank's usual 90-day churn rate); the calibrated probabilities
of a 90-day churn are small, so a threshold such as 0.5 would almost never fire.

1. churned: relationship closed, or tenure of 3 months or more with no
   customer-initiated transaction and no app/web session in 365 days and AUM under 100;
2. new: relationship under 3 months old;
3. dormant: no customer-initiated transaction and no session in 180 days;
4. declining: debits in the last 90 days under half of the 90 days before
   (``txn_count_trend_90d < 0.5``), **or churn_probability >= churn_threshold**;
5. growing: relationship under 12 months, or ``txn_count_trend_90d >= 1.5``;
6. mature: everyone else.

Churned, new and dormant are facts and stay as observed: the score cannot make a
closed account open or a dormant customer active. Where ``churn_probability`` is null
(the churn model has not scored this snapshot) step 4 falls back to behaviour alone,
so the model tag then equals ``lifecycle_stage`` exactly. A null trend (no debits in the
earlier 90 days) satisfies neither trend condition, as in the tag's SQL.

Score the churn model for the as-of date first: this rule reads ``churn_probability``
from the same tag snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from finpersona.models.spec import ModelContext, ModelError, Reason, TrainingSet, plain_value

RULE_VERSION = "1"
STAGES = ("new", "growing", "mature", "declining", "dormant", "churned")
CHURN = "churn_probability"
TREND = "txn_count_trend_90d"
FEATURES = ("customer_status", "tenure_months", "initiated_txn_count_365d",
            "initiated_txn_count_180d", "sessions_365d", "sessions_180d", "aum", TREND, CHURN)
NEW_MONTHS = 3
GROWING_MONTHS = 12
CHURNED_AUM = 100
DECLINE_BELOW = 0.5
CHURN_THRESHOLD = 0.10  # = ChurnSpec.risk_bands[1], where churn_risk "high" starts
GROWTH_FROM = 1.5


def lifecycle_features(ctx: ModelContext, as_of: date) -> ir.Table:
    """customer_key plus the tags the rule reads, from the snapshot of ``as_of``."""
    return ctx.tags(as_of, columns=list(FEATURES))


def lifecycle_stages(X: pd.DataFrame, churn_threshold: float = CHURN_THRESHOLD) -> np.ndarray:
    """The stage of every row of ``X`` (columns :data:`FEATURES`), vectorised."""
    _check(X)
    status = X["customer_status"].astype(object).to_numpy()
    closed = np.array([s == "closed" for s in status], dtype=bool)
    tenure = _num(X["tenure_months"])
    txn365, txn180 = _num(X["initiated_txn_count_365d"]), _num(X["initiated_txn_count_180d"])
    ses365, ses180 = _num(X["sessions_365d"]), _num(X["sessions_180d"])
    aum, trend, churn = _num(X["aum"]), _num(X[TREND]), _num(X[CHURN])
    # NaN compares false, as NULL does in the tag's SQL.
    churned = closed | ((tenure >= NEW_MONTHS) & (txn365 == 0) & (ses365 == 0)
                        & (aum < CHURNED_AUM))
    new = tenure < NEW_MONTHS
    dormant = (txn180 == 0) & (ses180 == 0)
    declining = (trend < DECLINE_BELOW) | (churn >= churn_threshold)
    growing = (tenure < GROWING_MONTHS) | (trend >= GROWTH_FROM)
    return np.select([churned, new, dormant, declining, growing],
                     ["churned", "new", "dormant", "declining", "growing"],
                     default="mature").astype(object)


def _num(column: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_numeric(column, errors="raise").astype("float64")
                      .to_numpy(dtype="float64", na_value=np.nan))


def _check(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise ModelError(f"the lifecycle rule reads named columns: pass a DataFrame with "
                         f"{', '.join(FEATURES)}")
    missing = [c for c in FEATURES if c not in X.columns]
    if missing:
        raise ModelError(f"lifecycle stage needs tag column(s) {', '.join(missing)} "
                         "(see lifecycle_features)")
    churn = pd.to_numeric(X[CHURN], errors="coerce")
    if ((churn < 0) | (churn > 1)).any() or (churn.isna() & X[CHURN].notna()).any():
        raise ModelError("churn_probability must be a probability between 0 and 1 or null")


class LifecycleRule(BaseEstimator):  # type: ignore[misc]
    """The stage rule as an estimator (scikit-learn contract).

    ``fit`` learns nothing (the rule is fixed); it checks the columns and records
    ``rule_version_``, ``stage_shares_`` and ``churn_scored_share_`` (the share of rows
    with a churn score: 0 means the fit saw the behaviour-only fallback).
    """

    def __init__(self, churn_threshold: float = CHURN_THRESHOLD) -> None:
        self.churn_threshold = churn_threshold

    def fit(self, X: pd.DataFrame, y: Any = None) -> LifecycleRule:
        if not 0 < self.churn_threshold <= 1:
            raise ModelError(f"churn_threshold is a probability in (0, 1], got "
                             f"{self.churn_threshold}")
        _check(X)
        if X.empty:
            raise ModelError("no customers to fit the lifecycle rule on")
        stages = lifecycle_stages(X, self.churn_threshold)
        self.feature_names_in_ = np.asarray(FEATURES, dtype=object)
        self.n_features_in_ = len(FEATURES)
        self.rule_version_ = RULE_VERSION
        self.stage_shares_ = {s: float((stages == s).mean()) for s in STAGES}
        self.churn_scored_share_ = float(X[CHURN].notna().mean())
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rule_version_")
        return lifecycle_stages(X, self.churn_threshold)

    def explain(self, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        """The tags of the condition that decided each stage, with their values.

        Each deciding tag has contribution 1 ("raises": its condition held); for mature,
        the tags whose values kept the customer out of growing and declining.
        """
        stages = self.predict(X)
        out = []
        for i, stage in enumerate(stages):
            row = X.iloc[i]
            tags = _deciding(str(stage), row)
            out.append([Reason(t, plain_value(row[t]), 1.0, "raises") for t in tags][:n])
        return out


def _deciding(stage: str, row: pd.Series) -> list[str]:
    """The tags whose condition put a row in ``stage`` (the first that holds, in order)."""
    if stage == "churned":
        return (["customer_status"] if row["customer_status"] == "closed" else
                ["initiated_txn_count_365d", "sessions_365d", "aum", "tenure_months"])
    if stage == "dormant":
        return ["initiated_txn_count_180d", "sessions_180d"]
    if stage == "declining":
        trend = plain_value(row[TREND])
        return [TREND] if trend is not None and trend < DECLINE_BELOW else [CHURN]
    if stage == "growing":
        tenure = plain_value(row["tenure_months"])
        return (["tenure_months"] if tenure is not None and tenure < GROWING_MONTHS
                else [TREND])
    if stage == "new":
        return ["tenure_months"]
    return ["tenure_months", TREND, CHURN]



@dataclass(frozen=True)
class LifecycleSpec:
    """ModelSpec "lifecycle": writes ``lifecycle_stage_model`` (the six stages)."""

    name: str = "lifecycle"
    title: dict[str, str] = field(default_factory=lambda: {
        "zh": "生命周期阶段(含流失评分)", "en": "Lifecycle stage with churn score"})
    purpose: str = (
        "Stages every customer as new, growing, mature, declining, dormant or churned by "
        "the lifecycle_stage rule, and marks as declining the active customers the churn "
        "model scores at or above the churn threshold, so retention can act before the "
        "activity drop shows in the transactions.")
    limits: str = (
        "A fixed rule; its early warning is only as good as the churn model, which must "
        "have scored the same as-of date (without a score it equals lifecycle_stage). The "
        "default threshold (0.10) is where the churn model's 'high' band starts; change both "
        "together.")
    supervised: bool = False

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return lifecycle_features(ctx, as_of)

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        return None

    def make_estimator(self, **params: Any) -> LifecycleRule:
        return LifecycleRule(**params)

    def evaluate(self, estimator: Any, data: TrainingSet) -> dict[str, float]:
        """Stage shares, how many rows had a score, and how many the score moved."""
        rule: LifecycleRule = estimator
        stages = rule.predict(data.X)
        without = lifecycle_stages(data.X.assign(**{CHURN: np.nan}), rule.churn_threshold)
        metrics = {f"stage_{s}_share": float((stages == s).mean()) for s in STAGES}
        metrics["churn_scored_share"] = float(data.X[CHURN].notna().mean())
        metrics["moved_by_score_share"] = float((stages != without).mean())
        return metrics

    def outputs(self, estimator: Any, X: pd.DataFrame) -> pd.DataFrame:
        rule: LifecycleRule = estimator
        return pd.DataFrame({"lifecycle_stage_model": rule.predict(X)}, index=X.index)

    def explain(self, estimator: Any, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        rule: LifecycleRule = estimator
        return rule.explain(X, n)


SPEC = LifecycleSpec()
