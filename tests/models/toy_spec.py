"""A small registered model for testing the framework (registry, scoring, monitoring).

Logistic regression of ``has_credit_card`` on three tags; it writes the model
tags ``toy_score`` and ``toy_band``, declared by a workspace tag file (TOY_TAGS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from finpersona.models.spec import ModelContext, Reason, TrainingSet

FEATURES = ("age", "aum", "txn_count_90d")
TOY_TAGS = """
category: model
owner: tests
tags:
  - name: toy_score
    title: {zh: 测试评分, en: Toy score}
    description: Probability of holding a credit card (framework test model).
    kind: model
    type: decimal
    refresh: on_model_score
    model: {name: toy}
  - name: toy_band
    title: {zh: 测试分档, en: Toy band}
    description: High or low toy score.
    kind: model
    type: category
    values: [low, high]
    refresh: on_model_score
    model: {name: toy}
"""


class ToyModel(BaseEstimator):  # type: ignore[misc]
    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        m = X[list(FEATURES)].astype(float).fillna(0.0).to_numpy()
        m[:, 1] = np.log1p(np.clip(m[:, 1], 0, None))
        return m

    def fit(self, X: pd.DataFrame, y: pd.Series) -> ToyModel:
        m = self._matrix(X)
        self.mean_, self.scale_ = m.mean(axis=0), m.std(axis=0) + 1e-9
        self.model_ = LogisticRegression(C=self.C).fit((m - self.mean_) / self.scale_,
                                                       y.astype(int))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        z = (self._matrix(X) - self.mean_) / self.scale_
        return np.asarray(self.model_.predict_proba(z))


@dataclass(frozen=True)
class ToySpec:
    name: str = "toy"
    title: dict[str, str] = field(default_factory=lambda: {"zh": "测试模型", "en": "Toy model"})
    purpose: str = "Tests the model framework."
    limits: str = "None: a test fixture."
    supervised: bool = True

    def features(self, ctx: ModelContext, as_of: date) -> ir.Table:
        return ctx.tags(as_of, list(FEATURES))

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table | None:
        t = ctx.tags(as_of, ["has_credit_card"])
        return t.select("customer_key", target=t.has_credit_card.fill_null(False).cast("int64"))

    def make_estimator(self, **params: Any) -> ToyModel:
        return ToyModel(**params)

    def evaluate(self, estimator: ToyModel, data: TrainingSet) -> dict[str, float]:
        assert data.y is not None
        p = estimator.predict_proba(data.X)[:, 1]
        return {"auc": float(roc_auc_score(data.y, p)), "rows": float(len(p))}

    def outputs(self, estimator: ToyModel, X: pd.DataFrame) -> pd.DataFrame:
        p = estimator.predict_proba(X)[:, 1]
        return pd.DataFrame({"toy_score": p, "toy_band": np.where(p >= 0.5, "high", "low")},
                            index=X.index)

    def explain(self, estimator: ToyModel, X: pd.DataFrame, n: int = 3) -> list[list[Reason]]:
        z = (estimator._matrix(X) - estimator.mean_) / estimator.scale_
        parts = z * estimator.model_.coef_[0]
        out = []
        for row, values in zip(parts, X[list(FEATURES)].itertuples(index=False), strict=True):
            order = np.argsort(-np.abs(row))[:n]
            out.append([Reason(FEATURES[i], values[i], float(row[i]),
                               "raises" if row[i] > 0 else "lowers") for i in order])
        return out


SPEC = ToySpec()
