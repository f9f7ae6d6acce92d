"""Consumption patterns: how often, how much, when, where and through which channel.

Every view reads the same **scoped transactions** (docs/analytics.md, "Consumption
patterns"): rows with a customer, ``status = 'success'`` (failed and reversed postings
never happened for the customer), of the chosen types (default: ``purchase``), whose
local date (workspace zone) lies in ``[since, until]``. Amounts are CNY: a foreign-currency
row is counted but its amount is not added (it is not converted).

Views, each a small table computed in the engine:

- ``distribution``: per-customer purchase counts and spend, and the ticket size (one
  purchase's amount), as histograms with fixed bins ``[low, next low)``, plus ticket
  quantiles by the nearest-rank definition;
- ``heatmap``: local hour of day x weekday (Monday = 1);
- ``weekday``: per weekday and weekday vs weekend (Saturday, Sunday), per calendar day;
- ``festivals``: Chinese holidays and shopping festivals vs ordinary days, per day and
  per channel (:data:`OCCASIONS`);
- ``channels``: the channel mix (app, pos, online, atm, branch);
- ``mcc``: the merchant-category mix, with the spending category of each code;
- ``cross-city``: transaction city vs the customer's home city (``customers.city``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from itertools import pairwise
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import (
    NO_VALUE,
    AnalysisError,
    collect,
    local_time,
    require_columns,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.engine import Engine
from finpersona.schema import TABLES_BY_NAME
from finpersona.tags.builtin import spend_category
from finpersona.tags.calendar import LUNAR_NEW_YEAR, SHOPPING_DAYS, spring_festival_week

TXN_TYPES: tuple[str, ...] = TABLES_BY_NAME["transactions"].column("txn_type").allowed or ()
CHANNELS: tuple[str, ...] = ("app", "pos", "online", "atm", "branch")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKEND = (6, 7)  # Saturday, Sunday; make-up working days (调休) are not modelled
ALL_CHANNELS = "all"
ORDINARY = "ordinary"

# Histogram bins: each edge starts a bin that ends at the next edge; the last is open.
COUNT_EDGES: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)
SPEND_EDGES: tuple[float, ...] = (0, 0.01, 100, 500, 1000, 5000, 10000, 50000, 100000,
                                  500000)
TICKET_EDGES: tuple[float, ...] = (0, 10, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000)
TICKET_QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
PRE_FESTIVAL_DAYS = 14  # New Year shopping (年货) before Lunar New Year's Eve
_MONEY = "decimal(38, 4)"


class PatternView(StrEnum):
    DISTRIBUTION = "distribution"
    HEATMAP = "heatmap"
    WEEKDAY = "weekday"
    FESTIVALS = "festivals"
    CHANNELS = "channels"
    MCC = "mcc"
    CROSS_CITY = "cross-city"

    @classmethod
    def parse(cls, value: str | PatternView) -> PatternView:
        try:
            return cls(str(value).lower())
        except ValueError:
            known = ", ".join(v.value for v in cls)
            raise AnalysisError(f"unknown patterns view {value!r}: use one of {known}") from None


# -- the calendar of occasions ---------------------------------------------------------------

def _fixed_days(month: int, first: int, last: int) -> Callable[[int], Iterable[date]]:
    return lambda year: (date(year, month, d) for d in range(first, last + 1))


def _pre_spring_festival(year: int) -> Iterable[date]:
    new_year = LUNAR_NEW_YEAR.get(year)
    if new_year is None:
        return ()
    eve = new_year - timedelta(days=1)
    return (eve - timedelta(days=i) for i in range(PRE_FESTIVAL_DAYS, 0, -1))


_618, _DOUBLE_11 = SHOPPING_DAYS  # (month, day) of the tag calendar's shopping festivals
# Occasion name -> the days it covers in a year, in order of precedence (a day belongs to
# the first occasion that covers it; none overlap for 2020-2030). Spring Festival uses the
# tag calendar (除夕 to 初六); the golden weeks take their usual statutory span.
OCCASIONS: dict[str, Callable[[int], Iterable[date]]] = {
    "spring_festival": spring_festival_week,  # 春节: New Year's Eve and six days after
    "pre_spring_festival": _pre_spring_festival,  # 年货: the 14 days before the Eve
    "shopping_618": _fixed_days(_618[0], _618[1], _618[1]),  # 年中购物节 (June 18)
    "double_11": _fixed_days(_DOUBLE_11[0], _DOUBLE_11[1], _DOUBLE_11[1]),  # 双十一
    "national_day": _fixed_days(10, 1, 7),  # 国庆黄金周
    "labour_day": _fixed_days(5, 1, 5),  # 劳动节
    "new_year": _fixed_days(1, 1, 1),  # 元旦
}


@cache
def _occasions_in(year: int) -> dict[date, str]:
    out: dict[date, str] = {}
    for name, days_of in OCCASIONS.items():
        for day in days_of(year):
            out.setdefault(day, name)  # the first occasion covering a day wins
    return out


def occasion_of(day: date) -> str:
    """The occasion a local calendar day belongs to (:data:`OCCASIONS`), else ``ordinary``."""
    return _occasions_in(day.year).get(day, ORDINARY)


def calendar_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# -- the scoped transactions -------------------------------------------------------------------

@dataclass(frozen=True)
class PatternScope:
    """Which transactions a view reads (see the module docstring)."""

    since: date | None = None
    until: date | None = None
    txn_types: tuple[str, ...] | None = ("purchase",)  # None: every type
    offset_hours: float = 8.0

    def __post_init__(self) -> None:
        if self.since and self.until and self.until < self.since:
            raise AnalysisError(f"--until {self.until} is before --since {self.since}")
        if self.txn_types is not None:
            if not self.txn_types:
                raise AnalysisError("give at least one transaction type, or all")
            unknown = [t for t in self.txn_types if t not in TXN_TYPES]
            if unknown:
                raise AnalysisError(f"unknown transaction type(s) {', '.join(unknown)}; "
                                    f"known: {', '.join(TXN_TYPES)}")

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "txn_types": list(self.txn_types) if self.txn_types else "all",
                "offset_hours": self.offset_hours}


TXN_COLUMNS = ("customer_key", "txn_time", "amount", "currency", "txn_type", "channel", "mcc",
               "city", "status")


def scoped_transactions(transactions: ir.Table, scope: PatternScope) -> ir.Table:
    """The transactions a view reads, with local ``day``, ``hour``, ``weekday`` (Monday = 1)
    and ``cny`` (the amount when in CNY, else null)."""
    require_columns(transactions, TXN_COLUMNS, "consumption patterns")
    t = transactions.filter(transactions.customer_key.notnull()
                            & (transactions.status == "success"))
    if scope.txn_types is not None:
        t = t.filter(t.txn_type.isin(list(scope.txn_types)))
    local = local_time(t.txn_time, scope.offset_hours)
    t = t.mutate(day=local.date(), hour=local.hour().cast("int64"),
                 weekday=(local.date().day_of_week.index() + 1).cast("int64"),
                 cny=ibis.ifelse(t.currency == "CNY", t.amount.cast(_MONEY),
                                 ibis.null(_MONEY)))
    if scope.since is not None:
        t = t.filter(t.day >= ibis.literal(scope.since))
    if scope.until is not None:
        t = t.filter(t.day <= ibis.literal(scope.until))
    return t


def _money(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _exact(value: Any) -> Decimal:
    """An engine's sum as a Decimal (0 for null), so totals add up without float error."""
    return Decimal(value) if value is not None else Decimal(0)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


