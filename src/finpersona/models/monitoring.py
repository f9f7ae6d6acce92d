"""Stability of a model's inputs and outputs: PSI of the scores, CSI of each feature.

At training time each feature and output gets a *baseline*: bin edges (deciles of
the training values; categories for text) and the share of training customers in
each bin, nulls as a bin of their own. Later, the same bins are counted in the
engine over a newer snapshot, and the population stability index compares them:

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with shares floored at 0.0001 so an empty bin does not make it infinite. The
usual bands: below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act. PSI of a
feature is called CSI (characteristic stability index); the formula is the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

SHARE_FLOOR = 1e-4
TOP_CATEGORIES = 20
OTHER = "__other__"
NULL = "__null__"


def band(value: float) -> str:
    if value < 0.1:
        return "stable"
    if value <= 0.25:
        return "watch"
    return "act"


def psi_from_shares(expected: list[float], actual: list[float]) -> float:
    if len(expected) != len(actual):
        raise ValueError("expected and actual shares need the same bins")
    total = 0.0
    for e_raw, a_raw in zip(expected, actual, strict=True):
        e, a = max(e_raw, SHARE_FLOOR), max(a_raw, SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def column_baseline(series: pd.Series) -> dict[str, Any]:
    """Bins and training shares of one column (see the module docstring)."""
    n = len(series)
    if n == 0:
        raise ValueError(f"no rows to take a baseline of {series.name}")
    if _is_numeric(series):
        values = pd.to_numeric(series, errors="coerce").astype(float)
        present = values.dropna()
        edges = sorted(set(np.quantile(present, np.linspace(0.1, 0.9, 9)).round(10).tolist())
                       ) if len(present) else []
        labels = _numeric_bins(values, edges)
        shares = [float((labels == i).sum()) / n for i in range(len(edges) + 1)]
        return {"kind": "numeric", "edges": edges, "shares": shares,
                "null_share": float(values.isna().sum()) / n}
    text = series.astype("string")
    counts = text.value_counts(dropna=True)
    top = [str(v) for v in counts.index[:TOP_CATEGORIES]]
    shares = [float(counts.get(v, 0)) / n for v in top]
    other = float(counts.iloc[TOP_CATEGORIES:].sum()) / n if len(counts) > TOP_CATEGORIES else 0.0
    return {"kind": "category", "categories": top, "shares": [*shares, other],
            "null_share": float(text.isna().sum()) / n}


def _numeric_bins(values: pd.Series, edges: list[float]) -> np.ndarray:
    out = np.searchsorted(np.asarray(edges), values.to_numpy(), side="left")
    return np.where(values.isna().to_numpy(), -1, out)


def baselines(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(c): column_baseline(frame[c]) for c in frame.columns}


def _bin_expr(column: ir.Value, base: Mapping[str, Any]) -> ir.Value:
    """The bin number of each row in the engine (-1 for null), matching _numeric_bins."""
    if base["kind"] == "numeric":
        value = column.cast("float64")
        cases = [(value <= edge, i) for i, edge in enumerate(base["edges"])]
        binned = ibis.cases(*cases, else_=len(base["edges"])) if cases else ibis.literal(0)
        return ibis.ifelse(value.isnull(), -1, binned)
    text = column.cast("string")
    cats = list(base["categories"])
    cases = [(text == c, i) for i, c in enumerate(cats)]
    binned = ibis.cases(*cases, else_=len(cats)) if cases else ibis.literal(0)
    return ibis.ifelse(text.isnull(), -1, binned)


def shares_in_engine(table: ir.Table, base: Mapping[str, Mapping[str, Any]],
                     engine_to_arrow: Any) -> tuple[int, dict[str, tuple[list[float], float]]]:
    """Row count and, per column, (shares per bin, null share), in one engine pass."""
    aggregates: dict[str, ir.Value] = {"_rows": table.count()}
    bins = {name: _bin_expr(table[name], b) for name, b in base.items() if name in table.columns}
    for i, (name, expr) in enumerate(bins.items()):
        size = len(base[name]["shares"])
        for j in range(-1, size):
            aggregates[f"c{i}_{j + 1}"] = (expr == j).cast("int64").sum()
    row = engine_to_arrow(table.aggregate(**aggregates)).to_pylist()[0]
    rows = int(row["_rows"])
    out: dict[str, tuple[list[float], float]] = {}
    for i, name in enumerate(bins):
        size = len(base[name]["shares"])
        counts = [int(row[f"c{i}_{j + 1}"] or 0) for j in range(-1, size)]
        denom = max(rows, 1)
        out[name] = ([c / denom for c in counts[1:]], counts[0] / denom)
    return rows, out


@dataclass(frozen=True)
class Stability:
    column: str
    index: float
    band: str
    expected: list[float]
    actual: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "index": round(self.index, 6), "band": self.band,
                "expected": [round(x, 6) for x in self.expected],
                "actual": [round(x, 6) for x in self.actual]}


def stability(name: str, base: Mapping[str, Any], actual: tuple[list[float], float]
              ) -> Stability:
    """PSI/CSI of one column, the null share counted as one more bin."""
    expected = [*base["shares"], base["null_share"]]
    observed = [*actual[0], actual[1]]
    value = psi_from_shares(expected, observed)
    return Stability(name, value, band(value), expected, observed)
