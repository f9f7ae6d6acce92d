"""Operation paths against the brute-force reference, on DuckDB and Spark.

Every number is checked against ``reference_sessions.path_report`` (plain Python over
the same rows): on random logs (hypothesis), on hand-made cases whose expected paths
are also written out, and on the synthetic bank. The hand-written DuckDB SQL of the
benchmark (``bench/sql_paths.py``) is checked here too.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import open_analytics
from finpersona.analytics.paths import (
    PathReport,
    analyze_paths,
    path_report,
    top_paths_query,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics import reference_sessions as ref
from tests.analytics.conftest import EVENT_SCHEMA, engine_for, examples_for, table
from tests.analytics.test_sessions import GAPS, OFFSETS, T0, event_logs
from tests.conftest import SPARK_MARKS

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_WITH_ID = EVENT_SCHEMA.append(pa.field("event_id", pa.string()))
PAGES = ["home", "list", "detail"]


def at(seconds: int, page: str | None, name: str = "page_view", who: str = "c1"
       ) -> dict[str, Any]:
    return {"customer_key": who, "anonymous_key": None, "session_id": None,
            "event_time": T0 + timedelta(seconds=seconds), "event_name": name, "page": page,
            "platform": "ios", "dwell_ms": None}


def walk(who: str, *pages: str | None, start: int = 0) -> list[dict[str, Any]]:
    """One session of ``who``: the pages ten seconds apart."""
    return [at(start + 10 * i, page, who=who) for i, page in enumerate(pages)]


def run(engine: Engine, events: list[dict[str, Any]], **kw: Any) -> PathReport:
    return analyze_paths(engine, table(events, EVENT_SCHEMA),
                         **{"gap": "30m", "offset_hours": 8.0, **kw})


def expected(events: list[dict[str, Any]], **kw: Any) -> PathReport:
    return ref.path_report(events, **{"gap": timedelta(minutes=30), "offset_hours": 8.0,
                                      **kw})


def paths_of(report: PathReport) -> list[tuple[str, int]]:
    return [(p.path, p.sessions) for p in report.paths]


# -- random logs ------------------------------------------------------------------------

ANCHORS = st.sampled_from([(None, None, None), ("home", None, None), ("list", None, "next"),
                           ("detail", None, "previous"), (None, "list", None),
                           ("home", "detail", None), ("list", "list", None)])


def test_random_logs_match_the_reference(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=event_logs(), gap=GAPS, offset=OFFSETS, anchors=ANCHORS,
           steps=st.integers(2, 5), top=st.integers(1, 4), nodes=st.integers(1, 3),
           element=st.sampled_from(["page", "event"]),
           since=st.sampled_from([None, date(2025, 3, 2)]))
    def check(events: list[dict[str, Any]], gap: timedelta, offset: float,
              anchors: tuple[str | None, str | None, str | None], steps: int, top: int,
              nodes: int, element: str, since: date | None) -> None:
        start, end, direction = anchors
        if element == "event" and (start or end):
            start, end = ("login" if start else None), ("click" if end else None)
        kw = {"gap": gap, "offset_hours": offset, "element": element, "steps": steps,
              "top": top, "start": start, "end": end, "direction": direction,
              "since": since, "sankey_nodes": nodes}
        in_range = ref.in_dates(ref.sessions_of(events, gap), since, None, offset)
        seen = {name for s in in_range for name in ref.collapsed(s, element)}
        if any(name not in seen for name in (start, end) if name is not None):
            with pytest.raises(AnalysisError, match="no session in range"):
                run(engine, events, **kw)
            return
        assert run(engine, events, **kw) == expected(events, **kw)

    check()


# -- edge cases, with the expected paths written out ------------------------------------

def test_repeats_collapse_and_pageless_events_are_skipped(engine: Engine) -> None:
    events = walk("a", "home", "home", None, "list", "list", "home", "detail")
    assert paths_of(run(engine, events, steps=3)) == [("home → list → home", 1)]
    assert paths_of(run(engine, events, steps=1)) == [("home", 1)]


def test_top_paths_count_sessions_and_break_ties_by_name(engine: Engine) -> None:
    events = (walk("a", "home", "list") + walk("b", "home", "list")
              + walk("c", "home", "detail") + walk("d", "home") + walk("e", "list"))
    got = run(engine, events, steps=2, top=3)
    # 1-session ties: "home" alone (shorter) before "home → detail", then "list".
    assert paths_of(got) == [("home → list", 2), ("home", 1), ("home → detail", 1)]
    assert got.sessions == 5 and got.paths[0].share == 0.4
    assert got == expected(events, steps=2, top=3)


def test_next_and_previous_steps_from_the_first_visit(engine: Engine) -> None:
    events = (walk("a", "home", "list", "detail", "list", "home")
              + walk("b", "list")
              + walk("c", "detail", "home", "list", "detail"))
    after = run(engine, events, start="list", steps=3)
    assert after.sessions == 3
    assert [(s.name, s.sessions) for s in after.next_steps] == [("detail", 2), ("(end)", 1)]
    assert paths_of(after) == [("list", 1), ("list → detail", 1), ("list → detail → list", 1)]
    before = run(engine, events, end="list", steps=3)  # --to alone looks back
    assert before.direction == "previous" and before.start == "list"
    assert [(s.name, s.sessions) for s in before.next_steps] == [
        ("home", 2), ("(start)", 1)]
    assert {p.path for p in before.paths} == {"home → list", "list", "detail → home → list"}
    assert before.sankey.nodes[-1].step == 0  # the anchor is step 0, earlier steps < 0
    assert before == expected(events, end="list", steps=3)


def test_between_two_pages_within_the_step_limit(engine: Engine) -> None:
    events = (walk("a", "home", "list", "detail")  # two steps on
              + walk("b", "home", "list", "home", "list", "home", "detail")  # from its 3rd home
              + walk("c", "home", "x", "y", "detail")  # three steps on: over a limit of 3
              + walk("d", "detail", "home"))  # B before A only
    got = run(engine, events, start="home", end="detail", steps=3)
    assert (got.sessions, got.converted) == (4, 2)
    assert paths_of(got) == [("home → detail", 1), ("home → list → detail", 1)]
    assert got.to_dict()["conversion"] == 0.5
    assert run(engine, events, start="home", end="detail", steps=4).converted == 3
    assert got == expected(events, start="home", end="detail", steps=3)
    loop = run(engine, events, start="home", end="home", steps=3)
    assert paths_of(loop) == [("home → list → home", 1)]


def test_same_timestamp_steps_take_a_fixed_order(engine: Engine) -> None:
    # At the same instant "click" sorts before "page_view": detail, then list.
    events = [at(0, "home"), at(10, "list", "page_view"), at(10, "detail", "click")]
    assert paths_of(run(engine, events)) == [("home → detail → list", 1)]


def test_sankey_keeps_the_largest_names_per_step(engine: Engine) -> None:
    events = (walk("a", "home", "list") + walk("b", "home", "list") + walk("c", "home", "detail")
              + walk("d", "list", "home") + walk("e", "detail", "x"))
    got = run(engine, events, steps=2, sankey_nodes=1)
    assert [(n.step, n.name, n.sessions) for n in got.sankey.nodes] == [
        (0, "home", 3), (0, "(other)", 2), (1, "(other)", 3), (1, "list", 2)]
    assert [(x.step, x.source, x.target, x.sessions) for x in got.sankey.links] == [
        (0, "(other)", "(other)", 2), (0, "home", "list", 2), (0, "home", "(other)", 1)]
    assert got.sankey.to_dict()["links"][1] == {
        "source_step": 0, "source": "home", "target_step": 1, "target": "list",
        "sessions": 2}


def test_sessions_split_by_the_gap_and_dated_by_their_start(engine: Engine) -> None:
    # 23:55 local, then 00:20 and 01:00 (a pause over 30 minutes).
    t = int((datetime(2025, 3, 1, 15, 55) - T0).total_seconds())
    events = [at(t, "home"), at(t + 25 * 60, "list"), at(t + 65 * 60, "detail")]
    got = run(engine, events)
    assert paths_of(got) == [("detail", 1), ("home → list", 1)]
    assert paths_of(run(engine, events, since=date(2025, 3, 2))) == [("detail", 1)]


def test_empty_input_gives_no_paths(engine: Engine) -> None:
    got = run(engine, [])
    assert (got.sessions, got.paths, got.sankey.nodes) == (0, (), ())


def test_an_unknown_page_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(AnalysisError, match="no session in range has page 'nope'; most "
                       "common: home, list"):
        run(engine, walk("a", "home", "list"), start="nope")


def test_bad_requests_are_clear_errors() -> None:
    # Mostly checked before any query runs, so on one engine.
    engine = engine_for("duckdb")
    events = walk("a", "home", "list")
    for kw, message in [
        ({"steps": 0}, "between 1 and 10"), ({"steps": 11}, "between 1 and 10"),
        ({"top": 0}, "--top"), ({"sankey_nodes": 0}, "Sankey"),
        ({"element": "screen"}, "unknown path element"),
        ({"direction": "sideways"}, "unknown direction"),
        ({"direction": "between"}, "give --from and --to"),
        ({"direction": "previous"}, "needs a page"),
        ({"end": "list", "direction": "next"}, "--to looks back"),
        ({"start": "home", "end": "list", "direction": "next"}, "does not apply"),
        ({"start": "home", "steps": 1}, "at least 2"),
        ({"gap": "-5m"}, "cannot read duration"), ({"gap": "0h"}, "positive"),
        ({"since": date(2025, 3, 2), "until": date(2025, 3, 1)}, "after"),
        ({"start": "home", "end": "nope"}, "has page 'nope'"),
        ({"element": "event", "start": "home"}, "has event 'home'"),
    ]:
        with pytest.raises(AnalysisError, match=message):
            run(engine, events, **kw)


# -- the benchmark's hand-written SQL ---------------------------------------------------

def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sql_paths", ROOT / "bench" / "sql_paths.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_written_sql_equals_the_analysis() -> None:
    engine = engine_for("duckdb")
    top_paths_sql = _bench_module().top_paths_sql

    @settings(max_examples=40, deadline=None)
    @given(events=event_logs(max_size=60), steps=st.integers(1, 6), top=st.integers(1, 8),
           gap=st.sampled_from([1, 5, 30]), offset=OFFSETS)
    def check(events: list[dict[str, Any]], steps: int, top: int, gap: int,
              offset: float) -> None:
        rows = [dict(e, event_id=f"e{i:03d}") for i, e in enumerate(events)]
        analysis = engine.to_arrow(top_paths_query(
            table(rows, SCHEMA_WITH_ID), gap=f"{gap}m", offset_hours=offset, steps=steps,
            top=top)).to_pylist()
        con = duckdb.connect()
        con.register("raw_events", pa.Table.from_pylist(rows, schema=SCHEMA_WITH_ID))
        hand = con.execute(top_paths_sql("raw_events", steps, gap, top, offset)).fetchall()
        con.close()
        columns = [f"step_{i}" for i in range(1, steps + 1)]
        assert [(path, n) for path, n in hand] == [
            ([r[c] for c in columns if r[c] is not None], r["sessions"]) for r in analysis]

    check()


# -- the synthetic bank -----------------------------------------------------------------

def bank_events(data: Any) -> list[dict[str, Any]]:
    columns = [*EVENT_SCHEMA.names, "event_id"]
    return list(data.engine.to_arrow(data.events().select(*columns)).to_pylist())


def bank_reports(data: Any) -> list[PathReport]:
    """Entry pages, event paths from the app opening, the loan funnel's pages."""
    return [path_report(data, steps=1, top=3),
            path_report(data, element="event", start="app_open", steps=3),
            path_report(data, start="product_detail", end="loan_apply", steps=3)]


