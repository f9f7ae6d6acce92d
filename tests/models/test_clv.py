"""The lifetime-value estimators against published fits, brute force and simulation.

References, none of them our own code:
- CDNOW 1/10 sample (shipped as a data file inside the archived ``lifetimes`` package,
  read as CSV, never imported): Fader, Hardie and Lee (2005), "Counting your customers the
  easy way", table 1 (BG/NBD) and Fader and Hardie (2013), "The Gamma-Gamma model of
  monetary value" (946 repeat customers);
- Monte-Carlo simulation of the BG/NBD story itself (Poisson purchases while alive, a coin
  with probability p after each repeat purchase), conditioned on a history by importance
  weights;
- numerical integration of the conditional expectation over the dropout probability;
- data simulated from known parameters (recovery, likelihood-ratio test).
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats
from sklearn.base import clone

from finpersona.models.clv import (
    COMPONENTS,
    BetaGeoModel,
    ClvModel,
    GammaGammaModel,
    _bgnbd_terms,
    _gg_terms,
    bgnbd_log_likelihood,
    digamma_step,
    discount_factors,
    expected_credit_loss,
    level_balance_annuity,
    log_rising,
    shapley_of_product,
)
from finpersona.models.spec import ModelError

CDNOW_PARAMS = (0.243, 4.414, 0.793, 2.426)  # r, alpha, a, b: FHL 2005, table 1 (weeks)


def _cdnow() -> pd.DataFrame:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the lifetimes package (test data only: the CDNOW sample) is not installed; "
                    "pip install lifetimes==0.11.3")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    # x, t_x, T in weeks and zbar (mean value of the repeat purchases, USD) per customer;
    # the same rows as cdnow_customers_summary.csv plus the spend.
    frame = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
    plain = pd.read_csv(folder / "cdnow_customers_summary.csv")
    assert np.allclose(plain[["frequency", "recency", "T"]].to_numpy(),
                       frame[["x", "t_x", "T"]].to_numpy())
    return frame


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return _cdnow()


@pytest.fixture(scope="module")
def cdnow_bg(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow.x, cdnow.t_x, cdnow["T"])


# -- published fits -----------------------------------------------------------------------------


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow: pd.DataFrame,
                                                   cdnow_bg: BetaGeoModel) -> None:
    assert len(cdnow) == 2357
    fitted = cdnow_bg.params_
    for name, published in zip(("r", "alpha", "a", "b"), CDNOW_PARAMS, strict=True):
        assert fitted[name] == pytest.approx(published, abs=0.0015), name
    assert cdnow_bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bg.converged_
    # The published parameters are (to rounding) the maximum: nearby points score lower.
    at_published = bgnbd_log_likelihood(CDNOW_PARAMS, cdnow.x.to_numpy(float),
                                        cdnow.t_x.to_numpy(float), cdnow["T"].to_numpy(float))
    assert at_published.sum() == pytest.approx(-9582.4, abs=0.1)
    assert at_published.sum() <= cdnow_bg.log_likelihood_


def test_bgnbd_conditional_expectation_of_the_worked_example(cdnow_bg: BetaGeoModel) -> None:
    # Fader, Hardie and Lee's spreadsheet note ("Implementing the BG/NBD model in Excel"):
    # a customer with 2 repeat purchases, the last at 30.43 weeks, observed for 38.86
    # weeks, is expected to make 1.226 purchases in the next 39 weeks.
    assert cdnow_bg.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=6e-4)


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow: pd.DataFrame) -> None:
    repeat = cdnow[cdnow.x > 0]
    assert len(repeat) == 946
    gg = GammaGammaModel().fit(repeat.x, repeat.zbar)
    for name, published in (("p", 6.25), ("q", 3.74), ("v", 15.44)):
        assert gg.params_[name] == pytest.approx(published, abs=0.01), name
    assert gg.converged_
    # The conditional mean is a weighted average of the population mean p v / (q - 1) and
    # the customer's own mean, the weight on her own growing with her purchases.
    p, q, v = gg.params_["p"], gg.params_["q"], gg.params_["v"]
    population = p * v / (q - 1)
    few, many = gg.expected_average_value([1, 50], [100.0, 100.0])
    assert population < few < many < 100.0
    assert gg.expected_average_value([0], [0.0])[0] == pytest.approx(population)


# -- brute force ---------------------------------------------------------------------------------


def _monte_carlo(params: tuple[float, float, float, float], x: int, tx: float, T: float,
                 t: float, draws: int = 300_000, seed: int = 1) -> tuple[float, float, float]:
    """E[purchases in (T, T+t] | history], its standard error and P(alive | history), by
    simulating the BG/NBD story: (lambda, p) from the prior, weighted by the probability of
    the observed history, then the future drawn purchase by purchase."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = np.maximum(rng.gamma(r, 1 / alpha, draws), 1e-300)
    p = np.clip(rng.beta(a, b, draws), 1e-300, 1 - 1e-16)
    # The history: x repeat purchases, the last at tx, then either still alive at T (no
    # purchase in (tx, T], no dropout after any of the x) or gone after the x-th.
    log_alive = x * np.log1p(-p) + x * np.log(lam) - lam * T
    log_gone = (np.log(p) + (x - 1) * np.log1p(-p) + x * np.log(lam) - lam * tx if x > 0
                else np.full(draws, -np.inf))
    log_w = np.logaddexp(log_alive, log_gone)
    w = np.exp(log_w - log_w.max())
    p_alive = np.exp(log_alive - log_w)
    alive = rng.random(draws) < p_alive
    # Alive at T: Poisson purchases in t, and after each one a coin decides whether it was
    # the last; the count is the smaller of the two.
    future = np.where(alive, np.minimum(rng.poisson(lam * t), rng.geometric(p)), 0)
    mean = float(w @ future / w.sum())
    se = float(np.sqrt(w**2 @ (future - mean) ** 2) / w.sum())
    return mean, se, float(w @ p_alive / w.sum())


