"""Retention and cohorts with PostHog's semantics, plus amount-weighted retention for banks.

Definitions (docs/analytics.md, "Retention and cohorts"):

* **Activity** is one row per thing a known customer did: an app/web event (its
  ``event_name``) or a successful transaction (its ``txn_type``). Rows without a
  ``customer_key`` (visitors who never logged in) take no part. Times are turned into
  the workspace's local time before they are put into days, weeks (Monday first) or
  months.
* **Cohort entry**. ``first`` mode: a customer enters the cohort of the period of their
  first-ever start activity in the data (up to ``until``), if that period lies in the
  analysed range. ``recurring`` mode: every period of the range in which the customer
  did the start activity is a cohort entry of its own.
* **Period 0 is the cohort itself** (100 %), as in PostHog: a return activity in the
  entry period, before, at or after the start, adds nothing. A customer counts as
  retained in period *k* ≥ 1 when they did the return activity in the *k*-th period
  after the entry period (``strict``), or in period *k* or any later period up to
  ``periods - 1`` (``cumulative``, PostHog's "on or after"). Return activity before
  the entry period never counts.
* **Observed data** ends on ``until`` (or on the last local day with any activity) and
  starts on the first local day with any activity. A cell whose period is not fully
  inside that span is marked ``complete=False`` (a young cohort is not churn); cells
  whose period starts after the end are left out. ``since`` widens to the start of its
  period, as PostHog does.
* **Amount-weighted retention** (what product tools lack): for a cohort, the amount
  in period *k* is the sum over its members of their amount in period *k* — ``spend``:
  successful debit purchases in the reporting currency; ``aum``: the balance of
  deposit, wealth, fund and insurance accounts on the last holdings snapshot date on
  or before the period's last observed day (accounts missing from that snapshot count
  0). The weighted rate of cell *k* is amount(*k*) / amount(0), so it can exceed 1 when
  retained customers spend or hold more than at entry. Members count whether or not
  they did the return activity: money that stays is retained money.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.analytics.base import (
    AnalysisError,
    Period,
    collect,
    jsonable,
    local_time,
    period_start,
    periods_between,
    require_columns,
    with_breakdown,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.engine import Engine

REPORTING_CURRENCY = "CNY"
# Products whose balances are assets under management (the same list as the aum tag).
AUM_PRODUCT_TYPES = ("demand_deposit", "time_deposit", "wealth_management", "fund",
                     "insurance")
_SHOWN_NAMES = 25
_ZERO = Decimal(0)  # how many known names an "unknown name" error lists


class RetentionMode(StrEnum):
    FIRST_TIME = "first"
    RECURRING = "recurring"

    @classmethod
    def parse(cls, value: str | RetentionMode) -> RetentionMode:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown retention mode {value!r}: use first or "
                                "recurring") from None


class ActivitySource(StrEnum):
    EVENTS = "events"
    TRANSACTIONS = "transactions"

    @classmethod
    def parse(cls, value: str | ActivitySource) -> ActivitySource:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown activity source {value!r}: use events or "
                                "transactions") from None

    @property
    def names_are(self) -> str:
        return "event names" if self is ActivitySource.EVENTS else "transaction types"


class Weighting(StrEnum):
    SPEND = "spend"
    AUM = "aum"

    @classmethod
    def parse(cls, value: str | Weighting) -> Weighting:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown weighting {value!r}: use spend or aum") from None


# -- calendar arithmetic on the (small) Python side -----------------------------------------

def period_of(day: date, period: Period) -> date:
    """The first day of the day / Monday-first week / month ``day`` falls in."""
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def shift_period(start: date, period: Period, k: int) -> date:
    """The start of the period ``k`` periods after the one starting on ``start``."""
    if period is Period.DAY:
        return start + timedelta(days=k)
    if period is Period.WEEK:
        return start + timedelta(weeks=k)
    months = start.year * 12 + start.month - 1 + k
    return date(months // 12, months % 12 + 1, 1)


def period_last_day(start: date, period: Period) -> date:
    return shift_period(start, period, 1) - timedelta(days=1)


def is_complete(start: date, period: Period, first_day: date, last_day: date) -> bool:
    """Whether the observed data cover every day of the period starting on ``start``."""
    return start >= first_day and period_last_day(start, period) <= last_day


def period_range(first: date, last: date, period: Period) -> list[date]:
    """Period starts from ``first``'s period to ``last``'s, both included."""
    out: list[date] = []
    current = period_of(first, period)
    while current <= last:
        out.append(current)
        current = shift_period(current, period, 1)
    return out


# -- activity: what counts as a customer doing something ------------------------------------

def activity_from_events(events: ir.Table) -> ir.Table:
    """Events of known customers as activity (``customer_key``, ``activity_time``, name)."""
    known = events.filter(events.customer_key.notnull() & events.event_time.notnull())
    return known.select("customer_key", activity_time=known.event_time,
                        activity_name=known.event_name)


def activity_from_transactions(transactions: ir.Table) -> ir.Table:
    """Successful transactions of known customers as activity, named by ``txn_type``.

    A missing status counts as success (the column is optional in the sources).
    """
    t = transactions
    ok = t.status.isnull() | (t.status == "success")
    kept = t.filter(t.customer_key.notnull() & t.txn_time.notnull() & ok)
    return kept.select("customer_key", activity_time=kept.txn_time,
                       activity_name=kept.txn_type)


def activity_of(data: AnalyticsData, source: ActivitySource) -> ir.Table:
    if source is ActivitySource.EVENTS:
        return activity_from_events(data.events())
    return activity_from_transactions(data.transactions())


def localised(activity: ir.Table, period: Period, offset_hours: float,
              until: date | None) -> ir.Table:
    """Activity with its local ``day`` and ``period_start``, cut after ``until``."""
    day = local_time(activity.activity_time, offset_hours).date()
    out = activity.mutate(day=day, period_start=period_start(day, period))
    if until is not None:
        out = out.filter(out.day <= ibis.literal(until))
    return out


@dataclass(frozen=True)
class ActivityOverview:
    """What one pass over the activity tells: its names and the observed days."""

    first_day: date | None
    last_day: date | None
    first_day_of: dict[str, date] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.first_day is None

    def require(self, name: str, role: str, source: ActivitySource) -> None:
        if self.empty or name in self.first_day_of:
            return  # an empty input gives an empty answer rather than an error
        known = sorted(self.first_day_of)
        shown = ", ".join(known[:_SHOWN_NAMES]) + (" ..." if len(known) > _SHOWN_NAMES else "")
        raise AnalysisError(f"unknown {role} {name!r}: the {source.names_are} in the data "
                            f"are {shown}")


def overview(engine: Engine, act: ir.Table, until: date | None, offset_hours: float
             ) -> ActivityOverview:
    """Names and first/last observed day in one small aggregate (``act`` is localised).

    Local days follow UTC times in order, so the extremes are taken on the raw times
    (no per-row date arithmetic) and localised here.
    """
    rows = collect(engine, act.group_by("activity_name").aggregate(
        first_time=act.activity_time.min(), last_time=act.activity_time.max()))
    if not rows:
        return ActivityOverview(None, None)
    shift = timedelta(seconds=round(offset_hours * 3600))
    first_of = {r["activity_name"]: (r["first_time"] + shift).date() for r in rows}
    last = until if until is not None else (max(r["last_time"] for r in rows) + shift).date()
    return ActivityOverview(min(first_of.values()), last,
                            {name: day for name, day in first_of.items() if name is not None})


def check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise AnalysisError(f"--since {since} is after --until {until}")


# -- amounts for weighted retention ----------------------------------------------------------

class AmountSource(Protocol):
    """Per customer and period, the money a weighted retention follows."""

    @property
    def weighting(self) -> Weighting: ...

    def by_period(self, engine: Engine, period: Period, offset_hours: float,
                  starts: Sequence[date], last_day: date) -> ir.Table:
        """Rows (``customer_key``, ``period_start``, ``amount``) for the given periods."""
        ...


@dataclass(frozen=True, eq=False)
class SpendAmounts:
    """Successful debit purchases in one currency, summed per local period."""

    transactions: ir.Table
    currency: str = REPORTING_CURRENCY
    weighting: Weighting = Weighting.SPEND

    def by_period(self, engine: Engine, period: Period, offset_hours: float,
                  starts: Sequence[date], last_day: date) -> ir.Table:
        t = self.transactions
        require_columns(t, ["customer_key", "txn_time", "amount", "txn_type", "direction",
                            "currency", "status"], "spend-weighted retention")
        spend = t.filter(t.customer_key.notnull() & (t.txn_type == "purchase")
                         & (t.direction == "debit") & (t.currency == self.currency)
                         & (t.status.isnull() | (t.status == "success")))
        day = local_time(spend.txn_time, offset_hours).date()
        spend = spend.mutate(period_start=period_start(day, period), day=day)
        spend = spend.filter(spend.day <= ibis.literal(last_day))
        return spend.group_by(["customer_key", "period_start"]).aggregate(
            amount=spend.amount.sum())


@dataclass(frozen=True, eq=False)
class AumAmounts:
    """Balances of AUM products on the last snapshot on or before each period's end.

    Holdings are month-end (or rarer) snapshots, so with weekly periods several weeks
    share one snapshot; monthly periods are the natural grain.
    """

    holdings: ir.Table
    products: ir.Table
    currency: str = REPORTING_CURRENCY
    weighting: Weighting = Weighting.AUM

    def by_period(self, engine: Engine, period: Period, offset_hours: float,
                  starts: Sequence[date], last_day: date) -> ir.Table:
        balances = self._balances_by_snapshot()
        snapshots = sorted(r["snapshot_date"] for r in collect(
            engine, balances.select("snapshot_date").distinct())
            if r["snapshot_date"] is not None)
        pairs = [(start, snap) for start in starts
                 if (snap := _latest_on_or_before(
                     snapshots, min(period_last_day(start, period), last_day))) is not None]
        mapping = ibis.memtable(pa.table(
            {"_period": pa.array([p for p, _ in pairs], pa.date32()),
             "_snapshot": pa.array([s for _, s in pairs], pa.date32())}))
        joined = balances.join(mapping, balances.snapshot_date == mapping._snapshot)
        return joined.select("customer_key", period_start=joined._period,
                             amount=joined.balance)

    def _balances_by_snapshot(self) -> ir.Table:
        h, p = self.holdings, self.products
        require_columns(h, ["customer_key", "product_id", "snapshot_date", "balance",
                            "currency"], "AUM-weighted retention")
        require_columns(p, ["product_id", "product_type"], "AUM-weighted retention")
        aum = p.filter(p.product_type.isin(AUM_PRODUCT_TYPES)).select(_pid=p.product_id)
        aum = aum.distinct()
        kept = h.filter(h.customer_key.notnull() & (h.currency == self.currency))
        kept = kept.join(aum, kept.product_id == aum._pid)
        return kept.group_by(["customer_key", "snapshot_date"]).aggregate(
            balance=kept.balance.sum())


def _latest_on_or_before(days: Sequence[date], limit: date) -> date | None:
    earlier = [d for d in days if d <= limit]
    return earlier[-1] if earlier else None


def amounts_of(data: AnalyticsData, weighting: Weighting) -> AmountSource:
    if weighting is Weighting.SPEND:
        return SpendAmounts(data.transactions())
    return AumAmounts(data.table("holdings"), data.table("products"))


# -- the query and its answer ------------------------------------------------------------

@dataclass(frozen=True)
class RetentionQuery:
    """What to measure; see the module docstring for the exact definitions."""

    start_event: str
    return_event: str
    period: Period = Period.WEEK
    periods: int = 12  # matrix columns including period 0 (PostHog's total intervals)
    mode: RetentionMode = RetentionMode.FIRST_TIME
    cumulative: bool = False
    breakdown: str | None = None
    since: date | None = None
    until: date | None = None

    def validate(self, weighted: bool) -> None:
        if not self.start_event or not self.return_event:
            raise AnalysisError("retention needs a start event and a return event")
        if self.periods < 1:
            raise AnalysisError(f"periods must be at least 1, got {self.periods}")
        if weighted and self.cumulative:
            raise AnalysisError("weighted retention is per period: leave out --cumulative "
                                "(an amount cannot be 'on or after')")
        check_range(self.since, self.until)


@dataclass(frozen=True)
class RetentionCell:
    """One cohort in one period after entry (period 0 is the entry period)."""

    period: int
    period_start: date
    customers: int
    rate: float
    complete: bool
    amount: float | None = None
    amount_rate: float | None = None


@dataclass(frozen=True)
class RetentionCohort:
    breakdown: str
    cohort_start: date
    size: int
    cells: tuple[RetentionCell, ...]
    base_amount: float | None = None


@dataclass(frozen=True)
class RetentionAverage:
    """Cohorts pooled per period, over complete cells only (sum of counts / sum of sizes)."""

    breakdown: str
    period: int
    cohorts: int
    customers: int
    cohort_customers: int
    rate: float
    amount: float | None = None
    base_amount: float | None = None
    amount_rate: float | None = None


@dataclass(frozen=True)
class RetentionResult:
    start_event: str
    return_event: str
    source: str
    mode: str
    period: str
    periods: int
    cumulative: bool
    weighted: str | None
    breakdown: str | None
    offset_hours: float
    first_day: date | None
    last_day: date | None
    cohorts: tuple[RetentionCohort, ...]
    average: tuple[RetentionAverage, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable({k: getattr(self, k) for k in (
            "start_event", "return_event", "source", "mode", "period", "periods",
            "cumulative", "weighted", "breakdown", "offset_hours", "first_day", "last_day")})
        out["cohorts"] = [jsonable(_fields(c, exclude="cells")) | {
            "cells": [jsonable(_fields(cell)) for cell in c.cells]} for c in self.cohorts]
        out["average"] = [jsonable(_fields(a)) for a in self.average]
        return out


def _fields(obj: Any, exclude: str = "") -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__ if k != exclude}


# -- the computation --------------------------------------------------------------------

def compute_retention(engine: Engine, activity: ir.Table, query: RetentionQuery, *,
                      offset_hours: float, source: ActivitySource = ActivitySource.EVENTS,
                      tags: ir.Table | None = None,
                      amounts: AmountSource | None = None) -> RetentionResult:
    """The cohorts × periods matrix over an activity table (see :func:`activity_from_events`)."""
    query.validate(weighted=amounts is not None)
    if query.breakdown is not None and tags is None:
        raise AnalysisError(f"a breakdown by {query.breakdown!r} needs the tag snapshot")
    act = localised(activity, query.period, offset_hours, query.until)
    seen = overview(engine, act, query.until, offset_hours)
    seen.require(query.start_event, "start event", source)
    seen.require(query.return_event, "return event", source)
    frame = _frame(query, seen)
    if frame is None:
        return _result(query, source, amounts, offset_hours, seen, [], [])
    first_cohort, end_period = frame
    entries = _entries(act, query, first_cohort, end_period, tags)
    counts = collect(engine, _count_rows(act, entries, query))
    amount_rows: list[dict[str, Any]] = []
    if amounts is not None:
        starts = period_range(first_cohort, end_period, query.period)
        money = amounts.by_period(engine, query.period, offset_hours, starts,
                                  _known(seen.last_day))
        amount_rows = collect(engine, _amount_rows(entries, money, query))
    money = _money_by_cohort(amount_rows) if amounts is not None else None
    cohorts = _assemble(query, seen, counts, money)
    return _result(query, source, amounts, offset_hours, seen, cohorts,
                   _averages(cohorts, money))


def analyze_retention(data: AnalyticsData, query: RetentionQuery,
                      source: ActivitySource = ActivitySource.EVENTS,
                      weighted: Weighting | None = None) -> RetentionResult:
    """Retention over the workspace's warehouse (breakdown from the latest tag snapshot)."""
    query.validate(weighted=weighted is not None)
    tags = data.tags(columns=[query.breakdown]) if query.breakdown else None
    amounts = amounts_of(data, weighted) if weighted is not None else None
    return compute_retention(data.engine, activity_of(data, source), query,
                             offset_hours=data.offset_hours, source=source, tags=tags,
                             amounts=amounts)