def test_synthetic_bank_matches_the_reference(ingest_with: Callable[[str], Any]) -> None:
    with open_analytics(ingest_with("duckdb").workspace) as data:
        events = bank_events(data)
        entry, by_event, funnel = bank_reports(data)
        offset = data.offset_hours
    gap = timedelta(minutes=30)
    assert entry == ref.path_report(events, gap=gap, offset_hours=offset, steps=1, top=3)
    assert by_event == ref.path_report(events, gap=gap, offset_hours=offset,
                                       element="event", start="app_open", steps=3)
    assert funnel == ref.path_report(events, gap=gap, offset_hours=offset,
                                     start="product_detail", end="loan_apply", steps=3)
    # Sessions open the app on its home page (the web opens on a browse page) and
    # most logged-in sessions log in right after opening the app.
    assert entry.paths[0].steps == ("home",) and (entry.paths[0].share or 0) > 0.8
    assert by_event.next_steps[0].name == "login"
    assert (by_event.next_steps[0].share or 0) > 0.4
    # Loan applications are reached from the product page (the planted funnel).
    assert (funnel.converted or 0) > 0
    assert all(p.steps[-2:] == ("product_detail", "loan_apply") for p in funnel.paths)


@pytest.mark.parametrize("spark", [pytest.param("spark", marks=SPARK_MARKS)])
def test_engines_agree_on_the_bank(spark: str, ingest_with: Callable[[str], Any]) -> None:
    # DuckDB equals the reference above, so Spark does too when they agree.
    reports = []
    for name in ("duckdb", spark):
        with open_analytics(ingest_with(name).workspace) as data:
            reports.append(bank_reports(data))
    assert reports[0] == reports[1]


