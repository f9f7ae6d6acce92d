"""Shared model metrics against their brute-force definitions and a second library."""

from __future__ import annotations

import math
from itertools import pairwise, product

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from sklearn.metrics import roc_auc_score, roc_curve

from finpersona.models.metrics import (
    MISSING_BIN,
    PSI_FLOOR,
    auc,
    classification_summary,
    gini,
    ks,
    lift_table,
    psi,
    psi_categorical,
    psi_categorical_table,
    psi_table,
    stability_band,
)
from finpersona.models.spec import ModelError

# Small integer scores make ties common, which is where the definitions bite.
SAMPLES = st.lists(st.tuples(st.integers(0, 1), st.integers(-5, 5)), min_size=2, max_size=60
                   ).filter(lambda rows: 0 < sum(r[0] for r in rows) < len(rows))


def brute_auc(y: list[int], s: list[float]) -> float:
    """The share of (bad, good) pairs with the bad scored higher; ties count one half."""
    bads = [v for v, t in zip(s, y, strict=True) if t == 1]
    goods = [v for v, t in zip(s, y, strict=True) if t == 0]
    wins = sum(1.0 if b > g else 0.5 if b == g else 0.0 for b, g in product(bads, goods))
    return wins / (len(bads) * len(goods))


def brute_ks(y: list[int], s: list[float]) -> float:
    """Scan every threshold t: |P(score <= t | bad) - P(score <= t | good)|."""
    bads = [v for v, t in zip(s, y, strict=True) if t == 1]
    goods = [v for v, t in zip(s, y, strict=True) if t == 0]
    gaps = [abs(sum(b <= t for b in bads) / len(bads) - sum(g <= t for g in goods) / len(goods))
            for t in sorted(set(s))]
    return max(gaps)


@settings(max_examples=150, deadline=None)
@given(SAMPLES)
def test_auc_gini_ks_equal_brute_force(rows: list[tuple[int, int]]) -> None:
    y = [r[0] for r in rows]
    s = [float(r[1]) for r in rows]
    assert auc(y, s) == pytest.approx(brute_auc(y, s), abs=1e-12)
    assert gini(y, s) == pytest.approx(2 * brute_auc(y, s) - 1, abs=1e-12)
    assert ks(y, s) == pytest.approx(brute_ks(y, s), abs=1e-12)
    summary = classification_summary(y, s)
    assert summary["auc"] == pytest.approx(auc(y, s))
    assert summary["ks"] == pytest.approx(ks(y, s))


def test_auc_and_ks_agree_with_scikit_learn_on_a_large_sample() -> None:
    rng = np.random.default_rng(3)
    score = rng.normal(size=20_000)
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(score * 1.2 - 2)))).astype(int)
    rounded = np.round(score, 1)  # with ties
    assert auc(y, rounded) == pytest.approx(roc_auc_score(y, rounded), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, rounded)
    assert ks(y, rounded) == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)
    # A perfect and a reversed ranking.
    assert auc(y, y) == 1.0
    assert auc(y, -y) == 0.0
    assert ks(y, y) == 1.0


@settings(max_examples=80, deadline=None)
@given(SAMPLES, st.integers(1, 10))
def test_lift_table_counts_and_gains(rows: list[tuple[int, int]], groups: int) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([float(r[1]) for r in rows])
    if groups > len(rows):
        with pytest.raises(ModelError, match="fewer groups"):
            lift_table(y, s, groups)
        return
    table = lift_table(y, s, groups)
    assert int(table["count"].sum()) == len(rows)
    assert int(table["events"].sum()) == int(y.sum())
    assert table["capture"].iloc[-1] == pytest.approx(1.0)
    assert table["cum_lift"].iloc[-1] == pytest.approx(1.0)
    # Riskier groups first, and a score never straddles two groups.
    assert (table["min_score"].iloc[:-1].to_numpy() > table["max_score"].iloc[1:].to_numpy()
            ).all()
    for row in table.itertuples():
        inside = (s >= row.min_score) & (s <= row.max_score)
        assert int(inside.sum()) == row.count
        assert int(y[inside].sum()) == row.events
        assert row.lift == pytest.approx((row.events / row.count) / y.mean())


def test_lift_table_deciles_without_ties() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0] * 10)
    s = np.arange(100, 0, -1, dtype=float)  # row 0 is the riskiest
    table = lift_table(y, s)
    assert table["count"].tolist() == [10] * 10
    assert table["events"].tolist() == [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    table = lift_table(np.r_[np.ones(30), np.zeros(70)], s)
    assert table["events"].tolist()[:4] == [10, 10, 10, 0]
    assert table["capture"].tolist()[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert table["lift"].iloc[0] == pytest.approx(1 / 0.3)


def brute_psi(expected: list[float], actual: list[float], edges: list[float]) -> float:
    def shares(values: list[float]) -> list[float]:
        counts = [sum(lo < v <= hi for v in values) for lo, hi in pairwise(edges)]
        return [max(c / len(values), PSI_FLOOR) for c in counts]

    return sum((a - e) * math.log(a / e) for e, a in zip(shares(expected), shares(actual),
                                                         strict=True))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=5, max_size=80),
       st.lists(st.integers(0, 25), min_size=5, max_size=80), st.integers(2, 10))