def _fitted_bg(params: tuple[float, float, float, float]) -> BetaGeoModel:
    model = BetaGeoModel()
    model.params_ = dict(zip(("r", "alpha", "a", "b"), params, strict=True))
    return model


@pytest.mark.parametrize(("params", "x", "tx", "T", "t"), [
    (CDNOW_PARAMS, 0, 0.0, 30.0, 39.0),
    (CDNOW_PARAMS, 2, 30.43, 38.86, 39.0),
    (CDNOW_PARAMS, 5, 10.0, 38.0, 52.0),  # a long silence: probably gone
    (CDNOW_PARAMS, 7, 37.0, 38.0, 20.0),
    ((2.0, 60.0, 0.5, 4.0), 12, 250.0, 270.0, 90.0),  # a bank-like customer in days
    ((2.0, 60.0, 0.5, 4.0), 12, 100.0, 270.0, 365.0),
    ((2.3, 73.0, 1e-6, 6e4), 8, 200.0, 260.0, 90.0),  # nobody drops out (b huge)
])
def test_bgnbd_matches_monte_carlo(params: tuple[float, float, float, float], x: int, tx: float,
                                   T: float, t: float) -> None:
    expected, se, p_alive = _monte_carlo(params, x, tx, T, t)
    model = _fitted_bg(params)
    ours = model.expected_purchases(t, x, tx, T)[0]
    assert abs(ours - expected) < 4 * se + 1e-3, (ours, expected, se)
    assert model.probability_alive(x, tx, T)[0] == pytest.approx(p_alive, abs=0.005)