# -- command line -----------------------------------------------------------------------

runner = CliRunner()


def test_cli_json_and_errors(ingest_with: Callable[[str], Any]) -> None:
    ws = str(ingest_with("duckdb").workspace.root)
    result = runner.invoke(app, ["analyze", "paths", "--top", "5", "--steps", "4", "--from",
                                 "home", "--gap", "45m", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["from"] == "home" and doc["direction"] == "next" and len(doc["paths"]) == 5
    with open_analytics(ingest_with("duckdb").workspace) as data:
        assert doc == path_report(data, top=5, steps=4, start="home", gap="45m").to_dict()
    between = json.loads(runner.invoke(app, [
        "analyze", "paths", "--from", "home", "--to", "loan_apply", "-w", ws,
        "--json"]).stdout)
    assert between["direction"] == "between" and between["converted"] >= 1
    text = runner.invoke(app, ["analyze", "paths", "--to", "loan_apply", "-w", ws])
    assert text.exit_code == 0, text.output
    assert "steps before loan_apply" in text.stdout
    for args, message in [(["--steps", "11"], "between 1 and 10"),
                          (["--from", "nowhere"], "'nowhere'"),
                          (["--direction", "previous"], "needs a page"),
                          (["--element", "url"], "unknown path element")]:
        bad = runner.invoke(app, ["analyze", "paths", *args, "-w", ws])
        assert bad.exit_code == 1, bad.output
        assert "Traceback" not in bad.output and message in bad.stderr, bad.stderr
