"""The clv model on the 10,000-customer model bank.

Features and outcomes are recomputed in pandas straight from the warehouse's transactions
(the engine expressions must agree with that brute force); the fitted model is tested on
the purchases actually made in the 90 days after 2025-09-30 after training on the snapshot
of 2025-06-30 (a time-based split), and its p_alive against the generator's hidden churn.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from finpersona.analytics.data import open_analytics
from finpersona.config import Settings
from finpersona.models.clv import FEATURES, ClvModel
from finpersona.models.clv_spec import SPEC, ClvSpec, calibration_table
from finpersona.models.data import to_frame
from finpersona.models.spec import KEY, ModelError, TrainingSet
from finpersona.models.training import output_tags
from tests.models.conftest import MODEL_AS_OF, MODEL_GROUP, ModelBank

pytestmark = MODEL_GROUP
TRAIN, TEST, LAST = MODEL_AS_OF
SNAPSHOT_TAGS = ["credit_card_balance", "loan_balance", "current_dpd", "max_dpd_365d", "aum"]


class BankData:
    """What the tests need from the warehouse, read once."""

    def __init__(self, bank: ModelBank) -> None:
        with open_analytics(bank.workspace) as ctx:
            self.X = {day: to_frame(ctx, SPEC.features(ctx, day)) for day in (TRAIN, TEST)}
            self.y = to_frame(ctx, SPEC.labels(ctx, TEST))
            read = ctx.engine.to_arrow
            self.tags = read(ctx.tags(TEST, SNAPSHOT_TAGS)).to_pandas().set_index(KEY)
            t = ctx.transactions()
            self.raw = read(t.select(KEY, "txn_time", "amount", "currency", "txn_type",
                                     "status")).to_pandas()
            self.registered = read(ctx.customers().select(KEY, "registered_at")).to_pandas()
            self.offset = ctx.offset_hours
        self.raw["day"] = (pd.to_datetime(self.raw.txn_time)
                           + pd.Timedelta(hours=self.offset)).dt.date
        self.raw["amount"] = self.raw.amount.astype(float)


@pytest.fixture(scope="module")
def data(model_bank: ModelBank) -> BankData:
    return BankData(model_bank)


@pytest.fixture(scope="module")
def trained(data: BankData) -> ClvModel:
    return SPEC.make_estimator().fit(data.X[TRAIN])


def _purchases(raw: pd.DataFrame) -> pd.DataFrame:
    buys = raw[(raw.txn_type == "purchase") & (raw.status == "success") & (raw.currency == "CNY")]
    return buys.groupby([KEY, "day"], as_index=False).amount.sum()


def test_features_equal_a_pandas_recount(data: BankData) -> None:
    X = data.X[TEST]
    assert list(X.columns) == list(FEATURES) and X.notna().all().all()
    seen = data.raw[data.raw.day <= TEST]
    days = _purchases(seen).sort_values([KEY, "day"])
    per = days.groupby(KEY).agg(first=("day", "min"), last=("day", "max"), n=("day", "size"),
                                spend=("amount", "sum"), first_spend=("amount", "first"))
    start = seen.day.min()
    registered = data.registered.set_index(KEY).registered_at.reindex(X.index)
    clock = pd.Series([max(r, start) if pd.notna(r) else start for r in registered],
                      index=X.index)
    per = per.reindex(X.index)
    bought = per["n"].notna()
    birth = per["first"].where(bought, clock)
    expected = pd.DataFrame({
        "frequency": (per["n"].fillna(1) - 1).astype(int),
        "recency": [(lo - fi).days if ok else 0 for ok, fi, lo in
                    zip(bought, per["first"], per["last"], strict=True)],
        "T": [(TEST - b).days for b in birth],
    }, index=X.index)
    assert (X.frequency == expected.frequency).all()
    assert (X.recency == expected.recency).all()
    assert (X["T"] == expected["T"]).all()
    repeat = expected.frequency > 0
    mean_repeat = (per.spend - per.first_spend)[repeat] / expected.frequency[repeat]
    assert np.allclose(X.monetary_value[repeat], mean_repeat, rtol=1e-9)
    assert (X.monetary_value[~repeat] == 0).all()
    # Some customers joined after the data began, some never bought: both clocks are used.
    assert (~bought).sum() > 50 and (clock > start).sum() > 50


def test_exposure_assets_and_fallback_pd(data: BankData, model_bank: ModelBank) -> None:
    X, tags = data.X[TEST], data.tags.reindex(data.X[TEST].index)
    ead = tags.credit_card_balance.astype(float).fillna(0) + tags.loan_balance.astype(
        float).fillna(0)
    assert np.allclose(X.ead, ead)
    assert np.allclose(X.aum, tags.aum.astype(float).fillna(0))
    assert (X.aum > 0).mean() > 0.9
    seen = (ead > 0) & tags.max_dpd_365d.notna()
    rate = (tags.max_dpd_365d[seen] >= 90).mean()
    in_default = tags.current_dpd.fillna(0) >= 90
    assert in_default.sum() > 10
    assert np.allclose(X.pd_12m, np.where(in_default, 1.0, rate))
    # The observed rate looks back over a short history (the data begin in January and a
    # default takes 90 days to show), so it understates the generator's true one-year PD
    # of the credit holders, but not by an order of magnitude.
    truth = model_bank.truth().set_index(KEY).true_pd.reindex(X.index)
    assert 0.4 < rate / truth[ead > 0].mean() < 1.5


def test_labels_count_purchase_days_after_the_snapshot(data: BankData) -> None:
    window = data.raw[(data.raw.day > TEST) & (data.raw.day <= TEST + timedelta(days=90))]
    days = _purchases(window)
    expected = days.groupby(KEY).size().reindex(data.X[TEST].index, fill_value=0)
    assert data.y.index.equals(data.X[TEST].index)
    assert (data.y.target == expected).all()
    spend = days.groupby(KEY).amount.sum().reindex(data.X[TEST].index, fill_value=0.0)
    assert np.allclose(data.y.actual_spend, spend)


def test_labels_need_a_matured_window(model_bank: ModelBank) -> None:
    with open_analytics(model_bank.workspace) as ctx, pytest.raises(
            ModelError, match="after the last day of transaction data"):
        SPEC.labels(ctx, LAST)


def test_held_out_purchases_are_predicted_in_aggregate(data: BankData,
                                                       trained: ClvModel) -> None:
    assert trained.bg_.converged_ and trained.gg_.converged_
    metrics = SPEC.evaluate(trained, TrainingSet(data.X[TEST], data.y.target, TEST))
    # ~25,000 purchase days in the window: sampling error of the total is about 0.6 %. The
    # rest is model error on this bank: it plants churn as a hazard in time that falls with
    # activity, where BG/NBD has a coin after each purchase independent of the rate, and
    # seasonal spending; we saw +4 %. A tenth is the bound.
    assert abs(metrics["total_relative_error"]) < 0.10, metrics
    assert metrics["correlation"] > 0.55
    assert metrics["mae"] < 0.65 * metrics["actual_mean"]
    predicted = SPEC.predicted_purchases(trained, data.X[TEST])
    table = calibration_table(data.X[TEST].frequency, predicted, data.y.target)
    big = table[table.customers >= 1000]
    assert len(big) >= 3
    # Where most of the purchases are (4+ repeat purchases), each group within 10 %.
    busy = big.loc[[g for g in big.index if g not in ("0", "1", "2-3")]]
    assert (abs(busy.predicted / busy.actual - 1) < 0.10).all(), table
    # More past purchases, more future ones: in the model and in the data.
    assert big.predicted.is_monotonic_increasing and big.actual.is_monotonic_increasing
    assert metrics[f"calibration_{big.index[0]}_customers"] == big.customers.iloc[0]


def test_p_alive_finds_the_customers_who_left(data: BankData, trained: ClvModel,
                                              model_bank: ModelBank) -> None:
    churn_file = model_bank.truth_dir / "churn.parquet"
    if not churn_file.exists():
        pytest.skip("this synthetic bank plants no churn (truth/churn.parquet is missing)")
    X = data.X[TEST]
    churn = model_bank.truth("churn").set_index(KEY).churned_at.reindex(X.index)
    gone = (churn.notna() & (churn < pd.Timestamp(TEST + timedelta(days=1)))).to_numpy()
    repeat = (X.frequency > 0).to_numpy()
    alive = trained.bg_.probability_alive(X.frequency, X.recency, X["T"])
    assert gone[repeat].sum() > 100
    # Customers without a repeat purchase are alive by the model's definition; among the
    # others, those who really left by the snapshot have the lower p_alive.
    assert roc_auc_score(gone[repeat], -alive[repeat]) > 0.75


def test_value_is_discounted_margin_and_balance_income_minus_expected_loss(
        data: BankData, trained: ClvModel, model_bank: ModelBank) -> None:
    spec = ClvSpec.from_settings(model_bank.workspace.settings)
    assert (spec.horizon_months, spec.discount_rate, spec.lgd, spec.deposit_margin,
            spec.lending_margin) == (12, 0.10, 0.45, 0.015, 0.03)
    X = data.X[TEST]
    out = spec.outputs(trained, X)
    assert set(out.columns) == set(output_tags(model_bank.workspace, "clv"))
    assert out.index.equals(X.index) and out.notna().all().all()
    alive = trained.bg_.probability_alive(X.frequency, X.recency, X["T"])
    picks = [X[(X.ead == 0) & (X.frequency > 3)].index[0],
             X[(X.ead > 1000) & (X.pd_12m < 1)].index[0],
             X[(X.pd_12m == 1) & (X.ead > 0)].ead.idxmax(),
             X[(X.frequency == 0) & (X.aum > 0) & (X.ead == 0)].aum.idxmax(),
             X.index[alive.argmin()]]
    month = 365.25 / 12
    for key in picks:
        row = X.loc[key]
        value = trained.gg_.expected_average_value(row.frequency, row.monetary_value)[0]
        p_alive = trained.bg_.probability_alive(row.frequency, row.recency, row["T"])[0]
        income = 0.0
        for m in range(1, 13):
            discount = 1.1 ** (-m / 12)
            bought = (trained.bg_.expected_purchases(m * month, row.frequency, row.recency,
                                                     row["T"])[0]
                      - trained.bg_.expected_purchases((m - 1) * month, row.frequency,
                                                       row.recency, row["T"])[0])
            income += bought * value * 0.0045 * discount
            income += p_alive * (row.aum * 0.015 + row.ead * 0.03) / 12 * discount
        loss = row.pd_12m * 0.45 * row.ead
        assert out.loc[key, "clv_12m"] == pytest.approx(income - loss, rel=1e-9, abs=1e-9)
        assert out.loc[key, "expected_credit_loss_12m"] == pytest.approx(loss)
    assert out.loc[picks[0], "clv_12m"] > 0 > out.loc[picks[2], "clv_12m"]
    # No repeat purchase: p_alive is 1 and her assets earn the full year's spread.
    assert out.loc[picks[3], "p_alive"] == 1.0
    assert out.loc[picks[3], "clv_12m"] > X.aum[picks[3]] * 0.015 * 0.95
    # Explanations: the six components, largest move first, adding up to the distance from
    # the baseline customer.
    reasons = spec.explain(trained, X.loc[picks], n=6)
    for key, given in zip(picks, reasons, strict=True):
        assert {r.feature for r in given} == {"p_alive", "expected_purchase_days",
                                              "expected_average_value", "aum", "ead",
                                              "expected_credit_loss"}
        moves = [r.contribution for r in given]
        assert moves == sorted(moves, key=abs, reverse=True)
        assert all((r.direction == "raises") == (r.contribution > 0) for r in given)
        assert sum(moves) == pytest.approx(out.loc[key, "clv_12m"] - trained.baseline_value(),
                                           rel=1e-9, abs=1e-6)
        shown = {r.feature: r.value for r in given}
        assert shown["aum"] == pytest.approx(X.aum[key], abs=1e-6)
        assert shown["ead"] == pytest.approx(X.ead[key], abs=1e-6)
    assert reasons[2][0].feature == "expected_credit_loss"  # a defaulter's value is her loss
    assert reasons[3][0].feature == "aum"  # the richest saver without a repeat purchase


def test_value_on_the_bank_is_rarely_negative(data: BankData, trained: ClvModel) -> None:
    X = data.X[TEST]
    value = SPEC.outputs(trained, X).clv_12m
    # Without credit there is nothing to lose: every such customer is worth something.
    no_credit = X.ead == 0
    assert no_credit.sum() > 1000 and (value[no_credit] >= 0).all()
    assert value.median() > 0
    # A borrower is worth less than nothing only when her expected loss exceeds a year's
    # income on her balances: defaulters (PD 1) and customers who have probably left. We
    # saw 0.9 % (60 % when only the purchase margin counted).
    assert (value < 0).mean() < 0.05
    # The contributions add up for every customer, not only the ones explained above.
    moves = trained.contributions(X)
    assert np.allclose(moves.sum(axis=1), value - trained.baseline_value(), rtol=1e-9,
                       atol=1e-6)


def test_from_settings_reads_every_clv_setting() -> None:
    settings = Settings(clv_horizon_months=6, clv_discount_rate=0.2, clv_lgd=0.6,
                        clv_deposit_margin=0.012, clv_lending_margin=0.025)
    model = ClvSpec.from_settings(settings).make_estimator()
    assert (model.horizon_months, model.discount_rate, model.lgd, model.deposit_margin,
            model.lending_margin) == (6, 0.2, 0.6, 0.012, 0.025)
    clv_fields = {name for name in Settings.model_fields if name.startswith("clv_")}
    defaults = ClvSpec.from_settings(Settings())
    assert {f"clv_{name}" for name in ("horizon_months", "discount_rate", "lgd",
                                       "deposit_margin", "lending_margin")} == clv_fields
    assert defaults == SPEC  # the spec's defaults are the settings' defaults


def test_a_longer_horizon_and_a_higher_rate(data: BankData, trained: ClvModel) -> None:
    X = data.X[TEST]
    base = trained.components(X)
    slow = replace(SPEC, horizon_months=24, discount_rate=0.30).make_estimator()
    slow.fit(data.X[TRAIN])
    longer = slow.components(X)
    # Two years buy more than one but, discounted at 30 %, less than twice as much value.
    assert (longer.expected_purchases >= base.expected_purchases).all()
    assert longer.expected_purchases.sum() > 1.5 * base.expected_purchases.sum()
    assert (longer.purchase_margin <= 2 * base.purchase_margin).all()
    assert longer.purchase_margin.sum() < 1.8 * base.purchase_margin.sum()
    # The one-year PD spread over two years: 1 - (1 - PD)^2.
    owes = X.ead > 0
    assert np.allclose(longer.expected_credit_loss[owes],
                       (1 - (1 - X.pd_12m[owes]) ** 2) * 0.45 * X.ead[owes])
