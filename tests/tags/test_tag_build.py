"""The tag build on the synthetic bank: every tag against an independent reference,
both engines equal, history that only stores changes, and a failed build that publishes
nothing."""

from __future__ import annotations

import json
import math
import shutil
from datetime import date
from typing import Any

import pandas as pd
import pytest

from finpersona.build import BuildError, build
from finpersona.config import open_workspace
from finpersona.engine import connect
from finpersona.ingest.identity import resolved_events
from finpersona.tags.catalogue import load_catalogue
from finpersona.tags.store import TAG_HISTORY, TAG_SNAPSHOT, history_as_of, value_text
from finpersona.tags.types import ValueType
from finpersona.warehouse import Warehouse
from tests.conftest import FIRST_AS_OF, SPARK_MARKS, Ingested
from tests.integration.helpers import catalog, read_snapshot, read_table
from tests.tags.reference import reference_tags

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark

REFERENCE_TABLES = ("customers", "accounts", "products", "holdings", "transactions",
                    "loan_applications", "loans", "repayments", "service_tickets",
                    "marketing_touches", "consents", "risk_assessments", "social_mentions")


def _tables(ws: Any) -> dict[str, pd.DataFrame]:
    names = catalog(ws)["tables"]
    tables = {n: read_table(ws, n).to_pandas() for n in REFERENCE_TABLES if n in names}
    with connect(ws.settings.model_copy(update={"engine": "duckdb"})) as engine:
        events = engine.to_arrow(resolved_events(engine, Warehouse(ws.warehouse_dir)))
    tables["events_resolved"] = events.to_pandas()
    return tables


def _same(a: Any, b: Any, vtype: ValueType) -> bool:
    missing_a = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NaT
    missing_b = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NaT
    if missing_a or missing_b:
        return missing_a and missing_b
    if vtype is ValueType.DECIMAL:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-4)
    if vtype is ValueType.INT:
        return int(a) == int(b)
    if vtype is ValueType.DATE:
        return pd.Timestamp(a).date() == pd.Timestamp(b).date()
    return bool(a == b) if vtype is ValueType.BOOL else str(a) == str(b)


def test_every_computed_tag_matches_the_brute_force_reference(ingested: Ingested) -> None:
    ws = ingested.workspace
    catalogue = load_catalogue()
    snapshot = read_snapshot(ws, TAG_SNAPSHOT, FIRST_AS_OF.isoformat()).to_pandas()
    snapshot = snapshot.set_index("customer_key")
    expected = reference_tags(_tables(ws), FIRST_AS_OF, 8.0, catalogue.computed())
    assert sorted(snapshot.index) == sorted(expected.index)
    assert len(snapshot) > 500
    wrong: dict[str, list[tuple[str, Any, Any]]] = {}
    for tag in catalogue.computed():
        got, want = snapshot[tag.name], expected.loc[snapshot.index, tag.name]
        bad = [(k, g, w) for k, g, w in zip(snapshot.index, got, want, strict=True)
               if not _same(g, w, tag.type)]
        if bad:
            wrong[tag.name] = bad[:3]
    assert not wrong, f"{len(wrong)} tags differ from the reference: {wrong}"


def test_tags_are_not_degenerate_on_the_synthetic_bank(ingested: Ingested) -> None:
    """A tag that is null or constant for everybody usually means a broken definition."""
    snapshot = read_snapshot(ingested.workspace, TAG_SNAPSHOT, FIRST_AS_OF.isoformat())
    frame = snapshot.to_pandas()
    catalogue = load_catalogue()
    constant = [t.name for t in catalogue.computed() if frame[t.name].nunique(dropna=True) < 2]
    # A few tags are rare by nature on 600 customers (e.g. a fraud ticket in the last 90 days).
    assert len(constant) <= 6, constant


