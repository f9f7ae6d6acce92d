"""What the ``finpersona model`` commands do, as functions on a workspace.

The command line (and later the service) only parses and prints; everything a
model run does is here: train and register, promote, score into model tags,
monitor stability and performance, explain one customer's prediction.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from finpersona.analytics.data import open_analytics
from finpersona.build import build
from finpersona.config import Workspace
from finpersona.models.catalog import SPECS, TRAINING_ORDER, get_spec, outcome_days
from finpersona.models.data import last_data_day, to_frame
from finpersona.models.monitoring import Stability, shares_in_engine, stability
from finpersona.models.registry import ModelRegistry, ModelVersion
from finpersona.models.scoring import ScoreReport, output_schema, publish_scores, score_to
from finpersona.models.spec import KEY, ModelContext, ModelError
from finpersona.models.training import load_set, train_model
from finpersona.portrait.lookup import resolve_customer
from finpersona.tags.catalogue import load_catalogue
from finpersona.tags.store import TAG_SNAPSHOT, model_scores_table

Progress = Callable[[str, int, int], None]


def registry(workspace: Workspace) -> ModelRegistry:
    return ModelRegistry(workspace.models_dir)


def _latest(ctx: ModelContext, as_of: date | None) -> date:
    dates = ctx.snapshot_dates()
    if not dates:
        raise ModelError("no tag snapshot yet: run `finpersona build` first")
    if as_of is not None and as_of not in dates:
        known = ", ".join(d.isoformat() for d in dates[-5:])
        raise ModelError(f"no tag snapshot for {as_of}; latest builds: {known}")
    return as_of or dates[-1]


def train(workspace: Workspace, name: str, as_of: date | None = None,
          params: Mapping[str, Any] | None = None, engine: str | None = None,
          progress: Progress | None = None) -> ModelVersion:
    with open_analytics(workspace, engine) as ctx:
        return train_model(workspace, ctx, name, as_of, params, progress)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    title: dict[str, str]
    versions: list[int]
    promoted: int | None
    latest: dict[str, Any] | None  # headline of the newest version

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_models(workspace: Workspace) -> list[ModelSummary]:
    """Every model the product knows, with its trained versions (none yet: empty list)."""
    reg = registry(workspace)
    out = []
    for name in SPECS:
        versions = reg.versions(name)
        latest = None
        if versions:
            card = reg.card(name, versions[-1])
            latest = {"version": card.version, "created_at": card.created_at,
                      "training_as_of": card.training_as_of, "metrics": {
                          k: v for k, v in card.metrics.items() if isinstance(v, int | float)}}
            title = card.title
        else:
            title = {}
        out.append(ModelSummary(name, title, versions, reg.promoted(name), latest))
    return out


def promote(workspace: Workspace, name: str, version: int | None) -> ModelVersion:
    get_spec(name)
    return registry(workspace).promote(name, version)


@dataclass(frozen=True)
class ScoreResult:
    score: ScoreReport
    build_id: str
    tag_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.score.to_dict(), "build_id": self.build_id, "tag_rows": self.tag_rows}


def score(workspace: Workspace, name: str, version: int | None = None,
          as_of: date | None = None, engine: str | None = None,
          progress: Progress | None = None) -> ScoreResult:
    """Score every customer in the engine, then republish that date's tag snapshot."""
    report = progress or (lambda _s, _d, _t: None)
    ws = workspace.with_engine(engine)
    spec = get_spec(name, ws.settings)
    catalogue = load_catalogue(ws.tags_dir)
    with open_analytics(ws) as ctx:
        day = _latest(ctx, as_of)
        report("score", 0, 2)
        result = publish_scores(ctx, registry(ws), catalogue, spec, day, version)
    report("tags", 1, 2)
    built = build(ws, day, stages=(TAG_SNAPSHOT,))
    report("done", 2, 2)
    return ScoreResult(result, built.build_id, built.tables.get(TAG_SNAPSHOT, 0))


def train_and_score_all(workspace: Workspace, names: tuple[str, ...] = TRAINING_ORDER,
                        progress: Progress | None = None
                        ) -> list[tuple[ModelVersion, ScoreResult]]:
    """Train, promote and score every model in dependency order (the demo's step)."""
    report = progress or (lambda _s, _d, _t: None)
    done = []
    for i, name in enumerate(names):
        report(f"model {name}", i, len(names))
        card = train(workspace, name)
        promote(workspace, name, card.version)
        done.append((card, score(workspace, name)))
    report("models", len(names), len(names))
    return done


