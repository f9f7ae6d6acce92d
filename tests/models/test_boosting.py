"""The calibrated LightGBM classifier on data whose true probabilities are known."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from finpersona.models.boosting import BASE, BoostedClassifier, top_reasons
from finpersona.models.spec import ModelError

REGIONS = ("north", "south", "east", "west")
REGION_EFFECT = {"north": 0.6, "south": 0.0, "east": -0.4, "west": 0.2}


def _sample(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Rare events (about 8 %) from a known logistic model with a categorical term."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "x0": rng.normal(size=n),
        "x1": rng.normal(size=n),
        "noise": rng.normal(size=n),
        "flag": rng.random(n) < 0.3,
        "region": rng.choice(REGIONS, size=n),
    })
    logit = (-3.4 + 1.1 * X.x0 - 0.8 * X.x1 + 0.5 * X.flag
             + X.region.map(REGION_EFFECT).to_numpy())
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    y = pd.Series((rng.random(n) < p).astype(int))
    return X, y, p


@pytest.fixture(scope="module")
def fitted() -> tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]:
    X, y, _ = _sample(8000, 1)
    model = BoostedClassifier(num_leaves=7, min_child_samples=50).fit(X, y)
    X_new, y_new, p_new = _sample(20000, 2)
    assert model.base_rate_ == pytest.approx(y.mean())
    return model, X_new, y_new, p_new


def test_ranks_almost_as_well_as_the_true_probability(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, y, p_true = fitted
    ours = roc_auc_score(y, model.predict_proba(X)[:, 1])
    best = roc_auc_score(y, p_true)
    # A second library, given the true model's form, as a yardstick.
    train_X, train_y, _ = _sample(8000, 1)
    design = pd.get_dummies(train_X, columns=["region"], dtype=float)
    logistic = LogisticRegression(max_iter=2000).fit(design, train_y)
    theirs = roc_auc_score(y, logistic.predict_proba(
        pd.get_dummies(X, columns=["region"], dtype=float))[:, 1])
    assert best - ours < 0.03
    assert theirs - ours < 0.03


def test_calibration_undoes_the_class_weights(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, y, p_true = fitted
    p = model.predict_proba(X)[:, 1]
    # Without Platt scaling the balanced trees think events are common.
    raw = model.booster_.predict_proba(model._matrix(X))[:, 1]
    assert raw.mean() > 3 * y.mean()
    # With it, the mean probability matches the true one within Monte-Carlo error ...
    spread = np.sqrt((p_true * (1 - p_true)).sum()) / len(p_true)
    assert abs(p.mean() - p_true.mean()) < 0.1 * p_true.mean() + 3 * spread
    assert abs(p.mean() - y.mean()) < 4 * np.sqrt(y.mean() * (1 - y.mean()) / len(y))
    # ... and decile by decile the predictions follow the true probabilities.
    deciles = pd.qcut(p, 10, labels=False)
    by = pd.DataFrame({"p": p, "true": p_true}).groupby(deciles).mean()
    assert np.corrcoef(by.p, by.true)[0, 1] > 0.97
    assert (abs(by.p - by.true) < 0.35 * by.true + 0.005).all()


def test_contributions_add_up_to_the_log_odds(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, _, _ = fitted
    rows = X.iloc[:7]
    parts = model.contributions(rows)
    assert list(parts.columns) == [*X.columns, BASE]
    np.testing.assert_allclose(parts.sum(axis=1), model.decision_function(rows), atol=1e-9)
    p = model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(parts.sum(axis=1), np.log(p / (1 - p)), atol=1e-9)
    # LightGBM's own property: TreeSHAP values plus the bias are the raw margin.
    raw = model.booster_.predict(model._matrix(rows), pred_contrib=True)
    margin = model.booster_.predict(model._matrix(rows), raw_score=True)
    np.testing.assert_allclose(raw.sum(axis=1), margin, atol=1e-9)
    # The feature that does nothing gets little of the credit.
    assert parts["noise"].abs().mean() < parts["x0"].abs().mean() / 3


def test_reasons_are_the_largest_contributions(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, _, _ = fitted
    rows = X.iloc[:5]
    parts = model.contributions(rows).drop(columns=BASE)
    reasons = top_reasons(model, rows, n=2)
    assert len(reasons) == 5
    for (_, row), found, values in zip(rows.iterrows(), reasons, parts.to_numpy(),
                                       strict=True):
        assert len(found) == 2
        assert abs(found[0].contribution) >= abs(found[1].contribution)
        assert abs(found[1].contribution) >= np.sort(np.abs(values))[-2] - 1e-12
        for reason in found:
            assert reason.direction == ("raises" if reason.contribution > 0 else "lowers")
            assert reason.value == row[reason.feature]
    with pytest.raises(ModelError, match="at least 1"):
        top_reasons(model, rows, n=0)


def test_scikit_learn_contract_determinism_and_pickling(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, _, _ = fitted
    params = model.get_params()
    assert params["num_leaves"] == 7 and params["min_child_samples"] == 50
    twin = clone(model)
    assert twin.get_params() == params and not hasattr(twin, "booster_")
    twin.set_params(random_state=0)
    train_X, train_y, _ = _sample(8000, 1)
    assert twin.fit(train_X, train_y) is twin
    np.testing.assert_array_equal(twin.predict_proba(X), model.predict_proba(X))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    learned = [a for a in vars(model) if a not in params]
    assert learned and all(a.endswith("_") for a in learned)
    assert set(model.predict(X.iloc[:50])) <= {0, 1}
    assert model.feature_importances_.sum() == pytest.approx(1.0)


def test_categories_are_read_the_same_way_whatever_their_dtype(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, _, _ = fitted
    rows = X.iloc[:200].copy()
    expected = model.predict_proba(rows)
    as_category = rows.assign(region=rows.region.astype("category"),
                              flag=rows.flag.astype(object))
    np.testing.assert_array_equal(model.predict_proba(as_category), expected)
    # A level never seen in training is treated as missing, not as an error.
    unseen = rows.assign(region="abroad")
    missing = rows.assign(region=None)
    np.testing.assert_array_equal(model.predict_proba(unseen), model.predict_proba(missing))
    # Columns in another order, or extra columns, change nothing.
    shuffled = rows[list(reversed(rows.columns))].assign(extra=1.0)
    np.testing.assert_array_equal(model.predict_proba(shuffled), expected)


def test_bad_input_is_refused_with_a_reason(
        fitted: tuple[BoostedClassifier, pd.DataFrame, pd.Series, np.ndarray]) -> None:
    model, X, y, _ = fitted
    small = X.iloc[:400]
    with pytest.raises(ModelError, match="0/1"):
        BoostedClassifier().fit(small, np.full(400, 2))
    with pytest.raises(ModelError, match="missing outcomes"):
        BoostedClassifier().fit(small, pd.Series([np.nan] * 400))
    with pytest.raises(ModelError, match="at least 10 rows of each outcome"):
        BoostedClassifier().fit(small, (np.arange(400) < 5).astype(int))
    with pytest.raises(ModelError, match="rows"):
        BoostedClassifier().fit(small, y.iloc[:10])
    with pytest.raises(ModelError, match="cv_folds"):
        BoostedClassifier(cv_folds=1).fit(X, y)
    with pytest.raises(ModelError, match="lacks 1 feature"):
        model.predict_proba(X.drop(columns="x1"))
    with pytest.raises(ModelError, match="was numeric in training"):
        model.predict_proba(X.iloc[:3].assign(x0="high"))
    with pytest.raises(ModelError, match="2-d"):
        model.predict_proba(np.zeros(5))