def _integrated(params: tuple[float, float, float, float], x: int, tx: float, T: float,
                t: float) -> float:
    """The conditional expectation by quadrature: given alive, lambda ~ Gamma(r + x, alpha + T)
    and p ~ Beta(a, b + x); integrating lambda out of (1 - exp(-lambda p t)) / p leaves
    g(p) = (1 - (1 + p t / (alpha + T))^-(r + x)) / p, averaged over p two ways: over p's
    quantiles (good when the density is a narrow spike, b huge), and against the density
    with QUADPACK's algebraic-weight rule (exact for its endpoint behaviour, where the
    quantile function loses digits as u -> 1). The one with the smaller error estimate is
    the reference, and that estimate must be far inside the test's tolerance."""
    r, alpha, a, b = params
    k = t / (alpha + T)

    def g(p: float) -> float:
        if p * k < 1e-12:
            return (r + x) * k
        return float(-np.expm1(-(r + x) * np.log1p(p * k)) / p)

    by_quantile = integrate.quad(lambda u: g(float(special.betaincinv(a, b + x, u))), 0.0, 1.0,
                                 limit=400, epsabs=1e-13, epsrel=1e-11, full_output=1)
    # The integral of g(p) p^(a-1) (1-p)^(b+x-1), divided by B(a, b + x).
    by_weight = integrate.quad(g, 0.0, 1.0, weight="alg", wvar=(a - 1, b + x - 1), limit=400,
                               epsabs=0.0, epsrel=1e-11, full_output=1)
    beta = math.exp(special.betaln(a, b + x))
    candidates = [(by_quantile[1], by_quantile[0]),
                  (by_weight[1] / beta, by_weight[0] / beta)]
    err, value = min((e, v) for e, v in candidates if np.isfinite(e) and np.isfinite(v))
    assert err <= 1e-8 * abs(value) + 1e-13, candidates
    alive = 1.0
    if x > 0:
        log_odds = (math.log(a) - math.log(b + x - 1)
                    + (r + x) * (math.log(alpha + T) - math.log(alpha + tx)))
        alive = 1 / (1 + math.exp(log_odds))
    return alive * value


@settings(max_examples=60, deadline=None)
@given(r=st.floats(-2.3, 1.7).map(math.exp), alpha=st.floats(-0.7, 5.5).map(math.exp),
       a=st.floats(-3, 1.7).map(math.exp), b=st.floats(-2.3, 14).map(math.exp),
       x=st.integers(0, 120), T=st.floats(1, 400), share=st.floats(0, 1),
       t=st.floats(0.5, 500))
def test_bgnbd_closed_form_equals_numerical_integration(r: float, alpha: float, a: float,
                                                        b: float, x: int, T: float,
                                                        share: float, t: float) -> None:
    tx = share * T if x > 0 else 0.0
    params = (r, alpha, a, b)
    reference = _integrated(params, x, tx, T, t)
    assume(reference > 1e-9)
    ours = _fitted_bg(params).expected_purchases(t, x, tx, T)[0]
    assert ours == pytest.approx(reference, rel=2e-6)


@settings(max_examples=80, deadline=None)
@given(x=st.integers(0, 60), T=st.floats(0, 300), share=st.floats(0, 1),
       t1=st.floats(0, 400), t2=st.floats(0, 400), later=st.floats(0, 100))
def test_bgnbd_invariants(x: int, T: float, share: float, t1: float, t2: float,
                          later: float) -> None:
    model = _fitted_bg((2.0, 60.0, 0.5, 4.0))
    tx = share * T if x > 0 else 0.0
    alive = model.probability_alive(x, tx, T)[0]
    assert 0.0 <= alive <= 1.0
    if x == 0:
        assert alive == 1.0  # under BG/NBD dropout happens only right after a repeat purchase
    # Longer silence since the last purchase: less likely alive.
    assert model.probability_alive(x, tx, T + later)[0] <= alive + 1e-12
    low, high = sorted((t1, t2))
    e_low, e_high = model.expected_purchases(np.array([low, high]), x, tx, T)
    assert 0.0 <= e_low <= e_high + 1e-9
    assert model.expected_purchases(0.0, x, tx, T)[0] == 0.0
    # A new customer's expectation grows with time too, from 0.
    n_low, n_high = model.expected_purchases_new(np.array([low, high]))
    assert 0.0 <= n_low <= n_high + 1e-9


@settings(max_examples=150, deadline=None)
@given(z=st.floats(-4.6, 27.6).map(math.exp), n=st.integers(0, 400))
def test_gamma_differences_are_exact_for_huge_arguments(z: float, n: int) -> None:
    # For whole n, Gamma(z + n) / Gamma(z) = z (z + 1) ... (z + n - 1): the log-gamma
    # difference is a sum of logs and the digamma difference a sum of reciprocals, summed
    # here exactly (fsum). z runs to 1e12, where gammaln(z + n) - gammaln(z) is noise.
    steps = [z + k for k in range(n)]
    assert log_rising(z, n)[()] == pytest.approx(math.fsum(map(math.log, steps)),
                                                 rel=1e-12, abs=1e-13)
    assert digamma_step(z, n)[()] == pytest.approx(math.fsum(1 / s for s in steps),
                                                   rel=1e-11, abs=1e-300)


