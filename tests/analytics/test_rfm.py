"""RFM: the analysis and the rfm tags are one computation, checked against a brute force."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import open_analytics
from finpersona.analytics.rfm import (
    compute_rfm,
    customer_rfm,
    summarise_rfm,
    window_days,
    with_overrides,
)
from finpersona.build import build
from finpersona.cli import app
from finpersona.config import open_workspace
from finpersona.engine import Engine
from finpersona.tags.builtin import RFM_CLASSES, RfmParams, RfmScoring, rfm_customers
from finpersona.tags.context import TagContext
from finpersona.tags.sources import SourceLoader
from tests.analytics.conftest import examples_for
from tests.analytics.reference_patterns import (
    AS_OF,
    customers,
    ref_rfm,
    ref_rfm_bands,
    ref_rfm_classes,
    transactions,
    warehouse_rows,
)
from tests.conftest import FIRST_AS_OF, Ingested

# py4j leaves its sockets to the garbage collector on Spark: not ours to close.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

DEFAULT = RfmParams()
CUTS = (DEFAULT.recency_cuts, DEFAULT.frequency_cuts, DEFAULT.monetary_cuts)


class MemoryLoader(SourceLoader):
    """The tag build's source views over in-memory warehouse tables."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no warehouse: _read is replaced
        self.tables = tables

    def _read(self, ctx: TagContext, table: str) -> ir.Table | None:
        return ibis.memtable(self.tables[table]) if table in self.tables else None


def context(engine: Engine, txns: list[dict[str, Any]], people: list[dict[str, Any]],
            as_of: date = AS_OF, offset: float = 8.0) -> TagContext:
    tables = {"transactions": warehouse_rows("transactions", txns),
              "customers": warehouse_rows("customers", people)}
    return TagContext(engine, as_of, offset, MemoryLoader(tables))


def per_customer(engine: Engine, ctx: TagContext, params: RfmParams) -> dict[str, dict[str, Any]]:
    rows = engine.to_arrow(rfm_customers(ctx, params)).to_pylist()
    return {r.pop("customer_key"): r for r in rows}


def check_against_reference(engine: Engine, txns: list[dict[str, Any]],
                            people: list[dict[str, Any]], params: RfmParams,
                            offset: float = 8.0) -> dict[str, dict[str, Any]]:
    ctx = context(engine, txns, people, offset=offset)
    expected = ref_rfm(txns, people, AS_OF, offset, params.window_days, params.scoring.value,
                       CUTS)
    got = per_customer(engine, ctx, params)
    assert got == expected
    result = summarise_rfm(ctx, params)
    classes = ref_rfm_classes(expected)
    assert result.customers == len(expected)
    assert result.active_customers == sum(1 for r in expected.values()
                                          if r["recency_days"] is not None)
    for c in result.classes:
        want = classes[c.name]
        assert c.customers == want["customers"]
        assert c.active_customers == want["active_customers"]
        assert c.mean_recency_days == pytest.approx(want["mean_recency_days"])
        assert c.mean_frequency == pytest.approx(want["mean_frequency"])
        assert c.mean_monetary == pytest.approx(want["mean_monetary"])
        assert c.total_monetary == pytest.approx(want["total_monetary"])
    assert [(b.measure, b.score, b.customers, b.low, b.high) for b in result.bands] == \
        ref_rfm_bands(expected)
    json.dumps(result.to_dict())  # JSON-ready
    return got


def test_rfm_matches_the_brute_force_on_random_transactions(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine, duckdb=30, spark=3), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(txns=transactions(), people=customers(), window=st.integers(1, 45),
           scoring=st.sampled_from(list(RfmScoring)))
    def check(txns: list[dict[str, Any]], people: list[dict[str, Any]], window: int,
              scoring: RfmScoring) -> None:
        params = RfmParams(window_days=window, scoring=scoring)
        check_against_reference(engine, txns, people, params)

    check()


def _txn(key: str | None, when: datetime, amount: str = "100", **extra: Any) -> dict[str, Any]:
    return {"customer_key": key, "txn_time": when, "amount": Decimal(amount),
            "currency": "CNY", "direction": "debit", "txn_type": "purchase",
            "status": "success", "channel": "pos", "mcc": "5411", "city": "北京市", **extra}


def _people(*keys: str) -> list[dict[str, Any]]:
    return [{"customer_key": k, "registered_at": date(2024, 1, 1), "city": "北京市"}
            for k in keys]


