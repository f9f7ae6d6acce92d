"""Sessions and dwell time against the brute-force reference, on DuckDB and Spark.

Every number is checked against ``reference_sessions.session_report`` (plain Python
over the same rows): on random logs (hypothesis), on hand-made edge cases whose
expected values are also written out, and on the synthetic bank.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import open_analytics
from finpersona.analytics.sessions import (
    SessionReport,
    analyze_sessions,
    customer_sessions,
    session_report,
    session_table,
    sessionize,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics import reference_sessions as ref
from tests.analytics.conftest import EVENT_SCHEMA, engine_for, examples_for, table
from tests.conftest import SPARK_MARKS

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark

T0 = datetime(2025, 3, 1, 15, 0)  # 23:00 in Shanghai: logs cross local midnight
ALL_SPLITS = ("platform", "page", "feature", "customer")
TAG_SCHEMA = pa.schema([("customer_key", pa.string()), ("segment", pa.string())])
OFFSETS = st.sampled_from([8.0, 0.0, -5.5])
GAPS = st.sampled_from([timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)])


def ev(when: datetime, name: str = "page_view", page: str | None = "home", *,
       customer: str | None = "c1", device: str | None = "d1", sdk: str | None = "s1",
       platform: str | None = "ios", dwell: int | None = None) -> dict[str, Any]:
    return {"customer_key": customer, "anonymous_key": device, "session_id": sdk,
            "event_time": when, "event_name": name, "page": page, "platform": platform,
            "dwell_ms": dwell}


@st.composite
def event_logs(draw: st.DrawFn, max_size: int = 40) -> list[dict[str, Any]]:
    """Small logs on a 30-second grid (so pauses of exactly the gap are common), with
    shared timestamps, sub-second jitter, pre-login and unattributable events."""
    n = draw(st.integers(0, max_size))
    events = []
    for _ in range(n):
        tick = draw(st.integers(0, 600))
        jitter = draw(st.sampled_from([0, 0, 0, 1, 500_000, 999_999]))
        events.append({
            "customer_key": draw(st.sampled_from(["c1", "c2", "c3", None])),
            "anonymous_key": draw(st.sampled_from(["d1", "d2", None])),
            "session_id": draw(st.sampled_from(["s1", "s2", None])),
            "event_time": T0 + timedelta(seconds=30 * tick, microseconds=jitter),
            "event_name": draw(st.sampled_from(["app_open", "click", "page_view", "login"])),
            "page": draw(st.sampled_from(["home", "list", "detail", None])),
            "platform": draw(st.sampled_from(["ios", "web", None])),
            "dwell_ms": draw(st.sampled_from([None, 0, 1500, 20_000])),
        })
    return events


TAGS = [{"customer_key": "c1", "segment": "gold"}, {"customer_key": "c2", "segment": None}]


def run(engine: Engine, events: list[dict[str, Any]], **kw: Any) -> SessionReport:
    tags = table(TAGS, TAG_SCHEMA) if kw.get("breakdown") else None
    return analyze_sessions(engine, table(events, EVENT_SCHEMA), tags=tags, **kw)


def expected(events: list[dict[str, Any]], **kw: Any) -> SessionReport:
    tags = {t["customer_key"]: t["segment"] for t in TAGS} if kw.get("breakdown") else None
    return ref.session_report(events, tags=tags, **kw)


# -- random logs ------------------------------------------------------------------------

def test_random_logs_match_the_reference(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=event_logs(), gap=GAPS, offset=OFFSETS,
           splits=st.lists(st.sampled_from(ALL_SPLITS), max_size=4, unique=True),
           breakdown=st.sampled_from([None, "segment"]), top=st.integers(1, 3),
           since=st.sampled_from([None, date(2025, 3, 1), date(2025, 3, 2)]),
           until=st.sampled_from([None, date(2025, 3, 1), date(2025, 3, 3)]))
    def check(events: list[dict[str, Any]], gap: timedelta, offset: float, splits: list[str],
              breakdown: str | None, top: int, since: date | None, until: date | None) -> None:
        if since is not None and until is not None and since > until:
            return
        kw = {"gap": gap, "offset_hours": offset, "by": splits, "breakdown": breakdown,
              "top": top, "since": since, "until": until}
        assert run(engine, events, **kw) == expected(events, **kw)

    check()


# -- edge cases, with the expected values written out -----------------------------------

def test_a_pause_of_exactly_the_gap_stays_in_the_session(engine: Engine) -> None:
    gap = timedelta(minutes=30)
    events = [ev(T0), ev(T0 + gap, page="list"),  # exactly the gap: same session
              ev(T0 + 2 * gap + timedelta(microseconds=1), page="detail")]  # just over it
    got = run(engine, events, gap=gap, offset_hours=8.0)
    assert got.totals[0].sessions == 2
    assert got.totals[0].total_duration_ms == 30 * 60 * 1000
    assert got == expected(events, gap=gap, offset_hours=8.0)


def test_same_timestamp_events_take_a_fixed_order(engine: Engine) -> None:
    # Both at T0: "click" sorts before "page_view", so the visit to a comes first and
    # b's visit ends at the next event, 20 s later.
    events = [ev(T0, "page_view", "b"), ev(T0, "click", "a"),
              ev(T0 + timedelta(seconds=20), "click", "b")]
    got = run(engine, events, gap="30m", offset_hours=8.0, by=["page", "feature"])
    pages = {p.name: p for p in got.pages}
    assert pages["a"].count == 1 and pages["a"].total_ms_to_next == 0
    assert pages["b"].count == 1 and pages["b"].total_ms_to_next == 0  # session ends on b
    assert pages["b"].timed == 0 and pages["a"].timed == 1
    assert got.totals[0].page_visits == 2
    assert got == expected(events, gap=timedelta(minutes=30), offset_hours=8.0,
                           by=["page", "feature"])


def test_a_session_across_local_midnight_stays_whole_and_dates_by_its_start(
        engine: Engine) -> None:
    # 15:50 and 16:10 UTC are 23:50 on 1 March and 00:10 on 2 March in Shanghai.
    start = datetime(2025, 3, 1, 15, 50)
    events = [ev(start), ev(start + timedelta(minutes=20), page="list")]
    one_day = run(engine, events, gap="30m", offset_hours=8.0, since=date(2025, 3, 1),
                  until=date(2025, 3, 1))
    assert one_day.totals[0].sessions == 1
    assert one_day.totals[0].total_duration_ms == 20 * 60 * 1000
    assert run(engine, events, gap="30m", offset_hours=8.0, since=date(2025, 3, 2)).totals == ()
    # In UTC both events are on 1 March, in UTC-8 neither is on 2 March.
    assert run(engine, events, gap="30m", offset_hours=-8.0,
               until=date(2025, 3, 1)).totals[0].sessions == 1


def test_null_customers_fall_back_to_device_then_sdk_session(engine: Engine) -> None:
    events = [ev(T0, customer=None, device="d9"), ev(T0, customer=None, device=None, sdk="s9"),
              ev(T0, customer=None, device=None, sdk=None),  # nobody: left out
              ev(T0, customer="c1")]
    s = sessionize(table(events, EVENT_SCHEMA), gap="30m", offset_hours=8.0)
    actors = sorted(r["actor_key"] for r in engine.to_arrow(s.select("actor_key")).to_pylist())
    assert actors == ["c1", "device:d9", "sdk:s9"]
    got = run(engine, events, gap="30m", offset_hours=8.0, by=["customer"])
    assert (got.totals[0].sessions, got.totals[0].actors, got.totals[0].customers) == (3, 3, 1)
    assert [c.group for c in got.customers] == ["c1"]


def test_bounce_is_one_page_visit_under_ten_seconds(engine: Engine) -> None:
    events = [
        ev(T0, customer="a"), ev(T0 + timedelta(seconds=9), "click", customer="a"),  # bounce
        ev(T0, customer="b"), ev(T0 + timedelta(seconds=10), "click", customer="b"),  # 10 s
        ev(T0, customer="c"), ev(T0 + timedelta(seconds=1), page="list", customer="c"),
        ev(T0, "app_close", None, customer="d"),  # no page: outside the bounce rate
    ]
    got = run(engine, events, gap="30m", offset_hours=8.0).totals[0]
    assert (got.sessions, got.page_sessions, got.bounced) == (4, 3, 1)
    assert got.bounce_rate == pytest.approx(1 / 3)


def test_dwell_per_page_visit_and_reported_dwell(engine: Engine) -> None:
    # home (0 s) → home (5 s, collapsed) → [no page at 8 s] → list (20 s, session's end)
    events = [ev(T0, dwell=4000), ev(T0 + timedelta(seconds=5), "click", dwell=None),
              ev(T0 + timedelta(seconds=8), "message_open", None),
              ev(T0 + timedelta(seconds=20), page="list", dwell=7000)]
    got = run(engine, events, gap="30m", offset_hours=8.0, by=["page", "feature"])
    home = next(p for p in got.pages if p.name == "home")
    assert (home.count, home.timed, home.total_ms_to_next) == (1, 1, 8000)
    assert (home.reported, home.total_reported_ms) == (1, 4000)
    listing = next(p for p in got.pages if p.name == "list")
    assert (listing.timed, listing.avg_seconds_to_next, listing.avg_reported_seconds) == (
        0, None, 7.0)
    click = next(f for f in got.features if f.name == "click")
    assert click.total_ms_to_next == 3000
    assert got.totals[0].pages_per_session == 2.0
    assert got == expected(events, gap=timedelta(minutes=30), offset_hours=8.0,
                           by=["page", "feature"])


def test_medians_are_exact_for_even_counts(engine: Engine) -> None:
    events = [ev(T0, customer="a"), ev(T0 + timedelta(seconds=10), customer="a"),
              ev(T0, customer="b"), ev(T0 + timedelta(seconds=25), customer="b")]
    got = run(engine, events, gap="30m", offset_hours=8.0)
    assert got.totals[0].median_duration_seconds == 17.5


def test_empty_input_gives_no_sessions(engine: Engine) -> None:
    got = run(engine, [], gap="30m", offset_hours=8.0, by=list(ALL_SPLITS))
    assert got.totals == () and got.pages == () and got.customers == ()


def test_session_table_and_customer_stats_stay_lazy(engine: Engine) -> None:
    events = [ev(T0), ev(T0 + timedelta(hours=2)), ev(T0, customer=None, device="d2")]
    sessions = session_table(sessionize(table(events, EVENT_SCHEMA), gap="30m",
                                        offset_hours=8.0))
    rows = engine.to_arrow(customer_sessions(sessions)).to_pylist()
    assert [(r["customer_key"], r["sessions"]) for r in rows] == [("c1", 2)]


def test_bad_requests_are_clear_errors() -> None:
    # Checked before any query runs, so on one engine.
    engine = engine_for("duckdb")
    events = [ev(T0)]
    for kw, message in [
        ({"gap": "0m"}, "positive"), ({"gap": "soon"}, "cannot read duration"),
        ({"by": ["device"]}, "unknown split"), ({"top": 0}, "--top"),
        ({"since": date(2025, 3, 2), "until": date(2025, 3, 1)}, "after"),
        ({"breakdown": "nosuch"}, "unknown breakdown tag"),
        ({"bounce_seconds": 0}, "bounce threshold"),
        ({"gap": timedelta(milliseconds=1500)}, "whole seconds"),
    ]:
        with pytest.raises(AnalysisError, match=message):
            run(engine, events, **{"gap": "30m", "offset_hours": 8.0, **kw})
    with pytest.raises(AnalysisError, match="needs column"):
        analyze_sessions(engine, table([], pa.schema([("event_time", pa.timestamp("us"))])),
                         offset_hours=8.0)


# -- the synthetic bank -----------------------------------------------------------------

def bank_events(data: Any) -> list[dict[str, Any]]:
    columns = [*EVENT_SCHEMA.names, "event_id"]
    return list(data.engine.to_arrow(data.events().select(*columns)).to_pylist())


BANK_SINCE = date(2025, 7, 1)


def bank_report(data: Any) -> SessionReport:
    return session_report(data, by=list(ALL_SPLITS), breakdown="gender", top=5,
                          since=BANK_SINCE)


def test_synthetic_bank_matches_the_reference(ingest_with: Callable[[str], Any]) -> None:
    with open_analytics(ingest_with("duckdb").workspace) as data:
        events = bank_events(data)
        genders = {r["customer_key"]: r["gender"] for r in data.engine.to_arrow(
            data.tags(columns=["gender"])).to_pylist()}
        got = bank_report(data)
        offset = data.offset_hours
    assert got == ref.session_report(
        events, gap=timedelta(minutes=30), offset_hours=offset, by=ALL_SPLITS, tags=genders,
        breakdown="gender", top=5, since=BANK_SINCE)
    total = sum(t.sessions for t in got.totals)
    assert total > 1000
    # Anonymous visitors' sessions have no tags: they form the "(none)" group.
    assert "(none)" in {t.breakdown for t in got.totals}
    # Sessions open the app on its home page (the web opens on a browse page).
    assert sum(p.count for p in got.pages if p.name == "home") >= 0.8 * total
    assert {p.group for p in got.platforms} <= {"ios", "android", "web", "mini_program",
                                                "(none)"}


@pytest.mark.parametrize("spark", [pytest.param("spark", marks=SPARK_MARKS)])
def test_engines_agree_on_the_bank(spark: str, ingest_with: Callable[[str], Any]) -> None:
    # DuckDB equals the reference above, so Spark does too when they agree.
    reports = []
    for name in ("duckdb", spark):
        with open_analytics(ingest_with(name).workspace) as data:
            reports.append(bank_report(data))
    assert reports[0] == reports[1]


# -- command line -----------------------------------------------------------------------

runner = CliRunner()


def test_cli_json_and_errors(ingest_with: Callable[[str], Any]) -> None:
    ws = str(ingest_with("duckdb").workspace.root)
    result = runner.invoke(app, ["analyze", "sessions", "--by", "platform", "--by", "page",
                                 "--gap", "45m", "--since", "2025-10-01", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["gap_minutes"] == 45 and doc["splits"] == ["platform", "page"]
    with open_analytics(ingest_with("duckdb").workspace) as data:
        assert doc == session_report(data, by=["platform", "page"], gap="45m",
                                     since=date(2025, 10, 1)).to_dict()
    default = json.loads(runner.invoke(app, ["analyze", "sessions", "-w", ws,
                                             "--json"]).stdout)
    assert default["gap_minutes"] == 30  # the workspace setting
    overridden = runner.invoke(app, ["analyze", "sessions", "-w", ws, "--json"],
                               env={"FINPERSONA_SESSION_GAP_MINUTES": "10"})
    assert json.loads(overridden.stdout)["gap_minutes"] == 10
    assert json.loads(overridden.stdout)["totals"][0]["sessions"] > default["totals"][0][
        "sessions"]
    text = runner.invoke(app, ["analyze", "sessions", "--by", "feature", "-w", ws])
    assert text.exit_code == 0, text.output
    assert "time per feature" in text.stdout
    for args, message in [(["--gap", "0m"], "positive"), (["--by", "device"], "unknown split"),
                          (["--since", "May 1"], "--since"),
                          (["--breakdown", "nosuch"], "nosuch")]:
        bad = runner.invoke(app, ["analyze", "sessions", *args, "-w", ws])
        assert bad.exit_code == 1, bad.output
        assert "Traceback" not in bad.output and message in bad.stderr, bad.stderr
