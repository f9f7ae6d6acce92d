"""``finpersona model score``: every customer scored in the engine, written as model tags.

The fitted estimator is mapped over batches of the model's feature expression
by the engine (:meth:`Engine.map_batches`: vectorised Arrow batches on DuckDB,
``mapInArrow`` on Spark's executors). The result is published as the dated
snapshot ``model_scores_<name>``; the tag snapshot of that date is then rebuilt
so the model tags (``credit_score``, ``churn_probability``, ...) carry the new
values, with their history and count index, in one atomic publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from finpersona.models.registry import ModelRegistry, ModelVersion
from finpersona.models.spec import KEY, ModelContext, ModelError, ModelSpec
from finpersona.tags.catalogue import Catalogue
from finpersona.tags.store import model_scores_table
from finpersona.tags.types import ValueType

ARROW_TYPES = {ValueType.BOOL: pa.bool_(), ValueType.INT: pa.int64(),
               ValueType.DECIMAL: pa.float64(), ValueType.CATEGORY: pa.string(),
               ValueType.DATE: pa.date32()}


def output_schema(catalogue: Catalogue, name: str) -> pa.Schema:
    tags = [t for t in catalogue.snapshot_tags() if t.model == name]
    if not tags:
        raise ModelError(f"the tag catalogue declares no model tags for {name!r}")
    return pa.schema([(KEY, pa.string()), *((t.name, ARROW_TYPES[t.type]) for t in tags)])


@dataclass(frozen=True)
class BatchScorer:
    """Features batch in, model tags batch out. Pickled to Spark executors whole."""

    spec: ModelSpec
    estimator: Any
    schema: pa.Schema

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        X = batch.to_pandas().set_index(KEY)
        out = self.spec.outputs(self.estimator, X)
        if len(out) != len(X) or not out.index.equals(X.index):
            raise ModelError(f"{self.spec.name}: outputs must keep one row per input row")
        columns = [n for n in self.schema.names if n != KEY]
        missing = [c for c in columns if c not in out.columns]
        if missing:
            raise ModelError(f"{self.spec.name}: outputs lack the model tags {missing}")
        frame = out[columns].reset_index(names=KEY)
        return pa.RecordBatch.from_pandas(_typed(frame, self.schema), schema=self.schema,
                                          preserve_index=False)


def _typed(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Values in the catalogue's types (categories as text; NaN as null)."""
    out = frame.copy()
    for field in schema:
        column = out[field.name]
        if pa.types.is_string(field.type):
            out[field.name] = column.astype("string").astype(object).where(column.notna(), None)
        elif pa.types.is_integer(field.type):
            out[field.name] = pd.to_numeric(column).round().astype("Int64")
        elif pa.types.is_floating(field.type):
            out[field.name] = pd.to_numeric(column).astype("float64")
    return out


@dataclass(frozen=True)
class ScoreReport:
    name: str
    version: int
    as_of: str
    rows: int
    table: str
    path: str
    engine: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def score_to(ctx: ModelContext, spec: ModelSpec, estimator: Any, schema: pa.Schema,
             as_of: date, directory: Path) -> None:
    """Score everyone the spec has features for, into ``directory`` (Parquet)."""
    features = spec.features(ctx, as_of)
    ctx.engine.map_batches(features, BatchScorer(spec, estimator, schema), schema, directory)


def publish_scores(ctx: ModelContext, registry: ModelRegistry, catalogue: Catalogue,
                   spec: ModelSpec, as_of: date, version: int | None = None) -> ScoreReport:
    card: ModelVersion
    card, estimator = registry.load(spec.name, version)
    if as_of not in ctx.snapshot_dates():
        raise ModelError(f"no tag snapshot for {as_of}: run `finpersona build --as-of {as_of}`")
    schema = output_schema(catalogue, spec.name)
    table = model_scores_table(spec.name)
    with ctx.warehouse.transaction() as txn:
        directory = txn.new_dir("snapshots", table, f"{as_of.isoformat()}-v{card.version}")
        score_to(ctx, spec, estimator, schema, as_of, directory)
        rows = int(ctx.engine.scalar(ctx.engine.read_parquet([directory]).count()))
        txn.put_snapshot(table, as_of.isoformat(), directory, rows, model=spec.name,
                         version=card.version)
    return ScoreReport(spec.name, card.version, as_of.isoformat(), rows, table, str(directory),
                       ctx.engine.name)
