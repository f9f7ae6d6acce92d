"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, balance income, net of ECL.

Three estimators, each following the scikit-learn contract:

- :class:`BetaGeoModel`, the BG/NBD model of Fader, Hardie and Lee (2005), "Counting
  your customers the easy way": while alive a customer buys at Poisson rate ``lambda``
  (gamma-distributed across customers with shape ``r`` and rate ``alpha``); after every
  purchase she drops out for good with probability ``p`` (beta-distributed with ``a``,
  ``b``). A customer is summarised by ``frequency`` (repeat purchases, the first one
  starts her clock), ``recency`` (time from the first to the last purchase) and ``T``
  (time from the first purchase to the end of the calibration period), all in one time
  unit of the caller's choice (weeks for CDNOW, days for the bank).
- :class:`GammaGammaModel` (Fader, Hardie and Lee 2005, "RFM and CLV: using iso-value
  curves"; Fader and Hardie 2013, "The Gamma-Gamma model of monetary value"): the values
  of a customer's purchases are gamma(``p``, ``nu``) and ``nu`` is gamma(``q``, ``v``)
  across customers; fitted on the mean value of repeat purchases of repeat customers.
- :class:`ClvModel`, the value over a horizon (docs/models/clv.md): month by month,
  expected purchases x expected value per purchase x margin rate, plus a twelfth of the
  annual spread on the customer's assets (AUM) and of the annual margin on what she owes
  (EAD) while she is alive, discounted at an annual rate, minus the expected credit loss
  PD x LGD x EAD.

Both likelihoods are maximised in log-parameter space with analytic gradients
(L-BFGS-B from a few starting points). Conditional expectations use the Pfaff-transformed
hypergeometric form ``C/(a-1) * (1 - 2F1(A, a-1; C; -k))`` summed as a power series where
it converges fast, and quadrature over the dropout probability elsewhere: exact when ``b``
is huge (nobody drops out) or ``a`` is close to 1, where the textbook form cancels
catastrophically, and where scipy's hyp2f1 gives up (see :func:`_tail`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from finpersona.models.spec import ModelError

FloatArray = np.ndarray
DAYS_PER_MONTH = 365.25 / 12
FEATURES = ("frequency", "recency", "T", "monetary_value", "ead", "pd_12m", "aum")
# Log-parameters stay within exp(+-25): wide enough for any real data set (b -> infinity
# is "nobody drops out"), narrow enough that no term overflows.
LOG_BOUND = 25.0
_SERIES_TERMS = 500


# -- input checks --------------------------------------------------------------------------


def _vector(name: str, values: Any) -> FloatArray:
    """One column of numbers as a float vector; missing or infinite values are an error."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{name} must be numbers ({exc})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ModelError(f"{name} must be one-dimensional, got shape {arr.shape}")
    _require(np.isfinite(arr), f"{name} has missing or infinite values: drop or fill those "
                               "customers first")
    return arr


def _require(ok: FloatArray, message: str) -> None:
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    if len(bad):
        where = ", ".join(str(i) for i in bad[:5])
        raise ModelError(f"{message} ({len(bad)} row(s), e.g. at positions {where})")


def _same_length(**columns: FloatArray) -> None:
    lengths = {name: len(v) for name, v in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ModelError(f"the columns differ in length: {lengths}")
    if next(iter(lengths.values())) == 0:
        raise ModelError("no customers: the inputs are empty")


def check_rft(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validated (frequency, recency, T) vectors, or a :class:`ModelError` saying what is wrong."""
    x, tx, t = _vector("frequency", frequency), _vector("recency", recency), _vector("T", T)
    _same_length(frequency=x, recency=tx, T=t)
    _require(x >= 0, "frequency (repeat purchases) cannot be negative")
    _require(x == np.round(x), "frequency counts repeat purchases: whole numbers only")
    _require(tx >= 0, "recency cannot be negative")
    _require(t >= 0, "T cannot be negative")
    _require(tx <= t, "recency (first to last purchase) cannot exceed T (first purchase to the "
                      "end of the period): are both measured from the first purchase?")
    _require((x > 0) | (tx == 0), "recency must be 0 when frequency is 0 (no repeat purchase)")
    return x, tx, t


def check_monetary(frequency: Any, monetary_value: Any, *,
                   repeat_only: bool) -> tuple[FloatArray, FloatArray]:
    x, m = _vector("frequency", frequency), _vector("monetary_value", monetary_value)
    _same_length(frequency=x, monetary_value=m)
    _require(x >= 0, "frequency (repeat purchases) cannot be negative")
    _require(x == np.round(x), "frequency counts repeat purchases: whole numbers only")
    if repeat_only:
        _require(x > 0, "the Gamma-Gamma model is fitted on repeat customers only: keep the "
                        "rows with frequency > 0")
    _require((x == 0) | (m > 0), "monetary_value (mean value of the repeat purchases) must be "
                                 "positive for customers with repeat purchases")
    return x, m


def _dedupe(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Distinct rows and how often each occurs: the likelihood is a weighted sum over them."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype(float)


def _maximise(objective: Callable[[FloatArray], tuple[float, FloatArray]],
              starts: list[FloatArray], max_iter: int, what: str) -> optimize.OptimizeResult:
    """The best L-BFGS-B result over the starting points (log-parameters)."""
    best: optimize.OptimizeResult | None = None
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(starts[0])
    # A 3- or 4-parameter search gains nothing from BLAS threads; on a busy machine their
    # spinning made each L-BFGS-B step 30 times slower.
    with threadpool_limits(limits=1, user_api="blas"):
        for start in starts:
            result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                       bounds=bounds, options={"maxiter": max_iter,
                                                               "ftol": 1e-12, "gtol": 1e-8})
            if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                best = result
    if best is None:
        raise ModelError(f"the {what} likelihood could not be evaluated from any starting point: "
                         "check the inputs for extreme values")
    return best


def _converged(result: optimize.OptimizeResult) -> bool:
    """The optimizer says so, or its line search stopped where the mean log-likelihood is
    flat to 1e-5 in every search coordinate: on the ridge to a boundary of the parameter
    space (no dropout, or everybody alike) where it cannot step further."""
    return bool(result.success) or bool(np.max(np.abs(result.jac)) < 1e-5)


# -- BG/NBD ---------------------------------------------------------------------------------


# Above this, log-gamma and digamma differences are taken from Stirling's series: a direct
# difference of two log-gammas near z log z would lose all digits of a change of x / z.
_STIRLING_FROM = 1e4


def log_rising(z: Any, n: Any) -> FloatArray:
    """``log Gamma(z + n) - log Gamma(z)`` for z > 0, n >= 0, exact also for huge z.

    Where the common dropout is estimated (a, b -> infinity) the BG/NBD likelihood needs
    these differences at z near 1e10, where ``gammaln(z + n) - gammaln(z)`` keeps no digit
    of the answer and made the line search fail on noise. There Stirling's series
    ``log Gamma(z) = (z - 1/2) log z - z + log(2 pi)/2 + 1/(12 z) - ...`` gives the
    difference ``(z - 1/2) log1p(n/z) + n log(z + n) - n - n / (12 z (z + n))``, the next
    term below 1e-15 for z >= 1e4.
    """
    z, n = np.broadcast_arrays(np.asarray(z, dtype=float), np.asarray(n, dtype=float))
    big = z >= _STIRLING_FROM
    zs = np.where(big, z, _STIRLING_FROM)
    series = (zs - 0.5) * np.log1p(n / zs) + n * np.log(zs + n) - n - n / (12 * zs * (zs + n))
    zd = np.where(big, 1.0, z)
    direct = special.gammaln(zd + n) - special.gammaln(zd)
    return np.asarray(np.where(big, series, direct))


def digamma_step(z: Any, n: Any) -> FloatArray:
    """``digamma(z + n) - digamma(z)``, from ``digamma(z) = log z - 1/(2z) - 1/(12 z^2)
    + ...`` when z is huge (see :func:`log_rising`)."""
    z, n = np.broadcast_arrays(np.asarray(z, dtype=float), np.asarray(n, dtype=float))
    big = z >= _STIRLING_FROM
    zs = np.where(big, z, _STIRLING_FROM)
    series = (np.log1p(n / zs) + n / (2 * zs * (zs + n))
              + n * (2 * zs + n) / (12 * zs**2 * (zs + n) ** 2))
    zd = np.where(big, 1.0, z)
    direct = special.digamma(zd + n) - special.digamma(zd)
    return np.asarray(np.where(big, series, direct))


def bgnbd_log_likelihood(params: tuple[float, float, float, float], frequency: FloatArray,
                         recency: FloatArray, T: FloatArray) -> FloatArray:
    """Each customer's BG/NBD log-likelihood (Fader, Hardie and Lee 2005, eq. 6)."""
    return _bgnbd_terms(params, frequency, recency, T)[0]


def _bgnbd_terms(params: tuple[float, float, float, float], x: FloatArray, tx: FloatArray,
                 T: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Log-likelihood per row and its gradient (rows x [r, alpha, a, b])."""
    r, alpha, a, b = params
    rx = r + x
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1, 1.0)  # b + x - 1 only appears for repeat buyers
    log_a3 = -rx * np.log(alpha + T)
    log_a4 = np.where(repeat, math.log(a) - np.log(bx1) - rx * np.log(alpha + tx), -np.inf)
    log_mix = np.logaddexp(log_a3, log_a4)
    # betaln(a, b + x) - betaln(a, b), as differences that stay exact when a + b is huge.
    ll = (special.gammaln(rx) - special.gammaln(r) + r * math.log(alpha)
          + log_rising(b, x) - log_rising(a + b, x) + log_mix)
    w = np.exp(log_a4 - log_mix)  # share of the "dropped out after the last purchase" branch
    d_r = (special.digamma(rx) - special.digamma(r) + math.log(alpha)
           - (1 - w) * np.log(alpha + T) - w * np.log(alpha + tx))
    d_alpha = r / alpha - (1 - w) * rx / (alpha + T) - w * rx / (alpha + tx)
    d_a = -digamma_step(a + b, x) + w / a
    d_b = digamma_step(b, x) - digamma_step(a + b, x) - np.where(repeat, w / bx1, 0.0)
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


def _tail(A: Any, a: Any, c: Any, k: Any) -> FloatArray:
    """Expected purchases of a live customer: ``E[(1 - (1 + p k)^-A) / p]``, p ~ Beta(a, c).

    (Given alive, lambda ~ Gamma(A, alpha + T) and p ~ Beta(a, c); the Poisson purchases
    until the dropout coin falls, ``(1 - exp(-lambda p t)) / p``, averaged over lambda give
    the integrand with ``k = t / (alpha + T)``.) In closed form this is
    ``C / (a - 1) * (1 - 2F1(A, a - 1; C; -k))`` with ``C = a + c - 1``; as a power series
    in k the ``a - 1`` cancels: the sum over n >= 1 of
    ``(-1)^(n+1) (A)_n (a)_(n-1) / ((C)_n n!) C k^n``, whose first term is the Poisson
    answer ``A k``. Where that series converges quickly and without cancellation it is
    summed; elsewhere (k near or above 1 and C not large) the average over p is taken by
    double-exponential quadrature on p's quantiles. scipy's hyp2f1 is not used: it returns
    nan or inf for some inputs these models produce (e.g. a near 1 with A near C, k > 1).
    """
    A, a, c, k = (np.array(v, dtype=float).ravel() for v in np.broadcast_arrays(A, a, c, k))
    shape = np.broadcast_shapes(*(np.shape(v) for v in (A, a, c, k)))
    C = a + c - 1
    total = A * k
    # The series is used where its terms shrink at once (k small, or C large enough that
    # they collapse long before the ratio nears k); quadrature takes the rest.
    reach = (A + 1) * np.maximum(k, 1) * np.maximum(a, 1)
    series = (k < 0.5) | (reach * 1e3 < C)
    live = np.flatnonzero(series & (total != 0))
    term = total[live]
    biggest = np.abs(term)
    failed = np.zeros(len(total), dtype=bool)
    failed[~series] = True
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(1, _SERIES_TERMS):
            if not len(live):
                break
            term = term * -k[live] * (A[live] + n) * (a[live] + n - 1) / ((C[live] + n) * (n + 1))
            total[live] += term
            biggest = np.maximum(biggest, np.abs(term))
            bad = ~np.isfinite(term) | (biggest > 1e4 * np.abs(total[live]))
            failed[live[bad]] = True
            going = ~bad & (np.abs(term) > 1e-17 * np.abs(total[live]))
            live, term, biggest = live[going], term[going], biggest[going]
    failed[live] = True  # did not converge in time
    if failed.any():
        total[failed] = _tail_by_quadrature(A[failed], a[failed], c[failed], k[failed])
    return np.asarray(total.reshape(shape))


def _tanh_sinh(step: float = 1 / 12, reach: float = 4.5) -> tuple[FloatArray, FloatArray,
                                                                   FloatArray]:
    """Nodes u, 1 - u and weights of double-exponential quadrature on (0, 1): exact to about
    1e-12 for integrands analytic inside the interval, whatever they do at its ends."""
    s = np.arange(-reach, reach + step / 2, step)
    q = np.pi * np.sinh(s)
    u, rest = special.expit(q), special.expit(-q)
    return u, rest, np.asarray(step * np.pi * np.cosh(s) * u * rest)


_NODES = _tanh_sinh()


def _tail_by_quadrature(A: FloatArray, a: FloatArray, c: FloatArray, k: FloatArray) -> FloatArray:
    u, rest, weight = _NODES
    out = np.empty(len(A))
    for a_i, c_i in set(zip(a.tolist(), c.tolist(), strict=True)):
        rows = (a == a_i) & (c == c_i)
        # p at each quantile: from the nearer end so neither rounds to 0 or 1.
        p = np.where(u < 0.5, special.betaincinv(a_i, c_i, u),
                     special.betainccinv(a_i, c_i, rest))
        pk = p[None, :] * k[rows, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            g = -np.expm1(-A[rows, None] * np.log1p(pk)) / p[None, :]
        g = np.where(p[None, :] > 0, g, A[rows, None] * k[rows, None])  # the p -> 0 limit
        out[rows] = g @ weight
    if not np.all(np.isfinite(out)):
        raise ModelError("expected purchases could not be computed for some customers: check "
                         "the inputs and the fitted parameters for extreme values")
    return out


def _bgnbd_theta(r: float, alpha: float, a: float, b: float) -> FloatArray:
    """Search coordinates: log r, log alpha, logit of the mean dropout a / (a + b) and log of
    a + b. When everybody drops out alike (a, b -> infinity at a fixed ratio) only the last
    one runs off, instead of two coordinates on a ridge the line search stalls on."""
    return np.array([math.log(r), math.log(alpha), math.log(a / b), math.log(a + b)])


def _bgnbd_natural(theta: FloatArray) -> FloatArray:
    mean, size = special.expit(theta[2]), math.exp(theta[3])
    return np.array([math.exp(theta[0]), math.exp(theta[1]), mean * size, (1 - mean) * size])


def _bgnbd_chain(theta: FloatArray, params: FloatArray, d_params: FloatArray) -> FloatArray:
    """The gradient in search coordinates from the gradient in (r, alpha, a, b)."""
    mean, size = special.expit(theta[2]), math.exp(theta[3])
    d_a, d_b = d_params[2], d_params[3]
    return np.array([d_params[0] * params[0], d_params[1] * params[1],
                     (d_a - d_b) * size * mean * (1 - mean), d_a * params[2] + d_b * params[3]])


class BetaGeoModel(BaseEstimator):  # type: ignore[misc]
    """BG/NBD: how many purchases a customer will make, and whether she is still a customer.

    ``penalizer_coef`` adds ``penalizer_coef * (r^2 + alpha^2 + a^2 + b^2)`` to the mean
    negative log-likelihood (0, the default, is plain maximum likelihood).
    """

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    def fit(self, frequency: Any, recency: Any, T: Any) -> BetaGeoModel:
        if not self.penalizer_coef >= 0:
            raise ModelError(f"penalizer_coef must be >= 0, got {self.penalizer_coef}")
        x, tx, t = check_rft(frequency, recency, T)
        if not (x > 0).any():
            raise ModelError("nobody made a repeat purchase: the BG/NBD model cannot be fitted "
                             "(use a longer calibration period)")
        (ux, utx, ut), weight = _dedupe(x, tx, t)
        n = weight.sum()
        pen = float(self.penalizer_coef)

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            params = _bgnbd_natural(theta)
            ll, grad = _bgnbd_terms((params[0], params[1], params[2], params[3]), ux, utx, ut)
            value = -(weight @ ll) / n + pen * float(params @ params)
            d_params = -(weight @ grad) / n + 2 * pen * params
            return float(value), _bgnbd_chain(theta, params, d_params)

        rate = float(x.sum() / max(t.sum(), 1e-12))  # repeat purchases per unit of time
        starts = [_bgnbd_theta(r, r / rate, a, b) for r, a, b in
                  ((1.0, 1.0, 1.0), (0.5, 0.5, 5.0), (2.0, 2.0, 2.0))]
        best = _maximise(objective, starts, self.max_iter, "BG/NBD")
        r, alpha, a, b = (float(v) for v in _bgnbd_natural(best.x))
        self.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
        self.log_likelihood_ = float(weight @ _bgnbd_terms((r, alpha, a, b), ux, utx, ut)[0])
        self.converged_ = _converged(best)
        self.n_customers_ = len(x)
        return self

    def _fitted(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise ModelError("the BG/NBD model is not fitted yet: call fit first")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(still a customer at T | history); 1 without repeat purchases (dropout only
        happens right after a purchase)."""
        r, alpha, a, b = self._fitted()
        x, tx, t = check_rft(frequency, recency, T)
        repeat = x > 0
        log_odds = (math.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                    + (r + x) * (np.log(alpha + t) - np.log(alpha + tx)))
        return np.asarray(np.where(repeat, special.expit(-log_odds), 1.0))

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """Expected purchases in (T, T + t] given the history (Fader, Hardie and Lee 2005,
        eq. 10): ``P(alive)`` times what a live customer with this history buys."""
        horizon = np.asarray(t, dtype=float)
        if np.any(~np.isfinite(horizon) | (horizon < 0)):
            raise ModelError(f"the horizon t must be finite and >= 0, got {t!r}")
        r, alpha, a, b = self._fitted()
        x, tx, tt = check_rft(frequency, recency, T)
        alive = self.probability_alive(x, tx, tt)
        return np.asarray(alive * _tail(r + x, a, b + x, horizon / (alpha + tt)))

    def expected_purchases_new(self, t: Any) -> FloatArray:
        """Expected purchases of a newly acquired customer within t of her first purchase
        (Fader, Hardie and Lee 2005, eq. 7)."""
        horizon = np.asarray(t, dtype=float)
        if np.any(~np.isfinite(horizon) | (horizon < 0)):
            raise ModelError(f"the horizon t must be finite and >= 0, got {t!r}")
        r, alpha, a, b = self._fitted()
        return _tail(r, a, b, horizon / alpha)


# -- Gamma-Gamma ------------------------------------------------------------------------------


def _gg_terms(params: tuple[float, float, float], x: FloatArray,
              m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Log-density of each repeat customer's mean purchase value and its gradient
    (rows x [p, q, v])."""
    p, q, v = params
    px = p * x
    spread = v + x * m
    ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * math.log(v)
          + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(spread))
    d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(m) + np.log(x)
               - np.log(spread))
    d_q = special.digamma(px + q) - special.digamma(q) + math.log(v) - np.log(spread)
    d_v = q / v - (px + q) / spread
    return ll, np.column_stack([d_p, d_q, d_v])


class GammaGammaModel(BaseEstimator):  # type: ignore[misc]
    """Gamma-Gamma: the expected value of a customer's future purchases.

    Fitted on repeat customers (``frequency > 0``) with ``monetary_value`` = the mean value
    of their repeat purchases; assumes value and frequency are independent.
    """

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    def fit(self, frequency: Any, monetary_value: Any) -> GammaGammaModel:
        if not self.penalizer_coef >= 0:
            raise ModelError(f"penalizer_coef must be >= 0, got {self.penalizer_coef}")
        x, m = check_monetary(frequency, monetary_value, repeat_only=True)
        if len(x) < 3:
            raise ModelError(f"the Gamma-Gamma model needs at least 3 repeat customers, got "
                             f"{len(x)}")
        (ux, um), weight = _dedupe(x, m)
        n = weight.sum()
        pen = float(self.penalizer_coef)

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(theta)
            ll, grad = _gg_terms((params[0], params[1], params[2]), ux, um)
            value = -(weight @ ll) / n + pen * float(params @ params)
            d_params = -(weight @ grad) / n + 2 * pen * params
            return float(value), d_params * params

        scale = float(np.mean(m))
        starts = [np.log([p, q, v * scale]) for p, q, v in
                  ((1.0, 2.0, 1.0), (5.0, 3.0, 0.4), (10.0, 10.0, 0.9))]
        best = _maximise(objective, starts, self.max_iter, "Gamma-Gamma")
        p, q, v = (float(val) for val in np.exp(best.x))
        self.params_ = {"p": p, "q": q, "v": v}
        self.log_likelihood_ = float(weight @ _gg_terms((p, q, v), ux, um)[0])
        self.converged_ = _converged(best)
        self.n_customers_ = len(x)
        return self

    def expected_average_value(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E[value of a future purchase | x purchases averaging monetary_value]: a weighted
        mean of the population mean ``p v / (q - 1)`` and the customer's own mean. Customers
        without repeat purchases get the population mean (monetary_value is not read)."""
        if not hasattr(self, "params_"):
            raise ModelError("the Gamma-Gamma model is not fitted yet: call fit first")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        if q <= 1:
            raise ModelError(f"the fitted q = {q:.3f} <= 1: the mean purchase value is infinite "
                             "under this fit (heavy-tailed spend); cap outliers and refit")
        x, m = check_monetary(frequency, monetary_value, repeat_only=False)
        m = np.where(x > 0, m, 0.0)
        return np.asarray(p * (v + x * m) / (p * x + q - 1))


# -- customer lifetime value -------------------------------------------------------------------


def discount_factors(horizon_months: int, annual_rate: float) -> FloatArray:
    """1 / (1 + rate)^(m / 12) for m = 1..horizon: a month's margin counts at its end."""
    months = np.arange(1, horizon_months + 1, dtype=float)
    return np.asarray((1.0 + annual_rate) ** (-months / 12.0))


def level_balance_annuity(horizon_months: int, annual_rate: float) -> float:
    """Present value of 1 CNY of annual margin on a level balance, earned a twelfth at each
    month's end over the horizon: ``sum over m of (1/12) / (1 + rate)^(m / 12)``."""
    return float(discount_factors(horizon_months, annual_rate).sum() / 12.0)


def expected_credit_loss(pd_12m: Any, lgd: float, ead: Any, horizon_months: int = 12) -> FloatArray:
    """PD x LGD x EAD, with the 12-month PD stretched to the horizon as
    ``1 - (1 - PD)^(horizon / 12)``; 0 where nothing is owed (the PD is then not read)."""
    exposure = _vector("ead", ead)
    _require(exposure >= 0, "ead (credit balance owed) cannot be negative")
    pd_raw = pd_12m.to_numpy(dtype=float, na_value=np.nan) if isinstance(pd_12m, pd.Series) \
        else np.asarray(pd_12m, dtype=float)
    pd_raw = np.broadcast_to(pd_raw, exposure.shape)
    owes = exposure > 0
    _require(~owes | np.isfinite(pd_raw), "pd_12m is missing for customers who owe credit: fill "
                                          "it (the clv spec falls back to the observed default "
                                          "rate) before computing the loss")
    prob = np.where(owes, pd_raw, 0.0)
    _require((prob >= 0) & (prob <= 1), "pd_12m must be a probability between 0 and 1")
    horizon_pd = 1.0 - (1.0 - prob) ** (horizon_months / 12.0)
    return np.asarray(np.where(owes, horizon_pd * lgd * exposure, 0.0))


# The factors a customer's value is built from, in the order contributions lists them:
# p_alive, purchase days if alive and value per purchase make the purchase margin; p_alive
# and the balances (aum, ead) the balance income; the credit loss is netted as it is.
COMPONENTS = ("p_alive", "purchase_days_if_alive", "average_value", "aum", "ead",
              "expected_credit_loss")
_PURCHASE_FACTORS = ("p_alive", "purchase_days_if_alive", "average_value")


def shapley_of_product(own: dict[str, FloatArray],
                       base: dict[str, float]) -> dict[str, FloatArray]:
    """Each factor's exact Shapley share of ``prod(own) - prod(base)``: the mean, over the
    orders in which the factors move from their baseline to the customer's values, of the
    change the factor makes when it moves. The shares add up to the whole difference."""
    names = list(own)
    n = len(names)
    rows = len(next(iter(own.values())))
    out = {f: np.zeros(rows) for f in names}
    for f in names:
        others = [g for g in names if g != f]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for moved in itertools.combinations(others, size):
                rest = np.ones(rows)
                for g in others:
                    rest = rest * (own[g] if g in moved else base[g])
                out[f] += weight * (own[f] - base[f]) * rest
    return out


class ClvModel(BaseEstimator):  # type: ignore[misc]
    """Customer value over ``horizon_months``: discounted purchase margin and balance
    income, minus the expected credit loss.

    ``fit(X)`` reads the columns of :data:`FEATURES`: a BG/NBD model on (frequency, recency,
    T) of every customer and a Gamma-Gamma model on (frequency, monetary_value) of the
    repeat customers. Month m = 1..horizon (``365.25 / 12`` days when T is in days:
    ``days_per_unit`` converts other units) earns, discounted by
    ``(1 + discount_rate)^(-m / 12)``:

    - the expected purchases in that month (the difference of the conditional expectations
      at the month's end and start) x the expected value per purchase x ``margin_rate``;
    - ``p_alive x aum x deposit_margin / 12`` (the spread on the customer's deposits and
      assets) and ``p_alive x ead x lending_margin / 12`` (the margin on what she owes):
      balances are taken as level while she is alive, and p_alive is BG/NBD's probability,
      at the as-of date, that she is still a customer (1 without a repeat purchase).

    The expected credit loss (:func:`expected_credit_loss` with ``lgd``) is subtracted
    once, undiscounted.
    """

    def __init__(self, margin_rate: float = 0.0045, deposit_margin: float = 0.015,
                 lending_margin: float = 0.03, horizon_months: int = 12,
                 discount_rate: float = 0.10, lgd: float = 0.45, penalizer_coef: float = 0.0,
                 days_per_unit: float = 1.0) -> None:
        self.margin_rate = margin_rate
        self.deposit_margin = deposit_margin
        self.lending_margin = lending_margin
        self.horizon_months = horizon_months
        self.discount_rate = discount_rate
        self.lgd = lgd
        self.penalizer_coef = penalizer_coef
        self.days_per_unit = days_per_unit

    def _check_params(self) -> None:
        if not self.margin_rate >= 0:
            raise ModelError(f"margin_rate must be >= 0, got {self.margin_rate}")
        for name in ("deposit_margin", "lending_margin"):
            rate = getattr(self, name)
            if not 0 <= rate < 1:
                raise ModelError(f"{name} is an annual rate in [0, 1), got {rate}")
        if int(self.horizon_months) != self.horizon_months or self.horizon_months < 1:
            raise ModelError(f"horizon_months must be a whole number >= 1, got "
                             f"{self.horizon_months}")
        if not 0 <= self.discount_rate < 1:
            raise ModelError(f"discount_rate is annual, in [0, 1), got {self.discount_rate}")
        if not 0 <= self.lgd <= 1:
            raise ModelError(f"lgd must be between 0 and 1, got {self.lgd}")
        if not self.days_per_unit > 0:
            raise ModelError(f"days_per_unit must be positive, got {self.days_per_unit}")

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ModelError(f"X must be a pandas DataFrame with the columns {list(FEATURES)}")
        missing = [c for c in FEATURES if c not in X.columns]
        if missing:
            raise ModelError(f"X lacks the column(s) {missing}; the clv spec's features give "
                             f"{list(FEATURES)}")
        return X

    def fit(self, X: pd.DataFrame, y: Any = None) -> ClvModel:
        """Fit both models on the calibration-period summary ``X`` (``y`` is not read: the
        outcome is only used to test the model)."""
        self._check_params()
        frame = self._frame(X)
        self._assets(frame)  # fail before the fits, not after them
        self.bg_ = BetaGeoModel(penalizer_coef=self.penalizer_coef).fit(
            frame["frequency"], frame["recency"], frame["T"])
        repeat = _vector("frequency", frame["frequency"]) > 0
        self.gg_ = GammaGammaModel(penalizer_coef=self.penalizer_coef).fit(
            frame["frequency"][repeat], frame["monetary_value"][repeat])
        self.n_customers_ = len(frame)
        self.n_repeat_customers_ = int(repeat.sum())
        parts = self.components(frame)
        self.baseline_ = {c: float(parts[c].mean()) for c in COMPONENTS}
        return self

    def month_ends(self) -> FloatArray:
        """The end of each month of the horizon in the model's time unit."""
        return np.arange(1, int(self.horizon_months) + 1) * DAYS_PER_MONTH / self.days_per_unit

    @staticmethod
    def _assets(frame: pd.DataFrame) -> FloatArray:
        assets = _vector("aum", frame["aum"])
        _require(assets >= 0, "aum (deposits, wealth, funds and insurance held) cannot be "
                              "negative")
        return assets

    def annuity(self) -> float:
        """Present value of 1 CNY of annual margin on a level balance over the horizon."""
        return level_balance_annuity(int(self.horizon_months), self.discount_rate)

    def components(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per customer: p_alive, expected purchases over the horizon (plain and discounted,
        and discounted if alive), expected value per purchase, the discounted purchase
        margin, the balances (aum, ead) and the discounted income on them, the expected
        credit loss and clv = purchase margin + deposit income + lending income - loss."""
        if not hasattr(self, "bg_"):
            raise ModelError("the clv model is not fitted yet: call fit first")
        self._check_params()
        frame = self._frame(X)
        x, tx, t = check_rft(frame["frequency"], frame["recency"], frame["T"])
        alive = self.bg_.probability_alive(x, tx, t)
        ends = self.month_ends()
        cumulative = np.column_stack([self.bg_.expected_purchases(e, x, tx, t) for e in ends])
        monthly = np.diff(cumulative, axis=1, prepend=0.0)
        discounted = monthly @ discount_factors(int(self.horizon_months), self.discount_rate)
        value = self.gg_.expected_average_value(x, frame["monetary_value"].fillna(0.0))
        margin = discounted * value * self.margin_rate
        loss = expected_credit_loss(frame["pd_12m"], self.lgd, frame["ead"],
                                    int(self.horizon_months))
        assets, owed = self._assets(frame), _vector("ead", frame["ead"])
        annuity = self.annuity()
        deposit_income = alive * assets * self.deposit_margin * annuity
        lending_income = alive * owed * self.lending_margin * annuity
        return pd.DataFrame({
            "p_alive": alive,
            "expected_purchases": cumulative[:, -1],
            "discounted_purchases": discounted,
            "purchase_days_if_alive": discounted / alive,
            "average_value": value,
            "purchase_margin": margin,
            "aum": assets,
            "deposit_income": deposit_income,
            "ead": owed,
            "lending_income": lending_income,
            "expected_credit_loss": loss,
            "clv": margin + deposit_income + lending_income - loss,
        }, index=frame.index)

    def predict(self, X: pd.DataFrame) -> FloatArray:
        """Customer value over the horizon, in the currency of monetary_value and ead."""
        return np.asarray(self.components(X)["clv"].to_numpy())

    def _terms(self) -> list[tuple[float, tuple[str, ...]]]:
        """The value is ``sum of rate x product(factors)`` over these terms, minus the loss."""
        annuity = self.annuity()
        return [(self.margin_rate, _PURCHASE_FACTORS),
                (self.deposit_margin * annuity, ("p_alive", "aum")),
                (self.lending_margin * annuity, ("p_alive", "ead"))]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """How far each component moves a customer's value from the training baseline.

        The value is a sum of products: ``margin_rate x p_alive x purchases-if-alive x
        value`` + ``c_d x p_alive x aum`` + ``c_l x p_alive x ead`` (``c_d``, ``c_l``: the
        deposit and lending margins times :meth:`annuity`) - loss. Each factor's share is
        its Shapley value (the mean, over the orders in which the factors move from the
        baseline mean to the customer's, of the change it makes); the Shapley value of a sum
        is the sum over its terms, in which a factor a term does not read has no share, so
        p_alive's share gathers its part of all three products. The loss contributes
        ``-(loss - baseline loss)``. The columns sum to clv - baseline clv, where the
        baseline uses the training means of the components.
        """
        if not hasattr(self, "baseline_"):
            raise ModelError("the clv model is not fitted yet: call fit first")
        parts = self.components(X)
        out = {f: np.zeros(len(parts)) for f in COMPONENTS[:-1]}
        for rate, factors in self._terms():
            shares = shapley_of_product({f: parts[f].to_numpy() for f in factors},
                                        {f: self.baseline_[f] for f in factors})
            for f in factors:
                out[f] += rate * shares[f]
        frame = pd.DataFrame(out, index=parts.index)
        frame["expected_credit_loss"] = -(parts["expected_credit_loss"]
                                          - self.baseline_["expected_credit_loss"])
        return frame

    def baseline_value(self) -> float:
        """The value of a customer with every component at its training mean."""
        b = self.baseline_
        income = sum(rate * math.prod(b[f] for f in factors) for rate, factors in self._terms())
        return income - b["expected_credit_loss"]


__all__ = ["COMPONENTS", "DAYS_PER_MONTH", "FEATURES", "BetaGeoModel", "ClvModel",
           "GammaGammaModel", "bgnbd_log_likelihood", "check_monetary", "check_rft",
           "digamma_step", "discount_factors", "expected_credit_loss", "level_balance_annuity",
           "log_rising", "shapley_of_product"]
