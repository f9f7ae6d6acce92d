"""One contract test over every estimator: the scikit-learn rules a model must keep.

- ``__init__`` only stores its arguments, under the same names (no validation, no
  derived state), so ``get_params`` / ``set_params`` / ``clone`` work;
- ``fit`` returns ``self``, leaves the parameters as they were, and everything it
  learns is in attributes ending in ``_`` (or private ones starting with ``_``);
- a fitted estimator survives pickling with identical predictions (scoring ships
  it to Spark executors);
- predicting before fitting fails loudly.

The registered models are fitted on the model bank's training snapshot (a sample,
to stay quick); the BG/NBD and Gamma-Gamma estimators, which take arrays rather
than a feature frame, on data simulated from their own model.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from finpersona.analytics.data import open_analytics
from finpersona.models.catalog import SPECS, get_spec
from finpersona.models.clv import BetaGeoModel, GammaGammaModel
from finpersona.models.spec import ModelError
from finpersona.models.training import load_set
from tests.models.conftest import MODEL_AS_OF, MODEL_GROUP, ModelBank

pytestmark = MODEL_GROUP
SAMPLE = 3000
NOT_FITTED = (NotFittedError, ModelError, ValueError, AttributeError)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame):
        return bool(a.equals(b))
    if isinstance(a, pd.Series):
        return bool(a.equals(b))
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def check_init_stores_parameters_only(estimator: Any) -> None:
    params = [p for p in inspect.signature(type(estimator).__init__).parameters
              if p != "self"]
    assert set(vars(estimator)) == set(params), (
        f"{type(estimator).__name__}.__init__ must store exactly its arguments")
    got = estimator.get_params(deep=False)
    assert set(got) == set(params)
    for name in params:
        assert got[name] is getattr(estimator, name)
    twin = clone(estimator)
    assert type(twin) is type(estimator)
    assert set(twin.get_params(deep=False)) == set(params)
    assert estimator.set_params(**got) is estimator


def check_fit_and_pickle(estimator: Any, fit: Callable[[Any], Any],
                         predict: Callable[[Any], Any]) -> None:
    with pytest.raises(NOT_FITTED):
        predict(clone(estimator))
    before = {k: pickle.dumps(v) for k, v in estimator.get_params(deep=False).items()}
    plain = set(vars(estimator))
    assert fit(estimator) is estimator, f"{type(estimator).__name__}.fit must return self"
    after = {k: pickle.dumps(v) for k, v in estimator.get_params(deep=False).items()}
    assert before == after, "fit must not change the parameters"
    learned = set(vars(estimator)) - plain
    assert learned, "fit learned nothing"
    bad = sorted(a for a in learned if not (a.endswith("_") or a.startswith("_")))
    assert not bad, f"learned attributes must end in '_': {bad}"
    expected = predict(estimator)
    restored = pickle.loads(pickle.dumps(estimator))
    assert _equal(expected, predict(restored))


@pytest.fixture(scope="module")
def training_sets(model_bank: ModelBank) -> dict[str, Any]:
    out = {}
    with open_analytics(model_bank.workspace) as ctx:
        for name in SPECS:
            data = load_set(ctx, get_spec(name), MODEL_AS_OF[0])
            X, y = data.X, data.y
            if len(X) > SAMPLE:
                keep = np.random.default_rng(3).choice(len(X), SAMPLE, replace=False)
                keep.sort()
                X = X.iloc[keep]
                y = None if y is None else y.iloc[keep]
            out[name] = (X, y)
    return out


@pytest.mark.parametrize("name", list(SPECS))
def test_registered_models_keep_the_contract(name: str, training_sets: dict[str, Any]) -> None:
    spec = get_spec(name)
    estimator = spec.make_estimator()
    check_init_stores_parameters_only(estimator)
    X, y = training_sets[name]

    def fit(est: Any) -> Any:
        return est.fit(X) if y is None else est.fit(X, y)

    check_fit_and_pickle(estimator, fit, lambda est: spec.outputs(est, X))
    # Scoring maps outputs over batches: any split of the rows gives the same result.
    whole = spec.outputs(estimator, X)
    parts = pd.concat([spec.outputs(estimator, X.iloc[:700]),
                       spec.outputs(estimator, X.iloc[700:])])
    pd.testing.assert_frame_equal(whole, parts, check_exact=False, rtol=1e-12, atol=1e-12)


def _bgnbd_data(seed: int = 1, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated from the BG/NBD story: Poisson purchases, dropout after each one."""
    rng = np.random.default_rng(seed)
    T = np.full(n, 39.0)
    lam = rng.gamma(0.5, 1 / 4.0, n)
    p = rng.beta(0.8, 2.5, n)
    freq, rec = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            freq[i] += 1
            rec[i] = t
            if rng.random() < p[i]:
                break
    return freq, rec, T


def test_beta_geo_model_keeps_the_contract() -> None:
    freq, rec, T = _bgnbd_data()
    check_init_stores_parameters_only(BetaGeoModel())
    check_fit_and_pickle(BetaGeoModel(), lambda est: est.fit(freq, rec, T),
                         lambda est: est.expected_purchases(10.0, freq, rec, T))


def test_gamma_gamma_model_keeps_the_contract() -> None:
    rng = np.random.default_rng(2)
    freq = rng.integers(1, 12, 800).astype(float)
    nu = rng.gamma(6.0, 1 / 15.0, 800)  # per-customer rate; spend per purchase ~ Gamma(p, nu)
    monetary = np.array([rng.gamma(6.0, 1 / v, int(f)).mean() for f, v in zip(freq, nu,
                                                                              strict=True)])
    check_init_stores_parameters_only(GammaGammaModel())
    check_fit_and_pickle(GammaGammaModel(), lambda est: est.fit(freq, monetary),
                         lambda est: est.expected_average_value(freq, monetary))


def test_every_registered_model_is_in_the_catalogue() -> None:
    from finpersona.tags.catalogue import load_catalogue

    written = {t.model for t in load_catalogue().snapshot_tags() if t.model}
    assert set(SPECS) <= written, f"models without model tags: {set(SPECS) - written}"
    assert date(2025, 6, 30) == MODEL_AS_OF[0]