# -- distribution --------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistogramBin:
    low: float
    high: float | None  # None: open-ended
    count: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DistributionResult:
    customers: int  # customers table plus anyone with a scoped transaction
    customers_with_purchases: int
    purchases: int
    purchases_cny: int  # of which in CNY (those with an amount)
    amount_cny: float
    mean_purchases_per_customer: float | None  # over all customers
    mean_spend_per_buyer: float | None  # CNY, over customers with purchases
    mean_ticket: float | None  # CNY
    ticket_quantiles: dict[str, float | None]  # "p25", "p50", ...: nearest rank
    count_histogram: tuple[HistogramBin, ...]  # customers by number of purchases
    spend_histogram: tuple[HistogramBin, ...]  # customers by CNY spent
    ticket_histogram: tuple[HistogramBin, ...]  # CNY purchases by amount

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("count_histogram", "spend_histogram", "ticket_histogram"):
            out[key] = [b.to_dict() for b in getattr(self, key)]
        return out


def _bin_of(value: ir.NumericValue, edges: Sequence[float], decimal: bool) -> ir.IntegerValue:
    """The index of the bin ``[edges[i], edges[i+1])`` a value falls in (0 below the first)."""
    total: ir.IntegerValue = ibis.literal(0, "int64")
    for edge in edges[1:]:
        cut = (ibis.literal(Decimal(str(edge)), _MONEY) if decimal else ibis.literal(edge))
        total = total + ibis.ifelse(value >= cut, 1, 0)
    return total.cast("int64")


