"""Behavioural segments: k-means on standardised value and behaviour features, named by TGI.

Definitions (docs/models/segments.md):

- **features** (:func:`segment_features`, an engine expression): who the customer is
  (age, income level, occupation group), what they hold (AUM, product families, credit
  use), how often they transact and are online, and *how* they transact: the mix of
  transaction types, the time of day of their debits, the spending categories and
  channels of their purchases and the typical ticket, over the 365 days up to the
  as-of date.
- **preprocessing** (learned in ``fit``): non-negative columns with more than two values
  and a sample skewness above ``log_skew`` are ``log1p``-transformed; nulls take the
  column's median; each column is winsorised at its ``winsor`` and ``1 - winsor``
  quantiles (so one extreme customer cannot stretch a scale) and standardised to mean 0,
  standard deviation 1; principal components with an eigenvalue above 1 (Kaiser's rule)
  are kept, dropping the noise directions that otherwise pull k-means into splitting
  on single noisy shares.
- **k** is chosen in ``[k_min, k_max]`` by the silhouette (k-means, on a fixed random
  sample of ``silhouette_sample`` rows) or by BIC (Gaussian mixture); segments are
  numbered by size (0 = largest) so a refit on the same data numbers them alike.
- **profiles and names** (:mod:`finpersona.models.segment_profiles`): each segment's
  most distinguishing features by TGI and share gap, and a Chinese and English name
  from its top two traits.
- **stability** (:func:`bootstrap_stability`): the model refitted on bootstrap resamples
  (same k), its labels of the full data compared with the full model's by the adjusted
  Rand index (ARI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from finpersona.analytics.base import local_time
from finpersona.models.segment_profiles import SegmentProfile, profile_segments
from finpersona.models.spec import KEY, ModelContext, ModelError, Reason, TrainingSet, plain_value
from finpersona.tags.builtin import spend_category

WINDOW_DAYS = 365
INCOME_LEVELS = ("lt_5k", "5k_10k", "10k_20k", "20k_50k", "ge_50k")  # income_band, in order
# Occupation groups that behave apart from the salaried majority.
OCCUPATION_GROUPS: dict[str, tuple[str, ...]] = {
    "is_student": ("student",),
    "is_retired": ("retired",),
    "is_entrepreneur": ("business_owner", "self_employed"),
}
TAG_FEATURES = ("age", "aum", "credit_utilisation", "has_time_deposit", "has_wealth",
                "has_fund", "has_credit_card", "has_loan", "sessions_365d", "txn_count_365d")
TXN_TYPE_SHARES = ("salary", "transfer_out", "cash_withdrawal", "repayment", "interest")
# Local hours of a debit: [start, end) with the late band wrapping past midnight.
HOUR_BANDS: dict[str, tuple[int, int]] = {
    "early": (5, 9), "office": (9, 17), "evening": (17, 22), "late": (22, 5)}
SPEND_CATEGORIES = ("groceries", "dining", "shopping", "online_shopping", "travel",
                    "transport", "auto_fuel", "health", "education", "entertainment",
                    "jewellery", "telecom_utilities", "wholesale")
PURCHASE_CHANNELS = ("pos", "online")


def segment_features(ctx: ModelContext, as_of: date) -> ir.Table:
    """customer_key plus the segmentation features as of ``as_of`` (an engine expression)."""
    occupation_tags = ("occupation", "income_band")
    tags = ctx.tags(as_of, columns=[*TAG_FEATURES, *occupation_tags])
    income = ibis.cases(*[(tags.income_band == v, i) for i, v in enumerate(INCOME_LEVELS)],
                        else_=ibis.null("int64"))
    base = tags.select(
        KEY, *TAG_FEATURES, income_level=income.cast("int64"),
        **{name: tags.occupation.isin(list(values)).fill_null(False)
           for name, values in OCCUPATION_GROUPS.items()})
    mix = transaction_mix(ctx, as_of)
    joined = base.left_join(mix, KEY)
    return joined.select(base, *[joined[c] for c in mix.columns if c != KEY])


def transaction_mix(ctx: ModelContext, as_of: date) -> ir.Table:
    """Per customer with a successful transaction in the window: how they transact.

    Shares are of the customer's own transactions (type shares), debits (hour bands) or
    purchases (category, channel), so they describe habits, not volume; the ticket is the
    mean log amount of CNY purchases (a geometric mean, not swayed by one big purchase).
    """
    t = ctx.transactions()
    local = local_time(t.txn_time, ctx.offset_hours)
    start = as_of - timedelta(days=WINDOW_DAYS - 1)
    t = t.filter((t.status == "success") & (local.date() >= start) & (local.date() <= as_of))
    t = t.mutate(_hour=local_time(t.txn_time, ctx.offset_hours).hour(),
                 _category=spend_category(t.mcc.fill_null("")))
    debit = t.direction == "debit"
    purchase = t.txn_type == "purchase"
    categorised = purchase & t.mcc.notnull()
    metrics: dict[str, ir.Value] = {
        "_n": t.count(), "_debits": t.count(where=debit), "_purchases": t.count(where=purchase),
        "_categorised": t.count(where=categorised),
        "purchase_log_ticket": t.amount.cast("float64").ln().mean(
            where=purchase & (t.currency == "CNY") & (t.amount > 0)),
    }
    for kind in TXN_TYPE_SHARES:
        metrics[f"_type_{kind}"] = t.count(where=t.txn_type == kind)
    for band, (lo, hi) in HOUR_BANDS.items():
        in_band = ((t._hour >= lo) & (t._hour < hi) if lo < hi
                   else (t._hour >= lo) | (t._hour < hi))
        metrics[f"_hour_{band}"] = t.count(where=debit & in_band)
    for category in SPEND_CATEGORIES:
        metrics[f"_cat_{category}"] = t.count(where=categorised & (t._category == category))
    for channel in PURCHASE_CHANNELS:
        metrics[f"_ch_{channel}"] = t.count(where=purchase & (t.channel == channel))
    per = t.group_by(KEY).aggregate(**metrics)
    shares: dict[str, ir.Value] = {"purchase_log_ticket": per.purchase_log_ticket}
    shares |= {f"{k}_share": _share(per[f"_type_{k}"], per._n) for k in TXN_TYPE_SHARES}
    shares |= {f"{b}_hour_share": _share(per[f"_hour_{b}"], per._debits) for b in HOUR_BANDS}
    shares |= {f"{c}_spend_share": _share(per[f"_cat_{c}"], per._categorised)
               for c in SPEND_CATEGORIES}
    shares |= {f"{c}_purchase_share": _share(per[f"_ch_{c}"], per._purchases)
               for c in PURCHASE_CHANNELS}
    return per.select(KEY, **shares)


def _share(part: ir.IntegerValue, whole: ir.IntegerValue) -> ir.FloatingValue:
    """part / whole; null when there is nothing to share out (no debits, no purchases)."""
    return ibis.ifelse(whole > 0, part.cast("float64") / whole.cast("float64"),
                       ibis.null("float64"))


# -- the estimator -----------------------------------------------------------------------

METHODS = ("kmeans", "gmm")


class CustomerSegmentation(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """Cluster customers on standardised features; k by silhouette (k-means) or BIC (GMM).

    ``fit(X)`` takes a frame of numbers and flags (nulls allowed), one row per customer.
    Learned: the preprocessing (``log_columns_``, ``medians_``, ``lower_``, ``upper_``,
    ``means_``, ``scales_``, ``pca_``, ``n_components_``), the criterion per k
    (``scores_``), ``k_``, the fitted ``model_``, ``labels_`` (0 = largest segment),
    ``centroids_`` (per segment, in standardised feature units) and ``profiles_``.

    ``n_threads`` caps the OpenMP threads of k-means: fits run on samples, side by side
    with other work, where idle spinning threads cost more than they give.
    """

    def __init__(self, k_min: int = 4, k_max: int = 10, method: str = "kmeans",
                 log_skew: float = 2.0, winsor: float = 0.01,
                 components: str | int | None = "kaiser", n_init: int = 10,
                 silhouette_sample: int = 3000, random_state: int = 0, n_threads: int = 1,
                 top_traits: int = 5) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.method = method
        self.log_skew = log_skew
        self.winsor = winsor
        self.components = components
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state
        self.n_threads = n_threads
        self.top_traits = top_traits

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame | np.ndarray, y: Any = None) -> CustomerSegmentation:
        frame = self._check_params(_numeric_frame(X))
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        values = _values(frame)
        empty = [str(c) for c, ok in zip(frame.columns, ~np.isnan(values).all(axis=0),
                                         strict=True) if not ok]
        if empty:
            raise ModelError(f"feature(s) {', '.join(empty)} have no values at all: "
                             "drop them or fill them before fitting")
        present = [v[~np.isnan(v)] for v in values.T]
        skews = [_skewness(v) for v in present]
        # Flags stay 0/1: a log would not change what they say.
        self.log_columns_ = np.asarray(
            [bool(v.min() >= 0 and s > self.log_skew and len(np.unique(v)) > 2)
             for v, s in zip(present, skews, strict=True)])
        logged = self._log(values)
        self.medians_ = np.nanmedian(logged, axis=0)
        filled = np.where(np.isnan(logged), self.medians_, logged)
        self.lower_ = np.quantile(filled, self.winsor, axis=0)
        self.upper_ = np.quantile(filled, 1 - self.winsor, axis=0)
        clipped = np.clip(filled, self.lower_, self.upper_)
        self.means_ = clipped.mean(axis=0)
        spread = clipped.std(axis=0, ddof=1)
        # A constant column carries no information; scale 1 keeps it at 0 everywhere.
        self.scales_ = np.where(spread > 0, spread, 1.0)
        Z = (clipped - self.means_) / self.scales_
        self.pca_ = PCA(random_state=self.random_state).fit(Z)
        self.n_components_ = self._n_components(self.pca_.explained_variance_)
        P = self.pca_.transform(Z)[:, : self.n_components_]
        with threadpool_limits(self.n_threads):
            self.scores_ = {k: self._criterion(P, k) for k in range(self.k_min, self.k_max + 1)}
            if self.method == "kmeans":  # the highest silhouette; ties: fewer segments
                best = max(self.scores_, key=lambda k: (self.scores_[k], -k))
            else:  # the lowest BIC; ties: fewer segments
                best = min(self.scores_, key=lambda k: (self.scores_[k], k))
            self.k_ = int(best)
            self.model_ = self._cluster(self.k_).fit(P)
            raw = np.asarray(self.model_.predict(P))
        # Number segments by size (then by first appearance) so labels do not depend on
        # the order the algorithm happened to find them in.
        sizes = np.bincount(raw, minlength=self.k_)
        first = np.array([np.argmax(raw == j) if sizes[j] else len(raw)
                          for j in range(self.k_)])
        order = sorted(range(self.k_), key=lambda j: (-sizes[j], first[j]))
        self.order_ = np.empty(self.k_, dtype=np.int64)
        self.order_[order] = np.arange(self.k_)
        self.labels_ = self.order_[raw]
        self.centroids_ = np.vstack([Z[self.labels_ == j].mean(axis=0) if (self.labels_ == j).any()
                                     else np.zeros(Z.shape[1]) for j in range(self.k_)])
        self.sizes_ = np.bincount(self.labels_, minlength=self.k_)
        self.profiles_: list[SegmentProfile] = profile_segments(frame, self.labels_,
                                                                top=self.top_traits)
        return self

    def _check_params(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.method not in METHODS:
            raise ModelError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not 2 <= self.k_min <= self.k_max:
            raise ModelError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, "
                             f"k_max={self.k_max}")
        if len(frame) <= self.k_max:
            raise ModelError(f"{len(frame)} rows cannot make up to {self.k_max} segments: "
                             "lower k_max or fit on more customers")
        if not 0 <= self.winsor < 0.5:
            raise ModelError(f"winsor is the share clipped at each end, in [0, 0.5), "
                             f"got {self.winsor}")
        if isinstance(self.components, str) and self.components != "kaiser":
            raise ModelError("components must be 'kaiser', a number of components, or None")
        return frame

    def _log(self, values: np.ndarray) -> np.ndarray:
        out = values.copy()
        out[:, self.log_columns_] = np.log1p(values[:, self.log_columns_])
        return out

    def _n_components(self, eigenvalues: np.ndarray) -> int:
        if self.components is None:
            return len(eigenvalues)
        if self.components == "kaiser":
            # Kaiser's rule on the correlation scale: a component must explain more than
            # one standardised feature does.
            return max(1, int((eigenvalues > 1.0).sum()))
        return max(1, min(int(self.components), len(eigenvalues)))

    def _cluster(self, k: int) -> KMeans | GaussianMixture:
        if self.method == "kmeans":
            return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
        return GaussianMixture(n_components=k, covariance_type="full", n_init=self.n_init,
                               random_state=self.random_state)

    def _criterion(self, P: np.ndarray, k: int) -> float:
        model = self._cluster(k).fit(P)
        if self.method == "gmm":
            return float(model.bic(P))
        labels = np.asarray(model.predict(P))
        if len(set(labels.tolist())) < 2:
            return -1.0  # everything in one cluster: the worst silhouette there is
        sample = min(self.silhouette_sample, len(P))
        return float(silhouette_score(P, labels, sample_size=sample,
                                      random_state=self.random_state))

    # -- using a fitted model ---------------------------------------------------------------

    def standardise(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Rows in standardised feature units (log, fill, clip, centre, scale)."""
        check_is_fitted(self, "model_")
        frame = _numeric_frame(X)
        names = [str(c) for c in self.feature_names_in_]
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ModelError(f"feature(s) {', '.join(missing)} missing; the model was fitted "
                             f"on {', '.join(names)}")
        logged = self._log(_values(frame[names]))
        filled = np.where(np.isnan(logged), self.medians_, logged)
        return np.asarray((np.clip(filled, self.lower_, self.upper_) - self.means_)
                          / self.scales_)

    def transform(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Principal-component scores, the space the clusters live in."""
        return np.asarray(self.pca_.transform(self.standardise(X))[:, : self.n_components_])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        P = self.transform(X)
        with threadpool_limits(self.n_threads):
            raw = np.asarray(self.model_.predict(P))
        return np.asarray(self.order_[raw])

    def explain(self, X: pd.DataFrame | np.ndarray, n: int = 3) -> list[list[Reason]]:
        """Per row, the ``n`` features that most put the customer in their segment.

        A feature's contribution is how much closer it brings the customer to their
        segment's centre than to the average customer, in squared standardised units:
        ``z^2 - (z - c)^2`` with ``z`` the customer's value and ``c`` the segment's mean.
        "raises" means the feature pulls towards the segment, "lowers" away from it.
        """
        frame = _numeric_frame(X)
        Z = self.standardise(frame)
        labels = self.predict(frame)
        C = self.centroids_[labels]
        contrib = Z**2 - (Z - C) ** 2
        names = [str(c) for c in self.feature_names_in_]
        out: list[list[Reason]] = []
        for row, values in enumerate(contrib):
            top = sorted(range(len(names)), key=lambda j: (-values[j], j))[:n]
            out.append([Reason(names[j], plain_value(frame[names[j]].iloc[row]), float(values[j]),
                               "raises" if values[j] > 0 else "lowers") for j in top])
        return out

    def profile_names(self) -> dict[int, str]:
        """{cluster: "中文名 / English name"} of the fitted segments."""
        check_is_fitted(self, "profiles_")
        return {p.cluster: p.name for p in self.profiles_}


def _numeric_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """X as a frame of float columns (flags as 0/1, nulls as NaN), or a clear error."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ModelError(f"segmentation needs a two-dimensional table, got {array.ndim} "
                             "dimension(s)")
        frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    if frame.ndim != 2 or frame.shape[1] == 0:
        raise ModelError("segmentation needs a two-dimensional table with at least one column")
    # Arrow hands flags with nulls over as object columns of True/False/None.
    flags = [c for c in frame.columns if frame[c].dtype == object
             and frame[c].dropna().map(lambda v: isinstance(v, bool | np.bool_)).all()]
    if flags:
        frame = frame.assign(**{str(c): frame[c].astype("boolean") for c in flags})
    bad = [str(c) for c in frame.columns
           if not (pd.api.types.is_numeric_dtype(frame[c])
                   or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        raise ModelError(f"column(s) {', '.join(bad)} are not numbers or flags: encode "
                         "categories (e.g. as an ordered level or one flag per value) first")
    if np.isinf(_values(frame)).any():
        raise ModelError("features contain infinite values: replace them (e.g. by null) first")
    return frame


def _values(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame.astype("float64").to_numpy(dtype="float64", na_value=np.nan))


def _skewness(values: np.ndarray) -> float:
    if len(values) < 3 or np.std(values) == 0:
        return 0.0
    centred = values - values.mean()
    return float(np.mean(centred**3) / np.std(values) ** 3)



# -- stability ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Stability:
    """Adjusted Rand index between the full model's labels and bootstrap refits' labels."""

    scores: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores, ddof=1)) if len(self.scores) > 1 else 0.0

    @property
    def min(self) -> float:
        return float(np.min(self.scores))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": round(self.mean, 4), "std": round(self.std, 4),
                "min": round(self.min, 4), "resamples": len(self.scores)}


