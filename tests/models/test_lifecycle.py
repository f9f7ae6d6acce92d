"""Lifecycle stage with the churn score, against a row-by-row reference and the tag it extends.

The reference below is written from the rule's wording (one ``if`` per stage, in
order, with SQL's "a comparison with NULL is not true"), not from the vectorised code.
On the model bank, without a churn score the model tag must equal the catalogue's
``lifecycle_stage`` for every customer; with a score, only active customers move, and
only to declining.
"""

from __future__ import annotations

import math
import pickle
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from finpersona.analytics.data import open_analytics
from finpersona.models.data import to_frame
from finpersona.models.lifecycle import (
    FEATURES,
    SPEC,
    STAGES,
    LifecycleRule,
    lifecycle_stages,
)
from finpersona.models.spec import ModelError, ModelSpec, TrainingSet
from tests.models.conftest import MODEL_AS_OF, MODEL_GROUP, ModelBank


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _lt(value: Any, bound: float) -> bool:
    return _known(value) and value < bound


def _ge(value: Any, bound: float) -> bool:
    return _known(value) and value >= bound


def _eq0(value: Any) -> bool:
    return _known(value) and value == 0


def reference_stage(row: dict[str, Any], threshold: float = 0.10) -> str:
    tenure, trend = row["tenure_months"], row["txn_count_trend_90d"]
    if row["customer_status"] == "closed" or (
            _ge(tenure, 3) and _eq0(row["initiated_txn_count_365d"])
            and _eq0(row["sessions_365d"]) and _lt(row["aum"], 100)):
        return "churned"
    if _lt(tenure, 3):
        return "new"
    if _eq0(row["initiated_txn_count_180d"]) and _eq0(row["sessions_180d"]):
        return "dormant"
    if _lt(trend, 0.5) or _ge(row["churn_probability"], threshold):
        return "declining"
    if _lt(tenure, 12) or _ge(trend, 1.5):
        return "growing"
    return "mature"


maybe = st.one_of  # readability below
rows = st.fixed_dictionaries({
    "customer_status": st.sampled_from(["active", "dormant", "closed", None]),
    "tenure_months": maybe(st.none(), st.sampled_from([0, 2, 3, 11, 12, 40])),
    "initiated_txn_count_365d": st.sampled_from([0, 1, 7]),
    "initiated_txn_count_180d": st.sampled_from([0, 1, 4]),
    "sessions_365d": st.sampled_from([0, 2]),
    "sessions_180d": st.sampled_from([0, 1]),
    "aum": st.sampled_from([0.0, 50.0, 99.99, 100.0, 25_000.0]),
    "txn_count_trend_90d": maybe(st.none(), st.sampled_from([0.0, 0.49, 0.5, 1.0, 1.49, 1.5]),
                                 st.floats(0, 4)),
    "churn_probability": maybe(st.none(), st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]),
                               st.floats(0, 1)),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=1, max_size=30),
       st.sampled_from([0.1, 0.3, 0.5, 0.8]))
def test_rule_equals_the_row_by_row_reference(batch: list[dict[str, Any]],
                                              threshold: float) -> None:
    X = pd.DataFrame(batch, columns=list(FEATURES))
    X["churn_probability"] = X["churn_probability"].astype("float64")
    X["txn_count_trend_90d"] = X["txn_count_trend_90d"].astype("float64")
    X["tenure_months"] = X["tenure_months"].astype("Int64")
    got = LifecycleRule(churn_threshold=threshold).fit(X).predict(X)
    assert list(got) == [reference_stage(r, threshold) for r in batch]


@settings(max_examples=40, deadline=None)
@given(st.lists(rows, min_size=1, max_size=20))
def test_a_higher_score_only_moves_active_customers_to_declining(
        batch: list[dict[str, Any]]) -> None:
    X = pd.DataFrame(batch, columns=list(FEATURES))
    without = lifecycle_stages(X.assign(churn_probability=np.nan))
    certain = lifecycle_stages(X.assign(churn_probability=1.0))
    moved = without != certain
    assert set(certain[moved]) <= {"declining"}
    assert set(without[moved]) <= {"growing", "mature"}
    # churned, new and dormant are facts the score cannot change
    facts = np.isin(without, ["churned", "new", "dormant"])
    assert (without[facts] == certain[facts]).all()


@pytest.fixture(scope="module")
def bank_rows(model_bank: ModelBank) -> dict[date, tuple[pd.DataFrame, pd.Series]]:
    out = {}
    with open_analytics(model_bank.workspace) as ctx:
        for day in MODEL_AS_OF:
            X = to_frame(ctx, SPEC.features(ctx, day))
            tag = to_frame(ctx, ctx.tags(day, columns=["lifecycle_stage"]))["lifecycle_stage"]
            out[day] = (X, tag.reindex(X.index))
    return out