def _known(day: date | None) -> date:
    if day is None:  # callers check ActivityOverview.empty first
        raise AnalysisError("no activity in the data")
    return day


def _frame(query: RetentionQuery, seen: ActivityOverview) -> tuple[date, date] | None:
    """The first cohort period and the last observed period, or None when nothing to show."""
    first_start = seen.first_day_of.get(query.start_event)
    if seen.empty or first_start is None:
        return None
    end_period = period_of(_known(seen.last_day), query.period)
    first_cohort = period_of(query.since if query.since is not None else first_start,
                             query.period)
    return (first_cohort, end_period) if first_cohort <= end_period else None


def _entries(act: ir.Table, query: RetentionQuery, first_cohort: date, end_period: date,
             tags: ir.Table | None) -> ir.Table:
    """One row per cohort entry: ``customer_key``, ``cohort``, ``breakdown``."""
    starts = act.filter(act.activity_name == query.start_event)
    if query.mode is RetentionMode.FIRST_TIME:
        entries = starts.group_by("customer_key").aggregate(cohort=starts.period_start.min())
    else:
        entries = starts.select("customer_key", cohort=starts.period_start).distinct()
    entries = entries.filter((entries.cohort >= ibis.literal(first_cohort))
                             & (entries.cohort <= ibis.literal(end_period)))
    return with_breakdown(entries, tags, query.breakdown)