def _histogram(rows: list[dict[str, Any]], edges: Sequence[float]) -> tuple[HistogramBin, ...]:
    counts = {int(r["bin"]): int(r["n"]) for r in rows}
    return tuple(HistogramBin(float(low), float(edges[i + 1]) if i + 1 < len(edges) else None,
                              counts.get(i, 0)) for i, low in enumerate(edges))


def _check_edges(edges: Sequence[float], what: str) -> None:
    if not edges or any(b <= a for a, b in pairwise(edges)):
        raise AnalysisError(f"{what} bin edges must be ascending, got {list(edges)}")


def _customer_keys(customers: ir.Table | None, scoped: ir.Table) -> ir.Table:
    keys = scoped.select("customer_key")
    if customers is not None:
        known = customers.filter(customers.customer_key.notnull()).select("customer_key")
        keys = ibis.union(known, keys, distinct=True)
    return keys.distinct()


def _rank_value(rows: list[dict[str, Any]], rank: int) -> float | None:
    """The rank-th smallest value (1-based) from rows of (value, cumulative count)."""
    for row in rows:
        if int(row["cum"]) >= rank:
            return float(row["value"])
    return None


def spending_distribution(engine: Engine, transactions: ir.Table, customers: ir.Table | None,
                          scope: PatternScope, *, count_edges: Sequence[int] = COUNT_EDGES,
                          spend_edges: Sequence[float] = SPEND_EDGES,
                          ticket_edges: Sequence[float] = TICKET_EDGES) -> DistributionResult:
    """How many purchases and how much each customer makes, and what one purchase costs."""
    for edges, what in ((count_edges, "count"), (spend_edges, "spend"),
                        (ticket_edges, "ticket")):
        _check_edges(edges, what)
    t = scoped_transactions(transactions, scope)
    per = t.group_by("customer_key").aggregate(n=t.count(), spend=t.cny.sum())
    keys = _customer_keys(customers, t)
    everyone = keys.left_join(per, keys.customer_key == per.customer_key).select(
        keys.customer_key, n=per.n.fill_null(0),
        spend=per.spend.fill_null(ibis.literal(Decimal(0), _MONEY)).cast(_MONEY))
    count_rows = collect(engine, everyone.group_by(bin=_bin_of(everyone.n, count_edges, False))
                         .aggregate(n=everyone.count()))
    spend_rows = collect(engine, everyone.group_by(
        bin=_bin_of(everyone.spend, spend_edges, True)).aggregate(n=everyone.count()))
    paid = t.filter(t.cny.notnull())
    ticket_rows = collect(engine, paid.group_by(bin=_bin_of(paid.cny, ticket_edges, True))
                          .aggregate(n=paid.count()))
    [totals] = collect(engine, everyone.aggregate(
        customers=everyone.count(), buyers=everyone.count(where=everyone.n > 0),
        purchases=everyone.n.sum(), amount=everyone.spend.sum()))
    [tickets] = collect(engine, paid.aggregate(n=paid.count()))
    quantiles = _ticket_quantiles(engine, paid, int(tickets["n"] or 0))
    # Spark counts with a condition as a sum: null, not 0, over no rows.
    customers_n, buyers = int(totals["customers"] or 0), int(totals["buyers"] or 0)
    purchases, amount = int(totals["purchases"] or 0), _money(totals["amount"])
    return DistributionResult(
        customers=customers_n, customers_with_purchases=buyers, purchases=purchases,
        purchases_cny=int(tickets["n"] or 0), amount_cny=amount,
        mean_purchases_per_customer=_ratio(purchases, customers_n),
        mean_spend_per_buyer=_ratio(amount, buyers),
        mean_ticket=_ratio(amount, int(tickets["n"] or 0)),
        ticket_quantiles=quantiles,
        count_histogram=_histogram(count_rows, count_edges),
        spend_histogram=_histogram(spend_rows, spend_edges),
        ticket_histogram=_histogram(ticket_rows, ticket_edges))