@pytest.mark.parametrize("engine_name", [pytest.param("spark", marks=SPARK_MARKS)])
def test_spark_and_duckdb_publish_the_same_snapshot(ingest_with: Any, engine_name: str) -> None:
    frames = []
    for engine in ("duckdb", engine_name):
        snap = read_snapshot(ingest_with(engine).workspace, TAG_SNAPSHOT,
                             FIRST_AS_OF.isoformat()).to_pandas()
        frames.append(snap.sort_values("customer_key").reset_index(drop=True))
    duck, spark = frames
    assert list(duck.columns) == list(spark.columns)
    catalogue = load_catalogue()
    for tag in catalogue.snapshot_tags():
        pairs = zip(duck[tag.name], spark[tag.name], strict=True)
        assert all(_same(a, b, tag.type) for a, b in pairs), tag.name


@pytest.fixture(scope="module")
def two_builds(ingest_with: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A copy of the DuckDB workspace built for an earlier date, then for the fixture's date."""
    source = ingest_with("duckdb").workspace
    root = tmp_path_factory.mktemp("two-builds") / "ws"
    shutil.copytree(source.root, root)
    # Start history afresh: drop the fixture's build from the copy's catalog.
    ws = open_workspace(root)
    path = ws.warehouse_dir / "catalog.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tables"].pop(TAG_HISTORY)
    path.write_text(json.dumps(data), encoding="utf-8")
    build(ws, date(2025, 11, 30))
    build(ws, FIRST_AS_OF)
    return ws


def _long(frame: pd.DataFrame) -> dict[tuple[str, str], str | None]:
    return {(k, t): v for k, t, v in zip(frame.customer_key, frame.tag, frame.value,
                                        strict=True)}


def test_history_shows_each_build_date_as_it_was(two_builds: Any) -> None:
    ws = two_builds
    wh = Warehouse(ws.warehouse_dir)
    catalogue = load_catalogue()
    with connect(ws.settings) as engine:
        for day in (date(2025, 11, 30), FIRST_AS_OF):
            from finpersona.tags.store import long_form
            snap = wh.read_snapshot(engine, TAG_SNAPSHOT, day.isoformat())
            expected = _long(engine.to_arrow(long_form(snap, catalogue)).to_pandas())
            seen = _long(engine.to_arrow(history_as_of(engine, wh, day)).to_pandas())
            assert seen == expected, day
        h = engine.to_arrow(wh.read(engine, TAG_HISTORY)).to_pandas()
    # Only changes are stored: no two consecutive periods of one customer's tag share a value.
    h = h.sort_values(["customer_key", "tag", "valid_from"])
    first = h.groupby(["customer_key", "tag"]).head(1)
    assert (first.valid_from == date(2025, 11, 30)).all() or len(first) > 0
    repeated = h.groupby(["customer_key", "tag"]).value.apply(
        lambda s: any(a == b for a, b in zip(s.iloc[:-1], s.iloc[1:], strict=True)))
    assert not repeated.any()
    changed = h[h.valid_from == FIRST_AS_OF]
    assert 0 < len(changed) < len(h)  # a month later some, not all, values changed


def test_a_failed_tag_build_publishes_nothing(ingest_with: Any,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    source = ingest_with("duckdb").workspace
    root = tmp_path_factory.mktemp("failed-build") / "ws"
    shutil.copytree(source.root, root)
    ws = open_workspace(root)
    before = (ws.warehouse_dir / "catalog.json").read_bytes()
    with pytest.raises(BuildError, match="injected"):
        build(ws, date(2025, 12, 15), fail_after=TAG_SNAPSHOT)
    assert (ws.warehouse_dir / "catalog.json").read_bytes() == before
    assert date(2025, 12, 15).isoformat() not in catalog(ws)["snapshots"][TAG_SNAPSHOT]


def test_value_text_prints_large_decimals_without_exponents() -> None:
    import ibis

    from finpersona.config import Settings

    with connect(Settings()) as engine:
        t = ibis.memtable({"x": [12345678.9, 1e-5, None]})
        got = engine.to_arrow(t.select(v=value_text(t.x, ValueType.DECIMAL)))["v"].to_pylist()
    assert got == ["12345678.9000", "0.0000", None]
