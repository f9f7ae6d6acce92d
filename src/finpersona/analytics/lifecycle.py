"""Lifecycle (new / returning / resurrecting / dormant) and stickiness, as PostHog shows them.

Definitions (docs/analytics.md, "Lifecycle and stickiness"). Activity is any event of a
known customer (or, with ``source=transactions``, any successful transaction; ``event``
narrows it to one event name or transaction type), in local time, up to ``until``.
A customer is *active* in a period when they have at least one activity in it.

For every period of the analysed range, each active customer is exactly one of:

* **new**: this is the first period the customer is active in, in all the data
  (PostHog uses the person's creation time; a bank's log starts with the first
  activity we have, so history before ``since`` counts);
* **returning**: active in this period and in the one before;
* **resurrecting**: active now, not in the period before, but in some earlier one.

**dormant** customers were active in the period before and are not active in this
one; they are reported as a negative number, as PostHog draws them.

**Stickiness**: for every week or month, the number of active customers who were
active on exactly 1, 2, … N distinct local days of it (N = 7 for a week, the month's
length for a month) and the mean number of active days.

A period is ``complete`` when the observed data (first to last day with activity, or
``until``) cover all of it; in the last, incomplete period dormant counts are too high
and active days too low, so charts should set it apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import (
    AnalysisError,
    Period,
    collect,
    jsonable,
    periods_between,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.retention import (
    ActivityOverview,
    ActivitySource,
    activity_of,
    check_range,
    is_complete,
    localised,
    overview,
    period_last_day,
    period_range,
    shift_period,
)
from finpersona.engine import Engine

NEW, RETURNING, RESURRECTING = "new", "returning", "resurrecting"


@dataclass(frozen=True)
class LifecycleQuery:
    period: Period = Period.WEEK
    event: str | None = None  # only this event name / transaction type counts as activity
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class LifecyclePeriod:
    period_start: date
    new: int
    returning: int
    resurrecting: int
    dormant: int  # zero or negative
    complete: bool

    @property
    def active(self) -> int:
        return self.new + self.returning + self.resurrecting


@dataclass(frozen=True)
class LifecycleResult:
    period: str
    source: str
    event: str | None
    offset_hours: float
    first_day: date | None
    last_day: date | None
    periods: tuple[LifecyclePeriod, ...]

    def to_dict(self) -> dict[str, Any]:
        head = _head(self)
        head["periods"] = [jsonable({
            "period_start": p.period_start, "new": p.new, "returning": p.returning,
            "resurrecting": p.resurrecting, "dormant": p.dormant, "active": p.active,
            "complete": p.complete}) for p in self.periods]
        return head


@dataclass(frozen=True)
class StickinessPeriod:
    period_start: date
    days_in_period: int
    customers: int
    distribution: tuple[int, ...]  # [n - 1] = customers active on exactly n days
    mean_active_days: float | None
    complete: bool


@dataclass(frozen=True)
class StickinessResult:
    period: str
    source: str
    event: str | None
    offset_hours: float
    first_day: date | None
    last_day: date | None
    periods: tuple[StickinessPeriod, ...]

    def to_dict(self) -> dict[str, Any]:
        head = _head(self)
        head["periods"] = [jsonable({
            "period_start": p.period_start, "days_in_period": p.days_in_period,
            "customers": p.customers, "distribution": list(p.distribution),
            "mean_active_days": p.mean_active_days, "complete": p.complete})
            for p in self.periods]
        return head


def _head(result: LifecycleResult | StickinessResult) -> dict[str, Any]:
    out: dict[str, Any] = jsonable({k: getattr(result, k) for k in (
        "period", "source", "event", "offset_hours", "first_day", "last_day")})
    return out


# -- shared preparation ------------------------------------------------------------------

@dataclass(frozen=True)
class _Prepared:
    act: ir.Table
    seen: ActivityOverview
    shown: list[date]  # the period starts reported


def _prepare(engine: Engine, activity: ir.Table, query: LifecycleQuery, offset_hours: float,
             source: ActivitySource) -> _Prepared:
    check_range(query.since, query.until)
    act = localised(activity, query.period, offset_hours, query.until)
    # The observed span is that of all activity: a quiet week for one event is data too.
    seen = overview(engine, act, query.until, offset_hours)
    if query.event is not None:
        seen.require(query.event, "event", source)
        act = act.filter(act.activity_name == query.event)
    if seen.empty or seen.first_day is None or seen.last_day is None:
        return _Prepared(act, seen, [])
    first = query.since if query.since is not None else seen.first_day
    return _Prepared(act, seen, period_range(first, seen.last_day, query.period))


# -- lifecycle ---------------------------------------------------------------------------

def compute_lifecycle(engine: Engine, activity: ir.Table, query: LifecycleQuery, *,
                      offset_hours: float, source: ActivitySource = ActivitySource.EVENTS
                      ) -> LifecycleResult:
    """New / returning / resurrecting / dormant customers per period."""
    prep = _prepare(engine, activity, query, offset_hours, source)
    statuses: dict[date, dict[str, int]] = defaultdict(dict)
    dormant: dict[date, int] = defaultdict(int)
    if prep.shown:
        for row in collect(engine, _status_rows(prep.act, query.period)):
            statuses[row["period_start"]][row["status"]] = int(row["customers"])
            # Leaving after this period makes the customer dormant in the next one.
            nxt = shift_period(row["period_start"], query.period, 1)
            dormant[nxt] -= int(row["leaving"])
    periods = []
    for start in prep.shown:
        counts = statuses.get(start, {})
        periods.append(LifecyclePeriod(
            period_start=start, new=counts.get(NEW, 0), returning=counts.get(RETURNING, 0),
            resurrecting=counts.get(RESURRECTING, 0), dormant=dormant.get(start, 0),
            complete=_complete(start, query.period, prep.seen)))
    return LifecycleResult(query.period.value, source.value, query.event, offset_hours,
                           prep.seen.first_day, prep.seen.last_day, tuple(periods))


def _status_rows(act: ir.Table, period: Period) -> ir.Table:
    """Per period and status: active customers, and how many of them leave after it."""
    active = act.select("customer_key", "period_start").distinct()
    w = ibis.window(group_by=active.customer_key, order_by=active.period_start)
    before = active.period_start.lag().over(w)
    after = active.period_start.lead().over(w)
    marked = active.mutate(_before=before, _after=after)
    status = ibis.cases(
        (marked._before.isnull(), NEW),
        (periods_between(marked._before, marked.period_start, period) == 1, RETURNING),
        else_=RESURRECTING)
    leaves = marked._after.isnull() | (
        periods_between(marked.period_start, marked._after, period) > 1)
    rows = marked.select("period_start", status=status,
                         leaving=leaves.ifelse(1, 0).cast("int64"))
    return rows.group_by(["period_start", "status"]).aggregate(
        customers=rows.count(), leaving=rows.leaving.sum())


def _complete(start: date, period: Period, seen: ActivityOverview) -> bool:
    if seen.first_day is None or seen.last_day is None:
        return False
    return is_complete(start, period, seen.first_day, seen.last_day)


def analyze_lifecycle(data: AnalyticsData, query: LifecycleQuery,
                      source: ActivitySource = ActivitySource.EVENTS) -> LifecycleResult:
    return compute_lifecycle(data.engine, activity_of(data, source), query,
                             offset_hours=data.offset_hours, source=source)


# -- stickiness --------------------------------------------------------------------------

def compute_stickiness(engine: Engine, activity: ir.Table, query: LifecycleQuery, *,
                       offset_hours: float, source: ActivitySource = ActivitySource.EVENTS
                       ) -> StickinessResult:
    """Per week or month: how many customers were active on 1, 2, … N of its days."""
    if query.period is Period.DAY:
        raise AnalysisError("stickiness counts active days in a week or a month: use "
                            "--period week or month")
    prep = _prepare(engine, activity, query, offset_hours, source)
    hist: dict[date, dict[int, int]] = defaultdict(dict)
    if prep.shown:
        days = prep.act.select("customer_key", "period_start", "day").distinct()
        per = days.group_by(["customer_key", "period_start"]).aggregate(
            active_days=days.count())
        counts = per.group_by(["period_start", "active_days"]).aggregate(
            customers=per.count())
        for row in collect(engine, counts):
            hist[row["period_start"]][int(row["active_days"])] = int(row["customers"])
    periods = []
    for start in prep.shown:
        length = (period_last_day(start, query.period) - start).days + 1
        by_days = hist.get(start, {})
        distribution = tuple(by_days.get(n, 0) for n in range(1, length + 1))
        customers = sum(distribution)
        total_days = sum(n * c for n, c in by_days.items())
        periods.append(StickinessPeriod(
            period_start=start, days_in_period=length, customers=customers,
            distribution=distribution,
            mean_active_days=total_days / customers if customers else None,
            complete=_complete(start, query.period, prep.seen)))
    return StickinessResult(query.period.value, source.value, query.event, offset_hours,
                            prep.seen.first_day, prep.seen.last_day, tuple(periods))


def analyze_stickiness(data: AnalyticsData, query: LifecycleQuery,
                       source: ActivitySource = ActivitySource.EVENTS) -> StickinessResult:
    return compute_stickiness(data.engine, activity_of(data, source), query,
                              offset_hours=data.offset_hours, source=source)


__all__ = ["LifecyclePeriod", "LifecycleQuery", "LifecycleResult", "StickinessPeriod",
           "StickinessResult", "analyze_lifecycle", "analyze_stickiness",
           "compute_lifecycle", "compute_stickiness"]