def _count_rows(act: ir.Table, entries: ir.Table, query: RetentionQuery) -> ir.Table:
    """(breakdown, cohort, k, customers): strict counts, or counts by last period returned."""
    returns = act.filter(act.activity_name == query.return_event)
    returns = returns.select(_rkey=returns.customer_key, _rperiod=returns.period_start)
    returns = returns.distinct()
    joined = entries.join(returns, [entries.customer_key == returns._rkey,
                                    returns._rperiod > entries.cohort])
    lag = periods_between(joined.cohort, joined._rperiod, query.period).cast("int64")
    later = joined.select("breakdown", "cohort", "customer_key", k=lag)
    later = later.filter(later.k < query.periods)
    # Period 0 is the entry itself (PostHog): every member is there.
    entry = entries.select("breakdown", "cohort", "customer_key",
                           k=ibis.literal(0, type="int64"))
    rows = entry.union(later, distinct=False)
    if query.cumulative:
        # "On or after": a member counts in every period up to the last one they returned
        # in, so the distribution of that last period is enough (summed up in Python).
        rows = rows.group_by(["breakdown", "cohort", "customer_key"]).aggregate(k=rows.k.max())
    return rows.group_by(["breakdown", "cohort", "k"]).aggregate(customers=rows.count())


def _amount_rows(entries: ir.Table, money: ir.Table, query: RetentionQuery) -> ir.Table:
    """(breakdown, cohort, k, amount): the members' amount in each period from entry."""
    m = money.select(_mkey=money.customer_key, _mperiod=money.period_start,
                     _amount=money.amount)
    joined = entries.join(m, [entries.customer_key == m._mkey, m._mperiod >= entries.cohort])
    lag = periods_between(joined.cohort, joined._mperiod, query.period).cast("int64")
    rows = joined.select("breakdown", "cohort", k=lag, amount=joined._amount)
    rows = rows.filter(rows.k < query.periods)
    return rows.group_by(["breakdown", "cohort", "k"]).aggregate(amount=rows.amount.sum())


