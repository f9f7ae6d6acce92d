"""The ``clv`` model: where its purchase history comes from and which tags it writes.

Definitions (docs/models/clv.md):

- a **purchase** is a local calendar day with at least one successful purchase in CNY
  (``txn_type = 'purchase'``, ``status = 'success'``, ``currency = 'CNY'``; refunds are
  not netted, foreign-currency purchases are left out because the warehouse holds no
  exchange rates); its **value** is the CNY spent that day. Counting days, not
  transactions, keeps the Poisson assumption honest: two coffees on one morning are one
  visit;
- time is in **days**. A customer's first purchase day starts her clock:
  ``frequency`` = purchase days after it, ``recency`` = last minus first purchase day,
  ``T`` = as-of date minus first purchase day. A customer without any purchase has
  frequency 0, recency 0 and T from the later of her registration and the first day of
  transaction data in the warehouse (the clock of someone who could have bought);
- ``monetary_value`` = the mean value of the repeat purchase days (the first day left
  out, as in the Gamma-Gamma literature); 0 when there is none (then unused);
- ``ead`` = credit_card_balance + loan_balance of the tag snapshot (amounts owed);
- ``aum`` = the snapshot's aum tag: deposits, wealth-management products, funds and
  insurance held (0 when none);
- ``pd_12m`` = the credit_risk model's tag when it has scored the snapshot; otherwise 1
  for a customer 90+ days past due on the as-of date (already in default) and, for the
  others, the bank's observed 12-month default rate: among credit holders (ead > 0) with
  an instalment due in the last 365 days, the share that were 90+ days past due on one.

The value is the margin the bank earns on card and account purchases (``margin_rate``
of the spend, by default the 0.45 % issuer fee cap of China's 2016 card-fee reform) and
on the customer's balances while she is still a customer (``deposit_margin`` on aum,
``lending_margin`` on ead, annual rates earned a twelfth a month), discounted monthly over
the horizon, minus the expected credit loss: see :class:`finpersona.models.clv.ClvModel`.
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
from finpersona.models.clv import FEATURES, ClvModel
from finpersona.models.data import last_data_day
from finpersona.models.spec import KEY, ModelContext, ModelError, Reason, TrainingSet
from finpersona.tags.context import TagContext
from finpersona.tags.sources import SourceLoader

DEFAULT_DPD = 90  # days past due that count as default, as for pd_12m
# Groups of calibration-period repeat purchases for the "actual vs predicted" table:
# doubling widths cover CDNOW's handful and a card holder's hundred alike.
FREQUENCY_GROUPS = ((0, 0), (1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, None))
SNAPSHOT_TAGS = ("registered_date", "credit_card_balance", "loan_balance", "current_dpd",
                 "max_dpd_365d", "aum")
OUTPUT_TAGS = ("clv_12m", "p_alive", "expected_purchase_days_12m", "expected_credit_loss_12m")
_SETTING = Settings.model_fields
REASON_NAMES = {"p_alive": "p_alive", "purchase_days_if_alive": "expected_purchase_days",
                "average_value": "expected_average_value",
                "aum": "aum", "ead": "ead", "expected_credit_loss": "expected_credit_loss"}


def purchase_days(transactions: ir.Table) -> ir.Table:
    """Per customer and local day with a successful CNY purchase: the CNY spent."""
    t = transactions
    buys = t.filter((t.txn_type == "purchase") & (t.status == "success") & (t.currency == "CNY"))
    return buys.group_by([KEY, "local_date"]).aggregate(
        spend=buys.amount.sum().cast("float64"))


def purchase_history(transactions: ir.Table) -> ir.Table:
    """Per customer with a purchase: first and last purchase day, purchase days, total
    spend and the spend of the first day."""
    days = purchase_days(transactions)
    days = days.mutate(_first=days.local_date.min().over(ibis.window(group_by=KEY)))
    return days.group_by(KEY).aggregate(
        first_day=days.local_date.min(),
        last_day=days.local_date.max(),
        n_days=days.count(),
        spend=days.spend.sum(),
        first_spend=days.spend.sum(where=days.local_date == days._first),
    )


def frequency_group(frequency: Any) -> np.ndarray:
    """The label of each customer's FREQUENCY_GROUPS group, e.g. ``"4-7"`` or ``"64+"``."""
    x = np.asarray(frequency, dtype=float)
    labels = np.empty(len(x), dtype=object)
    for low, high in FREQUENCY_GROUPS:
        inside = (x >= low) & (x <= (np.inf if high is None else high))
        labels[inside] = _group_label(low, high)
    return labels


