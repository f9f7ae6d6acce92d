"""Trends against a plain-Python count; forecasts and anomaly flags against known series."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import ibis.expr.types as ir
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from finpersona.analytics import AnalysisError, open_analytics
from finpersona.analytics.base import Period
from finpersona.analytics.trends import (
    METRICS,
    Trend,
    analyze_trend,
    anomaly_scores,
    compute_trend,
    fit_forecast,
    robust_z,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics.conftest import EVENT_SCHEMA, TXN_SCHEMA, examples_for, table
from tests.conftest import Ingested

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j sockets on Spark

TAG_SCHEMA = pa.schema([("customer_key", pa.string()), ("segment", pa.string())])
TAGS = [{"customer_key": "c1", "segment": "mass"}, {"customer_key": "c2", "segment": "vip"},
        {"customer_key": "c3", "segment": None}]


# -- the plain-Python reference -------------------------------------------------------------


def ref_period(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        year, week, _ = day.isocalendar()
        return date.fromisocalendar(year, week, 1)
    return date(day.year, day.month, 1)


def ref_periods(first: date, last: date, period: str) -> list[date]:
    out: list[date] = []
    day = first
    while day <= last:
        start = ref_period(day, period)
        if not out or out[-1] != start:
            out.append(start)
        day += timedelta(days=1)
    return out


def ref_last_day(start: date, period: str) -> date:
    if period == "day":
        return start
    if period == "week":
        return start + timedelta(days=6)
    following = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return following - timedelta(days=1)


REF_METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], bool], str]] = {
    # name: (time column, which rows count, how they add up)
    "active_customers": ("event_time", lambda r: r["customer_key"] is not None, "customers"),
    "events": ("event_time", lambda r: True, "count"),
    "logins": ("event_time", lambda r: r["event_name"] == "login", "count"),
    "transactions": ("txn_time", lambda r: r["status"] in ("success", None), "count"),
    "spend": ("txn_time", lambda r: r["status"] in ("success", None)
              and r["direction"] == "debit" and r["txn_type"] == "purchase", "amount"),
    "spenders": ("txn_time", lambda r: r["status"] in ("success", None)
                 and r["direction"] == "debit" and r["txn_type"] == "purchase"
                 and r["customer_key"] is not None, "customers"),
}


def reference_trend(rows: list[dict[str, Any]], metric: str, period: str, offset: float,
                    breakdown: str | None, tags: dict[str, str | None] | None = None,
                    since: date | None = None,
                    until: date | None = None) -> dict[str, list[tuple[date, float, bool]]]:
    """{group: [(period start, value, partial)]}, every period of the observed range."""
    column, keep, how = REF_METRICS[metric]

    def local(r: dict[str, Any]) -> date:
        return (r[column] + timedelta(seconds=round(offset * 3600))).date()

    days = [local(r) for r in rows]
    if not days and (since is None or until is None):
        return {}
    first, last = since or min(days), until or max(days)
    cells: dict[str, dict[date, Any]] = {}
    for r, day in zip(rows, days, strict=True):
        if not keep(r) or day < first or day > last:
            continue
        if breakdown is None:
            group = "all"
        elif tags is not None:
            group = tags.get(r["customer_key"]) or "(none)"
        else:
            group = r[breakdown] if r[breakdown] is not None else "(none)"
        cell = cells.setdefault(group, {}).setdefault(ref_period(day, period), [])
        cell.append(r)
    if breakdown is None and not cells:
        cells["all"] = {}

    def value(found: list[dict[str, Any]]) -> float:
        if how == "count":
            return float(len(found))
        if how == "customers":
            return float(len({r["customer_key"] for r in found}))
        return float(sum(r["amount"] for r in found))

    return {group: [(p, value(found.get(p, [])),
                     p < first or ref_last_day(p, period) > last)
                    for p in ref_periods(first, last, period)]
            for group, found in cells.items()}


def as_series(trend: Trend) -> dict[str, list[tuple[date, float, bool]]]:
    return {s.breakdown: [(p.period_start, p.value, p.partial) for p in s.points]
            for s in trend.series}


def assert_same(got: dict[str, list[tuple[date, float, bool]]],
                expected: dict[str, list[tuple[date, float, bool]]]) -> None:
    assert set(got) == set(expected)
    for group, points in expected.items():
        assert [(d, partial) for d, _, partial in got[group]] == [
            (d, partial) for d, _, partial in points], group
        assert [v for _, v, _ in got[group]] == pytest.approx([v for _, v, _ in points]), group


# -- random logs ----------------------------------------------------------------------------

# Times cluster around the local midnight of Asia/Shanghai (16:00 UTC) and month/week ends.
INSTANTS = st.builds(
    lambda day, minute: datetime(2025, 1, 1) + timedelta(days=day, minutes=minute),
    st.integers(0, 70), st.sampled_from([0, 59, 15 * 60 + 59, 16 * 60, 16 * 60 + 1, 23 * 60 + 59])
    | st.integers(0, 24 * 60 - 1))
KEYS = st.sampled_from(["c1", "c2", "c3", "c4", None])

EVENTS = st.lists(st.fixed_dictionaries({
    "customer_key": KEYS, "anonymous_key": st.just("a1"), "session_id": st.just("s1"),
    "event_time": INSTANTS, "event_name": st.sampled_from(["login", "page_view", "click"]),
    "page": st.just("home"), "platform": st.sampled_from(["ios", "android", None]),
    "dwell_ms": st.just(1000)}), max_size=25)
TRANSACTIONS = st.lists(st.fixed_dictionaries({
    "customer_key": KEYS.filter(lambda k: k is not None), "txn_time": INSTANTS,
    "amount": st.sampled_from([Decimal("10.5"), Decimal("99.99"), Decimal("1000")]),
    "direction": st.sampled_from(["debit", "credit"]),
    "txn_type": st.sampled_from(["purchase", "transfer_out"]),
    "channel": st.sampled_from(["app", "pos", None]), "mcc": st.just("5411"),
    "city": st.just("上海"), "status": st.sampled_from(["success", "failed", None])}),
    max_size=25)


def source_for(metric: str, rows: list[dict[str, Any]]) -> ir.Table:
    if METRICS[metric].source == "events":
        return table(rows, EVENT_SCHEMA)
    return table(rows, TXN_SCHEMA)


def test_random_logs_match_a_plain_count(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine, duckdb=60, spark=4), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.data(), st.sampled_from(list(REF_METRICS)),
           st.sampled_from(["day", "week", "month"]), st.sampled_from([8.0, 0.0, -5.5]),
           st.sampled_from(["none", "column", "tag"]))
    def check(data: st.DataObject, metric: str, period: str, offset: float,
              split: str) -> None:
        is_events = METRICS[metric].source == "events"
        rows = data.draw(EVENTS if is_events else TRANSACTIONS)
        column = "platform" if is_events else "channel"
        breakdown = {"none": None, "column": column, "tag": "segment"}[split]
        tag_map = {t["customer_key"]: t["segment"] for t in TAGS} if split == "tag" else None
        got = compute_trend(engine, source_for(metric, rows), metric, period=period,
                            offset_hours=offset, breakdown=breakdown,
                            tags=table(TAGS, TAG_SCHEMA))
        assert_same(as_series(got), reference_trend(rows, metric, period, offset, breakdown,
                                                    tag_map))

    check()


def event(ts: datetime, key: str | None = "c1", name: str = "login",
          platform: str | None = "ios") -> dict[str, Any]:
    return {"customer_key": key, "anonymous_key": "a1", "session_id": "s1", "event_time": ts,
            "event_name": name, "page": "home", "platform": platform, "dwell_ms": 1}


def test_time_zone_day_boundary(engine: Engine) -> None:
    rows = [event(datetime(2025, 3, 1, 15, 59, 59)), event(datetime(2025, 3, 1, 16, 0)),
            event(datetime(2025, 3, 1, 17, 30), "c2"), event(datetime(2025, 3, 3, 1, 0))]
    shanghai = compute_trend(engine, table(rows, EVENT_SCHEMA), "events", period="day")
    assert as_series(shanghai)["all"] == [(date(2025, 3, 1), 1, False),
                                          (date(2025, 3, 2), 2, False),
                                          (date(2025, 3, 3), 1, False)]
    utc = compute_trend(engine, table(rows, EVENT_SCHEMA), "active_customers", period="day",
                        offset_hours=0)
    assert as_series(utc)["all"] == [(date(2025, 3, 1), 2, False), (date(2025, 3, 2), 0, False),
                                     (date(2025, 3, 3), 1, False)]


def test_zero_fill_partial_periods_and_groups(engine: Engine) -> None:
    rows = [event(datetime(2025, 1, 1, 2), platform="ios"),  # Wednesday 1 January
            event(datetime(2025, 1, 20, 2), key=None, platform=None),
            event(datetime(2025, 1, 20, 3), key="c9", platform="android")]
    got = compute_trend(engine, table(rows, EVENT_SCHEMA), "events", period="week",
                        breakdown="platform", since=date(2024, 12, 30), until=date(2025, 1, 22))
    series = as_series(got)
    assert list(series) == ["(none)", "android", "ios"]  # ties by total: by name
    assert series["ios"] == [(date(2024, 12, 30), 1, False), (date(2025, 1, 6), 0, False),
                             (date(2025, 1, 13), 0, False), (date(2025, 1, 20), 0, True)]
    by_tag = compute_trend(engine, table(rows, EVENT_SCHEMA), "events", period="month",
                           breakdown="segment", tags=table(TAGS, TAG_SCHEMA))
    # c9 has no tag row and the anonymous event has no customer: both are "(none)".
    assert as_series(by_tag) == {"(none)": [(date(2025, 1, 1), 2, True)],
                                 "mass": [(date(2025, 1, 1), 1, True)]}
    empty = compute_trend(engine, table([], EVENT_SCHEMA), "events", forecast=3)
    assert empty.series == () and empty.first_day is None
    quiet = compute_trend(engine, table([], EVENT_SCHEMA), "logins", since=date(2025, 1, 1),
                          until=date(2025, 1, 3))
    assert as_series(quiet) == {"all": [(date(2025, 1, d), 0, False) for d in (1, 2, 3)]}


def test_forecast_continues_after_the_last_complete_period(engine: Engine) -> None:
    rows = [event(datetime(2025, 1, 1) + timedelta(days=d, hours=h))
            for d in range(30) for h in range(d % 7 + 1)]
    got = compute_trend(engine, table(rows, EVENT_SCHEMA), "events", period="week",
                        forecast=3, until=date(2025, 1, 29))
    series = got.series[0]
    assert series.points[-1].partial and series.points[-1].period_start == date(2025, 1, 27)
    assert series.forecast is not None
    assert [p.period_start for p in series.forecast.points] == [
        date(2025, 1, 27), date(2025, 2, 3), date(2025, 2, 10)]
    assert json.loads(json.dumps(got.to_dict()))["series"][0]["forecast"]["level"] == 0.95


def test_bad_parameters_are_analysis_errors(engine: Engine) -> None:
    events = table([event(datetime(2025, 1, 1))], EVENT_SCHEMA)
    with pytest.raises(AnalysisError, match="unknown metric 'revenue'"):
        compute_trend(engine, events, "revenue")
    with pytest.raises(AnalysisError, match="unknown period"):
        compute_trend(engine, events, "events", period="year")
    with pytest.raises(AnalysisError, match="neither a column of events"):
        compute_trend(engine, events, "events", breakdown="colour",
                      tags=table(TAGS, TAG_SCHEMA))
    with pytest.raises(AnalysisError, match="horizon"):
        compute_trend(engine, events, "events", forecast=-1)
    with pytest.raises(AnalysisError, match="level"):
        compute_trend(engine, events, "events", forecast=3, level=1.5)
    with pytest.raises(AnalysisError, match="threshold"):
        compute_trend(engine, events, "events", anomaly_threshold=0)
    with pytest.raises(AnalysisError, match="after"):
        compute_trend(engine, events, "events", since=date(2025, 2, 1), until=date(2025, 1, 1))
    with pytest.raises(AnalysisError, match="needs column txn_time"):
        compute_trend(engine, events, "spend")


# -- forecasts (plain series) ---------------------------------------------------------------

WEEKLY = [0.0, 5.0, 3.0, -2.0, -4.0, 10.0, -12.0]


def test_a_deterministic_series_is_forecast_exactly() -> None:
    values = [100 + 0.5 * t + WEEKLY[t % 7] for t in range(120)]
    fit = fit_forecast(values, season=7, horizon=14)
    truth = [100 + 0.5 * t + WEEKLY[t % 7] for t in range(120, 134)]
    assert fit.model == "ETS(A,A,A) m=7"
    assert fit.mean == pytest.approx(truth, abs=1e-6)
    assert max(u - lo for lo, u in zip(fit.lower, fit.upper, strict=True)) < 1e-3
    seasonal = fit_forecast([50 + WEEKLY[t % 7] for t in range(63)], season=7, horizon=7)
    assert seasonal.mean == pytest.approx([50 + WEEKLY[t % 7] for t in range(63, 70)])
    line = fit_forecast([5.0 + 2 * t for t in range(12)], season=7, horizon=3)
    assert line.model == "ETS(A,A,N)" and line.mean == pytest.approx([29, 31, 33])
    flat = fit_forecast([7.0] * 10, season=7, horizon=3)
    assert flat.mean == flat.lower == flat.upper == (7.0, 7.0, 7.0)


def test_the_model_follows_the_length_of_history() -> None:
    rng = random.Random(3)
    noisy = [50 + rng.gauss(0, 5) for _ in range(40)]
    assert fit_forecast(noisy[:2], 7, 5).model.startswith("none")
    assert fit_forecast(noisy[:2], 7, 5).mean == ()
    assert fit_forecast(noisy[:6], 7, 5).model == "ETS(A,N,N)"
    assert "m=" not in fit_forecast(noisy[:15], 7, 5).model  # under two seasons + 2 points
    assert fit_forecast(noisy, 7, 0).mean == ()
    fit = fit_forecast([1.0, 0.0, 2.0, 0.0, 1.0], 7, 4)
    assert all(v >= 0 for v in (*fit.mean, *fit.lower))  # metrics are never negative


def test_prediction_intervals_cover_their_level_on_simulated_hold_outs() -> None:
    """Fit on a known trend + weekly season + noise; simulate many futures of the process."""
    rng = random.Random(11)
    inside = total = 0
    for _ in range(6):
        level, slope, sigma = rng.uniform(200, 400), rng.uniform(-0.5, 1.5), rng.uniform(3, 8)

        def truth(t: int, lv: float = level, sl: float = slope) -> float:
            return lv + sl * t + 4 * WEEKLY[t % 7]

        history = [truth(t) + rng.gauss(0, sigma) for t in range(84)]
        fit = fit_forecast(history, season=7, horizon=7, level=0.9)
        for _ in range(100):
            for h, (lo, hi) in enumerate(zip(fit.lower, fit.upper, strict=True)):
                inside += lo <= truth(84 + h) + rng.gauss(0, sigma) <= hi
                total += 1
    assert 0.84 <= inside / total <= 0.97, inside / total


# -- anomalies ------------------------------------------------------------------------------


def test_planted_spikes_are_flagged_and_ordinary_days_mostly_not() -> None:
    rng = random.Random(5)
    spikes = {17, 40, 41, 77, 101}
    values = [300 + 0.8 * t + 6 * WEEKLY[t % 7] + rng.gauss(0, 5) for t in range(120)]
    for t in spikes:
        values[t] += 60 if t != 77 else -60
    scores = anomaly_scores(values, 7)
    assert scores is not None
    flagged = {t for t, z in enumerate(scores) if abs(z) > 3.5}
    assert spikes <= flagged
    assert len(flagged - spikes) <= 3  # under 3 % of the ordinary days


def test_short_series_use_a_rolling_median() -> None:
    values = [10.0, 12.0, 11.0, 13.0, 60.0, 12.0, 14.0, 13.0, 15.0, 14.0]
    scores = anomaly_scores(values, 52)
    assert scores is not None
    assert [t for t, z in enumerate(scores) if abs(z) > 3.5] == [4]
    assert anomaly_scores(values[:4], 7) is None


def test_robust_z() -> None:
    assert robust_z([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]
    # MAD is 0 when most residuals are equal: the mean absolute deviation takes over.
    z = robust_z([0.0, 0.0, 0.0, 0.0, 10.0])
    assert z[-1] == pytest.approx(10 / (math.sqrt(math.pi / 2) * 2))
    assert robust_z([1.0, 2.0, 3.0])[1] == 0


def test_anomalies_in_a_trend(engine: Engine) -> None:
    rng = random.Random(2)
    rows = []
    for d in range(42):
        for _ in range(20 + (5 if d % 7 == 5 else 0) + rng.randint(0, 3) + (40 if d == 30
                                                                              else 0)):
            rows.append(event(datetime(2025, 1, 1, 3) + timedelta(days=d)))
    got = compute_trend(engine, table(rows, EVENT_SCHEMA), "events")
    assert [p.period_start for p in got.series[0].points if p.anomaly] == [date(2025, 1, 31)]
    assert all(p.score is not None for p in got.series[0].points)


# -- the synthetic bank ---------------------------------------------------------------------


def test_synthetic_bank_matches_a_plain_count(ingested: Ingested) -> None:
    with open_analytics(ingested.workspace) as data:
        txns = data.engine.to_arrow(data.transactions()).to_pylist()
        events = data.engine.to_arrow(data.events()).to_pylist()
        offset = data.offset_hours
        tag_rows = data.engine.to_arrow(data.tags(columns=["gender"])).to_pylist()
        spend = analyze_trend(data, "spend", period="day", breakdown="channel", forecast=7)
        active = analyze_trend(data, "active_customers", period="week", breakdown="gender")
    assert offset == 8.0
    assert_same(as_series(spend), reference_trend(txns, "spend", "day", offset, "channel"))
    genders = {r["customer_key"]: r["gender"] for r in tag_rows}
    assert_same(as_series(active), reference_trend(events, "active_customers", "week", offset,
                                                   "gender", genders))
    assert spend.first_day == date(2025, 1, 1) and spend.last_day == date(2025, 12, 31)
    for series in spend.series:
        assert series.forecast is not None and len(series.forecast.points) == 7
        assert series.forecast.points[0].period_start == date(2026, 1, 1)


def test_cli_json(ingest_with: Any) -> None:
    ws = ingest_with("duckdb").workspace
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, ["analyze", "trend", *args, "-w", str(ws.root), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    data = run("--metric", "spend", "--period", "week", "--breakdown", "channel",
               "--forecast", "4")
    assert data["metric"] == "spend" and data["period"] == "week"
    assert data["breakdown"] == "channel"
    assert {s["breakdown"] for s in data["series"]} <= {"app", "pos", "online", "atm", "branch"}
    first = data["series"][0]
    assert first["points"][0] == {**first["points"][0], "partial": True}  # 2024-12-30 week
    assert set(first["points"][1]) == {"period_start", "value", "partial", "anomaly", "score"}
    assert len(first["forecast"]["points"]) == 4
    monthly = run("--metric", "complaints", "--period", "month", "--since", "2025-07-01")
    assert [p["period_start"] for p in monthly["series"][0]["points"]] == [
        f"2025-{m:02d}-01" for m in range(7, 13)]
    bad = runner.invoke(app, ["analyze", "trend", "--metric", "revenue", "-w", str(ws.root)])
    assert bad.exit_code == 1 and "unknown metric" in bad.stderr and "Traceback" not in bad.output
    bad = runner.invoke(app, ["analyze", "trend", "--breakdown", "colour", "-w", str(ws.root)])
    assert bad.exit_code == 1 and "nor a tag" in bad.stderr


def test_every_metric_has_a_reference_or_reads_a_table() -> None:
    for name, metric in METRICS.items():
        assert metric.name == name and metric.description
        assert metric.source in ("events", "transactions", "customers", "loan_applications",
                                 "loans", "service_tickets")
    assert Period.parse("Week") is Period.WEEK
