"""The ``credit_risk`` model: a behaviour scorecard over the tag snapshot.

Definitions (docs/models/scorecard.md, "The credit_risk model"):

* **Population** on the as-of date A: customers (in the tag snapshot of A) with
  *credit exposure* (a loan
  disbursed on or before A that is still running: its maturity date is after A,
  or its schedule has an instalment due after A) who are *up to date*: every
  instalment due on or before A was fully paid on or before A. Customers behind
  on a payment are in collections, not scored: their outcome has already begun,
  and a score trained on them would learn the delinquency, not the risk.
* **Default** (``target = 1``): an instalment of any of the customer's loans
  reaches 90 days past due inside the outcome window (A, A + H], H =
  ``credit_horizon_days`` (180 by default): it is due on day d, still not fully
  paid at the end of day d + 90, and A < d + 90 <= A + H. A write-off needs 180
  days past due first, so it is counted already; the loans' ``status`` column is
  not used because it is the status at the last delivery, not on a date.
* **Features**: behaviour a scorecard may use, from the tag snapshot of A only:
  repayment history (how late past instalments were paid), applications, card
  utilisation, balances, income and cash flows, declared demographics and digital
  activity. Left out: tags built on a status "as last delivered" (loan and account
  status, customer status, lifecycle), which carry the future into the past;
  current delinquency (constant in the population); model tags; and the protected
  characteristics gender, marital status and province/city.

Outputs (``tags/catalogue/model.yaml``): ``credit_score`` (points, rounded and
clipped to 300..900), ``pd_12m`` (the horizon PD stretched to twelve months, see
:func:`pd_12m_from_horizon`) and ``credit_grade`` (A..E by bands of ``pd_12m``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from finpersona.config import Settings
from finpersona.models.data import last_data_day
from finpersona.models.metrics import auc, ks
from finpersona.models.scorecard import DEFAULT_GRADE_CUTS, CreditScorecard, grade_from_pd
from finpersona.models.spec import KEY, ModelContext, ModelError, Reason, TrainingSet

DEFAULT_DPD = 90  # days past due that make a default (Basel's 90 days)
YEAR_DAYS = 365
SCORE_RANGE = (300, 900)  # credit_score as the catalogue declares it

NUMERIC_FEATURES = (
    # repayment and credit history
    "credit_utilisation", "loan_count", "loans_disbursed_365d", "loan_principal_sum_365d",
    "max_dpd_90d", "max_dpd_365d", "max_dpd_lifetime", "overdue_installments_365d",
    "overdue_share_365d", "loan_applications_90d", "loan_applications_365d",
    "rejected_applications_365d", "approved_applications_365d", "requested_amount_sum_365d",
    # balances
    "aum", "deposit_balance", "credit_card_balance", "loan_balance", "credit_limit_total",
    # income and cash flows
    "salary_amount_avg_90d", "credit_inflow_sum_90d", "transfer_out_sum_90d",
    "cash_withdrawal_count_90d", "txn_count_90d", "txn_amount_sum_90d", "night_txn_share_90d",
    "days_since_last_txn", "txn_count_trend_90d",
    # declared and relationship
    "age", "tenure_months",
    # digital
    "active_days_90d", "loan_apply_start_count_90d",
)
CATEGORICAL_FEATURES = ("income_band", "occupation", "education", "salary_received_90d",
                        "loan_intent_without_application_90d")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
# The direction of the bad rate a credit officer expects; other numeric features take
# whichever monotonic direction the data shows ("auto_asc_desc").
TRENDS = {
    "credit_utilisation": "ascending", "max_dpd_90d": "ascending", "max_dpd_365d": "ascending",
    "max_dpd_lifetime": "ascending", "overdue_installments_365d": "ascending",
    "overdue_share_365d": "ascending", "rejected_applications_365d": "ascending",
    "loan_applications_90d": "ascending", "loan_apply_start_count_90d": "ascending",
    "aum": "descending", "deposit_balance": "descending", "salary_amount_avg_90d": "descending",
    "age": "descending", "tenure_months": "descending",
}
OUTPUT_TAGS = ("credit_score", "credit_grade", "pd_12m")


def pd_12m_from_horizon(pd_horizon: Any, horizon_days: int,
                        default_dpd: int = DEFAULT_DPD) -> Any:
    """The 12-month PD of a PD over ``horizon_days``, under a constant default hazard.

    A customer up to date on A can only reach 90 days past due by A + H if she
    stops paying an instalment due in (A, A + H - 90]: the horizon PD covers
    ``H - 90`` days of new defaults, the 12-month PD ``365 - 90``. With a constant
    hazard, ``1 - pd_12m = (1 - pd_H) ** ((365 - 90) / (H - 90))``.
    """
    exposure = horizon_days - default_dpd
    if exposure <= 0:
        raise ModelError(f"the credit horizon ({horizon_days} days) must be longer than the "
                         f"{default_dpd} days past due that make a default")
    survive = np.clip(1.0 - np.asarray(pd_horizon, dtype=float), 0.0, 1.0)
    return 1.0 - survive ** ((YEAR_DAYS - default_dpd) / exposure)


def horizon_pd_from_12m(pd_12m: Any, horizon_days: int, default_dpd: int = DEFAULT_DPD) -> Any:
    """The inverse of :func:`pd_12m_from_horizon` (grade cuts on the horizon's scale)."""
    exposure = horizon_days - default_dpd
    if exposure <= 0:
        raise ModelError(f"the credit horizon ({horizon_days} days) must be longer than the "
                         f"{default_dpd} days past due that make a default")
    survive = 1.0 - np.asarray(pd_12m, dtype=float)
    return 1.0 - survive ** (exposure / (YEAR_DAYS - default_dpd))


def population(ctx: ModelContext, as_of: date) -> ir.Table:
    """customer_key of every customer with running credit on ``as_of`` and nothing unpaid."""
    loans = ctx.table("loans")
    rep = ctx.table("repayments")
    day = ibis.literal(as_of)
    booked = loans.filter(loans.customer_key.notnull(), loans.disbursed_date <= day)
    by_maturity = booked.filter(booked.maturity_date > day).select(KEY)
    by_schedule = booked.semi_join(rep.filter(rep.due_date > day).select("loan_id"),
                                   "loan_id").select(KEY)
    exposed = by_maturity.union(by_schedule, distinct=True)
    behind = rep.filter(rep.customer_key.notnull(), rep.due_date <= day,
                        rep.paid_date.isnull() | (rep.paid_date > day)).select(KEY).distinct()
    # Customers of the bank on that day: the snapshot holds everyone registered by then
    # (a loan booked before a customer's registration date is a data error to leave out).
    customers = ctx.tags(as_of, []).select(KEY)
    return exposed.anti_join(behind, KEY).semi_join(customers, KEY)


@dataclass(frozen=True)
class CreditRiskSpec:
    """Behaviour scorecard: who defaults within ``horizon_days`` of the snapshot."""

    name: str = "credit_risk"
    title: dict[str, str] = field(default_factory=lambda: {
        "zh": "信用风险评分卡", "en": "Credit risk scorecard"})
    purpose: str = (
        "Ranks borrowers who are up to date on their loans by the risk that one of their "
        "instalments reaches 90 days past due within the outcome window (credit_horizon_days, "
        "180 by default): a behaviour scorecard in points (600 at 50:1 good:bad odds, 20 "
        "points to double the odds), with a 12-month PD and grades A-E for limits, pricing, "
        "early collections and the expected credit loss in customer value. Every score "
        "comes with reason codes: the features that cost the most points.")
    limits: str = (
        "Scores only customers with running credit who are not behind on a payment; "
        "customers without credit exposure and those already past due get no score. Trained "
        "on one snapshot with a random customer holdout when no later snapshot's outcome "
        "window has ended (no out-of-time test). pd_12m assumes a constant default hazard "
        "to stretch the horizon PD to 12 months. Defaults are rare on a small bank: with "
        "fewer than a few hundred bads the bins and the test AUC are noisy.")
    supervised: bool = True
    horizon_days: int = Settings().credit_horizon_days
    default_dpd: int = DEFAULT_DPD
    grade_cuts_12m: tuple[float, ...] = DEFAULT_GRADE_CUTS

    @classmethod
    def from_settings(cls, settings: Settings) -> CreditRiskSpec:
        return cls(horizon_days=settings.credit_horizon_days)

    def _check_horizon(self, ctx: ModelContext) -> None:
        configured = ctx.engine.settings.credit_horizon_days
        if configured != self.horizon_days:
            raise ModelError(
                f"the workspace sets credit_horizon_days to {configured} but this credit_risk "
                f"spec was made for {self.horizon_days} days (its 12-month PD depends on it): "
                "use CreditRiskSpec.from_settings(settings)")

    # -- data ------------------------------------------------------------------------------

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        """The feature tags of ``as_of`` for the population (numbers as float64)."""
        tags = ctx.tags(as_of, list(FEATURES))
        scored = tags.semi_join(population(ctx, as_of), KEY)
        numbers = {name: scored[name].cast("float64") for name in NUMERIC_FEATURES}
        labels = {name: scored[name].cast("string") for name in CATEGORICAL_FEATURES}
        return scored.select(KEY, **numbers, **labels)

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        """``target`` = 1 when an instalment reaches 90 days past due in (A, A + H]."""
        self._check_horizon(ctx)
        end = as_of + timedelta(days=self.horizon_days)
        last = last_data_day(ctx)
        if end > last:
            raise ModelError(f"the {self.horizon_days}-day outcome window after {as_of} ends "
                             f"{end}, after the last day of data {last}: its defaults are not "
                             "known yet; choose an earlier snapshot")
        if self.horizon_days <= self.default_dpd:
            raise ModelError(f"credit_horizon_days ({self.horizon_days}) must exceed "
                             f"{self.default_dpd}: nobody up to date can be {self.default_dpd} "
                             "days past due sooner")
        rep = ctx.table("repayments")
        # d + 90 in (A, A + H]  <=>  d in (A - 90, A + H - 90]; bounds computed here so both
        # engines compare plain dates.
        first_due = as_of - timedelta(days=self.default_dpd)
        last_due = end - timedelta(days=self.default_dpd)
        unpaid_at_90 = rep.paid_date.isnull() | (
            rep.paid_date.delta(rep.due_date, unit="day") > self.default_dpd)
        defaults = rep.filter(rep.customer_key.notnull(), rep.due_date > ibis.literal(first_due),
                              rep.due_date <= ibis.literal(last_due), unpaid_at_90)
        bad = defaults.select(KEY).distinct().mutate(_bad=ibis.literal(1, "int64"))
        pop = population(ctx, as_of)
        joined = pop.left_join(bad, KEY)
        return joined.select(pop[KEY], target=joined._bad.fill_null(0).cast("int64"))

    # -- model -----------------------------------------------------------------------------

    def make_estimator(self, **params: Any) -> CreditScorecard:
        cuts = horizon_pd_from_12m(np.asarray(self.grade_cuts_12m), self.horizon_days,
                                   self.default_dpd)
        settings: dict[str, Any] = {"monotonic_trends": dict(TRENDS),
                                    "grade_cuts": tuple(float(c) for c in cuts)}
        settings.update(params)
        return CreditScorecard(**settings)

    def evaluate(self, estimator: CreditScorecard, data: TrainingSet) -> dict[str, float]:
        """AUC, Gini and KS of the PD on held-out customers, with counts and rates."""
        if data.y is None:
            raise ModelError("credit_risk is tested on observed defaults: give the outcome")
        y = data.y.to_numpy(dtype=int)
        p = estimator.predict_proba(data.X)[:, 1]
        value = auc(y, p)
        return {"auc": value, "gini": 2 * value - 1, "ks": ks(y, p), "rows": float(len(y)),
                "bads": float(y.sum()), "bad_rate": float(y.mean()),
                "predicted_bad_rate": float(p.mean()),
                "features_selected": float(len(estimator.features_))}

    def outputs(self, estimator: CreditScorecard, X: pd.DataFrame) -> pd.DataFrame:
        points = estimator.score(X)
        pd_h = estimator.predict_proba(X)[:, 1]
        pd_year = pd_12m_from_horizon(pd_h, self.horizon_days, self.default_dpd)
        score = np.rint(np.clip(points, *SCORE_RANGE)).astype(np.int64)
        return pd.DataFrame({"credit_score": score,
                             "credit_grade": grade_from_pd(pd_year, self.grade_cuts_12m),
                             "pd_12m": pd_year}, index=X.index)

    def explain(self, estimator: CreditScorecard, X: pd.DataFrame, n: int = 3
                ) -> list[list[Reason]]:
        """Reason codes: the features that cost the most points against their best bin
        (``contribution`` = points lost; each of them raises the risk)."""
        codes = estimator.reason_codes(X, n)
        out: list[list[Reason]] = []
        for key, row in codes.iterrows():
            reasons = []
            for rank in range(1, n + 1):
                feature = row[f"reason_{rank}"]
                if feature is None or (not isinstance(feature, str) and pd.isna(feature)):
                    break
                value: Any = X.at[key, feature]
                if hasattr(value, "item"):  # numpy scalars as plain Python for JSON
                    value = value.item()
                reasons.append(Reason(str(feature), None if pd.isna(value) else value,
                                      float(row[f"points_lost_{rank}"]), "raises"))
            out.append(reasons)
        return out


SPEC = CreditRiskSpec()

__all__ = ["FEATURES", "OUTPUT_TAGS", "SPEC", "CreditRiskSpec", "horizon_pd_from_12m",
           "pd_12m_from_horizon", "population"]
