"""Risk preference grade C1-C5: the suitability questionnaire, moved by what the customer holds.

The rule (docs/models/risk-and-lifecycle.md), version :data:`RULE_VERSION`:

1. **Questionnaire grade** Q: ``risk_tolerance_level`` (C1-C5 from the latest
   questionnaire's score). It is *valid* when it is less than ``expiry_days`` (365) days
   old; an older one is expired and not used, as a new sale would need a new one.
2. **Behaviour level** B: the highest product risk level k (R1-R5) such that the
   customer's wealth-management and fund holdings of level k or above

   - had a positive balance at ``min_snapshots`` (2) or more of the holdings snapshots in
     the 365 days up to the as-of date (all of them when there are fewer), so the
     customer kept holding them from one snapshot to the next rather than just trying
     them (the data has no price series, so holding on across month-ends stands in for
     tolerating swings in value), and
   - make up at least ``min_share`` (5 %) of the customer's AUM at the latest snapshot,
     so a token amount is not taken as appetite.

   No such level: no behavioural evidence (B empty). Insurance is left out on purpose:
   protection policies are bought for a need, not for return, and their R-level says
   little about appetite; deposits are R1 and say nothing either.
3. **Grade**, with a valid questionnaire: Q; one grade lower when B is at least
   ``down_gap`` (2) levels below Q (behaviour clearly more conservative than the answers);
   one grade higher when B is above Q (behaviour more aggressive, capped at Q + 1). The
   questionnaire bounds the grade: it is never more than one grade from Q.
   Without a valid questionnaire: B (empty when there is no evidence either).

The grade is a *preference* for insight and marketing. A sale must still pass the
suitability check (:mod:`finpersona.models.suitability`) against the valid
questionnaire grade: when the grade is Q + 1 the customer needs a new questionnaire
before buying at that level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from finpersona.models.spec import KEY, ModelContext, ModelError, Reason, TrainingSet, plain_value
from finpersona.models.suitability import GRADES, RISK_LEVELS
from finpersona.tags.builtin import AUM_TYPES

RULE_VERSION = "1"
BEHAVIOUR_TYPES = ("wealth_management", "fund")  # chosen for return, by appetite
WINDOW_DAYS = 365
LEVELS = range(1, 6)
QUESTIONNAIRE = "questionnaire_level"
DAYS = "days_since_risk_assessment"
SNAPSHOTS = "window_snapshots"
FEATURES = (QUESTIONNAIRE, DAYS, SNAPSHOTS,
            *(f"held_snapshots_r{k}" for k in LEVELS), *(f"aum_share_r{k}" for k in LEVELS))


def risk_features(ctx: ModelContext, as_of: date) -> ir.Table:
    """customer_key plus the rule's inputs as of ``as_of`` (an engine expression).

    - ``questionnaire_level``: 1-5 from ``risk_tolerance_level`` (null without one);
    - ``days_since_risk_assessment``: the tag;
    - ``window_snapshots``: holdings snapshots in the 365 days up to ``as_of``;
    - ``held_snapshots_r{k}``: of those, how many found the customer with a positive
      wealth-management or fund balance at risk level k or above;
    - ``aum_share_r{k}``: that balance at the latest snapshot over the customer's AUM
      (deposits, wealth management, funds, insurance) at the latest snapshot.
    """
    tags = ctx.tags(as_of, columns=["risk_tolerance_level", DAYS])
    level = _level(tags.risk_tolerance_level, GRADES)
    base = tags.select(KEY, DAYS, **{QUESTIONNAIRE: level})

    h = ctx.table("holdings")
    p = ctx.table("products")
    start = as_of - timedelta(days=WINDOW_DAYS - 1)
    h = h.filter(h.customer_key.notnull() & (h.snapshot_date >= start)
                 & (h.snapshot_date <= as_of))
    # One row: the window's latest snapshot date and how many snapshots it holds.
    dates = h.select(_d=h.snapshot_date).distinct()
    window = dates.aggregate(_latest=dates._d.max(), _snapshots=dates.count())
    j = h.join(p.select("product_id", "product_type", "risk_level"), "product_id")
    j = j.cross_join(window)
    j = j.mutate(_lvl=_level(j.risk_level, RISK_LEVELS),
                 _bal=j.balance.cast("float64").fill_null(0.0))
    invest = j.product_type.isin(list(BEHAVIOUR_TYPES)) & (j._bal > 0)
    is_latest = j.snapshot_date == j._latest
    metrics: dict[str, ir.Value] = {
        "_aum": j._bal.sum(where=is_latest & j.product_type.isin(list(AUM_TYPES)))}
    for k in LEVELS:
        at_k = invest & (j._lvl >= k)
        metrics[f"held_snapshots_r{k}"] = j.snapshot_date.nunique(where=at_k)
        metrics[f"_bal_r{k}"] = j._bal.sum(where=at_k & is_latest)
    per = j.group_by(KEY).aggregate(**metrics)
    shares = {f"aum_share_r{k}": ibis.ifelse(per._aum > 0, per[f"_bal_r{k}"].fill_null(0.0)
                                             / per._aum, 0.0) for k in LEVELS}
    per = per.select(KEY, *(f"held_snapshots_r{k}" for k in LEVELS), **shares)
    joined = base.left_join(per, KEY).cross_join(window.select("_snapshots"))
    held = {f"held_snapshots_r{k}": joined[f"held_snapshots_r{k}"].fill_null(0).cast("int64")
            for k in LEVELS}
    share = {f"aum_share_r{k}": joined[f"aum_share_r{k}"].fill_null(0.0).cast("float64")
             for k in LEVELS}
    return joined.select(base[KEY], base[QUESTIONNAIRE], base[DAYS],
                         **{SNAPSHOTS: joined._snapshots.cast("int64")}, **held, **share)


def _level(text: ir.StringValue, names: tuple[str, ...]) -> ir.IntegerValue:
    """1 for the first name, 2 for the second...; null for anything else."""
    return ibis.cases(*[(text == n, i) for i, n in enumerate(names, start=1)],
                      else_=ibis.null("int64")).cast("int64")


class RiskPreferenceGrader(BaseEstimator):  # type: ignore[misc]
    """The documented grading rule as an estimator (scikit-learn contract).

    ``fit`` learns nothing from the data (the rule is fixed and regulated); it checks the
    columns and records ``rule_version_`` and the grade shares of the fitting data
    (``grade_shares_``, for monitoring). ``predict`` returns "C1".."C5" or None.
    """

    def __init__(self, expiry_days: int = 365, min_snapshots: int = 2,
                 min_share: float = 0.05, down_gap: int = 2) -> None:
        self.expiry_days = expiry_days
        self.min_snapshots = min_snapshots
        self.min_share = min_share
        self.down_gap = down_gap

    def fit(self, X: pd.DataFrame, y: Any = None) -> RiskPreferenceGrader:
        self._check_params()
        frame = _checked(X)
        if frame.empty:
            raise ModelError("no customers to fit the risk preference rule on")
        self.feature_names_in_ = np.asarray(FEATURES, dtype=object)
        self.n_features_in_ = len(FEATURES)
        self.rule_version_ = RULE_VERSION
        grade = self._grades(frame)[1]
        self.grade_shares_ = {name: float((grade == g).mean())
                              for g, name in enumerate(("none", *GRADES))}
        return self

    def _check_params(self) -> None:
        if self.expiry_days < 1 or self.min_snapshots < 1 or self.down_gap < 1:
            raise ModelError("expiry_days, min_snapshots and down_gap must be at least 1")
        if not 0 <= self.min_share <= 1:
            raise ModelError(f"min_share is a share of AUM in [0, 1], got {self.min_share}")

    def behaviour_level(self, X: pd.DataFrame) -> np.ndarray:
        """B per row: 1-5, or 0 when the holdings give no evidence."""
        frame = _checked(X)
        needed = np.minimum(self.min_snapshots, frame[SNAPSHOTS].to_numpy(dtype="float64"))
        needed = np.maximum(needed, 1)
        level = np.zeros(len(frame), dtype=np.int64)
        for k in LEVELS:
            held = frame[f"held_snapshots_r{k}"].to_numpy(dtype="float64") >= needed
            enough = frame[f"aum_share_r{k}"].to_numpy(dtype="float64") >= self.min_share
            level = np.where(held & enough, k, level)
        return level

    def _grades(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
        """(grade name or None, grade 0-5, valid questionnaire 0-5, behaviour 0-5)."""
        q = X[QUESTIONNAIRE].to_numpy(dtype="float64", na_value=np.nan)
        days = X[DAYS].to_numpy(dtype="float64", na_value=np.nan)
        # A questionnaire without a date cannot be shown to be current: treat as expired.
        valid = ~np.isnan(q) & ~np.isnan(days) & (days < self.expiry_days)
        q_valid = np.where(valid, np.nan_to_num(q), 0).astype(np.int64)
        b = self.behaviour_level(X)
        grade = np.select(
            [valid & (b > 0) & (b <= q_valid - self.down_gap), valid & (b > q_valid), valid],
            [q_valid - 1, q_valid + 1, q_valid], default=b)
        grade = np.clip(grade, 0, 5)
        names = np.array([None, *GRADES], dtype=object)[grade]
        return names, grade, q_valid, b

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "rule_version_")
        return np.asarray(self._grades(_checked(X))[0])

    def explain(self, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        """The grade in steps: the questionnaire's level, the behaviour move, expiry.

        Contributions are in grades: the valid questionnaire contributes its level, the
        behaviour its move (-1, 0, +1; its whole level without a questionnaire), an expired
        questionnaire minus the level it would have given.
        """
        check_is_fitted(self, "rule_version_")
        frame = _checked(X)
        _, grade, q_valid, b = self._grades(frame)
        q_raw = frame[QUESTIONNAIRE].to_numpy(dtype="float64", na_value=np.nan)
        out = []
        for i in range(len(frame)):
            q_any = 0 if np.isnan(q_raw[i]) else int(q_raw[i])
            expired = q_any > 0 and q_valid[i] == 0
            reasons = [
                Reason(QUESTIONNAIRE, _grade_name(q_any), float(q_valid[i]), "raises"),
                Reason("behaviour_level", _risk_name(int(b[i])),
                       float(grade[i] - q_valid[i]),
                       "lowers" if grade[i] < q_valid[i] else "raises"),
                Reason(DAYS, plain_value(frame[DAYS].iloc[i]), float(-q_any if expired else 0),
                       "lowers" if expired else "raises"),
            ]
            reasons.sort(key=lambda r: -abs(r.contribution))
            out.append(reasons[:n])
        return out


def _checked(X: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ModelError("the risk preference rule reads named columns: pass a DataFrame "
                         f"with {', '.join(FEATURES)}")
    missing = [c for c in FEATURES if c not in X.columns]
    if missing:
        raise ModelError(f"risk preference needs column(s) {', '.join(missing)} "
                         "(see risk_features)")
    q = X[QUESTIONNAIRE].dropna()
    if len(q) and not q.isin(list(LEVELS)).all():
        raise ModelError("questionnaire_level must be 1-5 or null (C1-C5), got "
                         f"{sorted(set(q.tolist()) - set(LEVELS))[:5]}")
    return X


def _grade_name(level: int) -> str | None:
    return GRADES[level - 1] if 1 <= level <= 5 else None


def _risk_name(level: int) -> str | None:
    return RISK_LEVELS[level - 1] if 1 <= level <= 5 else None



@dataclass(frozen=True)
class RiskPreferenceSpec:
    """ModelSpec "risk_preference": writes the ``risk_preference`` tag (C1-C5 or null)."""

    name: str = "risk_preference"
    title: dict[str, str] = field(default_factory=lambda: {
        "zh": "风险偏好等级", "en": "Risk preference grade"})
    purpose: str = (
        "Grades each customer's investment risk preference C1 (conservative) to C5 "
        "(aggressive): the valid suitability questionnaire's grade, moved at most one grade "
        "by the risk levels of the wealth-management and fund products the customer keeps "
        "holding; from holdings alone when there is no valid questionnaire. For insight and "
        "for choosing which products to show; sales are checked against the questionnaire.")
    limits: str = (
        "A fixed rule, not fitted to outcomes. Customers with neither a valid questionnaire "
        "nor investment holdings get no grade. Holding on to a product across month-end "
        "snapshots stands in for tolerating price swings, which the data cannot show; "
        "insurance is ignored. The grade can be one above the questionnaire: selling at "
        "that level needs a new questionnaire.")
    supervised: bool = False

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return risk_features(ctx, as_of)

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        return None

    def make_estimator(self, **params: Any) -> RiskPreferenceGrader:
        return RiskPreferenceGrader(**params)

    def evaluate(self, estimator: Any, data: TrainingSet) -> dict[str, float]:
        """Coverage, agreement with the valid questionnaire, and the share moved up/down."""
        grader: RiskPreferenceGrader = estimator
        _, grade, q_valid, _ = grader._grades(_checked(data.X))
        graded = grade > 0
        with_q = q_valid > 0
        metrics = {"coverage": float(graded.mean()),
                   "questionnaire_share": float(with_q.mean()),
                   "behaviour_only_share": float((graded & ~with_q).mean())}
        if with_q.any():
            metrics["raised_share"] = float((grade[with_q] > q_valid[with_q]).mean())
            metrics["lowered_share"] = float((grade[with_q] < q_valid[with_q]).mean())
        for g, name in enumerate(GRADES, start=1):
            metrics[f"grade_{name}_share"] = float((grade == g).mean())
        return metrics

    def outputs(self, estimator: Any, X: pd.DataFrame) -> pd.DataFrame:
        grader: RiskPreferenceGrader = estimator
        return pd.DataFrame({"risk_preference": grader.predict(X)}, index=X.index)

    def explain(self, estimator: Any, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        grader: RiskPreferenceGrader = estimator
        return grader.explain(X, n)


SPEC = RiskPreferenceSpec()