@MODEL_GROUP
def test_without_a_churn_score_the_model_tag_equals_lifecycle_stage(
        bank_rows: dict[date, tuple[pd.DataFrame, pd.Series]]) -> None:
    for day, (X, tag) in bank_rows.items():
        assert X["churn_probability"].isna().all()  # the churn model has not scored here
        got = SPEC.outputs(SPEC.make_estimator().fit(X), X)["lifecycle_stage_model"]
        assert (got == tag).all(), day
        assert set(got) >= {"growing", "mature", "declining"}, day


@MODEL_GROUP
def test_with_a_churn_score_the_bank_follows_the_reference(
        bank_rows: dict[date, tuple[pd.DataFrame, pd.Series]]) -> None:
    X, tag = bank_rows[MODEL_AS_OF[-1]]
    rng = np.random.default_rng(7)
    scored = X.assign(churn_probability=np.round(rng.beta(1, 20, len(X)), 4))
    rule = LifecycleRule().fit(scored)
    got = rule.predict(scored)
    records = scored.reset_index(drop=True).astype(object).where(scored.notna().to_numpy(),
                                                                  None)
    expected = [reference_stage(r) for r in records.to_dict("records")]
    assert list(got) == expected
    metrics = SPEC.evaluate(rule, TrainingSet(scored, None, MODEL_AS_OF[-1]))
    moved = got != tag.to_numpy()
    assert metrics["moved_by_score_share"] == pytest.approx(moved.mean())
    assert 0 < moved.mean() < 0.2  # beta(1, 20) puts about 12 % at 0.10 or more
    assert metrics["churn_scored_share"] == 1.0
    assert sum(metrics[f"stage_{s}_share"] for s in STAGES) == pytest.approx(1.0)
    assert rule.stage_shares_ == {s: pytest.approx(metrics[f"stage_{s}_share"])
                                  for s in STAGES}


def test_explanations_name_the_deciding_tags() -> None:
    X = pd.DataFrame([
        {"customer_status": "closed", "tenure_months": 40, "initiated_txn_count_365d": 3,
         "initiated_txn_count_180d": 1, "sessions_365d": 1, "sessions_180d": 1,
         "aum": 10.0, "txn_count_trend_90d": 1.0, "churn_probability": None},
        {"customer_status": "active", "tenure_months": 40, "initiated_txn_count_365d": 9,
         "initiated_txn_count_180d": 4, "sessions_365d": 2, "sessions_180d": 1,
         "aum": 9e3, "txn_count_trend_90d": 1.0, "churn_probability": 0.9},
        {"customer_status": "active", "tenure_months": 40, "initiated_txn_count_365d": 9,
         "initiated_txn_count_180d": 4, "sessions_365d": 2, "sessions_180d": 1,
         "aum": 9e3, "txn_count_trend_90d": 0.2, "churn_probability": 0.9},
        {"customer_status": "active", "tenure_months": 5, "initiated_txn_count_365d": 9,
         "initiated_txn_count_180d": 4, "sessions_365d": 2, "sessions_180d": 1,
         "aum": 9e3, "txn_count_trend_90d": 1.0, "churn_probability": 0.05},
    ])
    spec: ModelSpec = SPEC
    rule = spec.make_estimator().fit(X)
    assert list(rule.predict(X)) == ["churned", "declining", "declining", "growing"]
    reasons = spec.explain(rule, X, n=3)
    assert [r.feature for r in reasons[0]] == ["customer_status"]
    assert [(r.feature, r.value) for r in reasons[1]] == [("churn_probability", 0.9)]
    assert [(r.feature, r.value) for r in reasons[2]] == [("txn_count_trend_90d", 0.2)]
    assert [(r.feature, r.value) for r in reasons[3]] == [("tenure_months", 5)]


def test_default_threshold_is_the_churn_models_high_band() -> None:
    from finpersona.models.churn import SPEC as CHURN

    assert LifecycleRule().churn_threshold == CHURN.risk_bands[1]


def test_estimator_contract_and_clear_errors() -> None:
    rule = LifecycleRule(churn_threshold=0.7)
    assert rule.get_params() == {"churn_threshold": 0.7}
    assert clone(rule).set_params(churn_threshold=0.4).churn_threshold == 0.4
    X = pd.DataFrame([dict.fromkeys(FEATURES, 1) | {"customer_status": "active",
                                                  "tenure_months": 30,
                                                  "txn_count_trend_90d": 1.0,
                                                  "churn_probability": 0.75}])
    fitted = pickle.loads(pickle.dumps(rule.fit(X)))
    assert fitted.rule_version_ == "1" and list(fitted.predict(X)) == ["declining"]
    with pytest.raises(ModelError, match="needs tag column"):
        rule.fit(X.drop(columns="aum"))
    with pytest.raises(ModelError, match="between 0 and 1"):
        rule.fit(X.assign(churn_probability=1.5))
    with pytest.raises(ModelError, match="probability in"):
        LifecycleRule(churn_threshold=0).fit(X)
    with pytest.raises(ModelError, match="no customers"):
        rule.fit(X.iloc[:0])