Money = dict[tuple[str, date], dict[int, Decimal]]  # (breakdown, cohort) → k → amount


def _money_by_cohort(amount_rows: Iterable[dict[str, Any]]) -> Money:
    money: Money = defaultdict(dict)
    for row in amount_rows:
        money[(row["breakdown"], row["cohort"])][int(row["k"])] = _as_decimal(row["amount"])
    return money


def _amount(money: Money | None, group: str, cohort: date, k: int) -> Decimal | None:
    return None if money is None else money.get((group, cohort), {}).get(k, _ZERO)


def _assemble(query: RetentionQuery, seen: ActivityOverview, counts: Iterable[dict[str, Any]],
              money: Money | None) -> list[RetentionCohort]:
    by_cohort: dict[tuple[str, date], dict[int, int]] = defaultdict(dict)
    for row in counts:
        by_cohort[(row["breakdown"], row["cohort"])][int(row["k"])] = int(row["customers"])
    first_day, last_day = _known(seen.first_day), _known(seen.last_day)
    end_period = period_of(last_day, query.period)
    cohorts = []
    for (group, cohort), per_k in sorted(by_cohort.items()):
        retained = _retained(per_k, query)
        size = retained[0]
        base = _amount(money, group, cohort, 0)
        cells = []
        for k in range(query.periods):
            start = shift_period(cohort, query.period, k)
            if start > end_period:
                break
            amount = _amount(money, group, cohort, k)
            cells.append(RetentionCell(
                period=k, period_start=start, customers=retained.get(k, 0),
                rate=retained.get(k, 0) / size,
                complete=is_complete(start, query.period, first_day, last_day),
                amount=_float(amount), amount_rate=_ratio(amount, base)))
        cohorts.append(RetentionCohort(group, cohort, size, tuple(cells), _float(base)))
    return cohorts