def test_edge_cases_local_midnight_failed_reversed_and_no_purchases(engine: Engine) -> None:
    as_of = datetime(AS_OF.year, AS_OF.month, AS_OF.day)
    txns = [
        # 16:00 UTC on the as-of date is 00:00 the next local day: after the window.
        _txn("late", as_of + timedelta(hours=16)),
        # 15:59:59 UTC is 23:59:59 local on the as-of date: recency 0.
        _txn("edge", as_of + timedelta(hours=15, minutes=59, seconds=59)),
        # The day before the window: 16:00 UTC on (as_of - 30d) is local (as_of - 29d).
        _txn("start", as_of - timedelta(days=30) + timedelta(hours=16)),
        _txn("start", as_of - timedelta(days=30) + timedelta(hours=15, minutes=59)),
        _txn("failed", as_of, status="failed"),
        _txn("reversed", as_of, status="reversed"),
        _txn("credit", as_of, direction="credit"),
        _txn("usd", as_of, currency="USD", amount="5000"),
        _txn(None, as_of, amount="99999"),
    ]
    people = _people("late", "edge", "start", "failed", "reversed", "credit", "usd", "idle")
    got = check_against_reference(engine, txns, people, RfmParams(window_days=30))
    assert got["edge"]["recency_days"] == 0
    assert got["start"]["recency_days"] == 29 and got["start"]["frequency"] == 1
    for nobody in ("late", "failed", "reversed", "credit", "idle"):
        assert got[nobody] == {"recency_days": None, "frequency": 0, "monetary": Decimal(0),
                               "r_score": 1, "f_score": 1, "m_score": 1,
                               "rfm_class": "一般挽留"}
    assert got["usd"]["frequency"] == 1 and got["usd"]["monetary"] == 0  # not converted


def test_tied_customers_score_alike(engine: Engine) -> None:
    when = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 2)
    txns = [_txn(k, when) for k in ("a", "b", "c", "d")] + [_txn("e", when, amount="200")]
    got = check_against_reference(engine, txns, _people("a", "b", "c", "d", "e"), DEFAULT)
    # Everyone's last debit was the same day: all share cume_dist 1, the top score.
    assert {r["r_score"] for r in got.values()} == {5}
    # Four tie at the lowest amount: cume_dist 0.8 -> 4; the fifth alone at 1.0 -> 5.
    assert [got[k]["m_score"] for k in "abcde"] == [4, 4, 4, 4, 5]


def test_fixed_scores_at_their_cuts(engine: Engine) -> None:
    base = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 2)
    txns = [_txn("r30", base - timedelta(days=30)), _txn("r31", base - timedelta(days=31)),
            _txn("m1000", base, amount="1000"), _txn("m999", base, amount="999.9999"),
            _txn("f2", base), _txn("f2", base)]
    params = RfmParams(scoring=RfmScoring.FIXED)
    got = check_against_reference(engine, txns, _people("r30", "r31", "m1000", "m999", "f2"),
                                  params)
    assert (got["r30"]["r_score"], got["r31"]["r_score"]) == (5, 4)
    assert (got["m1000"]["m_score"], got["m999"]["m_score"]) == (2, 1)
    assert (got["f2"]["f_score"], got["m999"]["f_score"]) == (2, 1)


def test_another_time_zone_moves_the_day_boundary(engine: Engine) -> None:
    when = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 23, 30)  # UTC
    txns = [_txn("a", when), _txn("b", when - timedelta(days=1))]
    in_utc = check_against_reference(engine, txns, _people("a", "b"), DEFAULT, offset=0.0)
    in_shanghai = check_against_reference(engine, txns, _people("a", "b"), DEFAULT)
    assert in_utc["a"]["recency_days"] == 0
    assert in_shanghai["a"]["recency_days"] is None  # 07:30 the next local day
    assert in_shanghai["b"]["recency_days"] == 0


def test_empty_input_gives_eight_empty_classes(engine: Engine) -> None:
    ctx = context(engine, [], [])
    result = summarise_rfm(ctx, DEFAULT)
    assert [c.name for c in result.classes] == [c[0] for c in RFM_CLASSES]
    assert result.customers == 0 and all(c.customers == 0 for c in result.classes)
    assert result.bands == ()


@pytest.mark.parametrize(("text", "days"), [("365d", 365), ("2w", 14), (30, 30)])
def test_windows_are_whole_days(text: str | int, days: int) -> None:
    assert window_days(text) == days


@pytest.mark.parametrize("bad", ["30m", "0d", "-3d", "soon", 0, -1])
def test_bad_windows_are_refused(bad: str | int) -> None:
    with pytest.raises(AnalysisError):
        window_days(bad)


def test_unknown_scoring_is_refused() -> None:
    with pytest.raises(AnalysisError, match="quantile or fixed"):
        with_overrides(DEFAULT, scoring="median")