def _common_dropout_log_likelihood(r: float, alpha: float, p: float, x: np.ndarray,
                                   tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The BG/NBD likelihood when every customer has the same dropout probability p (the
    limit a, b -> infinity at a / (a + b) = p): gamma-Poisson purchases, then alive at T
    after x survived coins, or gone at the x-th."""
    head = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    alive = x * math.log1p(-p) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        gone = np.where(x > 0, math.log(p) + (x - 1) * math.log1p(-p)
                        - (r + x) * np.log(alpha + tx), -np.inf)
    return np.asarray(head + np.logaddexp(alive, gone))


def test_bgnbd_likelihood_is_exact_where_everybody_drops_out_alike() -> None:
    # On the synthetic bank the fit runs along a + b -> infinity (one dropout probability
    # for all). There the beta's variance p (1 - p) / (a + b + 1) vanishes and the
    # likelihood tends to the common-dropout one, its distance shrinking like 1 / (a + b).
    # Differences of log-gammas near 1e10 kept no digit (errors of 5e-5 per customer) and
    # the line search failed on that noise.
    rng = np.random.default_rng(1)
    data = _simulate_bgnbd((1.7, 2.0, 4.0, 800.0), 2000, rng)  # ~30 purchases each
    x, tx, T = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    r, alpha, p = 1.7, 2.0, 0.005
    limit = _common_dropout_log_likelihood(r, alpha, p, x, tx, T)
    scaled = []
    for size in (1e6, 1e8, 1e10, 1e12):
        ours = bgnbd_log_likelihood((r, alpha, p * size, (1 - p) * size), x, tx, T)
        scaled.append(np.abs(ours - limit).max() * size)
    assert scaled[0] > 0
    assert np.allclose(scaled, scaled[0], rtol=0.01), scaled
    # The analytic gradient out there equals central differences of the likelihood.
    params = np.array([r, alpha, p * 1e10, (1 - p) * 1e10])
    grad = _bgnbd_terms((params[0], params[1], params[2], params[3]), x, tx, T)[1]
    step = 1e-6
    for i in range(4):
        up, down = params.copy(), params.copy()
        up[i] *= math.exp(step)
        down[i] *= math.exp(-step)
        central = (bgnbd_log_likelihood(tuple(up), x, tx, T).mean()
                   - bgnbd_log_likelihood(tuple(down), x, tx, T).mean()) / (2 * step)
        assert params[i] * grad[:, i].mean() == pytest.approx(central, rel=1e-4, abs=1e-8)


# -- recovery ------------------------------------------------------------------------------------


def _simulate_bgnbd(params: tuple[float, float, float, float], n: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Customers from their first purchase at 0 to T: Poisson purchases, dropout with
    probability p after each repeat purchase."""
    r, alpha, a, b = params
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(20, 52, n)
    now, x, tx = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        now = np.where(active, now + rng.exponential(1 / lam), now)
        bought = active & (now <= T)
        x += bought
        tx = np.where(bought, now, tx)
        active = bought & (rng.random(n) >= p)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


def test_bgnbd_recovers_known_parameters() -> None:
    truth = (0.8, 6.0, 0.7, 2.5)
    data = _simulate_bgnbd(truth, 6000, np.random.default_rng(5))
    model = BetaGeoModel().fit(data.frequency, data.recency, data["T"])
    at_truth = bgnbd_log_likelihood(truth, *(data[c].to_numpy() for c in ("frequency",
                                                                           "recency", "T")))
    # Likelihood-ratio test: the truth lies inside the 99.9 % confidence region.
    assert 2 * (model.log_likelihood_ - at_truth.sum()) < stats.chi2.ppf(0.999, 4)
    for name, true in zip(("r", "alpha", "a", "b"), truth, strict=True):
        assert model.params_[name] == pytest.approx(true, rel=0.3), name


def test_gamma_gamma_recovers_known_parameters() -> None:
    p, q, v = 4.0, 3.0, 20.0
    rng = np.random.default_rng(8)
    n = 4000
    x = 1 + rng.poisson(3.0, n)
    nu = rng.gamma(q, 1 / v, n)  # rate v
    mean_value = np.array([rng.gamma(p, 1 / nu_i, k).mean() for nu_i, k in zip(nu, x,
                                                                                strict=True)])
    gg = GammaGammaModel().fit(x, mean_value)
    at_truth = _gg_terms((p, q, v), x.astype(float), mean_value)[0].sum()
    assert 2 * (gg.log_likelihood_ - at_truth) < stats.chi2.ppf(0.999, 3)
    for name, true in (("p", p), ("q", q), ("v", v)):
        assert gg.params_[name] == pytest.approx(true, rel=0.25), name
    # The conditional mean predicts each customer's true mean value better than her own
    # average does (shrinkage pays).
    truth = p / nu
    shrunk = gg.expected_average_value(x, mean_value)
    assert np.mean((shrunk - truth) ** 2) < np.mean((mean_value - truth) ** 2)


# -- input checks and the estimator contract ------------------------------------------------------


@pytest.mark.parametrize(("frequency", "recency", "T", "message"), [
    ([-1, 2], [0, 3], [5, 5], "cannot be negative"),
    ([1.5, 2], [1, 3], [5, 5], "whole numbers"),
    ([1, 2], [6, 3], [5, 5], "cannot exceed T"),
    ([0, 2], [2, 3], [5, 5], "recency must be 0 when frequency is 0"),
    ([1, np.nan], [1, 3], [5, 5], "missing or infinite"),
    ([1, 2], [1, 3], [5], "differ in length"),
    ([], [], [], "no customers"),
    ([0, 0], [0, 0], [5, 5], "nobody made a repeat purchase"),
])
def test_bgnbd_rejects_bad_input(frequency: list[float], recency: list[float], T: list[float],
                                 message: str) -> None:
    with pytest.raises(ModelError, match=message):
        BetaGeoModel().fit(frequency, recency, T)


def test_gamma_gamma_rejects_bad_input() -> None:
    with pytest.raises(ModelError, match="repeat customers only"):
        GammaGammaModel().fit([0, 1, 2, 3], [0.0, 5.0, 6.0, 7.0])
    with pytest.raises(ModelError, match="must be positive"):
        GammaGammaModel().fit([1, 2, 3], [0.0, 6.0, 7.0])
    with pytest.raises(ModelError, match="not fitted"):
        GammaGammaModel().expected_average_value([1], [2.0])
    heavy = GammaGammaModel()
    heavy.params_ = {"p": 1.0, "q": 0.9, "v": 1.0}
    with pytest.raises(ModelError, match=r"q = 0\.900 <= 1"):
        heavy.expected_average_value([1], [2.0])
    with pytest.raises(ModelError, match="penalizer_coef"):
        BetaGeoModel(penalizer_coef=-1).fit([1, 2], [1, 2], [3, 3])


def test_estimators_follow_the_scikit_learn_contract(cdnow: pd.DataFrame) -> None:
    model = BetaGeoModel(penalizer_coef=0.001)
    assert model.get_params() == {"penalizer_coef": 0.001, "max_iter": 2000}
    twin = clone(model).set_params(penalizer_coef=0.0)
    assert twin.get_params()["penalizer_coef"] == 0.0 and not hasattr(twin, "params_")
    assert twin.fit(cdnow.x, cdnow.t_x, cdnow["T"]) is twin
    # A penalty pulls the parameters towards 0 and costs likelihood.
    assert model.fit(cdnow.x, cdnow.t_x, cdnow["T"]).log_likelihood_ < twin.log_likelihood_
    copy = pickle.loads(pickle.dumps(twin))
    assert np.array_equal(copy.expected_purchases(10, cdnow.x, cdnow.t_x, cdnow["T"]),
                          twin.expected_purchases(10, cdnow.x, cdnow.t_x, cdnow["T"]))
    clv = ClvModel(margin_rate=0.01, horizon_months=6)
    assert clone(clv).get_params() == clv.get_params()
    assert set(clv.get_params()) == {"margin_rate", "deposit_margin", "lending_margin",
                                     "horizon_months", "discount_rate", "lgd",
                                     "penalizer_coef", "days_per_unit"}


# -- lifetime value ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank_like() -> pd.DataFrame:
    """Customers in days, with spend, credit balances, PDs and assets held."""
    rng = np.random.default_rng(21)
    data = _simulate_bgnbd((2.0, 60.0, 0.6, 4.0), 3000, rng)
    data["T"] = data["T"] * 7  # weeks to days
    data["recency"] = data["recency"] * 7
    n = len(data)
    data["monetary_value"] = np.where(data.frequency > 0, rng.gamma(3.0, 80.0, n), 0.0)
    data["ead"] = np.where(rng.random(n) < 0.4, rng.gamma(2.0, 20_000.0, n), 0.0)
    data["pd_12m"] = np.where(data.ead > 0, rng.uniform(0.005, 0.2, n), np.nan)
    data["aum"] = np.where(rng.random(n) < 0.85, rng.lognormal(10.0, 1.5, n), 0.0)
    return data


def _p_alive_by_hand(params: dict[str, float], x: float, tx: float, T: float) -> float:
    """FHL 2005, eq. 13: 1 / (1 + a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))."""
    if x == 0:
        return 1.0
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))