@dataclass(frozen=True)
class MonitorReport:
    name: str
    version: int
    baseline_as_of: str
    as_of: str
    rows: int
    outputs: list[Stability]
    features: list[Stability]
    performance: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def worst(self) -> str:
        bands = [s.band for s in (*self.outputs, *self.features)]
        for level in ("act", "watch"):
            if level in bands:
                return level
        return "stable"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "baseline_as_of": self.baseline_as_of, "as_of": self.as_of, "rows": self.rows,
                "status": self.worst(),
                "outputs": [s.to_dict() for s in self.outputs],
                "features": [s.to_dict() for s in self.features],
                "performance": self.performance, "notes": self.notes}


def _decay(before: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    rows = {}
    for key, value in now.items():
        if isinstance(value, int | float) and isinstance(before.get(key), int | float):
            rows[key] = {"at_training": before[key], "now": value,
                         "change": float(value) - float(before[key])}
    return rows


def monitor(workspace: Workspace, name: str, version: int | None = None,
            as_of: date | None = None, engine: str | None = None) -> MonitorReport:
    """PSI of each output and CSI of each feature against the training baseline.

    Counting happens in the engine; where the outcome window after ``as_of`` has
    ended, the held-out metrics are recomputed on that snapshot (performance decay).
    """
    ws = workspace.with_engine(engine)
    spec = get_spec(name, ws.settings)
    catalogue = load_catalogue(ws.tags_dir)
    card, estimator = registry(ws).load(name, version)
    notes: list[str] = []
    with open_analytics(ws) as ctx:
        day = _latest(ctx, as_of)
        features = spec.features(ctx, day)
        rows, feature_shares = shares_in_engine(features, card.baseline["features"],
                                                ctx.engine.to_arrow)
        feature_rows = [stability(c, card.baseline["features"][c], s)
                        for c, s in feature_shares.items()]
        output_rows = _output_stability(ctx, card, estimator, spec, catalogue, day, notes)
        performance = None
        days = outcome_days(name, ws.settings)
        if days and day + timedelta(days=days) <= last_data_day(ctx):
            now = spec.evaluate(estimator, load_set(ctx, spec, day))
            performance = {"as_of": day.isoformat(), "metrics": _decay(card.metrics, now)}
        elif days:
            notes.append(f"outcomes after {day} have not matured ({days}-day window): "
                         "no performance figures yet")
    feature_rows.sort(key=lambda s: -s.index)
    return MonitorReport(name, card.version, card.training_as_of, day.isoformat(), rows,
                         output_rows, feature_rows, performance, notes)


def _output_stability(ctx: ModelContext, card: ModelVersion, estimator: Any, spec: Any,
                      catalogue: Any, day: date, notes: list[str]) -> list[Stability]:
    table = model_scores_table(card.name)
    published = ctx.warehouse.catalog()["snapshots"].get(table, {}).get(day.isoformat())
    if published and published.get("version") == card.version:
        scores = ctx.warehouse.read_snapshot(ctx.engine, table, day.isoformat())
        notes.append(f"scores: the published {table} of {day}")
        return _stabilities(ctx, scores, card)
    scratch = Path(tempfile.mkdtemp(prefix="finpersona-monitor-"))
    try:
        score_to(ctx, spec, estimator, output_schema(catalogue, card.name), day,
                 scratch / "scores")
        notes.append(f"scores: computed for {day} (not published)")
        return _stabilities(ctx, ctx.engine.read_parquet([scratch / "scores"]), card)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _stabilities(ctx: ModelContext, scores: Any, card: ModelVersion) -> list[Stability]:
    base = card.baseline["outputs"]
    _, shares = shares_in_engine(scores, base, ctx.engine.to_arrow)
    return [stability(c, base[c], s) for c, s in shares.items()]


@dataclass(frozen=True)
class Explanation:
    name: str
    version: int
    as_of: str
    customer_key: str
    matched_by: str
    outputs: dict[str, Any]
    reasons: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def explain(workspace: Workspace, name: str, customer: str, version: int | None = None,
            as_of: date | None = None, n: int = 3, engine: str | None = None) -> Explanation:
    """One customer's model outputs and the features that moved them most."""
    ws = workspace.with_engine(engine)
    spec = get_spec(name, ws.settings)
    card, estimator = registry(ws).load(name, version)
    with open_analytics(ws) as ctx:
        day = _latest(ctx, as_of)
        key, matched = resolve_customer(ws, ctx.engine, ctx.warehouse, customer)
        features = spec.features(ctx, day)
        X = to_frame(ctx, features.filter(features[KEY] == ibis.literal(key)))
    if X.empty:
        raise ModelError(f"{name} has no features for this customer on {day} (outside the "
                         "model's population)")
    outputs = spec.outputs(estimator, X).iloc[0].to_dict()
    reasons = [r.to_dict() for r in spec.explain(estimator, X, n)[0]]
    plain = {str(k): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
             for k, v in outputs.items()}
    return Explanation(name, card.version, day.isoformat(), key, matched, plain, reasons)
