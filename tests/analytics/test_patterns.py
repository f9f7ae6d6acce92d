"""Consumption patterns against a brute force, edge cases, and the planted holiday peaks."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import open_analytics
from finpersona.analytics.patterns import (
    CHANNELS,
    COUNT_EDGES,
    SPEND_EDGES,
    TICKET_EDGES,
    FestivalResult,
    PatternScope,
    PatternView,
    channel_mix,
    compute_patterns,
    cross_city,
    festival_pattern,
    hour_weekday_heatmap,
    mcc_mix,
    nearest_rank,
    occasion_of,
    parse_txn_types,
    spending_distribution,
    weekday_pattern,
)
from finpersona.cli import app
from finpersona.engine import Engine
from finpersona.synth.calendar import day_weights
from tests.analytics.conftest import examples_for
from tests.analytics.reference_patterns import (
    AS_OF,
    NONE,
    customers,
    period_days,
    ref_category,
    ref_day_groups,
    ref_distribution,
    ref_heatmap,
    ref_home_cities,
    ref_location,
    ref_mix,
    ref_occasion,
    scoped,
    transactions,
    warehouse_rows,
)
from tests.conftest import Ingested

# py4j leaves its sockets to the garbage collector on Spark: not ours to close.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

Rows = list[dict[str, Any]]
approx = pytest.approx


def memtables(txns: Rows, people: Rows) -> tuple[Any, Any]:
    return (ibis.memtable(warehouse_rows("transactions", txns)),
            ibis.memtable(warehouse_rows("customers", people)))


# -- the checks, view by view ------------------------------------------------------------------

def check_distribution(engine: Engine, txns: Rows, people: Rows, scope: PatternScope) -> None:
    t, c = memtables(txns, people)
    got = spending_distribution(engine, t, c, scope)
    rows = scoped(txns, scope.offset_hours, scope.txn_types, scope.since, scope.until)
    want = ref_distribution(rows, people, COUNT_EDGES, SPEND_EDGES, TICKET_EDGES)
    for key in ("customers", "customers_with_purchases", "purchases", "purchases_cny",
                "ticket_quantiles"):
        assert getattr(got, key) == want[key], key
    for key in ("amount_cny", "mean_ticket", "mean_spend_per_buyer"):
        assert getattr(got, key) == approx(want[key]), key
    for key in ("count_histogram", "spend_histogram", "ticket_histogram"):
        assert [b.count for b in getattr(got, key)] == want[key], key
    assert got.mean_purchases_per_customer == approx(
        want["purchases"] / want["customers"] if want["customers"] else None)
    json.dumps(got.to_dict())


def check_heatmap(engine: Engine, txns: Rows, scope: PatternScope) -> None:
    t, _ = memtables(txns, [])
    got = hour_weekday_heatmap(engine, t, scope)
    want = ref_heatmap(scoped(txns, scope.offset_hours, scope.txn_types, scope.since,
                              scope.until))
    assert len(got.cells) == 7 * 24
    for cell in got.cells:
        n, people, amount = want.get((cell.weekday, cell.hour), (0, 0, 0.0))
        assert (cell.transactions, cell.customers) == (n, people)
        assert cell.amount_cny == approx(amount)
    assert sum(map(sum, got.matrix())) == sum(v[0] for v in want.values())


def _same_group(got: Any, want: dict[str, Any] | None) -> None:
    want = want or {"days": 0, "transactions": 0, "amount": Decimal(0)}
    assert (got.days, got.transactions) == (want["days"], want["transactions"])
    assert got.amount_cny == approx(float(want["amount"]))
    days = want["days"]
    assert got.transactions_per_day == approx(want["transactions"] / days if days else None)


def check_weekday(engine: Engine, txns: Rows, scope: PatternScope) -> None:
    t, _ = memtables(txns, [])
    got = weekday_pattern(engine, t, scope)
    rows = scoped(txns, scope.offset_hours, scope.txn_types, scope.since, scope.until)
    days = period_days(rows, scope.since, scope.until)
    per_weekday = ref_day_groups(rows, days, lambda d: d.isoweekday())
    for i, group in enumerate(got.weekdays):
        _same_group(group, per_weekday.get(i + 1))
    split = ref_day_groups(rows, days, lambda d: d.isoweekday() >= 6)
    _same_group(got.weekday, split.get(False))
    _same_group(got.weekend, split.get(True))


def check_festivals(engine: Engine, txns: Rows, scope: PatternScope) -> FestivalResult:
    t, _ = memtables(txns, [])
    got = festival_pattern(engine, t, scope)
    rows = scoped(txns, scope.offset_hours, scope.txn_types, scope.since, scope.until)
    days = period_days(rows, scope.since, scope.until)
    assert [d.day for d in got.daily] == days
    assert [d.occasion for d in got.daily] == [ref_occasion(d) for d in days]
    seen = {r["channel"] if r["channel"] is not None else NONE for r in rows}
    assert {r.channel for r in got.rows} == ({"all"} | seen)
    for r in got.rows:
        channel = None if r.channel == "all" else r.channel
        groups = ref_day_groups(rows, days, ref_occasion, channel)
        want = groups.get(r.occasion, {"days": 0, "transactions": 0, "amount": Decimal(0)})
        _same_group(r, want)
        ordinary = groups.get("ordinary")
        base = (ordinary["transactions"] / ordinary["days"]
                if ordinary and ordinary["days"] else 0)
        per_day = want["transactions"] / want["days"] if want["days"] else None
        assert r.lift == approx(per_day / base if per_day is not None and base else None)
    return got


def check_mix(engine: Engine, txns: Rows, scope: PatternScope) -> None:
    t, _ = memtables(txns, [])
    rows = scoped(txns, scope.offset_hours, scope.txn_types, scope.since, scope.until)
    channels = channel_mix(engine, t, scope)
    want = ref_mix(rows, "channel")
    assert [r.key for r in channels.rows][:5] == list(CHANNELS)
    assert {r.key for r in channels.rows} == set(CHANNELS) | set(want)
    for r in channels.rows:
        n, people, amount = want.get(r.key, (0, 0, 0.0))
        assert (r.transactions, r.customers, r.category) == (n, people, None)
        assert r.amount_cny == approx(amount)
        assert r.share_of_transactions == approx(n / len(rows) if rows else 0.0)
        money = sum(v[2] for v in want.values())
        assert r.share_of_amount == approx(amount / money if money else None)
    codes = mcc_mix(engine, t, scope)
    want = ref_mix(rows, "mcc")
    assert [r.key for r in codes.rows] == sorted(want, key=lambda k: (-want[k][0], k))
    for r in codes.rows:
        n, people, amount = want[r.key]
        assert (r.transactions, r.customers) == (n, people)
        assert r.category == (None if r.key == NONE else ref_category(r.key))
        assert r.amount_cny == approx(amount)
    assert codes.transactions == channels.transactions == len(rows)


def check_cross_city(engine: Engine, txns: Rows, people: Rows, scope: PatternScope) -> None:
    t, c = memtables(txns, people)
    got = cross_city(engine, t, c, scope, top=50)
    rows = scoped(txns, scope.offset_hours, scope.txn_types, scope.since, scope.until)
    homes = ref_home_cities(people)
    where = [(r, ref_location(r, homes)) for r in rows]
    for loc in got.locations:
        mine = [r for r, w in where if w == loc.location]
        assert (loc.transactions, loc.customers) == (
            len(mine), len({r["customer_key"] for r in mine}))
        assert loc.amount_cny == approx(float(sum(
            (r["cny"] for r in mine if r["cny"] is not None), Decimal(0))))
    away = [r for r, w in where if w == "away"]
    assert got.customers_with_transactions == len({r["customer_key"] for r in rows})
    assert got.customers_away == len({r["customer_key"] for r in away})
    known = [(r, w) for r, w in where if w != "unknown"]
    by_home = {}
    for city in {homes[r["customer_key"]] for r, _ in known}:
        mine = [(r, w) for r, w in known if homes[r["customer_key"]] == city]
        by_home[city] = (len(mine), sum(1 for _, w in mine if w == "away"),
                         len({r["customer_key"] for r, w in mine if w == "away"}))
    assert {h.home_city: (h.transactions, h.away, h.customers_away)
            for h in got.by_home_city} == by_home
    flows: dict[tuple[str, str], int] = {}
    for r in away:
        key = (str(homes[r["customer_key"]]), r["city"])
        flows[key] = flows.get(key, 0) + 1
    assert {(f.home_city, f.city): f.transactions for f in got.flows} == flows


@st.composite
def scopes(draw: st.DrawFn) -> PatternScope:
    since = draw(st.one_of(st.none(), st.builds(lambda d: AS_OF - timedelta(days=d),
                                                st.integers(0, 45))))
    until = draw(st.one_of(st.none(), st.builds(lambda d: AS_OF - timedelta(days=d),
                                                st.integers(-3, 10))))
    if since and until and until < since:
        since, until = until, since
    types = draw(st.sampled_from([("purchase",), ("purchase", "refund"), None]))
    offset = draw(st.sampled_from([8.0, 8.0, 0.0, -5.5]))
    return PatternScope(since, until, types, offset)


def _hypothesis(engine: Engine) -> Any:
    return settings(max_examples=examples_for(engine, duckdb=30, spark=3), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_distribution_and_cross_city_match_the_brute_force(engine: Engine) -> None:
    @_hypothesis(engine)
    @given(txns=transactions(), people=customers(), scope=scopes())
    def check(txns: Rows, people: Rows, scope: PatternScope) -> None:
        check_distribution(engine, txns, people, scope)
        check_cross_city(engine, txns, people, scope)

    check()


def test_time_views_match_the_brute_force(engine: Engine) -> None:
    @_hypothesis(engine)
    @given(txns=transactions(), scope=scopes())
    def check(txns: Rows, scope: PatternScope) -> None:
        check_heatmap(engine, txns, scope)
        check_weekday(engine, txns, scope)
        check_festivals(engine, txns, scope)

    check()


def test_channel_and_mcc_mix_match_the_brute_force(engine: Engine) -> None:
    @_hypothesis(engine)
    @given(txns=transactions(), scope=scopes())
    def check(txns: Rows, scope: PatternScope) -> None:
        check_mix(engine, txns, scope)

    check()


# -- fixed edge cases ----------------------------------------------------------------------------

def _txn(key: str | None, when: datetime, amount: str = "100", **extra: Any) -> dict[str, Any]:
    return {"customer_key": key, "txn_time": when, "amount": Decimal(amount),
            "currency": "CNY", "direction": "debit", "txn_type": "purchase",
            "status": "success", "channel": "pos", "mcc": "5411", "city": "北京市", **extra}


SUNDAY = datetime(2025, 3, 9)  # a Sunday; 16:00 UTC is Monday 00:00 in Shanghai
EDGE_TXNS = [
    _txn("a", SUNDAY + timedelta(hours=15, minutes=59, seconds=59)),  # Sun 23:59:59 local
    _txn("a", SUNDAY + timedelta(hours=16)),  # Mon 00:00 local
    _txn("a", SUNDAY + timedelta(hours=16)),  # the same timestamp again
    _txn("b", SUNDAY + timedelta(hours=2), status="failed"),
    _txn("b", SUNDAY + timedelta(hours=3), status="reversed"),
    _txn("c", SUNDAY + timedelta(hours=4), currency="USD", amount="50"),
    _txn(None, SUNDAY + timedelta(hours=5), amount="777"),
    _txn("d", SUNDAY + timedelta(hours=6), channel=None, mcc=None, city=None),
]
EDGE_PEOPLE = [{"customer_key": k, "registered_at": date(2024, 1, 1), "city": "北京市"}
               for k in ("a", "b", "c", "idle")]


def test_local_midnight_failed_reversed_and_customers_without_purchases(engine: Engine) -> None:
    scope = PatternScope()
    check_distribution(engine, EDGE_TXNS, EDGE_PEOPLE, scope)
    check_heatmap(engine, EDGE_TXNS, scope)
    check_weekday(engine, EDGE_TXNS, scope)
    check_festivals(engine, EDGE_TXNS, scope)
    check_mix(engine, EDGE_TXNS, scope)
    check_cross_city(engine, EDGE_TXNS, EDGE_PEOPLE, scope)
    t, c = memtables(EDGE_TXNS, EDGE_PEOPLE)
    grid = hour_weekday_heatmap(engine, t, scope).matrix()
    assert grid[6][23] == 1 and grid[0][0] == 2  # Sunday 23:00 and Monday 00:00
    d = spending_distribution(engine, t, c, scope)
    # b (only failed and reversed) and idle bought nothing; the null key is nobody.
    assert d.count_histogram[0].count == 2 and d.customers == 5
    assert (d.purchases, d.purchases_cny) == (5, 4)  # c's USD purchase counts, adds nothing
    w = weekday_pattern(engine, t, scope)
    assert (w.weekend.days, w.weekday.days) == (1, 1)
    assert (w.weekend.transactions, w.weekday.transactions) == (3, 2)
    assert w.weekend_to_weekday == approx(1.5)
    away = cross_city(engine, t, c, scope)
    assert {r.location: r.transactions for r in away.locations} == {
        "home": 4, "away": 0, "unknown": 1}  # d is not a known customer (and has no city)


def test_since_and_until_are_inclusive_local_days(engine: Engine) -> None:
    t, _ = memtables(EDGE_TXNS, [])
    monday = PatternScope(since=date(2025, 3, 10), until=date(2025, 3, 10))
    assert weekday_pattern(engine, t, monday).weekday.transactions == 2
    sunday = PatternScope(since=date(2025, 3, 9), until=date(2025, 3, 9), offset_hours=0.0)
    assert channel_mix(engine, t, sunday).transactions == 5  # all on Sunday in UTC


def test_empty_input_gives_empty_tables(engine: Engine) -> None:
    t, c = memtables([], [])
    scope = PatternScope()
    d = spending_distribution(engine, t, c, scope)
    assert d.customers == 0 and d.mean_ticket is None
    assert d.ticket_quantiles == {"p25": None, "p50": None, "p75": None, "p90": None}
    assert all(cell.transactions == 0 for cell in hour_weekday_heatmap(engine, t, scope).cells)
    assert weekday_pattern(engine, t, scope).weekend_to_weekday is None
    assert festival_pattern(engine, t, scope).daily == ()
    assert [r.transactions for r in channel_mix(engine, t, scope).rows] == [0] * 5
    assert mcc_mix(engine, t, scope).rows == ()
    assert cross_city(engine, t, c, scope).customers_with_transactions == 0
    # An empty period with bounds still has its days (none of them with a purchase).
    week = PatternScope(since=date(2025, 3, 3), until=date(2025, 3, 9))
    assert weekday_pattern(engine, t, week).weekday.days == 5


def test_occasions_follow_the_published_calendar() -> None:
    day = date(2020, 1, 1)
    while day <= date(2030, 12, 31):
        assert occasion_of(day) == ref_occasion(day), day
        day += timedelta(days=1)
    assert occasion_of(date(2025, 1, 28)) == "spring_festival"  # 除夕 2025
    assert occasion_of(date(2025, 1, 27)) == "pre_spring_festival"
    assert occasion_of(date(2025, 11, 11)) == "double_11"


@pytest.mark.parametrize(("p", "n", "rank"), [
    (0.5, 1, 1), (0.5, 2, 1), (0.5, 3, 2), (0.9, 10, 9), (0.25, 4, 1), (0.75, 4, 3),
    (0.9, 11, 10), (1.0, 7, 7)])
def test_nearest_rank(p: float, n: int, rank: int) -> None:
    assert nearest_rank(p, n) == rank
    assert rank == np.quantile(np.arange(1, n + 1), p, method="inverted_cdf")


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(AnalysisError, match="before"):
        PatternScope(since=date(2025, 3, 2), until=date(2025, 3, 1))
    with pytest.raises(AnalysisError, match="unknown transaction type"):
        PatternScope(txn_types=("shopping",))
    with pytest.raises(AnalysisError, match="at least one"):
        PatternScope(txn_types=())
    with pytest.raises(AnalysisError, match="unknown patterns view"):
        PatternView.parse("calendar")
    assert parse_txn_types("all") is None
    assert parse_txn_types("purchase, refund") == ("purchase", "refund")


def test_bad_bins_and_missing_columns_are_refused(engine: Engine) -> None:
    t, c = memtables([], [])
    with pytest.raises(AnalysisError, match="ascending"):
        spending_distribution(engine, t, c, PatternScope(), count_edges=(0, 5, 5))
    with pytest.raises(AnalysisError, match="currency"):
        hour_weekday_heatmap(engine, t.drop("currency"), PatternScope())
    with pytest.raises(AnalysisError, match="--top"):
        cross_city(engine, t, c, PatternScope(), top=0)


# -- the synthetic bank: the planted holiday peaks are recovered --------------------------------

YEAR = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]  # the bank's period
Z = 4.0  # tolerance in standard errors of the log ratio (Poisson counts)


def planted_lift(kind: str, days: Sequence[date], ordinary: Sequence[date]) -> float:
    """Mean generator weight on ``days`` over the mean on ordinary days (day_weights)."""
    weights = day_weights(np.array(YEAR, dtype="datetime64[D]"), kind)
    index = {d: i for i, d in enumerate(YEAR)}
    return float(np.mean([weights[index[d]] for d in days])
                 / np.mean([weights[index[d]] for d in ordinary]))


def assert_recovered(result: FestivalResult, occasion: str, channels: Sequence[str],
                     kind: str) -> None:
    """The measured lift of ``occasion`` over ordinary days (the channels pooled) equals the
    planted one within Z standard errors, and is distinguishable from no peak."""
    def pooled(name: str) -> tuple[int, int]:
        rows = [result.row(name, ch) for ch in channels]
        return sum(r.transactions for r in rows), rows[0].days

    n_peak, d_peak = pooled(occasion)
    n_ordinary, d_ordinary = pooled("ordinary")
    measured = (n_peak / d_peak) / (n_ordinary / d_ordinary)
    peak_days = [d.day for d in result.daily if d.occasion == occasion]
    ordinary_days = [d.day for d in result.daily if d.occasion == "ordinary"]
    planted = planted_lift(kind, peak_days, ordinary_days)
    error = math.sqrt(1 / n_peak + 1 / n_ordinary)  # of log(measured)
    assert abs(math.log(measured) - math.log(planted)) <= Z * error, (
        occasion, measured, planted, error)
    assert abs(math.log(planted)) > 3 * error, "the peak would not be told from noise"


def test_the_planted_holiday_peaks_are_recovered(ingested: Ingested) -> None:
    # The generator draws the day of a purchase with the "online" weights when it is an
    # online purchase, with the "offline" weights at a POS or in the app, and transfers in
    # or out with the "transfer" weights (synth/transactions.py).
    with open_analytics(ingested.workspace) as data:
        txns = data.transactions()
        year = {"since": YEAR[0], "until": YEAR[-1], "offset_hours": data.offset_hours}
        purchases = festival_pattern(data.engine, txns, PatternScope(**year))
        transfers = festival_pattern(data.engine, txns, PatternScope(
            **year, txn_types=("transfer_in", "transfer_out")))
    assert len(purchases.daily) == 365
    assert_recovered(purchases, "double_11", ["online"], "online")  # x5 on 11-11
    assert_recovered(purchases, "shopping_618", ["online"], "online")  # x3.5 on 06-18
    assert_recovered(purchases, "pre_spring_festival", ["pos", "app"], "offline")  # x1.7
    assert_recovered(transfers, "spring_festival", ["all"], "transfer")  # red envelopes x3
    # The measured figures are the analysis's own: 11-11 online is several times ordinary.
    assert purchases.row("double_11", "online").lift > 3


# -- the command line ------------------------------------------------------------------------------

def test_cli_json(ingested: Ingested) -> None:
    if ingested.engine != "duckdb":
        pytest.skip("the command line is engine-independent; DuckDB is enough")
    runner = CliRunner()
    ws = str(ingested.workspace.root)
    result = runner.invoke(app, ["analyze", "patterns", "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"scope", *(v.value for v in PatternView)}
    assert len(doc["heatmap"]["cells"]) == 168
    with open_analytics(ingested.workspace) as data:
        direct = compute_patterns(data, views=["channels"]).to_dict()
    assert doc["channels"] == direct["channels"]
    one = runner.invoke(app, ["analyze", "patterns", "-w", ws, "--json", "--view", "festivals",
                              "--since", "2025-11-01", "--until", "2025-11-30",
                              "--txn-types", "all"])
    assert one.exit_code == 0, one.output
    doc = json.loads(one.stdout)
    assert set(doc) == {"scope", "festivals"} and doc["scope"]["txn_types"] == "all"
    assert len(doc["festivals"]["daily"]) == 30
    text = runner.invoke(app, ["analyze", "patterns", "-w", ws])
    assert text.exit_code == 0 and "cross-city" in text.output
    for bad in (["--view", "calendar"], ["--since", "2025-12-01", "--until", "2025-11-01"],
                ["--txn-types", "shopping"], ["--since", "last week"]):
        failed = runner.invoke(app, ["analyze", "patterns", "-w", ws, *bad])
        assert failed.exit_code == 1, bad
        assert "Traceback" not in failed.output