def test_clv_is_discounted_margin_and_balance_income_minus_credit_loss(
        bank_like: pd.DataFrame) -> None:
    model = ClvModel(margin_rate=0.006, deposit_margin=0.02, lending_margin=0.04,
                     horizon_months=12, discount_rate=0.10, lgd=0.45)
    assert model.fit(bank_like) is model
    parts = model.components(bank_like)
    # The first five, a customer without a repeat purchase who holds assets and owes
    # (valued on her balances at p_alive 1), and the one least likely to be alive.
    quiet = bank_like[(bank_like.frequency == 0) & (bank_like.aum > 0) & (bank_like.ead > 0)]
    picks = [*bank_like.index[:5], quiet.index[0], parts.p_alive.idxmin()]
    assert parts.p_alive[picks[-1]] < 0.75  # her balances count at well under par
    month = 365.25 / 12
    for key in picks:
        row = bank_like.loc[key]
        x, tx, T = row.frequency, row.recency, row["T"]
        alive = _p_alive_by_hand(model.bg_.params_, x, tx, T)
        value = model.gg_.expected_average_value(x, row.monetary_value)[0]
        # By hand, month by month: the purchases expected in the month (from the cumulative
        # expectation), valued and margined; a twelfth of the annual spread on the assets
        # and of the margin on the balance owed, if she is still a customer; all discounted
        # to today at 10 % a year from the month's end.
        margin = deposit = lending = 0.0
        for m in range(1, 13):
            discount = 1.10 ** (-m / 12)
            in_month = (model.bg_.expected_purchases(m * month, x, tx, T)[0]
                        - model.bg_.expected_purchases((m - 1) * month, x, tx, T)[0])
            margin += in_month * value * 0.006 * discount
            deposit += alive * row.aum * 0.02 / 12 * discount
            lending += alive * row.ead * 0.04 / 12 * discount
        loss = row.pd_12m * 0.45 * row.ead if row.ead > 0 else 0.0
        got = parts.loc[key]
        assert got.p_alive == pytest.approx(alive, rel=1e-12)
        assert got.purchase_margin == pytest.approx(margin, rel=1e-9, abs=1e-9)
        assert got.deposit_income == pytest.approx(deposit, rel=1e-12)
        assert got.lending_income == pytest.approx(lending, rel=1e-12, abs=1e-12)
        assert got.expected_credit_loss == pytest.approx(loss)
        assert got.clv == pytest.approx(margin + deposit + lending - loss, rel=1e-9, abs=1e-9)
    # Without a repeat purchase she has not had the chance to stop: a full year of spread.
    assert parts.deposit_income[picks[5]] > 0
    assert parts.deposit_income[picks[5]] == pytest.approx(
        bank_like.aum[picks[5]] * 0.02 * sum(1.1 ** (-m / 12) for m in range(1, 13)) / 12)
    assert np.allclose(model.predict(bank_like), parts["clv"])
    # Shipped to Spark executors whole: a pickled copy predicts the same.
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(bank_like),
                          model.predict(bank_like))
    # Discounting: 12 months of a flat margin keep 1/12 of the sum of 1.1^(-m/12).
    assert discount_factors(12, 0.10)[-1] == pytest.approx(1 / 1.1)
    assert discount_factors(3, 0.0).tolist() == [1.0, 1.0, 1.0]
    # Without the balance margins the value is the purchase margin net of the loss.
    bare = clone(model).set_params(deposit_margin=0.0, lending_margin=0.0).fit(bank_like)
    assert np.allclose(bare.predict(bank_like),
                       parts.purchase_margin - parts.expected_credit_loss, rtol=1e-9)


