"""The model framework on both engines: registry, time-based split, scoring, monitoring.

A toy logistic model (tests/models/toy_spec.py) stands in for the real ones so
these tests pin the framework itself: what a version records, that scoring in
the engine equals scoring in Python, that model tags reach the tag snapshot,
that monitoring counts in the engine what numpy counts, and that bad requests
get clear errors.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.data import open_analytics
from finpersona.cli import app
from finpersona.config import Workspace, open_workspace
from finpersona.models import catalog, workflow
from finpersona.models.data import fingerprint, holdout_mask, plan_split, to_frame
from finpersona.models.monitoring import (
    band,
    column_baseline,
    psi_from_shares,
    shares_in_engine,
    stability,
)
from finpersona.models.registry import ModelRegistry, parse_ref
from finpersona.models.spec import ModelError
from finpersona.tags.store import TAG_SNAPSHOT
from tests.conftest import FIRST_AS_OF, Ingested
from tests.models import toy_spec

D = date
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog.SPECS, "toy", "tests.models.toy_spec:SPEC")


@pytest.fixture
def toy_ws(ingest_with: Callable[[str], Ingested], tmp_path: Path,
           toy_registered: None) -> Iterator[Workspace]:
    """A private copy of the shared DuckDB workspace with the toy model's tags declared.

    The framework's engine-dependent step, scoring, is compared across engines in
    test_spark_scores_equal_duckdb; the rest is engine-independent Python.
    """
    root = tmp_path / "ws"
    shutil.copytree(ingest_with("duckdb").workspace.root, root)
    (root / "tags").mkdir(exist_ok=True)
    (root / "tags" / "toy.yaml").write_text(toy_spec.TOY_TAGS, encoding="utf-8")
    yield open_workspace(root)


def _python_scores(ws: Workspace, version: int | None = None) -> pd.DataFrame:
    _, estimator = ModelRegistry(ws.models_dir).load("toy", version)
    with open_analytics(ws) as ctx:
        X = to_frame(ctx, toy_spec.SPEC.features(ctx, FIRST_AS_OF))
    return toy_spec.SPEC.outputs(estimator, X)


# -- pure parts ------------------------------------------------------------------------
def test_plan_split_prefers_a_time_based_test() -> None:
    snaps = [D(2025, 3, 31), D(2025, 6, 30), D(2025, 9, 30), D(2025, 12, 31)]
    plan = plan_split(snaps, D(2025, 12, 31), 90)
    assert (plan.train_as_of, plan.test_as_of) == (D(2025, 6, 30), D(2025, 9, 30))
    assert plan_split(snaps, D(2025, 12, 31), 90, D(2025, 3, 31)).test_as_of == D(2025, 9, 30)
    # Only one matured snapshot: a random holdout, said so.
    lone = plan_split(snaps[-2:], D(2025, 12, 31), 90)
    assert lone.test_as_of is None and "random" in lone.description
    with pytest.raises(ModelError, match="after the last data day"):
        plan_split(snaps, D(2025, 12, 31), 90, D(2025, 12, 31))
    with pytest.raises(ModelError, match="no snapshot is old enough"):
        plan_split([D(2025, 12, 31)], D(2025, 12, 31), 90)
    with pytest.raises(ModelError, match="no tag snapshot for"):
        plan_split(snaps, D(2025, 12, 31), 0, D(2024, 1, 1))
    assert plan_split(snaps, D(2025, 12, 31), 0).train_as_of == D(2025, 12, 31)


def test_holdout_and_fingerprint_do_not_depend_on_row_order() -> None:
    index = pd.Index([f"k{i}" for i in range(2000)], name="customer_key")
    mask = pd.Series(holdout_mask(index, 0.25), index=index)
    shuffled = index[np.random.default_rng(1).permutation(len(index))]
    again = pd.Series(holdout_mask(shuffled, 0.25), index=shuffled)
    assert mask.equals(again.reindex(index))
    assert 0.2 < mask.mean() < 0.3
    X = pd.DataFrame({"a": np.arange(2000.0)}, index=index)
    y = pd.Series(np.arange(2000) % 2, index=index)
    assert fingerprint(X, y) == fingerprint(X.iloc[::-1], y.iloc[::-1])
    assert fingerprint(X, y) != fingerprint(X.assign(a=X.a + 1), y)


def test_parse_ref() -> None:
    assert parse_ref("churn") == ("churn", None)
    assert parse_ref("churn@v3") == ("churn", 3) == parse_ref("churn@3")
    for bad in ("@v1", "churn@x", "churn@v0"):
        with pytest.raises(ModelError):
            parse_ref(bad)


def _brute_psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI by hand: deciles of ``expected`` as edges, nulls as a bin, shares floored."""
    e_ok, a_ok = expected[~np.isnan(expected)], actual[~np.isnan(actual)]
    edges = sorted(set(np.round(np.quantile(e_ok, np.linspace(0.1, 0.9, 9)), 10)))
    total = 0.0
    for i in range(len(edges) + 2):
        def share(v: np.ndarray, ok: np.ndarray, i: int = i) -> float:
            if i == len(edges) + 1:
                return float(np.isnan(v).sum()) / len(v)
            lo = -np.inf if i == 0 else edges[i - 1]
            hi = np.inf if i == len(edges) else edges[i]
            return float(((ok > lo) & (ok <= hi)).sum()) / len(v)
        e, a = max(share(expected, e_ok), 1e-4), max(share(actual, a_ok), 1e-4)
        total += (a - e) * np.log(a / e)
    return total