def nearest_rank(p: float, n: int) -> int:
    """The 1-based rank of the p-quantile of n values by the nearest-rank definition
    (Hyndman-Fan type 1, numpy's ``inverted_cdf``): the smallest rank k with k/n >= p."""
    rank = math.ceil(round(p * n, 9))  # round: 0.9 x 10 is 9.000000000000002 in floats
    return min(max(rank, 1), n)


def _ticket_quantiles(engine: Engine, paid: ir.Table, n: int) -> dict[str, float | None]:
    names = [f"p{round(p * 100)}" for p in TICKET_QUANTILES]
    if n == 0:
        return dict.fromkeys(names)
    ranks = [nearest_rank(p, n) for p in TICKET_QUANTILES]
    values = paid.group_by(value=paid.cny).aggregate(k=paid.count())
    # A cumulative count over distinct amounts: the k-th smallest value is the first
    # whose cumulative count reaches k (exact on every engine, unlike percentile_approx).
    cum = values.mutate(cum=values.k.sum().over(
        ibis.window(order_by=values.value, rows=(None, 0))))
    row = collect(engine, cum.aggregate(**{
        f"q{i}": cum.value.min(where=cum.cum >= rank) for i, rank in enumerate(ranks)}))[0]
    return {name: _money(row[f"q{i}"]) for i, name in enumerate(names)}


# -- heat map --------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatmapCell:
    weekday: int  # 1 = Monday
    hour: int  # local hour 0-23
    transactions: int
    customers: int
    amount_cny: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HeatmapResult:
    cells: tuple[HeatmapCell, ...]  # all 7 x 24, weekday then hour

    def to_dict(self) -> dict[str, Any]:
        return {"cells": [c.to_dict() for c in self.cells]}

    def matrix(self) -> list[list[int]]:
        """Transactions as 7 rows (Monday first) of 24 hours."""
        grid = [[0] * 24 for _ in range(7)]
        for c in self.cells:
            grid[c.weekday - 1][c.hour] = c.transactions
        return grid


def hour_weekday_heatmap(engine: Engine, transactions: ir.Table,
                         scope: PatternScope) -> HeatmapResult:
    t = scoped_transactions(transactions, scope)
    rows = collect(engine, t.group_by(["weekday", "hour"]).aggregate(
        transactions=t.count(), customers=t.customer_key.nunique(), amount=t.cny.sum()))
    by_cell = {(int(r["weekday"]), int(r["hour"])): r for r in rows}
    cells = []
    for weekday in range(1, 8):
        for hour in range(24):
            r = by_cell.get((weekday, hour), {})
            cells.append(HeatmapCell(weekday, hour, int(r.get("transactions") or 0),
                                     int(r.get("customers") or 0), _money(r.get("amount"))))
    return HeatmapResult(tuple(cells))


# -- per calendar day: weekday and festivals -------------------------------------------------

@dataclass(frozen=True)
class _Daily:
    """Scoped transactions per local day and channel, and the days of the period."""

    rows: dict[tuple[date, str], tuple[int, Decimal]]  # (day, channel) -> (count, CNY)
    days: list[date]


