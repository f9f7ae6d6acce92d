"""The churn model: who leaves the bank in the next ``churn_horizon_days``.

Features are tags of the snapshot at T (:data:`RELATIONSHIP_FEATURES`), the outcome
is :class:`~finpersona.models.outcomes.ChurnOutcome` (quiet at the end of the window
and the money gone) and the estimator is the calibrated LightGBM classifier of
boosting.py. Outputs: ``churn_probability`` and ``churn_risk`` (low / medium / high
by :attr:`ChurnSpec.risk_bands`). Definitions, choices and measured figures:
docs/models/churn-propensity.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from finpersona.config import Settings
from finpersona.models.boosting import BoostedClassifier, top_reasons
from finpersona.models.metrics import classification_summary
from finpersona.models.outcomes import ChurnOutcome
from finpersona.models.spec import ModelContext, ModelError, Reason, TrainingSet

# The tags both the churn and the propensity models read: what a relationship manager
# would look at (who the customer is, what they hold, how they use the bank, how they
# feel about it), chosen by meaning, not by fit. All are computed from data up to the
# as-of date, so none sees the outcome window. Not every tag: with a few hundred events
# per outcome, the full catalogue's ~190 tags let the trees chase noise (measured in
# docs/models/churn-propensity.md).
RELATIONSHIP_FEATURES: tuple[str, ...] = (
    # who: demographics and tenure
    "age", "gender", "city_tier", "occupation", "education", "income_band", "marital_status",
    "registration_channel", "kyc_level", "tenure_months",
    # what they hold
    "aum", "deposit_balance", "time_deposit_balance", "wealth_balance", "fund_balance",
    "insurance_balance", "wealth_share_of_aum", "account_count", "product_type_count",
    "has_credit_card", "has_time_deposit", "has_wealth", "has_fund", "has_insurance",
    "has_loan", "has_mortgage", "credit_card_balance", "loan_balance", "credit_limit_total",
    "max_product_risk_level", "accounts_opened_365d",
    # how they transact
    "txn_count_30d", "txn_count_90d", "txn_count_365d", "txn_amount_sum_90d",
    "txn_amount_sum_365d", "initiated_txn_count_180d", "initiated_txn_count_365d",
    "days_since_last_txn", "txn_count_trend_90d", "purchase_count_90d", "avg_ticket_90d",
    "salary_received_90d", "salary_amount_avg_90d", "credit_inflow_sum_90d",
    "transfer_out_sum_90d",
    # how they use the app and the web
    "sessions_30d", "sessions_90d", "sessions_365d", "active_days_30d", "active_days_90d",
    "login_count_30d", "days_since_last_active", "online_share_90d", "product_view_count_30d",
    "purchase_start_count_90d", "loan_apply_start_count_90d",
    # credit, risk appetite and marketing response
    "credit_utilisation", "max_dpd_365d", "loan_applications_365d", "risk_tolerance_level",
    "contacts_90d", "response_rate_365d",
    # how they feel about the bank
    "tickets_365d", "complaints_365d", "avg_satisfaction_365d", "low_satisfaction_count_365d",
    "days_since_last_ticket", "lifecycle_stage",
)


def settings_of(ctx: ModelContext) -> Settings:
    return ctx.workspace.settings if ctx.workspace is not None else Settings()


def binary_metrics(y: Any, p: Any) -> dict[str, float]:
    """Ranking (AUC, Gini, KS) and calibration (mean predicted vs observed rate, Brier)."""
    outcome = np.asarray(y, dtype=float)
    prob = np.asarray(p, dtype=float)
    if len(outcome) != len(prob) or len(outcome) == 0:
        raise ModelError("metrics need as many probabilities as outcomes, and some rows")
    out = classification_summary(outcome, prob)
    out.update({
        "rows": float(len(outcome)),
        "events": float(outcome.sum()),
        "event_rate": float(outcome.mean()),
        "mean_probability": float(prob.mean()),
        "brier": float(np.mean((prob - outcome) ** 2)),
    })
    return out


@dataclass(frozen=True)
class ChurnSpec:
    name: str = "churn"
    title: dict[str, str] = field(default_factory=lambda: {"zh": "客户流失预测",
                                                           "en": "Churn prediction"})
    purpose: str = (
        "Ranks customers by the probability that they leave the bank within the churn "
        "horizon (default 90 days): they go quiet (no customer-initiated transaction and no "
        "app/web use in the last 30 days of the window) and take their money away (movable "
        "assets at the month-end closing the window under 20% of those at the snapshot). "
        "Gradient-boosted trees on the tag snapshot, calibrated with Platt scaling, so the "
        "probability can be used as is for retention budgets.")
    limits: str = (
        "Customers with under 100 CNY of movable assets at the snapshot are outside the "
        "population (nothing left to lose). The asset test needs a holdings snapshot on or "
        "after the window's end. Churners who leave in the window's last 30 days count only "
        "if they were quiet since then. Trained on one snapshot: retrain when the tag "
        "definitions or the product range change.")
    supervised: bool = True
    quiet_days: int = 30
    kept_share: float = 0.2
    min_assets: float = 100.0
    risk_bands: tuple[float, float] = (0.03, 0.10)  # medium from, high from

    def outcome(self, ctx: ModelContext) -> ChurnOutcome:
        return ChurnOutcome(settings_of(ctx).churn_horizon_days, self.quiet_days,
                            self.kept_share, self.min_assets)

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return ctx.tags(as_of, list(RELATIONSHIP_FEATURES))

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        return self.outcome(ctx).labels(ctx, as_of)

    def make_estimator(self, **params: Any) -> BoostedClassifier:
        return BoostedClassifier(**params)

    def evaluate(self, estimator: BoostedClassifier, data: TrainingSet) -> dict[str, float]:
        if data.y is None:
            raise ModelError("churn: evaluation needs outcomes")
        return binary_metrics(data.y, estimator.predict_proba(data.X)[:, 1])

    def outputs(self, estimator: BoostedClassifier, X: pd.DataFrame) -> pd.DataFrame:
        p = estimator.predict_proba(X)[:, 1]
        medium, high = self.risk_bands
        risk = np.select([p >= high, p >= medium], ["high", "medium"], default="low")
        return pd.DataFrame({"churn_probability": p, "churn_risk": risk}, index=X.index)

    def explain(self, estimator: BoostedClassifier, X: pd.DataFrame,
                n: int = 3) -> list[list[Reason]]:
        return top_reasons(estimator, X, n)


SPEC = ChurnSpec()
