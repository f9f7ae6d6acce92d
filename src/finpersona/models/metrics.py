"""Model metrics every model shares: ranking power, decile tables and stability.

Conventions (docs/models/scorecard.md, "Metrics"):

* ``y`` is the outcome, 1 for the event (a bad, a churner, a buyer) and 0 otherwise;
  ``score`` ranks risk the way scikit-learn does: *higher means more likely the
  event*. A credit score in points runs the other way; pass ``-points``.
* AUC is the probability that a random event row scores above a random non-event
  row, ties counting one half (the Mann-Whitney statistic); Gini = 2 AUC - 1.
* KS is the largest vertical distance between the score distributions of events and
  non-events, over every threshold.
* PSI (population stability index) compares the shares of an ``expected`` sample
  (the training snapshot) and an ``actual`` one (a later snapshot) over the same
  bins: ``sum (a - e) ln(a / e)``. Numeric bins are cut at the expected's
  quantiles; missing values are a bin of their own; an empty bin's share is
  floored at :data:`PSI_FLOOR` so the logarithm stays finite. CSI is the same
  number computed for one feature.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import rankdata

from finpersona.models.spec import ModelError

PSI_FLOOR = 1e-4  # the share given to an empty bin: one in ten thousand
MISSING_BIN = "(missing)"
STABLE_BELOW = 0.1
ACT_ABOVE = 0.25


# -- input checks -------------------------------------------------------------------------


def _as_outcome(y: Any) -> NDArray[np.int64]:
    values = pd.Series(np.asarray(y).ravel())
    if values.isna().any():
        raise ModelError("the outcome has missing values: drop or label those rows first")
    try:
        numeric = values.astype(float).to_numpy()
    except (TypeError, ValueError):
        raise ModelError("the outcome must be 0/1 (1 = event); got non-numeric values "
                         f"such as {values.iloc[0]!r}") from None
    if not np.isin(numeric, (0.0, 1.0)).all():
        odd = sorted(set(numeric[~np.isin(numeric, (0.0, 1.0))].tolist()))[:5]
        raise ModelError(f"the outcome must be 0/1 (1 = event); found {odd}")
    return numeric.astype(np.int64)


def _as_score(score: Any, n: int) -> NDArray[np.float64]:
    try:
        values = np.asarray(score, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ModelError("scores must be numbers") from None
    if values.shape[0] != n:
        raise ModelError(f"{n} outcomes but {values.shape[0]} scores: pass one score per row")
    if not np.isfinite(values).all():
        raise ModelError("scores must be finite: some are NaN or infinite")
    return values


def _outcome_and_score(y: Any, score: Any) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    outcome = _as_outcome(y)
    values = _as_score(score, outcome.shape[0])
    events = int(outcome.sum())
    if events == 0 or events == outcome.shape[0]:
        raise ModelError("ranking metrics need both outcomes: the sample has "
                         f"{events} events among {outcome.shape[0]} rows")
    return outcome, values


# -- ranking power ------------------------------------------------------------------------


def auc(y: Any, score: Any) -> float:
    """Area under the ROC curve (higher score = more likely ``y == 1``), ties as half."""
    outcome, values = _outcome_and_score(y, score)
    # Mann-Whitney: the event rows' average ranks, less the ranks they hold among
    # themselves, count the (event, non-event) pairs ordered right; tied pairs get 1/2.
    ranks = rankdata(values)
    events = int(outcome.sum())
    others = outcome.shape[0] - events
    wins = float(ranks[outcome == 1].sum()) - events * (events + 1) / 2
    return float(wins / (events * others))


def gini(y: Any, score: Any) -> float:
    """Gini coefficient (accuracy ratio) = 2 AUC - 1."""
    return 2.0 * auc(y, score) - 1.0


def ks(y: Any, score: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two score CDFs."""
    outcome, values = _outcome_and_score(y, score)
    order = np.argsort(values, kind="stable")
    sorted_scores, sorted_outcome = values[order], outcome[order]
    cum_events = np.cumsum(sorted_outcome) / sorted_outcome.sum()
    cum_others = np.cumsum(1 - sorted_outcome) / (1 - sorted_outcome).sum()
    # Only the last row of a run of tied scores is a threshold both CDFs can stop at.
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    return float(np.max(np.abs(cum_events - cum_others)[last_of_tie]))


def lift_table(y: Any, score: Any, groups: int = 10) -> pd.DataFrame:
    """Gains and lift by score group, riskiest first (deciles by default).

    Rows are ranked by ``score`` from high to low and cut into ``groups`` groups of
    (nearly) equal size; tied scores stay in one group, so groups can differ in size
    when many rows share a score. Columns: ``group`` (1 = highest scores), ``count``,
    ``min_score``, ``max_score``, ``events`` (bads), ``event_rate``, ``cum_events``,
    ``capture`` (share of all events in this and the riskier groups: the gains
    curve), ``lift`` (the group's event rate over the overall rate) and ``cum_lift``.
    """
    if not isinstance(groups, int | np.integer) or groups < 1:
        raise ModelError(f"groups must be a positive whole number, got {groups!r}")
    outcome, values = _outcome_and_score(y, score)
    n = outcome.shape[0]
    if groups > n:
        raise ModelError(f"cannot cut {n} rows into {groups} groups: use fewer groups")
    # Average ranks from the top keep ties together; rank r (1..n) goes to group
    # ceil(r * groups / n), which gives equal groups when there are no ties.
    rank_from_top = rankdata(-values)
    group = np.ceil(rank_from_top * groups / n).astype(int).clip(1, groups)
    frame = pd.DataFrame({"group": group, "score": values, "event": outcome})
    table = frame.groupby("group").agg(count=("event", "size"), min_score=("score", "min"),
                                       max_score=("score", "max"), events=("event", "sum"))
    table = table.reset_index()
    overall = outcome.mean()
    table["event_rate"] = table["events"] / table["count"]
    table["cum_events"] = table["events"].cumsum()
    table["capture"] = table["cum_events"] / outcome.sum()
    table["lift"] = table["event_rate"] / overall
    table["cum_lift"] = (table["cum_events"] / table["count"].cumsum()) / overall
    return table


