"""A credit scorecard: optimal binning, WOE, logistic regression and points.

The recipe (docs/models/scorecard.md) is the classic one a model-risk reviewer
expects, with each step's choice stated:

1. **Binning.** Every feature is binned by optbinning's :class:`OptimalBinning`
   (pre-binning by a decision tree, then an exact solver that maximises IV under
   a monotonic trend of the bad rate). Numeric features follow
   ``monotonic_trends[feature]`` or ``default_trend`` (``"auto_asc_desc"``:
   monotonic, direction chosen by the data). Missing values and the feature's
   ``special_codes`` are bins of their own; categories unseen in training fall in
   an ``Unknown`` bin.
2. **WOE and IV** are computed here from each bin's counts, with goods and bads
   as the scorecard sees them: ``WOE = ln((goods_i / goods) / (bads_i / bads))``
   (positive = safer than average), ``IV = sum (goods share - bads share) WOE``.
   A bin with no goods or no bads gets half a count of each, so its WOE stays
   finite; a bin nobody fell in during training (an unused special, missing or
   unknown bin) has WOE 0, the average risk.
3. **Selection.** Features with IV below ``min_iv`` are dropped; then, by IV from
   high to low, a feature whose WOE correlates above ``max_corr`` (absolute
   Pearson r) with one already kept is dropped; finally, a feature whose
   coefficient comes out with the wrong sign (a higher WOE must mean a lower
   PD; collinearity can flip it) is dropped, the weakest first, and the
   regression refitted.
4. **Logistic regression** (scikit-learn, L2 with ``C``) of ``y`` (1 = bad) on
   the WOE of the kept features.
5. **Points.** ``factor = pdo / ln 2``, ``offset = base_points - factor ln(base_odds)``;
   ``score = offset + factor ln(odds)`` with odds = good : bad. The intercept and
   the offset are shared equally among the ``k`` features, so a feature's points
   in a bin are ``-factor (coef WOE + intercept / k) + offset / k`` and the points
   of a row's bins add up to its score exactly (no rounding).

``predict_proba`` is the PD implied by the score, so score, PD and grade never
disagree. Reason codes are, per row, the features whose bin is furthest below the
best bin of that feature in points.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import BaseEstimator

from finpersona.models.metrics import auc, ks, lift_table
from finpersona.models.spec import ModelError

GRADES = ("A", "B", "C", "D", "E")
# PD cut points between the grades (6-month default on the bank; docs/models/scorecard.md):
# A < 1% <= B < 3% <= C < 8% <= D < 20% <= E.
DEFAULT_GRADE_CUTS = (0.01, 0.03, 0.08, 0.20)
TRENDS = ("auto", "auto_heuristic", "auto_asc_desc", "ascending", "descending", "concave",
          "convex", "peak", "valley", "peak_heuristic", "valley_heuristic")
SPECIAL, MISSING, UNKNOWN = "Special", "Missing", "Unknown"
NUMERIC, CATEGORICAL = "numerical", "categorical"


# -- points scaling -----------------------------------------------------------------------


def scaling(base_points: float, base_odds: float, pdo: float) -> tuple[float, float]:
    """``(factor, offset)`` so that ``points = offset + factor ln(odds)``."""
    if not (math.isfinite(pdo) and pdo > 0):
        raise ModelError(f"pdo (points to double the odds) must be positive, got {pdo!r}")
    if not (math.isfinite(base_odds) and base_odds > 0):
        raise ModelError(f"base_odds (good:bad at base_points) must be positive, "
                         f"got {base_odds!r}")
    if not math.isfinite(base_points):
        raise ModelError(f"base_points must be a finite number, got {base_points!r}")
    factor = pdo / math.log(2.0)
    return factor, base_points - factor * math.log(base_odds)


def points_for_odds(odds: Any, base_points: float = 600, base_odds: float = 50,
                    pdo: float = 20) -> Any:
    """The score of a good:bad odds (600 at 50:1 and PDO 20 give 620 at 100:1)."""
    factor, offset = scaling(base_points, base_odds, pdo)
    return offset + factor * np.log(odds)


def grade_from_pd(pd_values: Any, cuts: Sequence[float] = DEFAULT_GRADE_CUTS) -> NDArray[Any]:
    """Grade letters A..E: A below the first cut, E at or above the last."""
    _check_cuts(cuts)
    values = np.asarray(pd_values, dtype=float)
    return np.asarray(GRADES, dtype=object)[np.searchsorted(np.asarray(cuts), values,
                                                            side="right")]


def _check_cuts(cuts: Sequence[float]) -> None:
    values = list(cuts)
    if (len(values) != len(GRADES) - 1 or any(not 0 < v < 1 for v in values)
            or any(a >= b for a, b in pairwise(values))):
        raise ModelError(f"grade_cuts must be {len(GRADES) - 1} increasing PDs between 0 and "
                         f"1 (A|B, B|C, C|D, D|E), got {cuts!r}")


# -- one feature's bins -------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureBins:
    """How one feature is binned, and each bin's training counts, WOE, IV and points.

    ``table`` rows: the regular bins in order, then ``Special`` and ``Missing``
    (and ``Unknown`` for a categorical feature). ``splits`` are the numeric cut
    points (a bin is ``[left, right)``); ``categories`` the categories of each
    regular bin of a categorical feature.
    """

    feature: str
    kind: str
    splits: tuple[float, ...]
    categories: tuple[tuple[str, ...], ...]
    special_codes: tuple[Any, ...]
    table: pd.DataFrame

    @property
    def n_regular(self) -> int:
        return len(self.categories) if self.kind == CATEGORICAL else len(self.splits) + 1

    def assign(self, values: pd.Series) -> NDArray[np.int64]:
        """Row number in ``table`` of each value."""
        if self.kind == NUMERIC:
            numbers = _numbers(values, self.feature)
            index = np.searchsorted(np.asarray(self.splits, dtype=float), numbers, side="right")
            special = np.isin(numbers, np.asarray(self.special_codes, dtype=float))
            index[special] = self.n_regular
            index[np.isnan(numbers)] = self.n_regular + 1
            return index.astype(np.int64)
        text = _texts(values)
        lookup = {c: i for i, group in enumerate(self.categories) for c in group}
        specials = {str(c) for c in self.special_codes}
        return np.array([self.n_regular + 1 if v is None
                          else self.n_regular if v in specials
                          else lookup.get(v, self.n_regular + 2) for v in text],
                         dtype=np.int64)


def _numbers(values: pd.Series, feature: str) -> NDArray[np.float64]:
    try:
        numbers = pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ModelError(f"feature {feature!r} was numeric in training but holds text now; "
                         "pass the same columns the scorecard was fitted on") from None
    if np.isinf(numbers).any():
        raise ModelError(f"feature {feature!r} has infinite values: replace them by a special "
                         "code (special_codes) or by missing")
    return numbers


def _texts(values: pd.Series) -> list[str | None]:
    return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
            for v in values.tolist()]


def _woe_iv(goods: NDArray[np.float64], bads: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    total_goods, total_bads = goods.sum(), bads.sum()
    used = (goods + bads) > 0
    # Half a count each where a bin lacks goods or bads keeps the log finite.
    pure = used & ((goods == 0) | (bads == 0))
    g = np.where(pure, goods + 0.5, goods)
    b = np.where(pure, bads + 0.5, bads)
    g_share = np.where(used, g / total_goods, 0.0)
    b_share = np.where(used, b / total_bads, 0.0)
    woe = np.zeros_like(goods)
    woe[used] = np.log(g_share[used] / b_share[used])
    return woe, (g_share - b_share) * woe


def _bin_labels(kind: str, splits: Sequence[float], categories: Sequence[Sequence[str]]
                ) -> list[str]:
    if kind == CATEGORICAL:
        labels = ["[" + ", ".join(group) + "]" for group in categories]
        return [*labels, SPECIAL, MISSING, UNKNOWN]
    edges = [-math.inf, *splits, math.inf]
    labels = [f"[{lo:.6g}, {hi:.6g})" for lo, hi in pairwise(edges)]
    return [*labels, SPECIAL, MISSING]


def _count_table(kind: str, splits: Sequence[float],
                 categories: Sequence[Sequence[str]], index: NDArray[np.int64],
                 y: NDArray[np.int64]) -> pd.DataFrame:
    labels = _bin_labels(kind, splits, categories)
    n_rows = len(labels)
    count = np.asarray(np.bincount(index, minlength=n_rows), dtype=np.float64)
    bads = np.asarray(np.bincount(index, weights=y.astype(float), minlength=n_rows),
                      dtype=np.float64)
    goods = count - bads
    woe, iv = _woe_iv(goods, bads)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bins: NaN bad rate on purpose
        bad_rate = np.where(count > 0, bads / np.maximum(count, 1), np.nan)
    return pd.DataFrame({"bin": labels, "count": count.astype(int), "goods": goods.astype(int),
                         "bads": bads.astype(int), "bad_rate": bad_rate, "woe": woe, "iv": iv})


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardReport:
    """What a reviewer reads: selection, bins, ranking power, gains and score spread."""

    iv_table: pd.DataFrame  # every candidate feature: IV (training), status
    bin_tables: dict[str, pd.DataFrame]  # per kept feature, counts on the reported sample
    auc: float
    ks: float
    gini: float
    lift: pd.DataFrame  # deciles of PD, riskiest first
    score_distribution: pd.DataFrame  # score bands of width pdo: goods, bads, bad rate

    def metrics(self) -> dict[str, float]:
        return {"auc": self.auc, "ks": self.ks, "gini": self.gini}


# -- the estimator ------------------------------------------------------------------------


class CreditScorecard(BaseEstimator):  # type: ignore[misc]
    """Binned logistic scorecard in points (``y`` = 1 for a bad).

    Parameters
    ----------
    base_points, base_odds, pdo:
        ``base_points`` at good:bad odds ``base_odds``; ``pdo`` points double the odds.
    monotonic_trends:
        Feature -> optbinning trend of the *bad rate* (``"ascending"``,
        ``"descending"``, ``"auto_asc_desc"``, ``"peak"``, ``"valley"``, ...).
    default_trend:
        The trend of numeric features not in ``monotonic_trends``.
    categorical:
        Features to bin as categories even when their values are numbers (text,
        categorical and boolean columns are categorical anyway).
    special_codes:
        Feature -> values that mean something else than a quantity (e.g. ``-1`` =
        "never had a loan"); each feature's specials share one bin.
    min_iv, max_corr:
        Selection thresholds (IV at least ``min_iv``; absolute WOE correlation at
        most ``max_corr`` with a stronger kept feature).
    max_n_prebins, min_prebin_size, max_n_bins, min_bin_n_event:
        Passed to optbinning. ``min_bin_n_event`` (bads a bin needs at least) keeps a
        small book from binning its noise.
    C, max_iter:
        The logistic regression's inverse L2 strength and iteration budget.
    grade_cuts:
        The four PD cut points between grades A|B|C|D|E.
    """

    def __init__(self, base_points: float = 600, base_odds: float = 50, pdo: float = 20,
                 monotonic_trends: Mapping[str, str] | None = None,
                 default_trend: str = "auto_asc_desc",
                 categorical: Sequence[str] | None = None,
                 special_codes: Mapping[str, Sequence[Any]] | None = None,
                 min_iv: float = 0.02, max_corr: float = 0.7, max_n_prebins: int = 20,
                 min_prebin_size: float = 0.05, max_n_bins: int | None = None,
                 min_bin_n_event: int | None = None, C: float = 1.0, max_iter: int = 1000,
                 grade_cuts: Sequence[float] = DEFAULT_GRADE_CUTS) -> None:
        self.base_points = base_points
        self.base_odds = base_odds
        self.pdo = pdo
        self.monotonic_trends = monotonic_trends
        self.default_trend = default_trend
        self.categorical = categorical
        self.special_codes = special_codes
        self.min_iv = min_iv
        self.max_corr = max_corr
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.max_n_bins = max_n_bins
        self.min_bin_n_event = min_bin_n_event
        self.C = C
        self.max_iter = max_iter
        self.grade_cuts = grade_cuts

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> CreditScorecard:
        """Bin, select, regress and scale; ``y`` is 1 for a bad, 0 for a good."""
        frame = _as_frame(X, None)
        target = _as_target(y, len(frame))
        self._check_params(frame)
        self.factor_, self.offset_ = scaling(self.base_points, self.base_odds, self.pdo)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.classes_ = np.array([0, 1])

        candidates = {name: self._bin_feature(name, frame[name], target)
                      for name in frame.columns}
        iv = {name: float(b.table["iv"].sum()) for name, b in candidates.items()}
        status = dict.fromkeys(candidates, "selected")
        for name, value in iv.items():
            if value < self.min_iv:
                status[name] = f"dropped: IV {value:.4f} below min_iv {self.min_iv}"
        woe = pd.DataFrame({name: b.table["woe"].to_numpy()[b.assign(frame[name])]
                            for name, b in candidates.items()}, index=frame.index)
        kept = self._decorrelate(woe, iv, status)
        coef, intercept = self._regress(woe, target, kept, iv, status)

        self.features_ = kept
        self.coef_ = coef
        self.intercept_ = intercept
        k = len(kept)
        self.bins_ = {}
        for name, c in zip(kept, coef, strict=True):
            b = candidates[name]
            table = b.table.copy()
            table["points"] = (-self.factor_ * (c * table["woe"] + intercept / k)
                               + self.offset_ / k)
            self.bins_[name] = FeatureBins(b.feature, b.kind, b.splits, b.categories,
                                           b.special_codes, table)
        self.iv_table_ = pd.DataFrame({
            "feature": list(candidates), "kind": [b.kind for b in candidates.values()],
            "iv": [iv[n] for n in candidates], "status": [status[n] for n in candidates],
        }).sort_values("iv", ascending=False, ignore_index=True)
        return self

    def _check_params(self, frame: pd.DataFrame) -> None:
        _check_cuts(self.grade_cuts)
        if self.default_trend not in TRENDS:
            raise ModelError(f"unknown default_trend {self.default_trend!r}: use one of "
                             f"{', '.join(TRENDS)}")
        for name, trend in (self.monotonic_trends or {}).items():
            if name not in frame.columns:
                raise ModelError(f"monotonic_trends names {name!r}, which is not a column of X")
            if trend not in TRENDS:
                raise ModelError(f"unknown trend {trend!r} for {name!r}: use one of "
                                 f"{', '.join(TRENDS)}")
        for option in ("categorical", "special_codes"):
            unknown = [n for n in (getattr(self, option) or ()) if n not in frame.columns]
            if unknown:
                raise ModelError(f"{option} names {', '.join(map(repr, unknown))}, not "
                                 "columns of X")
        if not self.min_iv >= 0:  # also refuses NaN
            raise ModelError(f"min_iv must be non-negative, got {self.min_iv!r}")
        if not 0 < self.max_corr <= 1:
            raise ModelError(f"max_corr must be in (0, 1], got {self.max_corr!r}")

    def _kind(self, name: str, values: pd.Series) -> str:
        if name in (self.categorical or ()):
            return CATEGORICAL
        if pd.api.types.is_bool_dtype(values):
            return CATEGORICAL
        if pd.api.types.is_numeric_dtype(values):
            return NUMERIC
        # Object columns of numbers (Decimal from a database, ints with None) are numbers.
        kind = pd.api.types.infer_dtype(values, skipna=True)
        return NUMERIC if kind in ("decimal", "integer", "floating", "mixed-integer-float") \
            else CATEGORICAL

    def _bin_feature(self, name: str, values: pd.Series, y: NDArray[np.int64]) -> FeatureBins:
        from optbinning import OptimalBinning

        kind = self._kind(name, values)
        specials = tuple((self.special_codes or {}).get(name, ()))
        if kind == CATEGORICAL:
            data: NDArray[Any] = np.asarray(_texts(values), dtype=object)
            if name in (self.monotonic_trends or {}):
                raise ModelError(f"{name!r} is categorical: its bins are ordered by bad rate, "
                                 "so a monotonic trend does not apply; remove it from "
                                 "monotonic_trends")
            trend = "auto"
            codes: list[Any] | None = [str(c) for c in specials] or None
        else:
            data = _numbers(values, name)
            trend = (self.monotonic_trends or {}).get(name, self.default_trend)
            codes = [float(c) for c in specials] or None
        binning = OptimalBinning(name=str(name), dtype=kind, monotonic_trend=trend,
                                 special_codes=codes, max_n_prebins=self.max_n_prebins,
                                 min_prebin_size=self.min_prebin_size,
                                 max_n_bins=self.max_n_bins,
                                 min_bin_n_event=self.min_bin_n_event)
        try:
            binning.fit(data, y)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"cannot bin feature {name!r}: {exc}") from exc
        if kind == CATEGORICAL:
            splits: tuple[float, ...] = ()
            categories = tuple(tuple(str(c) for c in group) for group in binning.splits)
        else:
            splits = tuple(float(s) for s in binning.splits)
            categories = ()
        skeleton = FeatureBins(str(name), kind, splits, categories, specials, pd.DataFrame())
        table = _count_table(kind, splits, categories, skeleton.assign(values), y)
        return FeatureBins(str(name), kind, splits, categories, specials, table)

    def _decorrelate(self, woe: pd.DataFrame, iv: dict[str, float],
                     status: dict[str, str]) -> list[str]:
        kept: list[str] = []
        for name in sorted((n for n in iv if status[n] == "selected"), key=lambda n: -iv[n]):
            column = woe[name].to_numpy()
            clash = None
            for other in kept:
                r = _pearson(column, woe[other].to_numpy())
                if abs(r) > self.max_corr:
                    clash = (other, r)
                    break
            if clash is None:
                kept.append(name)
            else:
                status[name] = (f"dropped: WOE correlation {clash[1]:+.2f} with {clash[0]!r} "
                                f"above max_corr {self.max_corr}")
        if not kept:
            best = max(iv.items(), key=lambda item: item[1])
            raise ModelError(f"no feature reaches min_iv {self.min_iv} (best: {best[0]!r} "
                             f"with IV {best[1]:.4f}); lower min_iv or add features")
        return kept

    def _regress(self, woe: pd.DataFrame, y: NDArray[np.int64], kept: list[str],
                 iv: dict[str, float], status: dict[str, str]
                 ) -> tuple[NDArray[np.float64], float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        while True:
            model = LogisticRegression(C=self.C, max_iter=self.max_iter)
            with warnings.catch_warnings():
                # Turned into an error with advice rather than a silent, unconverged fit.
                warnings.simplefilter("error", ConvergenceWarning)
                try:
                    model.fit(woe[kept].to_numpy(), y)
                except ConvergenceWarning:
                    raise ModelError(f"the logistic regression did not converge in "
                                     f"{self.max_iter} iterations: raise max_iter") from None
            coef = np.asarray(model.coef_[0], dtype=float)
            # A higher WOE is a safer bin, so every coefficient on P(bad) must be negative.
            wrong = [n for n, c in zip(kept, coef, strict=True) if c >= 0]
            if not wrong:
                return coef, float(model.intercept_[0])
            weakest = min(wrong, key=lambda n: iv[n])
            status[weakest] = "dropped: coefficient with the wrong sign (collinearity)"
            kept.remove(weakest)
            if not kept:
                raise ModelError("every feature's coefficient came out with the wrong sign; "
                                 "the features are collinear or the outcome is reversed "
                                 "(y must be 1 for a bad)")

    # -- scoring --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "bins_"):
            raise ModelError("this CreditScorecard is not fitted yet: call fit(X, y) first")

    def _bin_index(self, X: Any) -> pd.DataFrame:
        self._check_fitted()
        frame = _as_frame(X, list(self.feature_names_in_), scoring=True)
        missing = [n for n in self.features_ if n not in frame.columns]
        if missing:
            raise ModelError(f"X lacks the scorecard's feature(s) {', '.join(missing)}")
        return pd.DataFrame({n: self.bins_[n].assign(frame[n]) for n in self.features_},
                            index=frame.index)

    def feature_points(self, X: Any) -> pd.DataFrame:
        """Each row's points per kept feature (they add up to :meth:`score`)."""
        index = self._bin_index(X)
        return pd.DataFrame({n: self.bins_[n].table["points"].to_numpy()[index[n].to_numpy()]
                             for n in self.features_}, index=index.index)

    def score(self, X: Any) -> NDArray[np.float64]:
        """Points (unrounded): higher is safer."""
        return np.asarray(self.feature_points(X).sum(axis=1).to_numpy(), dtype=float)

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Log-odds of a bad, as implied by the score."""
        return np.asarray(-(self.score(X) - self.offset_) / self.factor_, dtype=float)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """``[P(good), P(bad)]`` per row, like scikit-learn's classifiers."""
        pd_bad = expit(self.decision_function(X))
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def predict(self, X: Any) -> NDArray[np.int64]:
        """1 where the PD is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def grade(self, X: Any) -> NDArray[Any]:
        """Grade letters A..E from the PD and ``grade_cuts``."""
        return grade_from_pd(self.predict_proba(X)[:, 1], self.grade_cuts)

    def reason_codes(self, X: Any, n: int = 3) -> pd.DataFrame:
        """Per row, the ``n`` features that cost the most points against their best bin.

        Columns ``reason_1..n`` (feature names) and ``points_lost_1..n``; a feature in
        its best bin costs nothing and is not a reason, so a row can have fewer than
        ``n`` reasons (the rest empty: None and NaN). Ties keep the features' order
        in :attr:`features_`.
        """
        if not isinstance(n, int) or n < 1:
            raise ModelError(f"n must be a positive whole number of reasons, got {n!r}")
        points = self.feature_points(X)
        best = np.array([self.bins_[f].table["points"].max() for f in self.features_])
        lost = best[None, :] - points.to_numpy()
        order = np.argsort(-lost, axis=1, kind="stable")[:, :n]
        names = np.asarray(self.features_, dtype=object)
        out: dict[str, Any] = {}
        for rank in range(min(n, len(self.features_))):
            cost = np.take_along_axis(lost, order[:, rank:rank + 1], axis=1)[:, 0]
            real = cost > 1e-9
            chosen = names[order[:, rank]]
            chosen[~real] = None
            out[f"reason_{rank + 1}"] = chosen
            out[f"points_lost_{rank + 1}"] = np.where(real, cost, np.nan)
        for rank in range(len(self.features_), n):
            out[f"reason_{rank + 1}"] = np.full(len(points), None, dtype=object)
            out[f"points_lost_{rank + 1}"] = np.full(len(points), np.nan)
        return pd.DataFrame(out, index=points.index)

    # -- reporting ------------------------------------------------------------------------

    def report(self, X: Any, y: Any) -> ScorecardReport:
        """IV table, bin tables, AUC/KS/Gini, gains by decile, score bands by good/bad."""
        index = self._bin_index(X)
        target = _as_target(y, len(index))
        tables = {}
        for name in self.features_:
            b = self.bins_[name]
            sample = _count_table(b.kind, b.splits, b.categories,
                                  index[name].to_numpy(), target)
            sample["training_woe"] = b.table["woe"].to_numpy()
            sample["points"] = b.table["points"].to_numpy()
            tables[name] = sample
        points = self.score(X)
        pd_bad = expit(-(points - self.offset_) / self.factor_)
        return ScorecardReport(
            iv_table=self.iv_table_.copy(), bin_tables=tables, auc=auc(target, pd_bad),
            ks=ks(target, pd_bad), gini=2 * auc(target, pd_bad) - 1,
            lift=lift_table(target, pd_bad, groups=min(10, len(target))),
            score_distribution=_score_bands(points, target, float(self.pdo)))


def _score_bands(points: NDArray[np.float64], y: NDArray[np.int64], width: float
                 ) -> pd.DataFrame:
    low = math.floor(points.min() / width) * width
    band = np.floor((points - low) / width).astype(int)
    frame = pd.DataFrame({"band": band, "bad": y})
    counts = frame.groupby("band")["bad"].agg(["size", "sum"]).reindex(
        range(int(band.max()) + 1), fill_value=0)
    lows = low + counts.index.to_numpy() * width
    with np.errstate(invalid="ignore", divide="ignore"):  # empty bands: NaN on purpose
        rate = counts["sum"].to_numpy() / counts["size"].to_numpy()
    return pd.DataFrame({"score_from": lows, "score_to": lows + width,
                         "goods": (counts["size"] - counts["sum"]).to_numpy(),
                         "bads": counts["sum"].to_numpy(), "bad_rate": rate})


def _pearson(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _as_frame(X: Any, names: list[str] | None, *, scoring: bool = False) -> pd.DataFrame:
    """X as a frame; fitting needs rows, scoring takes an empty batch (an engine may
    hand one over) and gives empty results."""
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, pd.Series):
        raise ModelError("X must be a table (a DataFrame or a 2-D array), not a Series: "
                         "use X.to_frame() for one feature")
    else:
        array = np.asarray(X, dtype=object)
        if array.ndim != 2:
            raise ModelError(f"X must be 2-D (rows x features), got {array.ndim} dimension(s)")
        columns = names if names is not None and len(names) == array.shape[1] else [
            f"x{i}" for i in range(array.shape[1])]
        frame = pd.DataFrame(array, columns=columns).infer_objects()
    if frame.shape[1] == 0 or (frame.shape[0] == 0 and not scoring):
        raise ModelError("X has no rows or no columns")
    if not frame.columns.is_unique:
        raise ModelError("X has repeated column names; each feature needs its own name")
    return frame


def _as_target(y: Any, n: int) -> NDArray[np.int64]:
    values = pd.Series(np.asarray(y).ravel())
    if len(values) != n:
        raise ModelError(f"X has {n} rows but y has {len(values)}")
    if values.isna().any():
        raise ModelError("y has missing values: a scorecard needs every row labelled "
                         "good (0) or bad (1)")
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or not numeric.isin([0, 1]).all():
        raise ModelError("y must be 0 (good) or 1 (bad); map the outcome first, "
                         "e.g. y = (status == 'bad')")
    target = numeric.to_numpy(dtype=np.int64)
    if target.sum() == 0 or target.sum() == n:
        raise ModelError(f"y needs both goods and bads; it has {int(target.sum())} bads "
                         f"among {n} rows")
    return target