def _daily(engine: Engine, transactions: ir.Table, scope: PatternScope) -> _Daily:
    t = scoped_transactions(transactions, scope)
    t = t.mutate(channel=t.channel.fill_null(NO_VALUE))
    rows = collect(engine, t.group_by(["day", "channel"]).aggregate(
        n=t.count(), amount=t.cny.sum()))
    counts = {(_as_date(r["day"]), str(r["channel"])): (int(r["n"]), _exact(r["amount"]))
              for r in rows}
    seen = [day for day, _ in counts]
    first = scope.since or (min(seen) if seen else None)
    last = scope.until or (max(seen) if seen else None)
    days = calendar_days(first, last) if first and last else []
    return _Daily(counts, days)


def _as_date(value: Any) -> date:
    return value if type(value) is date else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class DayGroup:
    """Transactions over a group of calendar days, in total and per day."""

    name: str
    days: int
    transactions: int
    amount_cny: float
    transactions_per_day: float | None
    amount_per_day: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_NOTHING = (0, Decimal(0))


def _group(name: str, days: Sequence[date],
           daily: Mapping[date, tuple[int, Decimal]]) -> DayGroup:
    n = sum(daily.get(d, _NOTHING)[0] for d in days)
    amount = float(sum((daily.get(d, _NOTHING)[1] for d in days), Decimal(0)))
    return DayGroup(name, len(days), n, amount, _ratio(n, len(days)), _ratio(amount, len(days)))


def _per_day(daily: _Daily, channel: str | None = None) -> dict[date, tuple[int, Decimal]]:
    out: dict[date, tuple[int, Decimal]] = defaultdict(lambda: _NOTHING)
    for (day, ch), (n, amount) in daily.rows.items():
        if channel is None or ch == channel:
            before = out[day]
            out[day] = (before[0] + n, before[1] + amount)
    return dict(out)


@dataclass(frozen=True)
class WeekdayResult:
    weekdays: tuple[DayGroup, ...]  # Mon ... Sun
    weekday: DayGroup  # Monday to Friday
    weekend: DayGroup  # Saturday and Sunday
    weekend_to_weekday: float | None  # per-day transactions, weekend / weekday

    def to_dict(self) -> dict[str, Any]:
        return {"weekdays": [w.to_dict() for w in self.weekdays],
                "weekday": self.weekday.to_dict(), "weekend": self.weekend.to_dict(),
                "weekend_to_weekday": self.weekend_to_weekday}


def weekday_pattern(engine: Engine, transactions: ir.Table,
                    scope: PatternScope) -> WeekdayResult:
    daily = _daily(engine, transactions, scope)
    per_day = _per_day(daily)
    weekdays = tuple(
        _group(name, [d for d in daily.days if d.isoweekday() == i + 1], per_day)
        for i, name in enumerate(WEEKDAY_NAMES))
    work = _group("weekday", [d for d in daily.days if d.isoweekday() not in WEEKEND], per_day)
    rest = _group("weekend", [d for d in daily.days if d.isoweekday() in WEEKEND], per_day)
    lift = (_ratio(rest.transactions_per_day, work.transactions_per_day)
            if rest.transactions_per_day is not None and work.transactions_per_day else None)
    return WeekdayResult(weekdays, work, rest, lift)


@dataclass(frozen=True)
class OccasionRow:
    occasion: str
    channel: str  # a channel, or "all"
    days: int
    transactions: int
    amount_cny: float
    transactions_per_day: float | None
    amount_per_day: float | None
    lift: float | None  # transactions per day / the same channel's on ordinary days

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DayCount:
    day: date
    occasion: str
    transactions: int
    amount_cny: float

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "occasion": self.occasion,
                "transactions": self.transactions, "amount_cny": self.amount_cny}


@dataclass(frozen=True)
class FestivalResult:
    rows: tuple[OccasionRow, ...]  # per occasion (calendar order, ordinary last), per channel
    daily: tuple[DayCount, ...] = field(default=())  # every day of the period, all channels

    def row(self, occasion: str, channel: str = ALL_CHANNELS) -> OccasionRow:
        for r in self.rows:
            if r.occasion == occasion and r.channel == channel:
                return r
        raise KeyError((occasion, channel))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows],
                "daily": [d.to_dict() for d in self.daily]}