# -- the synthetic bank: the analysis is the tags ---------------------------------------------

def _snapshot(ingested: Ingested) -> dict[str, dict[str, Any]]:
    with open_analytics(ingested.workspace) as data:
        snap = data.tags(FIRST_AS_OF, ["r_score", "f_score", "m_score", "rfm_segment"])
        rows = data.engine.to_arrow(snap).to_pylist()
    return {r.pop("customer_key"): r for r in rows}


def test_the_analysis_equals_the_rfm_tags_of_the_build(ingested: Ingested) -> None:
    tags = _snapshot(ingested)
    with open_analytics(ingested.workspace) as data:
        result = compute_rfm(data)
        table = customer_rfm(data).select("customer_key", "r_score", "f_score", "m_score",
                                          rfm_segment="rfm_class")
        rows = data.engine.to_arrow(table).to_pylist()
    assert result.as_of == FIRST_AS_OF and result.window_days == 365
    assert {r.pop("customer_key"): r for r in rows} == tags
    sizes = Counter(r["rfm_segment"] for r in tags.values())
    assert {c.name: c.customers for c in result.classes} == {
        name: sizes.get(name, 0) for name, *_ in RFM_CLASSES}
    assert len(sizes) == 8  # every class is populated on the synthetic bank


@pytest.fixture(scope="module")
def fixed_build(ingest_with: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A copy of the DuckDB workspace set to fixed scoring over 180 days, then built."""
    source = ingest_with("duckdb").workspace
    root = tmp_path_factory.mktemp("rfm-fixed") / "ws"
    shutil.copytree(source.root, root)
    settings = yaml.safe_load((root / "settings.yaml").read_text(encoding="utf-8"))
    settings.update(rfm_scoring="fixed", rfm_window_days=180,
                    rfm_monetary_cuts=[500, 2000, 8000, 30000])
    (root / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    ws = open_workspace(root)
    build(ws, FIRST_AS_OF)
    return ws


def test_the_build_follows_the_rfm_settings(fixed_build: Any, ingest_with: Any) -> None:
    with open_analytics(fixed_build) as data:
        snap = data.tags(FIRST_AS_OF, ["r_score", "f_score", "m_score", "rfm_segment"])
        tags = {r.pop("customer_key"): r for r in data.engine.to_arrow(snap).to_pylist()}
        result = compute_rfm(data)
        rows = data.engine.to_arrow(customer_rfm(data)).to_pylist()
    assert (result.scoring, result.window_days) == ("fixed", 180)
    assert result.cuts is not None and result.cuts["monetary"] == [500, 2000, 8000, 30000]
    assert {r["customer_key"]: {"r_score": r["r_score"], "f_score": r["f_score"],
                                "m_score": r["m_score"], "rfm_segment": r["rfm_class"]}
            for r in rows} == tags
    assert tags != _snapshot(ingest_with("duckdb"))  # the settings changed the tags
    sizes = Counter(r["rfm_segment"] for r in tags.values())
    assert {c.name: c.customers for c in result.classes if c.customers} == dict(sizes)


# -- the command line ------------------------------------------------------------------------------

def test_cli_json(ingested: Ingested) -> None:
    if ingested.engine != "duckdb":
        pytest.skip("the command line is engine-independent; DuckDB is enough")
    runner = CliRunner()
    ws = str(ingested.workspace.root)
    result = runner.invoke(app, ["analyze", "rfm", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["as_of"] == FIRST_AS_OF.isoformat() and doc["scoring"] == "quantile"
    assert [c["name"] for c in doc["classes"]] == [c[0] for c in RFM_CLASSES]
    assert sum(c["customers"] for c in doc["classes"]) == doc["customers"]
    fixed = runner.invoke(app, ["analyze", "rfm", "-w", ws, "--json", "--scoring", "fixed",
                                "--window", "90d", "--as-of", "2025-11-30"])
    assert fixed.exit_code == 0, fixed.output
    doc = json.loads(fixed.stdout)
    assert (doc["scoring"], doc["window_days"], doc["as_of"]) == ("fixed", 90, "2025-11-30")
    text = runner.invoke(app, ["analyze", "rfm", "-w", ws])
    assert text.exit_code == 0 and "重要价值" in text.output
    for bad in (["--window", "3h"], ["--scoring", "median"], ["--as-of", "yesterday"]):
        failed = runner.invoke(app, ["analyze", "rfm", "-w", ws, *bad])
        assert failed.exit_code == 1, bad
        assert "Traceback" not in failed.output


def test_cli_without_a_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", "rfm", "-w", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no workspace" in result.output