# -- stability ----------------------------------------------------------------------------


def _quantile_edges(expected: NDArray[np.float64], bins: int) -> NDArray[np.float64]:
    # Probabilities as i / bins, correctly rounded: linspace's own rounding can put a
    # cut an ulp below a data value (0.9999999999999982 for 1), moving that value a bin.
    inner = np.unique(np.quantile(expected, np.arange(1, bins) / bins))
    return np.asarray(np.r_[-np.inf, inner, np.inf], dtype=np.float64)


def _psi_frame(bins: list[Any], e_counts: pd.Series, a_counts: pd.Series) -> pd.DataFrame:
    e = e_counts.reindex(bins, fill_value=0).to_numpy(dtype=float)
    a = a_counts.reindex(bins, fill_value=0).to_numpy(dtype=float)
    e_share = np.maximum(e / e.sum(), PSI_FLOOR)
    a_share = np.maximum(a / a.sum(), PSI_FLOOR)
    return pd.DataFrame({"bin": bins, "expected_count": e.astype(int),
                         "actual_count": a.astype(int), "expected_share": e_share,
                         "actual_share": a_share,
                         "psi": (a_share - e_share) * np.log(a_share / e_share)})


def _nonempty(values: Any, what: str) -> pd.Series:
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    if series.empty:
        raise ModelError(f"the {what} sample is empty: PSI needs rows on both sides")
    return series


def psi_table(expected: Any, actual: Any, bins: int = 10) -> pd.DataFrame:
    """Per-bin shares and PSI terms of a numeric variable (bins from ``expected``).

    Bins are cut at the expected's ``bins``-quantiles (repeated cuts merged, so a
    variable with few values gets fewer bins); missing values form a last bin,
    :data:`MISSING_BIN`, when either side has any. The ``psi`` column sums to
    :func:`psi`.
    """
    if not isinstance(bins, int | np.integer) or bins < 1:
        raise ModelError(f"bins must be a positive whole number, got {bins!r}")
    e_raw, a_raw = _nonempty(expected, "expected"), _nonempty(actual, "actual")
    try:
        e_num = pd.to_numeric(e_raw).astype(float)
        a_num = pd.to_numeric(a_raw).astype(float)
    except (TypeError, ValueError):
        raise ModelError("psi_table needs numbers; for categories use psi_categorical") from None
    if np.isinf(e_num).any() or np.isinf(a_num).any():
        raise ModelError("PSI cannot bin infinite values: replace them first")
    present = np.asarray(e_num.dropna(), dtype=np.float64)
    edges = _quantile_edges(present, bins) if present.size else np.array([-np.inf, np.inf])
    labels = [f"({lo:.6g}, {hi:.6g}]" for lo, hi in pairwise(edges)]

    def binned(values: pd.Series) -> pd.Series:
        codes = np.searchsorted(edges[1:-1], values.to_numpy(), side="left")
        out = pd.Series([labels[c] for c in codes], dtype=object)
        out[values.isna().to_numpy()] = MISSING_BIN
        return out

    e_bins, a_bins = binned(e_num), binned(a_num)
    names = list(labels)
    if (e_bins == MISSING_BIN).any() or (a_bins == MISSING_BIN).any():
        names.append(MISSING_BIN)
    return _psi_frame(names, e_bins.value_counts(), a_bins.value_counts())


def psi(expected: Any, actual: Any, bins: int = 10) -> float:
    """Population stability index of a numeric variable (bins = expected quantiles)."""
    return float(psi_table(expected, actual, bins)["psi"].sum())


def psi_categorical_table(expected: Any, actual: Any) -> pd.DataFrame:
    """Per-category shares and PSI terms; each category (and missing) is a bin."""
    e_raw, a_raw = _nonempty(expected, "expected"), _nonempty(actual, "actual")
    e_lab = e_raw.map(lambda v: MISSING_BIN if pd.isna(v) else str(v))
    a_lab = a_raw.map(lambda v: MISSING_BIN if pd.isna(v) else str(v))
    names = sorted(set(e_lab) | set(a_lab))
    return _psi_frame(names, e_lab.value_counts(), a_lab.value_counts())


def psi_categorical(expected: Any, actual: Any) -> float:
    """Population stability index of a categorical variable."""
    return float(psi_categorical_table(expected, actual)["psi"].sum())


def stability_band(value: float) -> str:
    """The usual reading of a PSI/CSI: ``stable`` < 0.1 <= ``watch`` <= 0.25 < ``act``."""
    number = float(value)
    if not np.isfinite(number) or number < 0:
        raise ModelError(f"a PSI is a finite, non-negative number; got {value!r}")
    if number < STABLE_BELOW:
        return "stable"
    return "watch" if number <= ACT_ABOVE else "act"


def classification_summary(y: Any, score: Any) -> dict[str, float]:
    """AUC, Gini and KS in one dict (the held-out metrics a spec's ``evaluate`` reports)."""
    value = auc(y, score)
    return {"auc": value, "gini": 2.0 * value - 1.0, "ks": ks(y, score)}