def test_psi_equals_the_sum_over_quantile_bins(expected: list[int], actual: list[int],
                                               bins: int) -> None:
    e, a = [float(v) for v in expected], [float(v) for v in actual]
    cuts = sorted(set(np.quantile(e, [i / bins for i in range(1, bins)]).tolist()))
    edges = [-math.inf, *cuts, math.inf]
    assert psi(e, a, bins) == pytest.approx(brute_psi(e, a, edges), abs=1e-12)
    assert psi(e, e, bins) == pytest.approx(0.0, abs=1e-15)
    table = psi_table(e, a, bins)
    assert int(table["expected_count"].sum()) == len(e)
    assert int(table["actual_count"].sum()) == len(a)
    assert (table["psi"] >= 0).all()


def test_psi_of_a_known_shift() -> None:
    # Expected: 0..99 -> ten deciles of 10%. Actual: the lower half unchanged, the upper
    # half all in the top decile (50%), deciles 6-9 empty (floored).
    expected = np.arange(100, dtype=float)
    actual = np.r_[np.arange(50, dtype=float), np.full(50, 95.0)]
    e = np.full(10, 0.1)
    a = np.array([0.1] * 5 + [0.0] * 4 + [0.5])
    a = np.maximum(a, PSI_FLOOR)
    want = float(np.sum((a - e) * np.log(a / e)))
    assert psi(expected, actual) == pytest.approx(want, rel=1e-12)
    assert stability_band(psi(expected, actual)) == "act"


def test_psi_missing_values_are_a_bin_of_their_own() -> None:
    expected = [1.0, 2.0, 3.0, 4.0, None, None]
    actual = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    table = psi_table(expected, actual, bins=2)
    assert table["bin"].iloc[-1] == MISSING_BIN
    assert table["expected_count"].tolist() == [2, 2, 2]
    assert table["actual_count"].tolist() == [2, 4, 0]
    want = ((2 / 6 - 2 / 6) * 0 + (4 / 6 - 2 / 6) * math.log(2)
            + (PSI_FLOOR - 2 / 6) * math.log(PSI_FLOOR / (2 / 6)))
    assert psi(expected, actual, bins=2) == pytest.approx(want)


def test_psi_categorical() -> None:
    expected = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    actual = ["a"] * 40 + ["b"] * 30 + ["d"] * 20 + [None] * 10
    table = psi_categorical_table(expected, actual).set_index("bin")
    assert set(table.index) == {"a", "b", "c", "d", MISSING_BIN}
    e = {"a": 0.5, "b": 0.3, "c": 0.2, "d": PSI_FLOOR, MISSING_BIN: PSI_FLOOR}
    a = {"a": 0.4, "b": 0.3, "c": PSI_FLOOR, "d": 0.2, MISSING_BIN: 0.1}
    want = sum((a[k] - e[k]) * math.log(a[k] / e[k]) for k in e)
    assert psi_categorical(expected, actual) == pytest.approx(want)
    assert psi_categorical(expected, expected) == 0.0


@pytest.mark.parametrize(("value", "band"), [(0.0, "stable"), (0.0999, "stable"),
                                             (0.1, "watch"), (0.25, "watch"),
                                             (0.2501, "act"), (3.0, "act")])
def test_stability_bands(value: float, band: str) -> None:
    assert stability_band(value) == band


def test_bad_input_says_what_is_wrong() -> None:
    with pytest.raises(ModelError, match="both outcomes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ModelError, match="0/1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ModelError, match="missing values"):
        ks(pd.Series([0, None, 1]), [0.1, 0.2, 0.3])
    with pytest.raises(ModelError, match="one score per row"):
        gini([0, 1], [0.1])
    with pytest.raises(ModelError, match="finite"):
        auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ModelError, match="positive whole number"):
        lift_table([0, 1], [0.1, 0.2], groups=0)
    with pytest.raises(ModelError, match="empty"):
        psi([], [1.0])
    with pytest.raises(ModelError, match="psi_categorical"):
        psi(["a", "b"], ["a"])
    with pytest.raises(ModelError, match="non-negative"):
        stability_band(-0.1)
    with pytest.raises(ModelError, match="non-negative"):
        stability_band(float("nan"))