@pytest.mark.parametrize(("months", "rate"), [(12, 0.10), (24, 0.30), (1, 0.05), (12, 0.0)])
def test_level_balance_annuity_is_a_geometric_series(months: int, rate: float) -> None:
    # A twelfth of the annual margin at each month's end, discounted by q = (1+rate)^(-1/12)
    # per month: (1/12) q (1 - q^months) / (1 - q), or months/12 undiscounted.
    q = (1 + rate) ** (-1 / 12)
    closed = months / 12 if rate == 0 else q * (1 - q**months) / (1 - q) / 12
    assert level_balance_annuity(months, rate) == pytest.approx(closed, rel=1e-12)
    assert ClvModel(horizon_months=months, discount_rate=rate).annuity() == pytest.approx(closed)


def test_credit_loss_rules() -> None:
    # Two years of a 12-month PD: survive both years or default.
    assert expected_credit_loss([0.1], 0.5, [1000.0], horizon_months=24)[0] == pytest.approx(
        (1 - 0.9**2) * 0.5 * 1000)
    # Nothing owed: no loss, whatever (or whether) the PD.
    assert expected_credit_loss([np.nan, 0.3], 0.45, [0.0, 0.0]).tolist() == [0.0, 0.0]
    with pytest.raises(ModelError, match="pd_12m is missing"):
        expected_credit_loss([np.nan], 0.45, [10.0])
    with pytest.raises(ModelError, match="between 0 and 1"):
        expected_credit_loss([1.5], 0.45, [10.0])
    with pytest.raises(ModelError, match="cannot be negative"):
        expected_credit_loss([0.1], 0.45, [-10.0])