def bootstrap_stability(estimator: CustomerSegmentation, X: pd.DataFrame,
                        n_resamples: int = 20, random_state: int = 0) -> Stability:
    """Refit a fitted model on ``n_resamples`` bootstrap samples of ``X`` (rows drawn with
    replacement, same k), label all of ``X`` with each refit, and compare with the
    fitted model's labels of ``X`` by ARI (1: the same partition; 0: chance agreement).

    k stays fixed at the fitted ``k_`` so the score measures whether the same segments
    come back, not whether the silhouette would pick another number of them.
    """
    check_is_fitted(estimator, "model_")
    if n_resamples < 1:
        raise ModelError("bootstrap stability needs at least one resample")
    reference = estimator.predict(X)
    rng = np.random.default_rng(random_state)
    scores = []
    for _ in range(n_resamples):
        rows = rng.integers(0, len(X), size=len(X))
        refit = clone(estimator).set_params(k_min=estimator.k_, k_max=estimator.k_)
        refit.fit(X.iloc[rows])
        scores.append(float(adjusted_rand_score(reference, refit.predict(X))))
    return Stability(tuple(scores))


# -- the registered model ----------------------------------------------------------------

@dataclass(frozen=True)
class SegmentationSpec:
    """ModelSpec "segmentation": writes the ``cluster`` tag (int, 0 = largest segment).

    Segment names are not a tag: a category tag needs a closed list of values declared
    in the catalogue, and each retraining may find other segments with other names.
    The names and profiles are in the model's report (:meth:`report`).
    """

    name: str = "segmentation"
    title: dict[str, str] = field(default_factory=lambda: {
        "zh": "客群分群", "en": "Customer segmentation"})
    purpose: str = (
        "Groups customers into behavioural segments (k-means on standardised value and "
        "behaviour features, k chosen by silhouette) for portfolio reporting, campaign "
        "planning and as a feature of other models. Each segment is profiled by the traits "
        "that set it apart (TGI) and named in Chinese and English.")
    limits: str = (
        "Segments are descriptive, not predictive: they say who is alike today. Cluster "
        "numbers and names may change with each retraining, so audiences should be defined "
        "on the underlying tags or re-checked after a retrain. Customers without "
        "transactions in the year get the population median of the behaviour shares and "
        "land in the segment nearest to that. The silhouette is low (overlapping segments), "
        "so borderline customers can switch segments between retrains.")
    supervised: bool = False
    bootstrap: int = 20  # resamples for the stability figure in evaluate()

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return segment_features(ctx, as_of)

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        return None

    def make_estimator(self, **params: Any) -> CustomerSegmentation:
        return CustomerSegmentation(**params)

    def evaluate(self, estimator: Any, data: TrainingSet) -> dict[str, float]:
        """Silhouette (BIC for a mixture) of the data's labels, bootstrap ARI, sizes."""
        model: CustomerSegmentation = estimator
        X = data.X
        labels = model.predict(X)
        P = model.transform(X)
        metrics: dict[str, float] = {"k": float(model.k_),
                                     "n_components": float(model.n_components_)}
        if len(set(labels.tolist())) > 1:
            sample = min(model.silhouette_sample, len(P))
            metrics["silhouette"] = float(silhouette_score(
                P, labels, sample_size=sample, random_state=model.random_state))
        if model.method == "gmm":
            metrics["bic"] = float(model.model_.bic(P))
        stability = bootstrap_stability(model, X, self.bootstrap, model.random_state)
        metrics["stability_ari_mean"] = stability.mean
        metrics["stability_ari_std"] = stability.std
        metrics["stability_ari_min"] = stability.min
        shares = np.bincount(labels, minlength=model.k_) / len(labels)
        metrics |= {f"segment_{j}_share": float(s) for j, s in enumerate(shares)}
        return metrics

    def outputs(self, estimator: Any, X: pd.DataFrame) -> pd.DataFrame:
        model: CustomerSegmentation = estimator
        return pd.DataFrame({"cluster": model.predict(X).astype("int64")}, index=X.index)

    def explain(self, estimator: Any, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        model: CustomerSegmentation = estimator
        return model.explain(X, n)

    def report(self, estimator: Any) -> dict[str, Any]:
        """What the model card shows: k, the criterion per k, each segment's profile."""
        model: CustomerSegmentation = estimator
        check_is_fitted(model, "profiles_")
        criterion = "silhouette" if model.method == "kmeans" else "bic"
        return {"k": model.k_, "method": model.method, "criterion": criterion,
                "scores": {str(k): round(v, 4) for k, v in model.scores_.items()},
                "n_components": model.n_components_,
                "segments": [p.to_dict() for p in model.profiles_]}


SPEC = SegmentationSpec()
