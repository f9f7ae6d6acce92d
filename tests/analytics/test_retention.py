"""Retention against the brute-force reference, on DuckDB and Spark.

Every number is checked against ``reference_retention.retention`` (plain Python over
the same rows): on random logs (hypothesis), on hand-made edge cases whose expected
matrix is also written out, and on the synthetic bank. The hand-written DuckDB SQL of
the benchmark is checked here too.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError, Period
from finpersona.analytics.data import open_analytics
from finpersona.analytics.retention import (
    ActivitySource,
    AumAmounts,
    RetentionMode,
    RetentionQuery,
    SpendAmounts,
    Weighting,
    activity_from_events,
    activity_from_transactions,
    analyze_retention,
    compute_retention,
)
from finpersona.cli import app
from finpersona.engine import Engine
from tests.analytics import reference_retention as ref
from tests.analytics.conftest import EVENT_SCHEMA, engine_for, examples_for, table
from tests.analytics.conftest import TXN_SCHEMA as BASE_TXN_SCHEMA

# py4j's sockets on Spark, not ours.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 3, 3)  # a Monday (UTC)
CUSTOMERS = ["c1", "c2", "c3", "c4", "c5", None]
TXN_SCHEMA = BASE_TXN_SCHEMA.append(pa.field("currency", pa.string()))
TAG_SCHEMA = pa.schema([("customer_key", pa.string()), ("segment", pa.string())])
HOLDING_SCHEMA = pa.schema([("account_id", pa.string()), ("customer_key", pa.string()),
                            ("product_id", pa.string()), ("snapshot_date", pa.date32()),
                            ("balance", pa.decimal128(18, 4)), ("currency", pa.string())])
PRODUCT_SCHEMA = pa.schema([("product_id", pa.string()), ("product_type", pa.string())])
PRODUCTS = [{"product_id": "D", "product_type": "demand_deposit"},
            {"product_id": "W", "product_type": "wealth_management"},
            {"product_id": "L", "product_type": "consumer_loan"}]


def ev(customer: str | None, when: datetime, name: str) -> dict[str, Any]:
    return {"customer_key": customer, "anonymous_key": "a", "session_id": "s",
            "event_time": when, "event_name": name, "page": "home", "platform": "ios",
            "dwell_ms": 1}


def txn(customer: str | None, when: datetime, kind: str = "purchase", amount: str = "10",
        direction: str = "debit", currency: str = "CNY", status: str | None = "success"
        ) -> dict[str, Any]:
    return {"customer_key": customer, "txn_time": when, "amount": Decimal(amount),
            "direction": direction, "txn_type": kind, "channel": "pos", "mcc": None,
            "city": None, "status": status, "currency": currency}


def run(engine: Engine, events: list[dict[str, Any]], query: RetentionQuery,
        offset_hours: float = 8.0) -> dict[str, Any]:
    activity = activity_from_events(table(events, EVENT_SCHEMA))
    return compute_retention(engine, activity, query, offset_hours=offset_hours).to_dict()


def expected(events: list[dict[str, Any]], query: RetentionQuery, offset_hours: float = 8.0,
             **extra: Any) -> dict[str, Any]:
    acts = ref.acts_from_events(events, offset_hours, query.until)
    return ref.retention(acts, query.start_event, query.return_event,
                         period=query.period.value, periods=query.periods,
                         mode=query.mode.value, cumulative=query.cumulative,
                         since=query.since, until=query.until, breakdown=query.breakdown,
                         offset_hours=offset_hours, **extra)


def matrix(doc: dict[str, Any]) -> dict[str, list[int]]:
    return {c["cohort_start"]: [cell["customers"] for cell in c["cells"]]
            for c in doc["cohorts"]}


# -- random logs ---------------------------------------------------------------------------

@st.composite
def event_logs(draw: st.DrawFn, names: tuple[str, ...] = ("login", "buy", "view")
               ) -> list[dict[str, Any]]:
    # Minutes over ten weeks: same timestamps, repeats and day boundaries all happen.
    rows = draw(st.lists(st.tuples(st.sampled_from(CUSTOMERS),
                                   st.integers(0, 70 * 24 * 60),
                                   st.sampled_from(names)), max_size=40))
    return [ev(c, T0 + timedelta(minutes=m), n) for c, m, n in rows]


@st.composite
def queries(draw: st.DrawFn) -> RetentionQuery:
    period = draw(st.sampled_from(list(Period)))
    day = st.one_of(st.none(), st.integers(-3, 75).map(lambda d: T0.date() + timedelta(d)))
    since, until = draw(day), draw(day)
    if since is not None and until is not None and since > until:
        since, until = until, since
    return RetentionQuery(
        start_event=draw(st.sampled_from(["login", "buy"])),
        return_event=draw(st.sampled_from(["login", "buy", "view"])), period=period,
        periods=draw(st.integers(1, 9)), mode=draw(st.sampled_from(list(RetentionMode))),
        cumulative=draw(st.booleans()), since=since, until=until)


OFFSETS = st.sampled_from([8.0, 0.0, -5.0, 5.5])


def test_random_logs_match_the_reference(engine: Engine) -> None:
    @settings(max_examples=examples_for(engine, spark=4), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=event_logs(), query=queries(), offset=OFFSETS)
    def check(events: list[dict[str, Any]], query: RetentionQuery, offset: float) -> None:
        acts = ref.acts_from_events(events, offset, query.until)
        names = {a.name for a in acts}
        if acts and not {query.start_event, query.return_event} <= names:
            with pytest.raises(AnalysisError, match="unknown"):
                run(engine, events, query, offset)
            return
        assert run(engine, events, query, offset) == expected(events, query, offset)

    check()


@st.composite
def transactions(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = draw(st.lists(st.tuples(
        st.sampled_from(CUSTOMERS), st.integers(0, 70 * 24 * 60),
        st.sampled_from(["purchase", "purchase", "salary"]), st.integers(1, 99_999),
        st.sampled_from(["debit", "debit", "credit"]), st.sampled_from(["CNY", "CNY", "USD"]),
        st.sampled_from(["success", "success", None, "failed"])), max_size=30))
    return [txn(c, T0 + timedelta(minutes=m), k, f"{a / 100:.2f}", d, cur, s)
            for c, m, k, a, d, cur, s in rows]


@st.composite
def holdings(draw: st.DrawFn) -> list[dict[str, Any]]:
    snaps = [date(2025, 2, 28), date(2025, 3, 15), date(2025, 3, 31), date(2025, 4, 30)]
    rows = draw(st.lists(st.tuples(
        st.sampled_from(CUSTOMERS), st.sampled_from(["D", "W", "L"]), st.sampled_from(snaps),
        st.integers(0, 10**7), st.sampled_from(["CNY", "CNY", "USD"])), max_size=20,
        unique_by=lambda r: (r[0], r[1], r[2])))
    return [{"account_id": f"{c}-{p}", "customer_key": c, "product_id": p,
             "snapshot_date": s, "balance": Decimal(b) / 100, "currency": cur}
            for c, p, s, b, cur in rows]


def test_weighted_and_breakdown_match_the_reference(engine: Engine) -> None:
    tag_values = st.dictionaries(st.sampled_from(CUSTOMERS[:-1]),
                                 st.sampled_from(["a", "b", None]))

    @settings(max_examples=examples_for(engine, spark=3), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(events=event_logs(), txns=transactions(), held=holdings(), tags=tag_values,
           weighting=st.sampled_from([None, *Weighting]), on_txns=st.booleans(),
           query=queries(), offset=OFFSETS)
    def check(events: list[dict[str, Any]], txns: list[dict[str, Any]],
              held: list[dict[str, Any]], tags: dict[str, str | None],
              weighting: Weighting | None, on_txns: bool, query: RetentionQuery,
              offset: float) -> None:
        query = RetentionQuery(
            start_event="purchase" if on_txns else "login",
            return_event="purchase" if on_txns else query.return_event,
            period=query.period, periods=query.periods, mode=query.mode,
            cumulative=query.cumulative and weighting is None, breakdown="segment",
            since=query.since, until=query.until)
        source = ActivitySource.TRANSACTIONS if on_txns else ActivitySource.EVENTS
        activity = (activity_from_transactions(table(txns, TXN_SCHEMA)) if on_txns
                    else activity_from_events(table(events, EVENT_SCHEMA)))
        acts = (ref.acts_from_transactions(txns, offset, query.until) if on_txns
                else ref.acts_from_events(events, offset, query.until))
        if acts and not {query.start_event, query.return_event} <= {a.name for a in acts}:
            return  # unknown names: covered by the test above
        tag_table = table([{"customer_key": c, "segment": v} for c, v in tags.items()],
                          TAG_SCHEMA)
        amounts: Any = None
        ref_amounts: Any = None
        if weighting is Weighting.SPEND:
            amounts = SpendAmounts(table(txns, TXN_SCHEMA))
        elif weighting is Weighting.AUM:
            amounts = AumAmounts(table(held, HOLDING_SCHEMA), table(PRODUCTS, PRODUCT_SCHEMA))
        if weighting is not None:
            ref_amounts = {}
        if weighting is not None and acts:
            last = query.until or max(a.day for a in acts)
            starts = ref.starts_between(min(a.day for a in acts), last, query.period.value)
            ref_amounts = (ref.spend(txns, query.period.value, offset, last)
                           if weighting is Weighting.SPEND else
                           ref.aum(held, PRODUCTS, query.period.value, starts, last))
        got = compute_retention(engine, activity, query, offset_hours=offset, source=source,
                                tags=tag_table, amounts=amounts).to_dict()
        want = ref.retention(
            acts, query.start_event, query.return_event, period=query.period.value,
            periods=query.periods, mode=query.mode.value, cumulative=query.cumulative,
            since=query.since, until=query.until, groups=tags, breakdown="segment",
            amounts=ref_amounts, weighted=weighting.value if weighting is not None else None,
            source=source.value, offset_hours=offset)
        assert got == want

    check()


# -- edge cases ------------------------------------------------------------------------

def test_start_and_return_at_the_same_time_count_only_as_period_0(engine: Engine) -> None:
    # PostHog: period 0 is the cohort itself; a return in the entry period adds nothing.
    t = T0 + timedelta(hours=2)
    events = [ev("a", t, "login"), ev("a", t, "buy"),
              ev("b", t, "login"), ev("b", t + timedelta(days=7), "buy"),
              ev("c", t, "login"), ev("c", t + timedelta(days=8), "view")]
    query = RetentionQuery("login", "buy", Period.WEEK, periods=3)
    got = run(engine, events, query)
    assert got == expected(events, query)
    assert matrix(got) == {"2025-03-03": [3, 1]}
    # The same event as start and return: one login is an entry, not a return.
    same = RetentionQuery("login", "login", Period.DAY, periods=2)
    assert matrix(run(engine, events[:1], same)) == {"2025-03-03": [1]}


def test_young_cohorts_and_open_periods_are_marked_not_complete(engine: Engine) -> None:
    # Data end on Wednesday 2025-03-19 (local): that week is open.
    events = [ev("a", T0, "login"), ev("a", T0 + timedelta(days=8), "login"),
              ev("b", T0 + timedelta(days=15), "login"),  # enters in the last, open week
              ev("c", T0 + timedelta(days=16), "view")]
    query = RetentionQuery("login", "login", Period.WEEK, periods=4)
    got = run(engine, events, query)
    assert got == expected(events, query)
    assert got["last_day"] == "2025-03-19"
    first, last = got["cohorts"]
    assert [(c["customers"], c["complete"]) for c in first["cells"]] == [
        (1, True), (1, True), (0, False)]
    assert last["cohort_start"] == "2025-03-17"
    assert [(c["customers"], c["complete"]) for c in last["cells"]] == [(1, False)]
    # The average leaves open cells out: period 2 has no complete cohort yet.
    assert [(a["period"], a["cohorts"]) for a in got["average"]] == [(0, 1), (1, 1)]


def test_weeks_start_on_monday_in_local_time(engine: Engine) -> None:
    sunday_evening_utc = datetime(2025, 3, 9, 20, 0)  # Monday 04:00 in Shanghai
    events = [ev("a", sunday_evening_utc, "login"),
              ev("a", sunday_evening_utc + timedelta(days=7), "login")]
    query = RetentionQuery("login", "login", Period.WEEK, periods=2)
    shanghai = run(engine, events, query, offset_hours=8.0)
    utc = run(engine, events, query, offset_hours=0.0)
    assert shanghai == expected(events, query, 8.0) and utc == expected(events, query, 0.0)
    assert matrix(shanghai) == {"2025-03-10": [1, 1]}
    assert matrix(utc) == {"2025-03-03": [1, 1]}
    # Monthly: 31 March 17:30 UTC is already April in Shanghai.
    month = RetentionQuery("login", "login", Period.MONTH, periods=2)
    late = [ev("a", datetime(2025, 3, 31, 17, 30), "login")]
    assert matrix(run(engine, late, month)) == {"2025-04-01": [1]}


def test_returns_before_the_start_do_not_count(engine: Engine) -> None:
    events = [ev("a", T0, "buy"), ev("a", T0 + timedelta(days=7), "login"),  # buy, then start
              ev("b", T0, "login"), ev("b", T0 + timedelta(days=7), "buy"),
              ev("b", T0 + timedelta(days=14), "login")]
    first = RetentionQuery("login", "buy", Period.WEEK, periods=3)
    got = run(engine, events, first)
    assert got == expected(events, first)
    assert matrix(got) == {"2025-03-03": [1, 1, 0], "2025-03-10": [1, 0]}
    recurring = RetentionQuery("login", "buy", Period.WEEK, periods=3,
                               mode=RetentionMode.RECURRING)
    again = run(engine, events, recurring)
    assert again == expected(events, recurring)
    # b's second entry (week 3) has no later purchase; a's purchase came before its entry.
    assert matrix(again) == {"2025-03-03": [1, 1, 0], "2025-03-10": [1, 0],
                             "2025-03-17": [1]}


def test_cumulative_counts_on_or_after(engine: Engine) -> None:
    events = [ev("a", T0, "login"), ev("a", T0 + timedelta(days=21), "login"),
              ev("b", T0, "login"), ev("b", T0 + timedelta(days=7), "login"),
              ev("z", T0 + timedelta(days=34), "view")]
    strict = RetentionQuery("login", "login", Period.WEEK, periods=5)
    on_or_after = RetentionQuery("login", "login", Period.WEEK, periods=5, cumulative=True)
    assert matrix(run(engine, events, strict)) == {"2025-03-03": [2, 1, 0, 1, 0]}
    got = run(engine, events, on_or_after)
    assert got == expected(events, on_or_after)
    assert matrix(got) == {"2025-03-03": [2, 2, 1, 1, 0]}


def test_empty_input_and_unknown_customers_give_no_cohorts(engine: Engine) -> None:
    query = RetentionQuery("login", "login")
    for events in ([], [ev(None, T0, "login"), ev(None, T0 + timedelta(days=7), "login")]):
        got = run(engine, events, query)
        assert got == expected(events, query)
        assert got["cohorts"] == [] and got["first_day"] is None


def test_spend_and_aum_weighted_by_hand(engine: Engine) -> None:
    events = [ev("a", T0, "login"), ev("b", T0, "login"),
              ev("a", datetime(2025, 5, 2), "login")]
    txns = [txn("a", T0, amount="100"), txn("b", T0, amount="300"),
            txn("a", datetime(2025, 4, 2), amount="50"),
            txn("b", datetime(2025, 4, 3), amount="1000", status="failed"),
            txn("b", datetime(2025, 4, 3), kind="salary", direction="credit", amount="9")]
    query = RetentionQuery("login", "login", Period.MONTH, periods=3)
    activity = activity_from_events(table(events, EVENT_SCHEMA))
    spend = compute_retention(engine, activity, query, offset_hours=8.0,
                              amounts=SpendAmounts(table(txns, TXN_SCHEMA))).to_dict()
    [cohort] = spend["cohorts"]
    assert cohort["base_amount"] == 400.0
    assert [(c["customers"], c["amount"], c["amount_rate"]) for c in cohort["cells"]] == [
        (2, 400.0, 1.0), (0, 50.0, 0.125), (1, 0.0, 0.0)]
    held = [{"account_id": "1", "customer_key": "a", "product_id": "D",
             "snapshot_date": date(2025, 3, 31), "balance": Decimal(1000), "currency": "CNY"},
            {"account_id": "2", "customer_key": "a", "product_id": "L",  # a loan: not AUM
             "snapshot_date": date(2025, 3, 31), "balance": Decimal(500), "currency": "CNY"},
            {"account_id": "3", "customer_key": "b", "product_id": "W",
             "snapshot_date": date(2025, 3, 31), "balance": Decimal(3000), "currency": "CNY"},
            {"account_id": "1", "customer_key": "a", "product_id": "D",
             "snapshot_date": date(2025, 4, 30), "balance": Decimal(2000), "currency": "CNY"}]
    aum = compute_retention(engine, activity, query, offset_hours=8.0, amounts=AumAmounts(
        table(held, HOLDING_SCHEMA), table(PRODUCTS, PRODUCT_SCHEMA))).to_dict()
    [cohort] = aum["cohorts"]
    # March closes at 4,000; April at 2,000 (b's account is gone); May is still open: the
    # last snapshot on or before its last observed day is April's. The data start on
    # 3 March, so March is not complete either.
    assert [(c["amount"], c["amount_rate"], c["complete"]) for c in cohort["cells"]] == [
        (4000.0, 1.0, False), (2000.0, 0.5, True), (2000.0, 0.5, False)]


def test_bad_requests_are_clear_errors() -> None:
    engine = engine_for("duckdb")
    events = [ev("a", T0, "login")]
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: run(engine, events, RetentionQuery("nope", "login")), "unknown start event"),
        (lambda: run(engine, events, RetentionQuery("login", "nope")), "unknown return event"),
        (lambda: run(engine, events, RetentionQuery("login", "login", periods=0)),
         "at least 1"),
        (lambda: run(engine, events, RetentionQuery("", "login")), "start event and a return"),
        (lambda: run(engine, events, RetentionQuery(
            "login", "login", since=date(2025, 3, 9), until=date(2025, 3, 1))), "after"),
        (lambda: run(engine, events, RetentionQuery("login", "login", breakdown="x")),
         "tag snapshot"),
        (lambda: compute_retention(
            engine, activity_from_events(table(events, EVENT_SCHEMA)),
            RetentionQuery("login", "login", cumulative=True), offset_hours=8,
            amounts=SpendAmounts(table([], TXN_SCHEMA))), "cumulative"),
        (lambda: RetentionMode.parse("sometimes"), "first or recurring"),
        (lambda: ActivitySource.parse("tweets"), "events or transactions"),
        (lambda: Weighting.parse("love"), "spend or aum"),
        (lambda: Period.parse("fortnight"), "day, week or month"),
    ]
    for call, message in cases:
        with pytest.raises(AnalysisError, match=message):
            call()


# -- the benchmark's hand-written SQL ---------------------------------------------------

def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sql_retention",
                                                  ROOT / "bench" / "sql_retention.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hand_written_sql_equals_the_analysis() -> None:
    engine = engine_for("duckdb")
    retention_sql = _bench_module().retention_sql

    @settings(max_examples=40, deadline=None)
    @given(events=event_logs(), periods=st.integers(1, 12), offset=OFFSETS)
    def check(events: list[dict[str, Any]], periods: int, offset: float) -> None:
        known = {e["event_name"] for e in events if e["customer_key"] is not None}
        if not {"login", "buy"} <= known:
            return  # the analysis refuses unknown names; the SQL would just return nothing
        query = RetentionQuery("login", "buy", Period.WEEK, periods=periods)
        got = run(engine, events, query, offset)
        analysis = {(c["cohort_start"], cell["period"]): cell["customers"]
                    for c in got["cohorts"] for cell in c["cells"] if cell["customers"]}
        con = duckdb.connect()
        con.register("raw_events", pa.Table.from_pylist(events, schema=EVENT_SCHEMA))
        rows = con.execute(retention_sql("raw_events", "login", "buy", periods,
                                         offset)).fetchall()
        con.close()
        assert {(c.isoformat(), k): n for c, k, n in rows} == analysis

    check()


# -- the synthetic bank -----------------------------------------------------------------

def _bank_rows(engine: Engine, expr: Any) -> list[dict[str, Any]]:
    return list(engine.to_arrow(expr).to_pylist())


def test_synthetic_bank_matches_the_reference(ingested: Any) -> None:
    with open_analytics(ingested.workspace) as data:
        offset = data.offset_hours
        events = _bank_rows(data.engine, data.events().select(
            "customer_key", "event_time", "event_name"))
        txns = _bank_rows(data.engine, data.transactions().select(
            "customer_key", "txn_time", "txn_type", "amount", "direction", "currency",
            "status"))
        genders = {r["customer_key"]: r["gender"] for r in _bank_rows(
            data.engine, data.tags(columns=["gender"]))}
        held = _bank_rows(data.engine, data.table("holdings"))
        products = _bank_rows(data.engine, data.table("products"))

        spend = RetentionQuery("purchase", "purchase", Period.MONTH, periods=4,
                               mode=RetentionMode.RECURRING, breakdown="gender",
                               until=date(2025, 12, 20))
        got = analyze_retention(data, spend, ActivitySource.TRANSACTIONS,
                                Weighting.SPEND).to_dict()
        acts = ref.acts_from_transactions(txns, offset, spend.until)
        assert got == ref.retention(
            acts, "purchase", "purchase", period="month", periods=4, mode="recurring",
            until=spend.until, groups=genders, breakdown="gender",
            amounts=ref.spend(txns, "month", offset, date(2025, 12, 20)), weighted="spend",
            source="transactions", offset_hours=offset)

        # Events, first-time, monthly from March (holdings start at the end of March).
        aum = RetentionQuery("login", "login", Period.MONTH, periods=6, since=date(2025, 3, 1))
        got = analyze_retention(data, aum, weighted=Weighting.AUM).to_dict()
        acts = ref.acts_from_events(events, offset)
        last = max(a.day for a in acts)
        starts = ref.starts_between(min(a.day for a in acts), last, "month")
        assert got == ref.retention(
            acts, "login", "login", period="month", periods=6, since=aum.since,
            amounts=ref.aum(held, products, "month", starts, last), weighted="aum",
            offset_hours=offset)
        assert sum(c["size"] for c in got["cohorts"]) > 50
        assert any(c["amount_rate"] for cohort in got["cohorts"] for c in cohort["cells"][1:])


# -- command line -----------------------------------------------------------------------

runner = CliRunner()


def test_cli_json_and_errors(ingest_with: Callable[[str], Any]) -> None:
    ws = str(ingest_with("duckdb").workspace.root)
    result = runner.invoke(app, [
        "analyze", "retention", "--start", "login", "--return", "login", "--period", "month",
        "--periods", "3", "--weighted", "aum", "--breakdown", "gender", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["weighted"] == "aum" and doc["breakdown"] == "gender"
    with open_analytics(ingest_with("duckdb").workspace) as data:
        assert doc == analyze_retention(data, RetentionQuery(
            "login", "login", Period.MONTH, 3, breakdown="gender"),
            weighted=Weighting.AUM).to_dict()
    text = runner.invoke(app, ["analyze", "retention", "--start", "purchase", "--return",
                               "purchase", "--source", "transactions", "--cumulative",
                               "--mode", "recurring", "-w", ws])
    assert text.exit_code == 0, text.output
    assert "retention by week" in text.stdout
    for args, message in [
        (["--start", "nope", "--return", "login"], "unknown start event 'nope'"),
        (["--start", "login", "--return", "login", "--period", "year"], "unknown period"),
        (["--start", "login", "--return", "login", "--weighted", "spend", "--cumulative"],
         "cumulative"),
        (["--start", "login", "--return", "login", "--since", "May 1"], "--since"),
        (["--start", "login", "--return", "login", "--breakdown", "nosuch"], "nosuch"),
    ]:
        bad = runner.invoke(app, ["analyze", "retention", *args, "-w", ws])
        assert bad.exit_code == 1, bad.output
        assert "Traceback" not in bad.output and message in bad.stderr, bad.stderr