@settings(max_examples=40, deadline=None)
@given(st.integers(50, 400), st.floats(-1.0, 1.0), st.floats(0.5, 2.0), st.floats(0, 0.3),
       st.integers(0, 10**6))
def test_engine_counted_psi_equals_brute_force(n: int, shift: float, scale: float,
                                               null_share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    expected = np.round(rng.normal(0, 1, n), 2)
    actual = np.round(rng.normal(shift, scale, n + 17), 2)
    expected[rng.random(n) < null_share / 2] = np.nan
    actual[rng.random(n + 17) < null_share] = np.nan
    base = column_baseline(pd.Series(expected, name="x"))
    con = ibis.duckdb.connect()
    table = ibis.memtable(pd.DataFrame({"x": actual}))
    rows, shares = shares_in_engine(table, {"x": base}, con.to_pyarrow)
    assert rows == n + 17
    got = stability("x", base, shares["x"]).index
    assert got == pytest.approx(_brute_psi(expected, actual), abs=1e-9)
    assert band(got) == ("stable" if got < 0.1 else "watch" if got <= 0.25 else "act")


def test_categorical_stability_and_bands() -> None:
    base = column_baseline(pd.Series(["a"] * 50 + ["b"] * 30 + [None] * 20, name="c"))
    con = ibis.duckdb.connect()
    table = ibis.memtable(pd.DataFrame({"c": ["a"] * 20 + ["b"] * 60 + ["z"] * 20}))
    _, shares = shares_in_engine(table, {"c": base}, con.to_pyarrow)
    s = stability("c", base, shares["c"])
    # bins a, b, other, null: expected .5 .3 0 .2, actual .2 .6 .2 0 (floored 1e-4)
    exp = [.5, .3, 1e-4, .2]
    act = [.2, .6, .2, 1e-4]
    assert s.index == pytest.approx(sum((a - e) * np.log(a / e) for e, a in zip(exp, act,
                                                                              strict=True)))
    assert s.band == "act"
    assert psi_from_shares([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert (band(0.05), band(0.1), band(0.25), band(0.26)) == ("stable", "watch", "watch",
                                                               "act")


# -- on a workspace, both engines -----------------------------------------------------------
def test_train_registers_a_version_with_its_card(toy_ws: Workspace) -> None:
    card = workflow.train(toy_ws, "toy", params={"C": 0.5})
    assert card.version == 1 and card.ref == "toy@v1"
    assert card.params == {"C": 0.5}
    assert card.features == list(toy_spec.FEATURES) and card.outputs == ["toy_score", "toy_band"]
    assert card.training_as_of == FIRST_AS_OF.isoformat() and card.test_as_of is None
    assert "random 25%" in card.split
    assert card.rows["train"] + card.rows["test"] > 500
    assert 0.5 < card.metrics["auc"] <= 1.0
    assert set(card.baseline["features"]) == set(toy_spec.FEATURES)
    folder = toy_ws.models_dir / "toy" / "v1"
    text = (folder / "card.md").read_text(encoding="utf-8")
    assert "# Model card: toy v1" in text and "## Limits" in text and card.fingerprint in text
    again = workflow.train(toy_ws, "toy", params={"C": 0.5})
    assert again.version == 2 and again.fingerprint == card.fingerprint  # same data
    reg = ModelRegistry(toy_ws.models_dir)
    assert reg.versions("toy") == [1, 2] and reg.promoted("toy") is None
    assert reg.card("toy").version == 2  # newest when nothing is promoted
    workflow.promote(toy_ws, "toy", 1)
    assert reg.promoted("toy") == 1 and reg.card("toy").version == 1
    listed = {m.name: m for m in workflow.list_models(toy_ws)}
    assert listed["toy"].versions == [1, 2] and listed["toy"].promoted == 1
    # A damaged estimator file is refused, not used.
    (folder / "estimator.pkl").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="checksum"):
        reg.load("toy", 1)
    with pytest.raises(ModelError, match="no version v9"):
        reg.card("toy", 9)


def test_score_writes_the_model_tags_into_the_snapshot(toy_ws: Workspace) -> None:
    workflow.train(toy_ws, "toy")
    result = workflow.score(toy_ws, "toy")
    expected = _python_scores(toy_ws)
    assert result.score.rows == len(expected) and result.score.version == 1
    with open_analytics(toy_ws) as ctx:
        snap = to_frame(ctx, ctx.tags(FIRST_AS_OF, ["toy_score", "toy_band"]))
        published = ctx.warehouse.snapshot_dates(TAG_SNAPSHOT)
    assert published == [FIRST_AS_OF.isoformat()]
    joined = snap.join(expected, rsuffix="_py", how="inner")
    assert len(joined) == len(expected)
    assert np.allclose(joined.toy_score, joined.toy_score_py, rtol=0, atol=1e-12)
    assert (joined.toy_band == joined.toy_band_py).all()
    # Customers outside the model's population keep null model tags, never invented ones.
    assert snap.toy_score.notna().sum() == len(expected)


def test_monitor_and_explain(toy_ws: Workspace) -> None:
    workflow.train(toy_ws, "toy")
    report = workflow.monitor(toy_ws, "toy")
    # Same snapshot as training: the training 75% against everyone can differ only by
    # sampling, far below the 0.1 band.
    assert report.rows > 500 and report.worst() == "stable"
    assert {s.column for s in report.features} == set(toy_spec.FEATURES)
    assert {s.column for s in report.outputs} == {"toy_score", "toy_band"}
    assert all(s.index < 0.02 for s in (*report.features, *report.outputs))
    assert "computed" in report.notes[0]
    doc = report.to_dict()
    assert doc["status"] == "stable" and len(doc["outputs"]) == 2
    key = _python_scores(toy_ws).index[3]
    why = workflow.explain(toy_ws, "toy", key, n=2)
    assert why.customer_key == key and why.matched_by == "customer_key"
    assert len(why.reasons) == 2
    assert why.outputs["toy_score"] == pytest.approx(_python_scores(toy_ws).loc[key, "toy_score"])


def test_bad_requests_get_clear_errors(toy_ws: Workspace) -> None:
    with pytest.raises(ModelError, match="unknown model 'nosuch'"):
        workflow.train(toy_ws, "nosuch")
    with pytest.raises(ModelError, match="no trained version of 'toy'"):
        workflow.score(toy_ws, "toy")
    workflow.train(toy_ws, "toy")
    with pytest.raises(ModelError, match="no tag snapshot for 2024-01-01"):
        workflow.score(toy_ws, "toy", as_of=D(2024, 1, 1))
    with pytest.raises(ModelError, match="bad parameter"):
        workflow.train(toy_ws, "toy", params={"nope": 1})
    runner = CliRunner()
    root = str(toy_ws.root)
    result = runner.invoke(app, ["model", "score", "toy@v7", "-w", root])
    assert result.exit_code == 1 and "no version v7" in result.output
    result = runner.invoke(app, ["model", "train", "toy", "-p", "C", "-w", root])
    assert result.exit_code == 1 and "NAME=VALUE" in result.output
    result = runner.invoke(app, ["model", "list", "--json", "-w", root])
    listed = {m["name"]: m for m in json.loads(result.output)["models"]}
    assert result.exit_code == 0 and listed["toy"]["versions"] == [1]
    assert listed["churn"]["versions"] == []  # every product model is listed, trained or not


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_scores_equal_duckdb(ingest_with: Callable[[str], Ingested], tmp_path: Path,
                                   toy_registered: None) -> None:
    """One trained version scored and monitored by each engine gives the same results."""
    roots = {}
    for engine in ("duckdb", "spark"):
        root = tmp_path / engine
        shutil.copytree(ingest_with(engine).workspace.root, root)
        (root / "tags").mkdir(exist_ok=True)
        (root / "tags" / "toy.yaml").write_text(toy_spec.TOY_TAGS, encoding="utf-8")
        roots[engine] = root
    duck = open_workspace(roots["duckdb"])
    workflow.train(duck, "toy")
    shutil.copytree(duck.models_dir, roots["spark"] / "models")
    spark = open_workspace(roots["spark"])
    workflow.score(duck, "toy")
    workflow.score(spark, "toy")
    frames = {}
    for name, ws in (("duckdb", duck), ("spark", spark)):
        with open_analytics(ws) as ctx:
            frames[name] = to_frame(ctx, ctx.tags(FIRST_AS_OF, ["toy_score", "toy_band"]))
    a, b = frames["duckdb"], frames["spark"]
    assert a.index.equals(b.index)
    assert np.allclose(a.toy_score.astype(float), b.toy_score.astype(float), atol=1e-12,
                       equal_nan=True)
    assert a.toy_band.fillna("-").equals(b.toy_band.fillna("-"))
    reports = [workflow.monitor(ws, "toy").to_dict() for ws in (duck, spark)]
    assert reports[0]["rows"] == reports[1]["rows"]
    for part in ("outputs", "features"):
        got = {r["column"]: r["index"] for r in reports[1][part]}
        assert {r["column"]: pytest.approx(r["index"], abs=1e-9) for r in reports[0][part]} == got


def test_specs_take_the_workspace_settings() -> None:
    from finpersona.config import Settings

    settings = Settings(clv_discount_rate=0.2, clv_lgd=0.6, credit_horizon_days=90)
    clv = catalog.get_spec("clv", settings).make_estimator()
    assert (clv.discount_rate, clv.lgd) == (0.2, 0.6)
    assert catalog.get_spec("credit_risk", settings).horizon_days == 90  # type: ignore[attr-defined]
    assert catalog.outcome_days("credit_risk", settings) == 90
    assert catalog.outcome_days("clv", settings) == 90  # its own test window
    assert catalog.outcome_days("segmentation", settings) == 0


def test_models_that_read_others_tags_come_after_them() -> None:
    """READS_SCORES_OF names real model tags, and the training order respects it."""
    from finpersona.models import clv, lifecycle
    from finpersona.tags.catalogue import load_catalogue

    tags = load_catalogue().tags
    read = {"clv": set(clv.FEATURES),
            "lifecycle": set(lifecycle.FEATURES)}
    assert set(catalog.READS_SCORES_OF) == set(read)
    order = catalog.TRAINING_ORDER
    for reader, sources in catalog.READS_SCORES_OF.items():
        for source in sources:
            assert order.index(source) < order.index(reader)
            written = {n for n, t in tags.items() if t.model == source}
            assert written & read[reader], (reader, source)