def _value(model: ClvModel, f: dict[str, float]) -> float:
    """The value from its components, written out whole."""
    annuity = model.annuity()
    return (model.margin_rate * f["p_alive"] * f["purchase_days_if_alive"] * f["average_value"]
            + model.deposit_margin * annuity * f["p_alive"] * f["aum"]
            + model.lending_margin * annuity * f["p_alive"] * f["ead"]
            - f["expected_credit_loss"])


def _brute_force_shapley(model: ClvModel, own: dict[str, float]) -> dict[str, float]:
    """Shapley values over all subsets of the six components, each absent one held at its
    training mean: sum over S of |S|! (n - |S| - 1)! / n! (v(S + i) - v(S))."""
    names = list(COMPONENTS)
    n = len(names)

    def v(moved: tuple[str, ...]) -> float:
        return _value(model, {f: own[f] if f in moved else model.baseline_[f] for f in names})

    out = {}
    for f in names:
        others = [g for g in names if g != f]
        out[f] = sum(math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                     * (v((*moved, f)) - v(moved))
                     for k in range(n) for moved in itertools.combinations(others, k))
    return out


def test_clv_contributions_add_up_to_the_distance_from_the_baseline(
        bank_like: pd.DataFrame) -> None:
    model = ClvModel().fit(bank_like)
    moves = model.contributions(bank_like)
    assert list(moves.columns) == list(COMPONENTS)
    gap = model.predict(bank_like) - model.baseline_value()
    assert np.allclose(moves.sum(axis=1), gap, rtol=1e-9, atol=1e-6)
    parts = model.components(bank_like)
    assert model.baseline_value() == pytest.approx(
        _value(model, model.baseline_), rel=1e-12)
    # The shares are the Shapley values of the whole value function over its six
    # components, found by enumerating every coalition.
    for key in [*bank_like.index[:8], parts.p_alive.idxmin(), parts.aum.idxmax()]:
        reference = _brute_force_shapley(model, parts.loc[key].to_dict())
        for f in COMPONENTS:
            assert moves.loc[key, f] == pytest.approx(reference[f], rel=1e-9, abs=1e-6), f
    # Owing nothing raises the value by exactly the baseline's loss, and holding nothing
    # lowers it by the baseline's deposit income, shared with p_alive when it differs.
    lossless = (parts.expected_credit_loss == 0).to_numpy()
    assert lossless.any() and (moves.loc[lossless, "expected_credit_loss"]
                               == model.baseline_["expected_credit_loss"]).all()
    empty = (parts.aum == 0).to_numpy()
    share = model.deposit_margin * model.annuity() * model.baseline_["aum"]
    assert np.allclose(moves.loc[empty, "aum"],
                       -share * (parts.p_alive[empty] + model.baseline_["p_alive"]) / 2)