def _retained(per_k: dict[int, int], query: RetentionQuery) -> dict[int, int]:
    if not query.cumulative:
        return per_k
    # per_k holds how many members last returned in period k: suffix sums.
    out: dict[int, int] = {}
    running = 0
    for k in range(query.periods - 1, -1, -1):
        running += per_k.get(k, 0)
        out[k] = running
    return out


def _averages(cohorts: Sequence[RetentionCohort], money: Money | None
              ) -> list[RetentionAverage]:
    pooled: dict[tuple[str, int], list[tuple[RetentionCohort, RetentionCell]]] = (
        defaultdict(list))
    for cohort in cohorts:
        for cell in cohort.cells:
            if cell.complete:
                pooled[(cohort.breakdown, cell.period)].append((cohort, cell))
    out = []
    for (group, k), members in sorted(pooled.items()):
        customers = sum(cell.customers for _, cell in members)
        sizes = sum(cohort.size for cohort, _ in members)
        amount = base = None
        if money is not None:
            # Sum the exact amounts again (cells keep only their float image).
            amount = sum((_amount(money, group, c.cohort_start, k) or _ZERO
                          for c, _ in members), _ZERO)
            base = sum((_amount(money, group, c.cohort_start, 0) or _ZERO
                        for c, _ in members), _ZERO)
        out.append(RetentionAverage(group, k, len(members), customers, sizes,
                                    customers / sizes, _float(amount), _float(base),
                                    _ratio(amount, base)))
    return out


def _ratio(amount: Decimal | None, base: Decimal | None) -> float | None:
    if amount is None or base is None or base <= 0:
        return None
    return float(amount / base)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _as_decimal(value: Any) -> Decimal:
    if value is None:
        return _ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _result(query: RetentionQuery, source: ActivitySource, amounts: AmountSource | None,
            offset_hours: float, seen: ActivityOverview, cohorts: Sequence[RetentionCohort],
            average: Sequence[RetentionAverage]) -> RetentionResult:
    return RetentionResult(
        start_event=query.start_event, return_event=query.return_event,
        source=source.value, mode=query.mode.value, period=query.period.value,
        periods=query.periods, cumulative=query.cumulative,
        weighted=amounts.weighting.value if amounts is not None else None,
        breakdown=query.breakdown, offset_hours=offset_hours, first_day=seen.first_day,
        last_day=seen.last_day, cohorts=tuple(cohorts), average=tuple(average))
