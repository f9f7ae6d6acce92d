"""Lifecycle and stickiness against the brute-force reference, on DuckDB and Spark."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError, Period
from finpersona.analytics.data import open_analytics
from finpersona.analytics.lifecycle import (
    LifecycleQuery,
    analyze_lifecycle,
    analyze_stickiness,
    compute_lifecycle,
    compute_stickiness,
)
from finpersona.analytics.retention import (
    ActivitySource,
    activity_from_events,
    activity_from_transactions,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics import reference_retention as ref
from tests.analytics.conftest import EVENT_SCHEMA, TXN_SCHEMA, engine_for, examples_for, table

# py4j's sockets on Spark, not ours.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]
T0 = datetime(2025, 3, 3)  # a Monday (UTC)


def ev(customer: str | None, when: datetime, name: str = "page_view") -> dict[str, Any]:
    return {"customer_key": customer, "anonymous_key": "a", "session_id": "s",
            "event_time": when, "event_name": name, "page": "home", "platform": "ios",
            "dwell_ms": 1}


def lifecycle(engine: Engine, events: list[dict[str, Any]], query: LifecycleQuery,
              offset_hours: float = 8.0) -> dict[str, Any]:
    activity = activity_from_events(table(events, EVENT_SCHEMA))
    return compute_lifecycle(engine, activity, query, offset_hours=offset_hours).to_dict()


def stickiness(engine: Engine, events: list[dict[str, Any]], query: LifecycleQuery,
               offset_hours: float = 8.0) -> dict[str, Any]:
    activity = activity_from_events(table(events, EVENT_SCHEMA))
    return compute_stickiness(engine, activity, query, offset_hours=offset_hours).to_dict()


def want(fn: Callable[..., dict[str, Any]], events: list[dict[str, Any]],
         query: LifecycleQuery, offset_hours: float = 8.0) -> dict[str, Any]:
    acts = ref.acts_from_events(events, offset_hours, query.until)
    return fn(acts, period=query.period.value, event=query.event, since=query.since,
              until=query.until, offset_hours=offset_hours)


def statuses(doc: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    return {p["period_start"]: (p["new"], p["returning"], p["resurrecting"], p["dormant"])
            for p in doc["periods"]}


@st.composite
def event_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = draw(st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3", "c4", None]),
                                   st.integers(0, 80 * 24 * 60),
                                   st.sampled_from(["login", "page_view"])), max_size=40))
    return [ev(c, T0 + timedelta(minutes=m), n) for c, m, n in rows]


@st.composite
def queries(draw: st.DrawFn) -> LifecycleQuery:
    day = st.one_of(st.none(), st.integers(-3, 85).map(lambda d: T0.date() + timedelta(d)))
    since, until = draw(day), draw(day)
    if since is not None and until is not None and since > until:
        since, until = until, since
    return LifecycleQuery(period=draw(st.sampled_from(list(Period))),
                          event=draw(st.sampled_from([None, "login"])), since=since,
                          until=until)


def test_random_logs_match_the_reference(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine, spark=3), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=event_logs(), query=queries(),
           offset=st.sampled_from([8.0, 0.0, -5.0, 5.5]))
    def check(events: list[dict[str, Any]], query: LifecycleQuery, offset: float) -> None:
        acts = ref.acts_from_events(events, offset, query.until)
        if query.event is not None and acts and query.event not in {a.name for a in acts}:
            with pytest.raises(AnalysisError, match="unknown event"):
                lifecycle(engine, events, query, offset)
            return
        got = lifecycle(engine, events, query, offset)
        assert got == want(ref.lifecycle, events, query, offset)
        # The states add up: active(p) = active(p-1) + new + resurrecting + dormant.
        for before, now in zip(got["periods"], got["periods"][1:], strict=False):
            assert now["active"] == (before["active"] + now["new"] + now["resurrecting"]
                                     + now["dormant"])
        if query.period is not Period.DAY:
            assert stickiness(engine, events, query, offset) == want(
                ref.stickiness, events, query, offset)

    check()


def test_lifecycle_by_hand(engine: Engine) -> None:
    day = timedelta(days=1)
    events = [
        ev("a", T0), ev("a", T0 + 7 * day), ev("a", T0 + 21 * day),  # weeks 1, 2, 4
        ev("b", T0 + 7 * day), ev("b", T0 + 7 * day),  # week 2 only (twice, same time)
        ev("c", T0 + 14 * day), ev("c", T0 + 22 * day),  # weeks 3, 4
        ev(None, T0 + 23 * day),  # an unknown visitor: not a customer
    ]
    query = LifecycleQuery(Period.WEEK)
    got = lifecycle(engine, events, query)
    assert got == want(ref.lifecycle, events, query)
    # (new, returning, resurrecting, dormant) per week; data end on Tuesday of week 4.
    assert statuses(got) == {"2025-03-03": (1, 0, 0, 0), "2025-03-10": (1, 1, 0, 0),
                             "2025-03-17": (1, 0, 0, -2), "2025-03-24": (0, 1, 1, 0)}
    assert [p["complete"] for p in got["periods"]] == [True, True, True, False]
    assert [p["active"] for p in got["periods"]] == [1, 2, 1, 2]


def test_local_day_boundaries_decide_the_period(engine: Engine) -> None:
    # 17:30 UTC on Sunday 9 March is Monday 10 March 01:30 in Shanghai.
    events = [ev("a", datetime(2025, 3, 9, 17, 30)), ev("a", datetime(2025, 3, 3, 1, 0))]
    query = LifecycleQuery(Period.WEEK)
    shanghai = lifecycle(engine, events, query, 8.0)
    assert shanghai == want(ref.lifecycle, events, query, 8.0)
    assert statuses(shanghai) == {"2025-03-03": (1, 0, 0, 0), "2025-03-10": (0, 1, 0, 0)}
    utc = lifecycle(engine, events, query, 0.0)
    assert statuses(utc) == {"2025-03-03": (1, 0, 0, 0)}
    sticky = stickiness(engine, events, query, 0.0)
    assert sticky == want(ref.stickiness, events, query, 0.0)
    assert sticky["periods"][0]["distribution"] == [0, 1, 0, 0, 0, 0, 0]


def test_stickiness_by_hand(engine: Engine) -> None:
    events = [ev("a", T0 + timedelta(days=d, hours=h)) for d in (0, 1, 2) for h in (1, 2)]
    events += [ev("b", T0 + timedelta(days=6)), ev("c", datetime(2025, 4, 1, 3))]
    week = LifecycleQuery(Period.WEEK)
    got = stickiness(engine, events, week)
    assert got == want(ref.stickiness, events, week)
    first = got["periods"][0]
    assert first["distribution"] == [1, 0, 1, 0, 0, 0, 0] and first["mean_active_days"] == 2.0
    month = LifecycleQuery(Period.MONTH)
    got = stickiness(engine, events, month)
    assert got == want(ref.stickiness, events, month)
    assert [(p["period_start"], p["days_in_period"], p["customers"]) for p in
            got["periods"]] == [("2025-03-01", 31, 2), ("2025-04-01", 30, 1)]
    # An empty week in between is reported with no one in it.
    empty = [p for p in stickiness(engine, events, week)["periods"] if not p["customers"]]
    assert empty and all(p["mean_active_days"] is None for p in empty)


def test_transactions_as_activity(engine: Engine) -> None:
    def txn(customer: str, when: datetime, status: str | None) -> dict[str, Any]:
        return {"customer_key": customer, "txn_time": when, "amount": Decimal(1),
                "direction": "debit", "txn_type": "purchase", "channel": "pos",
                "mcc": None, "city": None, "status": status}

    txns = [txn("a", T0, "success"), txn("a", T0 + timedelta(days=7), "failed"),
            txn("a", T0 + timedelta(days=14), None), txn("b", T0 + timedelta(days=7), None)]
    activity = activity_from_transactions(table(txns, TXN_SCHEMA))
    query = LifecycleQuery(Period.WEEK)
    got = compute_lifecycle(engine, activity, query, offset_hours=8.0,
                            source=ActivitySource.TRANSACTIONS).to_dict()
    acts = ref.acts_from_transactions(txns, 8.0)
    assert got == ref.lifecycle(acts, period="week", source="transactions")
    # The failed payment is no activity: a is dormant in week 2 and resurrects in week 3.
    assert statuses(got) == {"2025-03-03": (1, 0, 0, 0), "2025-03-10": (1, 0, 0, -1),
                             "2025-03-17": (0, 0, 1, -1)}


def test_empty_input_and_bad_requests() -> None:
    engine = engine_for("duckdb")
    assert lifecycle(engine, [], LifecycleQuery())["periods"] == []
    assert stickiness(engine, [ev(None, T0)], LifecycleQuery())["periods"] == []
    with pytest.raises(AnalysisError, match="week or month"):
        stickiness(engine, [ev("a", T0)], LifecycleQuery(Period.DAY))
    with pytest.raises(AnalysisError, match="unknown event 'nope'"):
        lifecycle(engine, [ev("a", T0)], LifecycleQuery(event="nope"))
    with pytest.raises(AnalysisError, match="after"):
        lifecycle(engine, [ev("a", T0)], LifecycleQuery(since=date(2025, 3, 9),
                                                       until=date(2025, 3, 1)))


def test_synthetic_bank_matches_the_reference(ingested: Any) -> None:
    with open_analytics(ingested.workspace) as data:
        offset = data.offset_hours
        events = data.engine.to_arrow(data.events().select(
            "customer_key", "event_time", "event_name")).to_pylist()
        acts = ref.acts_from_events(events, offset)
        query = LifecycleQuery(Period.MONTH, since=date(2025, 6, 1))
        got = analyze_lifecycle(data, query).to_dict()
        assert got == ref.lifecycle(acts, period="month", since=query.since,
                                    offset_hours=offset)
        assert sum(p["resurrecting"] for p in got["periods"]) > 0
        weekly = LifecycleQuery(Period.WEEK, event="login", since=date(2025, 11, 1))
        got = analyze_stickiness(data, weekly).to_dict()
        assert got == ref.stickiness(acts, period="week", event="login", since=weekly.since,
                                     offset_hours=offset)


runner = CliRunner()


def test_cli_json_and_errors(ingest_with: Callable[[str], Any]) -> None:
    built = ingest_with("duckdb")
    ws = str(built.workspace.root)
    result = runner.invoke(app, ["analyze", "lifecycle", "--period", "month", "--source",
                                 "transactions", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    with open_analytics(built.workspace) as data:
        assert doc == analyze_lifecycle(data, LifecycleQuery(Period.MONTH),
                                        ActivitySource.TRANSACTIONS).to_dict()
    sticky = runner.invoke(app, ["analyze", "stickiness", "--period", "week", "-w", ws,
                                 "--json"])
    assert sticky.exit_code == 0, sticky.output
    periods = json.loads(sticky.stdout)["periods"]
    assert periods and all(len(p["distribution"]) == 7 for p in periods)
    text = runner.invoke(app, ["analyze", "lifecycle", "--event", "login", "-w", ws])
    assert text.exit_code == 0 and "Lifecycle by week" in text.stdout
    for command, args, message in [
        ("stickiness", ["--period", "day"], "week or month"),
        ("lifecycle", ["--source", "tweets"], "events or transactions"),
        ("lifecycle", ["--event", "nope"], "unknown event 'nope'"),
        ("lifecycle", ["--until", "yesterday"], "--until"),
    ]:
        bad = runner.invoke(app, ["analyze", command, *args, "-w", ws])
        assert bad.exit_code == 1, bad.output
        assert "Traceback" not in bad.output and message in bad.stderr, bad.stderr