def festival_pattern(engine: Engine, transactions: ir.Table,
                     scope: PatternScope) -> FestivalResult:
    """Per occasion and channel: transactions per day and the lift over ordinary days."""
    daily = _daily(engine, transactions, scope)
    by_occasion: dict[str, list[date]] = {name: [] for name in [*OCCASIONS, ORDINARY]}
    for day in daily.days:
        by_occasion[occasion_of(day)].append(day)
    channels = sorted({ch for _, ch in daily.rows}, key=_channel_order)
    rows: list[OccasionRow] = []
    for channel in [ALL_CHANNELS, *channels]:
        per_day = _per_day(daily, None if channel == ALL_CHANNELS else channel)
        ordinary = _group(ORDINARY, by_occasion[ORDINARY], per_day)
        for name, days in by_occasion.items():
            g = _group(name, days, per_day)
            lift = (_ratio(g.transactions_per_day, ordinary.transactions_per_day)
                    if g.transactions_per_day is not None and ordinary.transactions_per_day
                    else None)
            rows.append(OccasionRow(name, channel, g.days, g.transactions, g.amount_cny,
                                    g.transactions_per_day, g.amount_per_day, lift))
    all_days = _per_day(daily)
    counts = tuple(DayCount(d, occasion_of(d), all_days.get(d, _NOTHING)[0],
                            float(all_days.get(d, _NOTHING)[1])) for d in daily.days)
    return FestivalResult(tuple(rows), counts)


def _channel_order(channel: str) -> tuple[int, str]:
    return (CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS), channel)


# -- channel and merchant-category mix --------------------------------------------------------

@dataclass(frozen=True)
class MixRow:
    key: str  # the channel, or the merchant category code
    category: str | None  # mcc: the spending category; channels: None
    transactions: int
    customers: int
    amount_cny: float
    share_of_transactions: float
    share_of_amount: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MixResult:
    dimension: str  # "channel" or "mcc"
    transactions: int
    amount_cny: float
    rows: tuple[MixRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "transactions": self.transactions,
                "amount_cny": self.amount_cny, "rows": [r.to_dict() for r in self.rows]}


def _mix(engine: Engine, t: ir.Table, column: str,
         with_category: bool) -> tuple[list[MixRow], float]:
    """Rows per value of ``column`` and the CNY total over all of them."""
    t = t.mutate(_key=t[column].fill_null(NO_VALUE))
    rows = collect(engine, t.group_by("_key").aggregate(
        transactions=t.count(), customers=t.customer_key.nunique(), amount=t.cny.sum()))
    total = sum(int(r["transactions"]) for r in rows)
    money = float(sum((_exact(r["amount"]) for r in rows), Decimal(0)))
    categories: dict[str, str] = {}
    if with_category:
        codes = sorted(str(r["_key"]) for r in rows if r["_key"] != NO_VALUE)
        if codes:
            categories = _categories(engine, codes)
    return [MixRow(str(r["_key"]), categories.get(str(r["_key"])), int(r["transactions"]),
                   int(r["customers"]), _money(r["amount"]), int(r["transactions"]) / total,
                   _ratio(_money(r["amount"]), money)) for r in rows], money


def _categories(engine: Engine, codes: list[str]) -> dict[str, str]:
    """The spending category of each code, by the tags' own mapping (run in the engine)."""
    import pyarrow as pa

    table = ibis.memtable(pa.table({"mcc": pa.array(codes, pa.string())}))
    rows = collect(engine, table.mutate(category=spend_category(table.mcc)))
    return {str(r["mcc"]): str(r["category"]) for r in rows}


