"""What a registered model is: where its data comes from and what it writes.

A :class:`ModelSpec` ties an estimator (scikit-learn contract, pure maths on
pandas) to the warehouse: ``features`` and ``labels`` are engine expressions
(Ibis) over the tag snapshot and the canonical tables, so they run on DuckDB and
Spark alike; training samples them into Python, scoring maps the fitted
estimator over batches of ``features`` in the engine. ``outputs`` turns a batch
of features into the model tags the catalogue declares for the model
(``tags/catalogue/model.yaml``, ``model: {name: ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from finpersona.analytics.data import AnalyticsData

# Models read the same warehouse view the analyses do.
ModelContext = AnalyticsData
KEY = "customer_key"


class ModelError(ValueError):
    """A model cannot be trained, found or scored; the message says why and what to do."""


def plain_value(value: Any) -> Any:
    """A feature value as a plain Python value for a :class:`Reason` (None when missing)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Reason:
    """One feature's part in one prediction, for explanations and reason codes."""

    feature: str
    value: Any
    contribution: float  # in the model's own unit (points, log-odds, probability)
    direction: str  # "raises" or "lowers" the output named by the spec (risk, propensity...)

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value,
                "contribution": round(float(self.contribution), 6),
                "direction": self.direction}


@dataclass(frozen=True)
class TrainingSet:
    """Features (index = customer_key) and, for supervised models, the outcome."""

    X: pd.DataFrame
    y: pd.Series | None
    as_of: date
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. label window, base rate


class ModelSpec(Protocol):
    """One registered model. Implementations are small frozen dataclasses."""

    name: str  # registry name, equal to the catalogue's ``model: {name: ...}``
    title: dict[str, str]  # {"zh": ..., "en": ...}
    purpose: str  # one paragraph for the model card
    limits: str  # known limits, for the model card
    supervised: bool

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        """customer_key plus feature columns as of ``as_of`` (an engine expression)."""
        ...

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        """customer_key plus ``target``, observed in the outcome window after ``as_of``."""
        ...

    def make_estimator(self, **params: Any) -> Any:
        """A fresh, unfitted estimator (scikit-learn contract)."""
        ...

    def evaluate(self, estimator: Any, data: TrainingSet) -> dict[str, float]:
        """Held-out metrics of a fitted estimator (AUC, KS, ... or silhouette, ...)."""
        ...

    def outputs(self, estimator: Any, X: pd.DataFrame) -> pd.DataFrame:
        """The model tags for each row of ``X`` (same index; columns = tag names)."""
        ...

    def explain(self, estimator: Any, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        """Per row, the ``n`` features that moved the prediction most, with direction."""
        ...