def _group_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def calibration_table(frequency: Any, predicted: Any, actual: Any) -> pd.DataFrame:
    """Mean predicted and actual holdout purchases by calibration-period repeat purchases
    (the classic BG/NBD check, Fader, Hardie and Lee 2005, figure 4)."""
    frame = pd.DataFrame({"group": frequency_group(frequency),
                          "frequency": np.asarray(frequency, dtype=float),
                          "predicted": np.asarray(predicted, dtype=float),
                          "actual": np.asarray(actual, dtype=float)})
    order = [_group_label(lo, hi) for lo, hi in FREQUENCY_GROUPS]
    table = frame.groupby("group").agg(customers=("frequency", "size"),
                                       mean_frequency=("frequency", "mean"),
                                       predicted=("predicted", "mean"),
                                       actual=("actual", "mean"))
    return table.reindex([g for g in order if g in table.index])


@dataclass(frozen=True)
class ClvSpec:
    """Customer lifetime value over ``horizon_months``, tested on ``outcome_days`` of
    purchases observed after the snapshot."""

    name: str = "clv"
    title: dict[str, str] = field(default_factory=lambda: {
        "zh": "客户生命周期价值", "en": "Customer lifetime value"})
    purpose: str = (
        "Predicts each customer's purchase days over the horizon (BG/NBD), the value of a "
        "purchase day (Gamma-Gamma) and from them the discounted margin the bank earns on the "
        "customer's card and account purchases, adds the discounted spread on her assets "
        "(AUM) and the margin on the credit she owes while she is probably still a customer, "
        "and nets the expected credit loss PD x LGD x EAD. Ranks customers by value for "
        "retention and servicing; p_alive flags purchasers who have probably stopped.")
    limits: str = (
        "Balance income uses one blended annual rate for all assets (deposits, wealth, funds, "
        "insurance) and one for all credit (cards, consumer loans, mortgages, business "
        "loans), both workspace settings, on the balances of the snapshot taken as level "
        "while the customer is alive; p_alive is the purchase model's, so a customer who "
        "never made a repeat purchase counts as alive and one whose purchases stopped "
        "loses her balance income too. A loan in default still earns the lending margin; "
        "fees and commissions beyond the spreads are not in the value. BG/NBD assumes a "
        "constant purchase rate while alive (no seasonality, no growth) and that a customer "
        "who stops never comes back; Gamma-Gamma assumes spend and frequency are "
        "independent. Purchases in foreign currency are not counted. Without the "
        "credit_risk model's pd_12m the loss uses the portfolio's observed default rate, "
        "the same for every performing borrower.")
    supervised: bool = True  # the outcome tests the model; fit reads the history only
    # The workspace settings' defaults; a workspace's own values via from_settings.
    horizon_months: int = _SETTING["clv_horizon_months"].default
    discount_rate: float = _SETTING["clv_discount_rate"].default
    lgd: float = _SETTING["clv_lgd"].default
    deposit_margin: float = _SETTING["clv_deposit_margin"].default
    lending_margin: float = _SETTING["clv_lending_margin"].default
    margin_rate: float = 0.0045
    outcome_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> ClvSpec:
        return cls(horizon_months=settings.clv_horizon_months,
                   discount_rate=settings.clv_discount_rate, lgd=settings.clv_lgd,
                   deposit_margin=settings.clv_deposit_margin,
                   lending_margin=settings.clv_lending_margin)

    # -- data ------------------------------------------------------------------------------

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        """Per customer of the snapshot: frequency, recency, T (days), monetary_value (CNY per
        repeat purchase day), ead (CNY owed), pd_12m and aum (CNY held; see the module
        docstring)."""
        snapshot = ctx.tags(as_of)
        wanted = [*SNAPSHOT_TAGS, *(["pd_12m"] if "pd_12m" in snapshot.columns else [])]
        snap = ctx.tags(as_of, wanted)
        tctx = TagContext(ctx.engine, as_of, ctx.offset_hours, SourceLoader(ctx.warehouse))
        tx = tctx.view("transactions", needs=frozenset())
        history = purchase_history(tx)
        data_start = tx.local_date.min().as_scalar()

        j = snap.left_join(history, KEY).select(snap, *(history[c] for c in (
            "first_day", "last_day", "n_days", "spend", "first_spend")))
        as_of_lit = ibis.literal(as_of)
        clock = ibis.ifelse(j.registered_date.notnull() & (j.registered_date > data_start),
                            j.registered_date, data_start)
        birth = j.first_day.fill_null(clock)
        repeats = (j.n_days.fill_null(1) - 1).cast("int64")
        monetary = ibis.ifelse(repeats > 0, (j.spend - j.first_spend) / repeats.cast("float64"),
                               0.0)
        ead = (j.credit_card_balance.fill_null(0).cast("float64")
               + j.loan_balance.fill_null(0).cast("float64"))
        j = j.mutate(
            frequency=repeats,
            recency=j.last_day.delta(j.first_day, unit="day").fill_null(0).cast("float64"),
            T=as_of_lit.delta(birth, unit="day").cast("float64"),
            monetary_value=monetary.cast("float64"),
            ead=ead,
            aum=j.aum.fill_null(0).cast("float64"))
        return self._with_pd(j).select(KEY, *FEATURES)

    @staticmethod
    def _with_pd(j: ir.Table) -> ir.Table:
        """pd_12m from the credit_risk model where it has scored, else the fallback."""
        # Card-only holders have no instalments, so no days past due to observe: the rate
        # is taken over the holders whose repayments are observed.
        seen = (j.ead > 0) & j.max_dpd_365d.notnull()
        defaulted = seen & (j.max_dpd_365d >= DEFAULT_DPD)
        counts = j.aggregate(seen=seen.cast("int64").sum(),
                             defaults=defaulted.cast("int64").sum())
        observed = ibis.ifelse(counts.seen > 0,
                               counts.defaults.cast("float64") / counts.seen.cast("float64"),
                               0.0).as_scalar()
        fallback = ibis.ifelse(j.current_dpd.fill_null(0) >= DEFAULT_DPD, 1.0, observed)
        model_pd = j.pd_12m.cast("float64") if "pd_12m" in j.columns else ibis.null("float64")
        return j.mutate(pd_12m=model_pd.fill_null(fallback).cast("float64"))

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        """Per customer of the snapshot: ``target`` = purchase days in the ``outcome_days``
        after ``as_of``, ``actual_spend`` = their CNY spend."""
        end = as_of + timedelta(days=self.outcome_days)
        last = last_data_day(ctx)
        if end > last:
            raise ModelError(f"the {self.outcome_days}-day outcome window after {as_of} ends "
                             f"{end}, after the last day of transaction data {last}: choose "
                             "an earlier snapshot or a shorter outcome_days")
        later = TagContext(ctx.engine, end, ctx.offset_hours, SourceLoader(ctx.warehouse))
        days = purchase_days(later.view("transactions", self.outcome_days, needs=frozenset()))
        per = days.group_by(KEY).aggregate(target=days.count(), actual_spend=days.spend.sum())
        population = ctx.tags(as_of, ["registered_date"]).select(KEY)
        j = population.left_join(per, KEY)
        return j.select(population[KEY], target=j.target.fill_null(0).cast("int64"),
                        actual_spend=j.actual_spend.fill_null(0.0).cast("float64"))

    # -- model -----------------------------------------------------------------------------

    def make_estimator(self, **params: Any) -> ClvModel:
        chosen: dict[str, Any] = {"margin_rate": self.margin_rate,
                                  "deposit_margin": self.deposit_margin,
                                  "lending_margin": self.lending_margin,
                                  "horizon_months": self.horizon_months,
                                  "discount_rate": self.discount_rate, "lgd": self.lgd}
        chosen.update(params)
        return ClvModel(**chosen)

    def predicted_purchases(self, estimator: ClvModel, X: pd.DataFrame,
                            days: float | None = None) -> np.ndarray:
        """Expected purchase days in the ``days`` (default: outcome_days) after the snapshot."""
        t = (self.outcome_days if days is None else days) / estimator.days_per_unit
        return estimator.bg_.expected_purchases(t, X["frequency"], X["recency"], X["T"])

    def evaluate(self, estimator: ClvModel, data: TrainingSet) -> dict[str, float]:
        """Predicted vs actual purchase days in the outcome window: means, total error, MAE,
        RMSE, correlation and the calibration table flattened (``calibration_<group>_...``)."""
        if data.y is None:
            raise ModelError("clv is tested against the purchases observed after the snapshot: "
                             "give the outcome (labels) with the held-out data")
        predicted = self.predicted_purchases(estimator, data.X)
        actual = data.y.to_numpy(dtype=float)
        error = predicted - actual
        metrics = {
            "customers": float(len(actual)),
            "outcome_days": float(self.outcome_days),
            "predicted_mean": float(predicted.mean()),
            "actual_mean": float(actual.mean()),
            "total_relative_error": float(error.sum() / max(actual.sum(), 1e-12)),
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "correlation": float(np.corrcoef(predicted, actual)[0, 1])
            if actual.std() > 0 and predicted.std() > 0 else float("nan"),
            "bgnbd_log_likelihood": estimator.bg_.log_likelihood_,
            "gamma_gamma_log_likelihood": estimator.gg_.log_likelihood_,
        }
        metrics.update({f"param_{k}": v for k, v in estimator.bg_.params_.items()})
        metrics.update({f"param_{k}": v for k, v in estimator.gg_.params_.items()})
        table = calibration_table(data.X["frequency"], predicted, actual)
        for group, row in table.iterrows():
            for column in ("customers", "predicted", "actual"):
                metrics[f"calibration_{group}_{column}"] = float(row[column])
        return metrics

    def outputs(self, estimator: ClvModel, X: pd.DataFrame) -> pd.DataFrame:
        parts = estimator.components(X)
        return pd.DataFrame({
            "clv_12m": parts["clv"],
            "p_alive": parts["p_alive"],
            "expected_purchase_days_12m": parts["expected_purchases"],
            "expected_credit_loss_12m": parts["expected_credit_loss"],
        }, index=X.index)

    def explain(self, estimator: ClvModel, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        """Per customer, the components that move the value most from the training
        baseline (in CNY; they sum to value - baseline value): p_alive, expected purchase
        days if alive (discounted), expected value per purchase day, aum (through the
        deposit spread), ead (through the lending margin), expected credit loss. A reason's
        value is the customer's own: a probability, days, CNY per day, CNY held, CNY owed,
        CNY of loss."""
        parts = estimator.components(X)
        moves = estimator.contributions(X)
        out = []
        for (_, row), (_, shown) in zip(moves.iterrows(), parts.iterrows(), strict=True):
            order = np.argsort(-np.abs(row.to_numpy()))[:n]
            reasons = []
            for i in order:
                component = str(moves.columns[i])
                change = float(row.iloc[i])
                reasons.append(Reason(REASON_NAMES[component], round(float(shown[component]), 6),
                                      change, "raises" if change > 0 else "lowers"))
            out.append(reasons)
        return out


SPEC = ClvSpec()

__all__ = ["FREQUENCY_GROUPS", "OUTPUT_TAGS", "SPEC", "ClvSpec", "calibration_table",
           "frequency_group", "purchase_days", "purchase_history"]