def channel_mix(engine: Engine, transactions: ir.Table, scope: PatternScope) -> MixResult:
    """Transactions per channel; the five known channels always appear (zero when unused)."""
    t = scoped_transactions(transactions, scope)
    found, money = _mix(engine, t, "channel", with_category=False)
    rows = {r.key: r for r in found}
    for channel in CHANNELS:
        rows.setdefault(channel, MixRow(channel, None, 0, 0, 0.0, 0.0, 0.0 if money else None))
    ordered = sorted(rows.values(), key=lambda r: _channel_order(r.key))
    return MixResult("channel", sum(r.transactions for r in ordered), money, tuple(ordered))


def mcc_mix(engine: Engine, transactions: ir.Table, scope: PatternScope) -> MixResult:
    """Transactions per merchant category code, most used first (ties: by code)."""
    t = scoped_transactions(transactions, scope)
    found, money = _mix(engine, t, "mcc", with_category=True)
    rows = sorted(found, key=lambda r: (-r.transactions, r.key))
    return MixResult("mcc", sum(r.transactions for r in rows), money, tuple(rows))


# -- cross-city --------------------------------------------------------------------------------

LOCATIONS = ("home", "away", "unknown")


@dataclass(frozen=True)
class LocationRow:
    location: str  # home: in the home city; away: another city; unknown: a city is missing
    transactions: int
    customers: int
    amount_cny: float
    share_of_transactions: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HomeCityRow:
    home_city: str
    transactions: int  # by residents, with a known transaction city
    away: int  # of which in another city
    away_share: float | None
    customers_away: int  # residents with at least one transaction away

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CityFlow:
    home_city: str
    city: str
    transactions: int
    customers: int
    amount_cny: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CrossCityResult:
    locations: tuple[LocationRow, ...]  # home, away, unknown
    customers_with_transactions: int
    customers_away: int  # with at least one transaction in another city
    by_home_city: tuple[HomeCityRow, ...]  # most away transactions first
    flows: tuple[CityFlow, ...]  # top away (home city, city) pairs

    def to_dict(self) -> dict[str, Any]:
        return {"locations": [r.to_dict() for r in self.locations],
                "customers_with_transactions": self.customers_with_transactions,
                "customers_away": self.customers_away,
                "by_home_city": [r.to_dict() for r in self.by_home_city],
                "flows": [f.to_dict() for f in self.flows]}


def _with_home_city(t: ir.Table, customers: ir.Table) -> ir.Table:
    # min(): one home city per customer even when the customers table repeats a key.
    known = customers.filter(customers.customer_key.notnull())
    homes = known.group_by("customer_key").aggregate(home_city=known.city.min())
    homes = homes.rename(_home_key="customer_key")
    joined = t.left_join(homes, t.customer_key == homes._home_key)
    joined = joined.drop("_home_key")
    where = ibis.cases(
        (joined.city.isnull() | joined.home_city.isnull(), "unknown"),
        (joined.city == joined.home_city, "home"), else_="away")
    return joined.mutate(location=where)


def cross_city(engine: Engine, transactions: ir.Table, customers: ir.Table,
               scope: PatternScope, *, top: int = 20) -> CrossCityResult:
    """Where customers transact relative to their home city."""
    if top < 1:
        raise AnalysisError(f"--top must be at least 1, got {top}")
    require_columns(customers, ("customer_key", "city"), "cross-city spending")
    t = _with_home_city(scoped_transactions(transactions, scope), customers)
    away = t.location == "away"
    loc_rows = {r["location"]: r for r in collect(engine, t.group_by("location").aggregate(
        transactions=t.count(), customers=t.customer_key.nunique(), amount=t.cny.sum()))}
    total = sum(int(r["transactions"]) for r in loc_rows.values())
    locations = tuple(LocationRow(
        loc, int(loc_rows.get(loc, {}).get("transactions") or 0),
        int(loc_rows.get(loc, {}).get("customers") or 0),
        _money(loc_rows.get(loc, {}).get("amount")),
        _ratio(int(loc_rows.get(loc, {}).get("transactions") or 0), total))
        for loc in LOCATIONS)
    [people] = collect(engine, t.aggregate(
        customers=t.customer_key.nunique(),
        away=t.customer_key.nunique(where=away)))
    known = t.filter(t.location != "unknown")
    homes = collect(engine, known.group_by("home_city").aggregate(
        transactions=known.count(), away=known.count(where=known.location == "away"),
        customers_away=known.customer_key.nunique(where=known.location == "away")))
    by_home = sorted((HomeCityRow(str(r["home_city"]), int(r["transactions"]), int(r["away"]),
                                  _ratio(int(r["away"]), int(r["transactions"])),
                                  int(r["customers_away"])) for r in homes),
                     key=lambda r: (-r.away, r.home_city))
    moves = t.filter(away)
    flow_rows = collect(engine, moves.group_by(["home_city", "city"]).aggregate(
        transactions=moves.count(), customers=moves.customer_key.nunique(),
        amount=moves.cny.sum()))
    flows = sorted((CityFlow(str(r["home_city"]), str(r["city"]), int(r["transactions"]),
                             int(r["customers"]), _money(r["amount"])) for r in flow_rows),
                   key=lambda f: (-f.transactions, f.home_city, f.city))[:top]
    return CrossCityResult(locations, int(people["customers"]), int(people["away"] or 0),
                           tuple(by_home), tuple(flows))