@settings(max_examples=40, deadline=None)
# Subnormal values are left out: a product like 5e-324 underflows to 0 on one side of
# the identity and not the other, which is float arithmetic, not the decomposition.
@given(own=st.lists(st.floats(0.0, 1e4, allow_subnormal=False), min_size=4, max_size=4),
       base=st.lists(st.floats(0.0, 1e4, allow_subnormal=False), min_size=4, max_size=4))
def test_shapley_of_a_product_adds_up_and_is_symmetric(own: list[float],
                                                        base: list[float]) -> None:
    names = ["w", "x", "y", "z"]
    shares = shapley_of_product({f: np.array([o]) for f, o in zip(names, own, strict=True)},
                                dict(zip(names, base, strict=True)))
    total = sum(float(shares[f][0]) for f in names)
    # Rounding is relative to the largest product the sums go through.
    scale = math.prod(max(o, b) for o, b in zip(own, base, strict=True))
    assert total == pytest.approx(math.prod(own) - math.prod(base), rel=1e-9,
                                  abs=1e-12 * scale)
    for f, o, b in zip(names, own, base, strict=True):
        if o == b:
            assert shares[f][0] == 0.0  # a factor at its baseline moves nothing
    # Two factors: each takes its change times the mean of the other's two values.
    pair = shapley_of_product({"x": np.array([own[0]]), "y": np.array([own[1]])},
                              {"x": base[0], "y": base[1]})
    assert pair["x"][0] == pytest.approx((own[0] - base[0]) * (own[1] + base[1]) / 2,
                                         rel=1e-12, abs=1e-9)


def test_clv_rejects_bad_input(bank_like: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match="lacks the column"):
        ClvModel().fit(bank_like.drop(columns="ead"))
    with pytest.raises(ModelError, match="discount_rate"):
        ClvModel(discount_rate=1.5).fit(bank_like)
    with pytest.raises(ModelError, match="horizon_months"):
        ClvModel(horizon_months=0).fit(bank_like)
    with pytest.raises(ModelError, match="deposit_margin is an annual rate"):
        ClvModel(deposit_margin=1.5).fit(bank_like)
    with pytest.raises(ModelError, match="lending_margin is an annual rate"):
        ClvModel(lending_margin=-0.01).fit(bank_like)
    with pytest.raises(ModelError, match="lacks the column"):
        ClvModel().fit(bank_like.drop(columns="aum"))
    with pytest.raises(ModelError, match="not fitted"):
        ClvModel().predict(bank_like)
    broken = bank_like.copy()
    broken.loc[broken.index[broken.ead > 0][0], "pd_12m"] = np.nan
    with pytest.raises(ModelError, match="pd_12m is missing"):
        ClvModel().fit(broken)
    for value, message in ((-5.0, "aum .* cannot be negative"), (np.nan, "aum has missing")):
        broken = bank_like.copy()
        broken.loc[broken.index[3], "aum"] = value
        with pytest.raises(ModelError, match=message):
            ClvModel().fit(broken)
