"""A calibrated LightGBM classifier for rare outcomes (churn, product take-up).

:class:`BoostedClassifier` follows the scikit-learn estimator contract. ``fit``
cross-fits: in each of ``cv_folds`` stratified folds, gradient-boosted trees grow on
the other folds with the rare class up-weighted to balance the classes
(``balance_classes``) and stop when the loss on the left-out fold stops falling;
their scores on the left-out fold are kept. The final trees then learn from every
row, for the folds' average number of rounds, and Platt scaling,
``logit(p) = slope * margin + intercept``, is fitted on the out-of-fold scores
*without* weights. The weights shift the trees' log-odds by about
``log(negatives / positives)``; Platt's intercept takes that shift back out, so
``predict_proba`` is a calibrated probability again. (scikit-learn's
``CalibratedClassifierCV(ensemble=False)`` works the same way.)

Platt scaling rather than isotonic regression because it is linear in the trees'
margin: LightGBM's exact per-feature contributions (``pred_contrib``, TreeSHAP)
scaled by the slope still add up to the calibrated log-odds, which is what
:meth:`BoostedClassifier.contributions` and the explanations report.

Categorical columns (pandas ``category``, ``object`` or ``string``) are passed to
LightGBM as categories with the levels seen in training; unseen levels become
missing. Booleans become 0/1. Training is deterministic: one seed, row-wise
histograms, ``deterministic=True`` and a fixed thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold

from finpersona.models.spec import ModelError, Reason, plain_value

BASE = "(base)"  # the column of the explanation that holds the per-row constant
MIN_EVENTS = 10  # fewer positives (or negatives) than this cannot train and validate


def _target(y: Any, n: int) -> NDArray[np.int64]:
    values = pd.Series(np.asarray(y).ravel())
    if len(values) != n:
        raise ModelError(f"y has {len(values)} rows but X has {n}")
    if values.isna().any():
        raise ModelError("y has missing outcomes: drop those rows or label them 0/1")
    try:
        numeric = values.astype(float).to_numpy()
    except (TypeError, ValueError):
        raise ModelError(f"y must be 0/1 (1 = the event); got values such as "
                         f"{values.iloc[0]!r}") from None
    if not np.isin(numeric, (0.0, 1.0)).all():
        raise ModelError("y must be 0/1 (1 = the event); found "
                         f"{sorted(set(numeric[~np.isin(numeric, (0.0, 1.0))].tolist()))[:5]}")
    return numeric.astype(np.int64)


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X)
    if array.ndim != 2:
        raise ModelError(f"X must be a table (2-d), got shape {array.shape}")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def _is_categorical(column: pd.Series) -> bool:
    """Categories and text are categorical; booleans (even with gaps, as objects) are not."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return True
    if not (pd.api.types.is_object_dtype(column.dtype)
            or pd.api.types.is_string_dtype(column.dtype)):
        return False
    values = column.dropna()
    return not (len(values) > 0 and values.map(lambda v: isinstance(v, bool | np.bool_)).all())


def _numbers(column: pd.Series) -> NDArray[np.float64]:
    try:
        return np.asarray(pd.to_numeric(column).astype(float).to_numpy(), dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"feature {column.name!r} was numeric in training but now holds "
                         f"values such as {column.dropna().iloc[0]!r}") from None


def _platt(margin: NDArray[np.float64], y: NDArray[np.int64]) -> tuple[float, float]:
    """Platt (1999) scaling with his smoothed targets, fitted by maximum likelihood."""
    positives = float(y.sum())
    negatives = float(len(y) - positives)
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        z = params[0] * margin + params[1]
        # log(1 + e^z) - t z, written to stay finite for large |z|
        value = float(np.sum(np.logaddexp(0.0, z) - target * z))
        residual = 1.0 / (1.0 + np.exp(-z)) - target
        return value, np.array([float(residual @ margin), float(residual.sum())])

    start = np.array([1.0, float(np.log((positives + 1) / (negatives + 1)))])
    found = minimize(loss, start, jac=True, method="BFGS")
    return float(found.x[0]), float(found.x[1])


class BoostedClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Gradient-boosted trees (LightGBM) with balanced classes and Platt calibration.

    Parameters are LightGBM's where the names match. The defaults suit a few hundred
    events among ten thousand rows: small trees (``num_leaves``), large leaves
    (``min_child_samples``) and categories shrunk towards the mean (``cat_smooth``,
    ``min_data_per_group``), so rare events do not carve out noise. ``cv_folds`` is the
    number of stratified folds that choose the number of trees and give the
    out-of-fold scores for calibration.
    """

    def __init__(self, n_estimators: int = 400, learning_rate: float = 0.03,
                 num_leaves: int = 7, min_child_samples: int = 100, subsample: float = 0.8,
                 colsample_bytree: float = 0.7, reg_lambda: float = 1.0,
                 cat_smooth: float = 50.0, min_data_per_group: int = 200,
                 balance_classes: bool = True, cv_folds: int = 4,
                 early_stopping_rounds: int = 50, random_state: int = 0,
                 n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.cat_smooth = cat_smooth
        self.min_data_per_group = min_data_per_group
        self.balance_classes = balance_classes
        self.cv_folds = cv_folds
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> BoostedClassifier:
        frame = _frame(X)
        target = _target(y, len(frame))
        positives = int(target.sum())
        if min(positives, len(target) - positives) < MIN_EVENTS:
            raise ModelError(f"need at least {MIN_EVENTS} rows of each outcome to train and "
                             f"calibrate; got {positives} events in {len(target)} rows "
                             "(use a longer outcome window or more customers)")
        if self.cv_folds < 2:
            raise ModelError(f"cv_folds must be at least 2, got {self.cv_folds}")
        self.feature_names_in_ = np.array([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_ = {str(c): sorted(map(str, frame[c].dropna().unique()))
                            for c in frame.columns if _is_categorical(frame[c])}
        matrix = self._matrix(frame)
        # Cross-fitting: each fold's trees stop early on the fold they did not see, and
        # their margins there are the out-of-fold scores Platt scaling is fitted on. The
        # final trees then learn from every row, for the folds' average number of rounds.
        folds = StratifiedKFold(n_splits=self.cv_folds, shuffle=True,
                                random_state=self.random_state)
        out_of_fold = np.zeros(len(target))
        rounds = []
        for fit_rows, check_rows in folds.split(matrix, target):
            model = self._trees(self.n_estimators)
            model.fit(matrix.iloc[fit_rows], target[fit_rows],
                      sample_weight=self._weights(target[fit_rows]),
                      eval_X=(matrix.iloc[check_rows],), eval_y=(target[check_rows],),
                      eval_sample_weight=[self._weights(target[check_rows])],
                      callbacks=[self._early_stopping()])
            best = int(model.best_iteration_ or self.n_estimators)
            rounds.append(best)
            out_of_fold[check_rows] = model.predict(matrix.iloc[check_rows], raw_score=True,
                                                    num_iteration=best)
        self.n_rounds_ = max(1, round(float(np.mean(rounds))))
        self.booster_ = self._trees(self.n_rounds_).fit(matrix, target,
                                                        sample_weight=self._weights(target))
        self.calibration_slope_, self.calibration_intercept_ = _platt(out_of_fold, target)
        self.classes_ = np.array([0, 1])
        self.base_rate_ = positives / len(target)
        return self

    def _trees(self, rounds: int) -> Any:
        import lightgbm as lgb

        return lgb.LGBMClassifier(
            objective="binary", n_estimators=rounds, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
            subsample=self.subsample, subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree, reg_lambda=self.reg_lambda,
            cat_smooth=self.cat_smooth, min_data_per_group=self.min_data_per_group,
            random_state=self.random_state, n_jobs=self.n_jobs, deterministic=True,
            force_row_wise=True, verbose=-1)

    def _early_stopping(self) -> Any:
        import lightgbm as lgb

        return lgb.early_stopping(self.early_stopping_rounds, verbose=False)

    def _weights(self, target: NDArray[np.int64]) -> NDArray[np.float64]:
        if not self.balance_classes:
            return np.ones(len(target))
        positives = max(int(target.sum()), 1)
        return np.where(target == 1, (len(target) - positives) / positives, 1.0)

    def _matrix(self, X: Any) -> pd.DataFrame:
        """The fitted columns, typed as in training (categories with the training levels)."""
        frame = _frame(X)
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise ModelError(f"X lacks {len(missing)} feature(s) the model was trained on, "
                             f"e.g. {', '.join(missing[:5])}")
        out: dict[str, Any] = {}
        for name in self.feature_names_in_:
            column = frame[name]
            if name in self.categories_:
                text = column.astype("string").astype(object).where(column.notna(), None)
                out[name] = pd.Categorical(text, categories=self.categories_[name])
            else:
                out[name] = _numbers(column)
        return pd.DataFrame(out, index=frame.index)

    # -- predictions --------------------------------------------------------------------

    def _margin(self, matrix: pd.DataFrame) -> NDArray[np.float64]:
        return np.asarray(self.booster_.predict(matrix, raw_score=True), dtype=float)

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Calibrated log-odds of the event."""
        margin = self._margin(self._matrix(X))
        return np.asarray(self.calibration_slope_ * margin + self.calibration_intercept_)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> NDArray[np.int64]:
        return np.asarray((self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64))

    def contributions(self, X: Any) -> pd.DataFrame:
        """Each feature's share of the calibrated log-odds (TreeSHAP), plus a ``(base)`` column.

        Every row sums to :meth:`decision_function`.
        """
        matrix = self._matrix(X)
        raw = np.asarray(self.booster_.predict(matrix, pred_contrib=True))
        parts = self.calibration_slope_ * raw
        parts[:, -1] += self.calibration_intercept_
        return pd.DataFrame(parts, index=matrix.index,
                            columns=[*map(str, self.feature_names_in_), BASE])

    @property
    def feature_importances_(self) -> NDArray[np.float64]:
        """Total gain of each feature's splits, as a share of all gain."""
        gain = np.asarray(self.booster_.booster_.feature_importance(importance_type="gain"),
                          dtype=float)
        total = gain.sum()
        return gain / total if total > 0 else gain


def top_reasons(estimator: BoostedClassifier, X: pd.DataFrame, n: int = 3,
                label: str = "") -> list[list[Reason]]:
    """Per row, the ``n`` features whose contributions moved the log-odds most.

    ``label`` names the output in each reason (e.g. ``propensity_fund``) when one
    model explains several outputs.
    """
    if n < 1:
        raise ModelError(f"n must be at least 1, got {n}")
    parts = estimator.contributions(X).drop(columns=BASE)
    values = parts.to_numpy()
    names: Sequence[str] = list(parts.columns)
    out = []
    for i, (_, row) in enumerate(X.iterrows()):
        order = np.argsort(-np.abs(values[i]), kind="stable")[:n]
        out.append([Reason(f"{names[j]} ({label})" if label else names[j],
                           plain_value(row.get(names[j])), float(values[i, j]),
                           "raises" if values[i, j] > 0 else "lowers")
                    for j in order])
    return out