# -- all views ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PatternsResult:
    scope: PatternScope
    distribution: DistributionResult | None = None
    heatmap: HeatmapResult | None = None
    weekday: WeekdayResult | None = None
    festivals: FestivalResult | None = None
    channels: MixResult | None = None
    mcc: MixResult | None = None
    cross_city: CrossCityResult | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scope": self.scope.to_dict()}
        for view in PatternView:
            value = getattr(self, _attribute(view))
            if value is not None:
                out[view.value] = value.to_dict()
        return out


def _attribute(view: PatternView) -> str:
    return view.value.replace("-", "_")


def parse_txn_types(text: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"purchase"``, ``"purchase,refund"`` or ``"all"`` (None) as a tuple of types."""
    if text is None:
        return ("purchase",)
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    parts = [p for p in parts if p]
    if [p.lower() for p in parts] == ["all"]:
        return None
    return tuple(parts)


def compute_patterns(data: AnalyticsData, *,
                     views: Sequence[str | PatternView] | None = None,
                     since: date | None = None, until: date | None = None,
                     txn_types: str | Sequence[str] | None = None,
                     top: int = 20) -> PatternsResult:
    """The chosen views (default: all) of the workspace's transactions."""
    scope = PatternScope(since, until, parse_txn_types(txn_types), data.offset_hours)
    chosen = list(PatternView) if not views else [PatternView.parse(v) for v in views]
    engine, txns = data.engine, data.transactions()
    results: dict[str, Any] = {}
    for view in chosen:
        if view is PatternView.DISTRIBUTION:
            value: Any = spending_distribution(engine, txns, data.customers(), scope)
        elif view is PatternView.HEATMAP:
            value = hour_weekday_heatmap(engine, txns, scope)
        elif view is PatternView.WEEKDAY:
            value = weekday_pattern(engine, txns, scope)
        elif view is PatternView.FESTIVALS:
            value = festival_pattern(engine, txns, scope)
        elif view is PatternView.CHANNELS:
            value = channel_mix(engine, txns, scope)
        elif view is PatternView.MCC:
            value = mcc_mix(engine, txns, scope)
        else:
            value = cross_city(engine, txns, data.customers(), scope, top=top)
        results[_attribute(view)] = value
    return PatternsResult(scope, **results)


__all__ = [
    "OCCASIONS", "CityFlow", "CrossCityResult", "DayCount", "DayGroup", "DistributionResult",
    "FestivalResult", "HeatmapCell", "HeatmapResult", "HistogramBin", "HomeCityRow",
    "LocationRow", "MixResult", "MixRow", "OccasionRow", "PatternScope", "PatternView",
    "PatternsResult", "WeekdayResult", "calendar_days", "channel_mix", "compute_patterns",
    "cross_city", "festival_pattern", "hour_weekday_heatmap", "mcc_mix", "nearest_rank",
    "occasion_of", "parse_txn_types", "scoped_transactions", "spending_distribution",
    "weekday_pattern",
]
