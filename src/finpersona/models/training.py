"""``finpersona model train``: fit a model on a snapshot, test it, register the version."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from finpersona.config import Workspace
from finpersona.models.card import card_markdown
from finpersona.models.catalog import get_spec, outcome_days
from finpersona.models.data import fingerprint, holdout_mask, last_data_day, plan_split, to_frame
from finpersona.models.monitoring import baselines
from finpersona.models.registry import ModelRegistry, ModelVersion, now_text
from finpersona.models.spec import KEY, ModelContext, ModelError, ModelSpec, TrainingSet
from finpersona.tags.catalogue import load_catalogue

Progress = Callable[[str, int, int], None]
LIBRARIES = ("finpersona", "scikit-learn", "lightgbm", "optbinning", "scipy", "numpy", "pandas")


@dataclass(frozen=True)
class Prepared:
    train: TrainingSet
    test: TrainingSet
    split: str


def output_tags(workspace: Workspace, name: str) -> list[str]:
    """The model tags the catalogue declares for this model, in catalogue order."""
    catalogue = load_catalogue(workspace.tags_dir)
    return [t.name for t in catalogue.snapshot_tags()
            if t.model == name]


def load_set(ctx: ModelContext, spec: ModelSpec, as_of: date) -> TrainingSet:
    """Features (and labels) of one snapshot, joined on customer_key."""
    X = to_frame(ctx, spec.features(ctx, as_of))
    if not spec.supervised:
        return TrainingSet(X, None, as_of)
    labels_expr = spec.labels(ctx, as_of)
    if labels_expr is None:
        raise ModelError(f"{spec.name} is supervised but gave no labels for {as_of}")
    labels = to_frame(ctx, labels_expr)
    if "target" not in labels.columns:
        raise ModelError(f"{spec.name}: the label expression needs a 'target' column")
    joined = X.join(labels[["target"]], how="inner")
    if joined.empty:
        raise ModelError(f"{spec.name}: no customer has both features and an outcome for "
                         f"{as_of}")
    return TrainingSet(joined.drop(columns="target"), joined["target"], as_of,
                       {"rows_with_features": len(X), "rows_with_outcome": len(labels)})


def prepare(ctx: ModelContext, spec: ModelSpec, days: int,
            as_of: date | None = None) -> Prepared:
    plan = plan_split(ctx.snapshot_dates(), last_data_day(ctx) if days else date.max,
                      days, as_of)
    train = load_set(ctx, spec, plan.train_as_of)
    if plan.test_as_of is not None:
        return Prepared(train, load_set(ctx, spec, plan.test_as_of), plan.description)
    held = holdout_mask(train.X.index, 0.25)
    if held.all() or not held.any():
        raise ModelError(f"{spec.name}: too few customers ({len(held)}) to hold some out")

    def part(mask: Any) -> TrainingSet:
        y = None if train.y is None else train.y[mask]
        return TrainingSet(train.X[mask], y, train.as_of, train.notes)

    return Prepared(part(~held), part(held), plan.description)


def _fit(estimator: Any, data: TrainingSet) -> Any:
    fitted = estimator.fit(data.X) if data.y is None else estimator.fit(data.X, data.y)
    if fitted is not estimator:
        raise ModelError(f"{type(estimator).__name__}.fit must return self")
    return estimator


def _libraries() -> dict[str, str]:
    found = {}
    for lib in LIBRARIES:
        try:
            found[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def train_model(workspace: Workspace, ctx: ModelContext, name: str, as_of: date | None = None,
                params: Mapping[str, Any] | None = None,
                progress: Progress | None = None) -> ModelVersion:
    """Fit, test and register a new version of ``name``; returns its card."""
    report = progress or (lambda _s, _d, _t: None)
    spec = get_spec(name, workspace.settings)
    outputs = output_tags(workspace, name)
    days = outcome_days(name, workspace.settings)
    report("read", 0, 4)
    prepared = prepare(ctx, spec, days, as_of)
    train, test = prepared.train, prepared.test
    report("fit", 1, 4)
    try:
        estimator = _fit(spec.make_estimator(**dict(params or {})), train)
    except TypeError as exc:
        raise ModelError(f"{name}: bad parameter ({exc})") from exc
    report("test", 2, 4)
    metrics = spec.evaluate(estimator, test)
    report("register", 3, 4)
    scored = spec.outputs(estimator, train.X)
    missing = [c for c in outputs if c not in scored.columns]
    if missing:
        raise ModelError(f"{name}: outputs lack the catalogue's model tags {missing}")
    baseline = {"features": baselines(train.X), "outputs": baselines(scored[outputs])}
    notes: dict[str, Any] = {"train": train.notes, "test": test.notes}
    # The event rate, where the outcome is one yes/no (propensity packs several outcomes
    # into one code, whose mean would mean nothing).
    for part, data in (("train", train), ("test", test)):
        if data.y is not None and set(pd.unique(data.y)) <= {0, 1}:
            notes[f"{part}_target_mean"] = float(pd.to_numeric(data.y).mean())
    describe = getattr(spec, "report", None)  # e.g. segment names and profiles
    if callable(describe):
        notes["report"] = describe(estimator)
    card = ModelVersion(
        name=name, version=0, created_at=now_text(), engine=workspace.settings.engine,
        title=dict(spec.title), purpose=spec.purpose, limits=spec.limits,
        params=_jsonable(estimator.get_params(deep=False)),
        features=[str(c) for c in train.X.columns], outputs=outputs,
        training_as_of=train.as_of.isoformat(),
        test_as_of=test.as_of.isoformat() if test.as_of != train.as_of else None,
        split=prepared.split, fingerprint=fingerprint(train.X, train.y),
        rows={"train": len(train.X), "test": len(test.X)},
        metrics=_jsonable(metrics), baseline=_jsonable(baseline), notes=_jsonable(notes),
        libraries=_libraries())
    saved = ModelRegistry(workspace.models_dir).save(card, estimator, card_markdown(card))
    report("done", 4, 4)
    return saved


__all__ = ["KEY", "output_tags", "prepare", "train_model"]
