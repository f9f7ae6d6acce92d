"""Every registered model on both engines: same features, same labels, same scores.

The shared 600-customer bank is copied for each engine and built at 2025-06-30 as
well; each model is fitted once (on DuckDB's training data at 2025-06-30), then
its features and labels are computed by both engines and its scores for
2025-12-31 are produced by both engines' ``map_batches`` (DuckDB Arrow batches,
Spark ``mapInArrow``). They must agree row for row.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from finpersona.analytics.data import open_analytics
from finpersona.build import build
from finpersona.config import open_workspace
from finpersona.models.catalog import SPECS, get_spec
from finpersona.models.data import to_frame
from finpersona.models.scoring import output_schema, score_to
from finpersona.models.spec import KEY
from finpersona.models.training import load_set
from finpersona.tags.catalogue import load_catalogue
from tests.conftest import FIRST_AS_OF, Ingested

TRAIN_AS_OF = date(2025, 6, 30)
pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark"),
              pytest.mark.filterwarnings("ignore::ResourceWarning")]  # py4j sockets


def _same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    assert a.index.equals(b.index), f"{what}: different customers"
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            assert np.allclose(x.astype(float), y.astype(float), rtol=1e-9, atol=1e-9,
                               equal_nan=True), f"{what}: {column}"
        else:
            assert x.astype("string").fillna("<null>").equals(
                y.astype("string").fillna("<null>")), f"{what}: {column}"


def test_every_model_gives_the_same_answers_on_both_engines(
        ingest_with: Callable[[str], Ingested], tmp_path: Path) -> None:
    workspaces = {}
    for engine in ("duckdb", "spark"):
        root = tmp_path / engine
        shutil.copytree(ingest_with(engine).workspace.root, root)
        workspaces[engine] = open_workspace(root)
        build(workspaces[engine], TRAIN_AS_OF)
    catalogue = load_catalogue()
    with open_analytics(workspaces["duckdb"]) as duck, open_analytics(
            workspaces["spark"]) as spark:
        for name in SPECS:
            spec = get_spec(name)
            train = load_set(duck, spec, TRAIN_AS_OF)
            again = load_set(spark, spec, TRAIN_AS_OF)
            _same(train.X, again.X, f"{name} features")
            if train.y is not None:
                assert again.y is not None
                _same(train.y.to_frame(), again.y.to_frame(), f"{name} labels")
            estimator = spec.make_estimator()
            estimator.fit(train.X) if train.y is None else estimator.fit(train.X, train.y)
            schema = output_schema(catalogue, name)
            scores = {}
            for engine, ctx in (("duckdb", duck), ("spark", spark)):
                folder = tmp_path / f"{name}-{engine}"
                score_to(ctx, spec, estimator, schema, FIRST_AS_OF, folder)
                frame = pq.read_table(folder).to_pandas()
                scores[engine] = frame.set_index(KEY).sort_index()
            _same(scores["duckdb"], scores["spark"], f"{name} scores")
            # And both equal the estimator applied in Python to the features.
            X = to_frame(duck, spec.features(duck, FIRST_AS_OF))
            python = spec.outputs(estimator, X)[[c for c in schema.names if c != KEY]]
            assert len(python) == len(scores["duckdb"]) > 0
            for column in python.columns:
                if pd.api.types.is_float_dtype(python[column]):
                    assert np.allclose(python[column].astype(float),
                                       scores["duckdb"][column].astype(float),
                                       equal_nan=True), f"{name} {column}"
