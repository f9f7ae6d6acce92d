"""Product propensity: which product type each customer opens next, one model per type.

For every product type with a ``propensity_<type>`` tag, a calibrated LightGBM
classifier (boosting.py) learns, among customers who do not hold that type at T,
who opens one in (T, T+h] (``propensity_horizon_days``;
:class:`~finpersona.models.outcomes.TakeUpOutcome`). :class:`ProductPropensity`
holds the per-type classifiers in one estimator, so the registry trains, stores
and scores the propensity model as one.

The registry's label contract is one ``target`` column per customer. Take-up has
a state per product type (held at T, lacked it and stayed without, lacked it and
opened one), so :func:`pack_targets` writes the states as the base-3 digits of one
integer (digit k is ``PRODUCT_TYPES[k]``: 0 held, 1 did not open, 2 opened) and
:func:`unpack_targets` reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from finpersona.models.boosting import BoostedClassifier, top_reasons
from finpersona.models.churn import RELATIONSHIP_FEATURES, binary_metrics, settings_of
from finpersona.models.outcomes import TakeUpOutcome
from finpersona.models.spec import KEY, ModelContext, ModelError, Reason, TrainingSet

# The product types with a propensity_<type> model tag (tags/catalogue/model.yaml).
PRODUCT_TYPES = ("time_deposit", "wealth_management", "fund", "insurance", "credit_card",
                 "consumer_loan", "business_loan")


def pack_targets(columns: dict[str, ir.IntegerValue], product_types: Sequence[str]) -> ir.Value:
    """One integer per customer: digit k (base 3) is 0 held, 1 did not open, 2 opened."""
    code: ir.IntegerValue = ibis.literal(0, "int64")
    for k, kind in enumerate(product_types):
        state = columns[kind].fill_null(-1) + 1
        code = code + state.cast("int64") * (3**k)
    return code


def unpack_targets(y: Any, product_types: Sequence[str]) -> pd.DataFrame:
    """Per product type: 1 opened, 0 did not, NaN held it (not in that type's population).

    ``y`` is a Series of packed codes (:func:`pack_targets`) or already a frame with
    one column per product type (or ``target_<type>``).
    """
    if isinstance(y, pd.DataFrame):
        renamed = y.rename(columns=lambda c: str(c).removeprefix("target_"))
        missing = [k for k in product_types if k not in renamed.columns]
        if missing:
            raise ModelError(f"the outcome frame lacks product types {missing}")
        return renamed[list(product_types)].astype(float)
    series = pd.Series(y)
    if series.isna().any():
        raise ModelError("packed take-up outcomes have missing values")
    codes = series.astype(np.int64).to_numpy()
    if (codes < 0).any() or (codes >= 3 ** len(product_types)).any():
        raise ModelError(f"packed take-up codes must lie in [0, 3^{len(product_types)}); "
                         f"found {int(codes.min())}..{int(codes.max())}")
    out = {}
    for k, kind in enumerate(product_types):
        state = (codes // 3**k) % 3
        out[kind] = np.where(state == 0, np.nan, state - 1.0)
    return pd.DataFrame(out, index=series.index)


class ProductPropensity(BaseEstimator):  # type: ignore[misc]
    """One calibrated classifier per product type, trained on that type's non-holders.

    A type with fewer than ``min_events`` take-ups (or non-take-ups) in training
    gets no classifier: its propensity is the observed take-up rate, listed in
    ``constant_types_`` and in the evaluation, so nobody mistakes it for a model.
    """

    def __init__(self, product_types: Sequence[str] = PRODUCT_TYPES,
                 estimator: BoostedClassifier | None = None, min_events: int = 40) -> None:
        self.product_types = product_types
        self.estimator = estimator
        self.min_events = min_events

    def fit(self, X: pd.DataFrame, y: Any) -> ProductPropensity:
        if not isinstance(X, pd.DataFrame):
            raise ModelError("ProductPropensity needs X as a pandas DataFrame")
        types = tuple(self.product_types)
        if not types or len(set(types)) != len(types):
            raise ModelError(f"product_types must be distinct and not empty, got {types}")
        outcomes = unpack_targets(y, types)
        if len(outcomes) != len(X):
            raise ModelError(f"y has {len(outcomes)} rows but X has {len(X)}")
        outcomes.index = X.index
        template = self.estimator if self.estimator is not None else BoostedClassifier()
        self.models_: dict[str, BoostedClassifier] = {}
        self.rates_: dict[str, float] = {}
        self.events_: dict[str, int] = {}
        for kind in types:
            eligible = outcomes[kind].notna().to_numpy()
            target = outcomes.loc[eligible, kind].astype(int)
            events = int(target.sum())
            self.events_[kind] = events
            # Add-one smoothing keeps a type nobody opened from claiming probability 0.
            self.rates_[kind] = (events + 1) / (len(target) + 2)
            if min(events, len(target) - events) >= self.min_events:
                self.models_[kind] = clone(template).fit(X.loc[eligible], target)
        self.constant_types_ = [k for k in types if k not in self.models_]
        self.product_types_ = types
        return self

    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """Take-up probability per product type (columns), one row per row of ``X``."""
        out = {}
        for kind in self.product_types_:
            model = self.models_.get(kind)
            out[kind] = (np.full(len(X), self.rates_[kind]) if model is None
                         else model.predict_proba(X)[:, 1])
        return pd.DataFrame(out, index=X.index)

    def explain(self, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        """Per row, the reasons behind its most likely product type (empty for a constant)."""
        probabilities = self.predict_proba(X)
        best = probabilities.idxmax(axis=1)
        reasons: list[list[Reason]] = [[] for _ in range(len(X))]
        for kind in self.product_types_:
            rows = np.flatnonzero((best == kind).to_numpy())
            if len(rows) == 0 or kind not in self.models_:
                continue
            found = top_reasons(self.models_[kind], X.iloc[rows], n, f"propensity_{kind}")
            for row, row_reasons in zip(rows, found, strict=True):
                reasons[row] = row_reasons
        return reasons


@dataclass(frozen=True)
class PropensitySpec:
    name: str = "propensity"
    title: dict[str, str] = field(default_factory=lambda: {"zh": "产品购买倾向",
                                                           "en": "Product propensity"})
    purpose: str = (
        "For each product type (time deposit, wealth management, fund, insurance, credit "
        "card, consumer loan, business loan), the probability that a customer who does not "
        "hold it opens one within the propensity horizon (default 90 days): next-best-offer "
        "targeting and campaign sizing. One calibrated gradient-boosted classifier per type, "
        "trained on that type's non-holders at the snapshot.")
    limits: str = (
        "Each type's model learns only from customers without that type at the snapshot; "
        "for holders the figure ranks but is not a validated probability. Types with too "
        "few take-ups in training get the observed rate instead of a model (listed in the "
        "card's metrics as constant). Loans come through the credit funnel (one look a "
        "year on the demo bank), so their take-ups are rare.")
    supervised: bool = True
    product_types: tuple[str, ...] = PRODUCT_TYPES

    def outcome(self, ctx: ModelContext) -> TakeUpOutcome:
        return TakeUpOutcome(self.product_types, settings_of(ctx).propensity_horizon_days)

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return ctx.tags(as_of, list(RELATIONSHIP_FEATURES))

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        wide = self.outcome(ctx).labels(ctx, as_of)
        columns = {k: wide[f"target_{k}"] for k in self.product_types}
        return wide.select(KEY, target=pack_targets(columns, self.product_types))

    def make_estimator(self, **params: Any) -> ProductPropensity:
        boosted = {k: v for k, v in params.items() if k in BoostedClassifier().get_params()}
        own = {k: v for k, v in params.items() if k not in boosted}
        return ProductPropensity(self.product_types, BoostedClassifier(**boosted), **own)

    def evaluate(self, estimator: ProductPropensity, data: TrainingSet) -> dict[str, float]:
        if data.y is None:
            raise ModelError("propensity: evaluation needs outcomes")
        outcomes = unpack_targets(data.y, estimator.product_types_)
        outcomes.index = data.X.index
        probabilities = estimator.predict_proba(data.X)
        metrics: dict[str, float] = {}
        aucs = []
        for kind in estimator.product_types_:
            eligible = outcomes[kind].notna().to_numpy()
            y = outcomes.loc[eligible, kind].to_numpy()
            metrics[f"{kind}_constant"] = float(kind in estimator.constant_types_)
            if 0 < y.sum() < len(y):
                found = binary_metrics(y, probabilities.loc[eligible, kind])
                metrics.update({f"{kind}_{name}": value for name, value in found.items()})
                if kind in estimator.models_:
                    aucs.append(found["auc"])
            else:
                metrics[f"{kind}_events"] = float(y.sum())
        if aucs:
            metrics["auc"] = float(np.mean(aucs))  # the mean over types with a model
        return metrics

    def outputs(self, estimator: ProductPropensity, X: pd.DataFrame) -> pd.DataFrame:
        probabilities = estimator.predict_proba(X)
        return probabilities.rename(columns=lambda k: f"propensity_{k}")

    def explain(self, estimator: ProductPropensity, X: pd.DataFrame,
                n: int = 3) -> list[list[Reason]]:
        return estimator.explain(X, n)


SPEC = PropensitySpec()
