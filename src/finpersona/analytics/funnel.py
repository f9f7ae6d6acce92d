"""Funnels: how many customers go through a sequence of steps within a conversion window.

Definitions (the analyst's version is in docs/analytics.md, "Funnels"):

* A **step** is an event name, optionally on one page: ``product_view`` or
  ``page_view@loan_center``. The **actor** is the customer (``customer_key``);
  events of visitors who never logged in (null key) are not counted.
* Time is whole seconds (sub-second parts are dropped). An actor's events are
  ordered by time; events in the same second are taken in funnel order (by the
  first step they match, then by event name and page), so ``a`` and ``b`` logged
  in the same second count for ``a → b`` as well as for ``b → a``.
* An **attempt** starts at any event matching step 1 (``unordered``: any step)
  whose local date lies in ``[since, until]``; later steps may happen after
  ``until`` as long as they are within the window.

  - ``ordered``: step k is the first event matching step k that comes after
    step k-1's event (other events may lie between);
  - ``strict``: step k must be the actor's very next event after step k-1's;
  - ``unordered``: the steps are done in any order; step j of an attempt that
    starts at second t0 is the first event matching it in ``[t0, t0 + window]``,
    and the attempt has completed as many steps as it found. Steps must be
    distinct and no event may match two of them.

  Every step must happen at most ``window`` after the attempt's first step
  (inclusive: exactly at the boundary still converts).
* Each actor counts once, with their **best attempt**: the one reaching the
  furthest step; among those, the earliest start (then the earliest event).
  Times to convert are that attempt's step times.
* **Exclusions** (``x`` or ``x:2-3``, steps 1-based; default: first to last):
  an actor whose best attempt has an exclusion event strictly between the times
  of step ``from`` and step ``min(to, furthest step reached)`` is dropped from the
  whole funnel, as PostHog drops them. An exclusion may not match a step of the
  funnel; unordered funnels take only whole-funnel exclusions (as PostHog). In
  strict funnels no event can lie between two steps, so exclusions never apply.

The work is linear in the number of steps: one window pass gives every event
the next candidate of each step after it, and each step then costs one join of
the attempts with those candidates (strict: one ``lead`` per step; unordered:
one range window per step). No pass enumerates combinations of steps.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import (
    DEFAULT_OFFSET_HOURS,
    AnalysisError,
    Period,
    collect,
    epoch_seconds,
    jsonable,
    local_time,
    parse_duration,
    period_start,
    require_columns,
    with_breakdown,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.engine import Engine

DEFAULT_WINDOW = "14d"
EVENT_COLUMNS = ("customer_key", "event_time", "event_name", "page")
# Upper bounds of the time-to-convert histogram (seconds): 1m, 5m, 15m, 1h, 4h, 1d,
# 3d, 7d, 14d, 30d, 90d; the last bin always ends at the conversion window.
HISTOGRAM_EDGES = (60, 300, 900, 3600, 14_400, 86_400, 259_200, 604_800, 1_209_600,
                   2_592_000, 7_776_000)
PERCENTILES = (10, 25, 75, 90)  # nearest rank: the value at rank ceil(p/100 * n)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PAGE = re.compile(r"^[^@:,\s]+$")  # no @, no range colon, no comma
_RANGE = re.compile(r"^(\d+)-(\d+)$")


class FunnelOrder(StrEnum):
    ORDERED = "ordered"
    STRICT = "strict"
    UNORDERED = "unordered"

    @classmethod
    def parse(cls, value: str | FunnelOrder) -> FunnelOrder:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown funnel order {value!r}: use ordered, strict or "
                                "unordered") from None


class Outcome(StrEnum):
    CONVERTED = "converted"  # reached the step
    DROPPED_OFF = "dropped_off"  # reached the step but not the next one


# -- the request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventCondition:
    """Events named ``event`` (and, when given, on ``page``)."""

    event: str
    page: str | None = None

    @classmethod
    def parse(cls, text: str) -> EventCondition:
        name, at, page = text.strip().partition("@")
        if not _NAME.match(name) or (at and not _PAGE.match(page)):
            raise AnalysisError(f"cannot read step {text!r}: write an event name, optionally "
                                "with @page, e.g. product_view or page_view@loan_center")
        return cls(name, page or None)

    @property
    def label(self) -> str:
        return self.event if self.page is None else f"{self.event}@{self.page}"

    def overlaps(self, other: EventCondition) -> bool:
        """True when one event could match both conditions."""
        return self.event == other.event and (
            self.page is None or other.page is None or self.page == other.page)

    def matches(self, events: ir.Table) -> ir.BooleanValue:
        test = events.event_name == self.event
        if self.page is not None:
            test = test & (events.page == self.page)
        return test.fill_null(False)


@dataclass(frozen=True)
class Exclusion:
    """Drop actors with ``condition`` between steps ``from_step`` and ``to_step`` (1-based)."""

    condition: EventCondition
    from_step: int
    to_step: int

    @classmethod
    def parse(cls, text: str, steps: int) -> Exclusion:
        body, _, span = text.strip().partition(":")
        condition = EventCondition.parse(body)
        if not span:
            return cls(condition, 1, steps)
        match = _RANGE.match(span.strip())
        if match is None:
            raise AnalysisError(f"cannot read exclusion {text!r}: write event[@page] or "
                                "event[@page]:FROM-TO with step numbers, e.g. logout:1-2")
        return cls(condition, int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        return f"{self.condition.label}:{self.from_step}-{self.to_step}"


@dataclass(frozen=True)
class FunnelSpec:
    """What to count: the steps, the window, the ordering mode and the exclusions."""

    steps: tuple[EventCondition, ...]
    window: timedelta = timedelta(days=14)
    order: FunnelOrder = FunnelOrder.ORDERED
    exclusions: tuple[Exclusion, ...] = ()

    def __post_init__(self) -> None:
        if len(self.steps) < 2:
            raise AnalysisError(f"a funnel needs at least 2 steps, got {len(self.steps)}")
        if self.window <= timedelta(0) or self.window % timedelta(seconds=1):
            raise AnalysisError(f"the conversion window must be a positive whole number of "
                                f"seconds, got {self.window}")
        for ex in self.exclusions:
            self._check_exclusion(ex)
        if self.order is FunnelOrder.UNORDERED:
            self._check_unordered()

    @classmethod
    def parse(cls, steps: str | Sequence[str], window: str | timedelta = DEFAULT_WINDOW,
              order: str | FunnelOrder = FunnelOrder.ORDERED,
              exclude: Sequence[str] = ()) -> FunnelSpec:
        """From command-line text: ``"a,b@page,c"``, ``"14d"``, ``"strict"``, ``["x:1-2"]``."""
        texts = steps.split(",") if isinstance(steps, str) else list(steps)
        texts = [t for t in (x.strip() for x in texts) if t]
        conditions = tuple(EventCondition.parse(t) for t in texts)
        exclusions = tuple(Exclusion.parse(t, len(conditions)) for t in exclude)
        return cls(conditions, parse_duration(window), FunnelOrder.parse(order), exclusions)

    @property
    def window_seconds(self) -> int:
        return int(self.window.total_seconds())

    @property
    def step_names(self) -> list[str]:
        if self.order is FunnelOrder.UNORDERED:
            n = len(self.steps)
            return [f"completed {k} of {n}" for k in range(1, n + 1)]
        return [s.label for s in self.steps]

    def conditions(self) -> list[EventCondition]:
        return [*self.steps, *(ex.condition for ex in self.exclusions)]

    def _check_exclusion(self, ex: Exclusion) -> None:
        n = len(self.steps)
        if not 1 <= ex.from_step < ex.to_step <= n:
            raise AnalysisError(f"exclusion {ex.label}: the steps must satisfy "
                                f"1 <= from < to <= {n}")
        clash = [s.label for s in self.steps if s.overlaps(ex.condition)]
        if clash:
            raise AnalysisError(f"exclusion {ex.condition.label} matches the funnel step "
                                f"{clash[0]}; an exclusion must be another event")
        if self.order is FunnelOrder.UNORDERED and (ex.from_step, ex.to_step) != (1, n):
            raise AnalysisError(f"exclusion {ex.label}: unordered funnels have no step order, "
                                "so an exclusion covers the whole funnel (leave out :FROM-TO)")

    def _check_unordered(self) -> None:
        for i, a in enumerate(self.steps):
            for b in self.steps[i + 1:]:
                if a.overlaps(b):
                    raise AnalysisError(
                        f"an unordered funnel needs distinct steps that no event matches "
                        f"twice; {a.label} and {b.label} overlap")


# -- the answer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistogramBin:
    from_seconds: int
    to_seconds: int  # exclusive, except the last bin, which includes the window itself
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"from_seconds": self.from_seconds, "to_seconds": self.to_seconds,
                "count": self.count}


@dataclass(frozen=True)
class TimeToConvert:
    """Seconds between two steps of the actors' best attempts."""

    count: int
    mean_seconds: float | None
    median_seconds: float | None  # the mean of the two middle values when count is even
    min_seconds: int | None
    max_seconds: int | None
    percentiles: Mapping[int, int]  # nearest rank: p -> value at rank ceil(p/100 * count)
    histogram: tuple[HistogramBin, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean_seconds": self.mean_seconds,
                "median_seconds": self.median_seconds, "min_seconds": self.min_seconds,
                "max_seconds": self.max_seconds,
                "percentiles": {f"p{p}": v for p, v in sorted(self.percentiles.items())},
                "histogram": [b.to_dict() for b in self.histogram]}


@dataclass(frozen=True)
class FunnelStep:
    step: int  # 1-based
    name: str
    count: int  # actors whose best attempt reached this step
    dropped_off: int  # ... but not the next one (0 at the last step)
    conversion_from_first: float | None
    conversion_from_previous: float | None
    time_to_convert: TimeToConvert | None  # from the previous step; None at step 1
    time_from_first: TimeToConvert | None  # from step 1; None at step 1

    @property
    def median_seconds_to_convert(self) -> float | None:
        return None if self.time_to_convert is None else self.time_to_convert.median_seconds

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "count": self.count,
                "dropped_off": self.dropped_off,
                "conversion_from_first": self.conversion_from_first,
                "conversion_from_previous": self.conversion_from_previous,
                "median_seconds_to_convert": self.median_seconds_to_convert,
                "median_seconds_from_first": (None if self.time_from_first is None
                                              else self.time_from_first.median_seconds),
                "time_to_convert": _maybe_dict(self.time_to_convert),
                "time_from_first": _maybe_dict(self.time_from_first)}


@dataclass(frozen=True)
class FunnelGroup:
    """The funnel of one value of the breakdown tag."""

    value: str
    steps: tuple[FunnelStep, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class FunnelPeriod:
    """Attempts that started in one period: each actor once, with their best such attempt."""

    period_start: date
    entrants: int
    converted: int  # reached the last step
    conversion: float | None
    complete: bool  # every entrant of the period had the whole window inside the data
    step_counts: tuple[int, ...] = ()  # entrants reaching each step

    def to_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "entrants": self.entrants,
                "converted": self.converted, "conversion": self.conversion,
                "complete": self.complete, "step_counts": list(self.step_counts)}


@dataclass(frozen=True)
class Funnel:
    spec: FunnelSpec
    steps: tuple[FunnelStep, ...]
    excluded_actors: int  # dropped by an exclusion event
    since: date | None = None
    until: date | None = None
    offset_hours: float = DEFAULT_OFFSET_HOURS
    breakdown: str | None = None
    groups: tuple[FunnelGroup, ...] = ()
    period: Period | None = None
    over_time: tuple[FunnelPeriod, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec
        data: dict[str, Any] = jsonable({
            "order": spec.order.value, "window_seconds": spec.window_seconds,
            "step_definitions": [s.label for s in spec.steps],
            "exclusions": [{"event": e.condition.event, "page": e.condition.page,
                            "from_step": e.from_step, "to_step": e.to_step}
                           for e in spec.exclusions],
            "since": self.since, "until": self.until, "offset_hours": self.offset_hours,
            "excluded_actors": self.excluded_actors,
            "steps": [s.to_dict() for s in self.steps],
            "breakdown": None if self.breakdown is None else {
                "tag": self.breakdown, "groups": [g.to_dict() for g in self.groups]},
            "over_time": None if self.period is None else {
                "period": self.period.value, "rows": [p.to_dict() for p in self.over_time]},
        })
        return data


def _maybe_dict(value: TimeToConvert | None) -> dict[str, Any] | None:
    return None if value is None else value.to_dict()


# -- preparing the events ---------------------------------------------------------------------


def _epoch_day(day: date) -> int:
    return calendar.timegm(datetime.combine(day, time()).timetuple())


def _prepared(events: ir.Table, spec: FunnelSpec, since: date | None, until: date | None,
              offset_hours: float) -> ir.Table:
    """The actors' events in funnel order, with one match flag per step and exclusion.

    Columns: ``customer_key``, ``_ts`` (UTC epoch seconds), ``_day`` (local date),
    ``_seq`` (0-based position in the actor's order), ``_start_ok`` (may start an
    attempt), ``_m{k}`` (matches step k, 0-based) and ``_x{e}`` (matches exclusion e).
    """
    require_columns(events, EVENT_COLUMNS, "a funnel")
    t = events.filter(events.customer_key.notnull(), events.event_time.notnull())
    offset = round(offset_hours * 3600)
    t = t.mutate(_ts=epoch_seconds(t.event_time.truncate("s")),
                 _day=local_time(t.event_time, offset_hours).date())
    local_ts = t._ts + offset
    if since is not None:
        t = t.filter(local_ts >= _epoch_day(since))
    start_ok: ir.BooleanValue = ibis.literal(True)
    if until is not None:
        # Later steps of the last entrants may fall after ``until``, up to the window.
        end = _epoch_day(until + timedelta(days=1))
        t = t.filter(local_ts < end + spec.window_seconds)
        start_ok = local_ts < end
    flags = {f"_m{k}": c.matches(t) for k, c in enumerate(spec.steps)}
    flags |= {f"_x{e}": ex.condition.matches(t) for e, ex in enumerate(spec.exclusions)}
    t = t.mutate(_start_ok=start_ok, **flags)
    if spec.order is not FunnelOrder.STRICT:  # only strict funnels look at other events
        t = t.filter(ibis.or_(*(t[name] for name in flags)))
    n = len(spec.steps)
    first_step = ibis.cases(*((t[f"_m{k}"], k) for k in range(n)), else_=n)
    order = ibis.window(group_by=t.customer_key,
                        order_by=[t._ts, first_step, t.event_name.fill_null(""),
                                  t.page.fill_null("")])
    return t.select("customer_key", "_ts", "_day", "_start_ok", *flags,
                    _seq=ibis.row_number().over(order))


# -- attempts: one row per possible start -----------------------------------------------------
# Columns: customer_key, _s0 (start's _seq), _t0 (start second), _day, _reach (steps
# completed), _excluded, and _t{k} per step (ordered/strict: step k's second, null when
# not reached) or _f{k} (unordered: first second of step k in the window).


def _first_after(flag: ir.BooleanValue, value: ir.Value, window: Any) -> ir.Value:
    return ibis.cases((flag, value)).min().over(window)


def _candidates(p: ir.Table, spec: FunnelSpec, k: int) -> ir.Table:
    """For each step k-1 event: the next step-k event after it (``_jn`` its position,
    ``_jt`` its second) and, for exclusions starting at step k-1, the first second of
    the exclusion strictly after its own second (``_nx{e}``).

    Only the events of steps k-1 and k (and those exclusions) take part, so the
    passes over all steps together read each event about twice, whatever the number
    of steps.
    """
    excl = [e for e, ex in enumerate(spec.exclusions) if ex.from_step == k]
    mine = p.filter(ibis.or_(p[f"_m{k - 1}"], p[f"_m{k}"], *(p[f"_x{e}"] for e in excl)))
    following = ibis.window(group_by=mine.customer_key, order_by=mine._seq, rows=(1, None))
    later = ibis.window(group_by=mine.customer_key, order_by=mine._ts, range=(1, None))
    found = mine.mutate(_jn=_first_after(mine[f"_m{k}"], mine._seq, following),
                        _jt=_first_after(mine[f"_m{k}"], mine._ts, following),
                        **{f"_nx{e}": _first_after(mine[f"_x{e}"], mine._ts, later)
                           for e in excl})
    found = found.filter(found[f"_m{k - 1}"])
    return found.select("_jn", "_jt", *(f"_nx{e}" for e in excl), _jk=found.customer_key,
                        _js=found._seq)


def _ordered_attempts(p: ir.Table, spec: FunnelSpec) -> ir.Table:
    n, w = len(spec.steps), spec.window_seconds
    attempts = p.filter(p._m0 & p._start_ok).select("customer_key", "_day", _s0=p._seq,
                                                      _t0=p._ts)
    for k in range(1, n):
        # Follow each attempt from its step k-1 event to the next step-k event after it.
        step = _candidates(p, spec, k)
        joined = attempts.left_join(step, [attempts.customer_key == step._jk,
                                           attempts[f"_s{k - 1}"] == step._js])
        within = (joined._jt <= joined._t0 + w).fill_null(False)
        attempts = joined.mutate(**{f"_s{k}": ibis.cases((within, joined._jn)),
                                    f"_t{k}": ibis.cases((within, joined._jt))}
                                 ).drop("_jk", "_js", "_jn", "_jt")
    attempts = attempts.mutate(_reach=_reached(attempts, n))
    excluded = [_excluded_between(attempts, ex, e) for e, ex in enumerate(spec.exclusions)]
    return attempts.mutate(_excluded=ibis.or_(ibis.literal(False), *excluded))


def _reached(attempts: ir.Table, n: int) -> ir.IntegerValue:
    return sum((attempts[f"_t{k}"].notnull().cast("int64") for k in range(1, n)),
               ibis.literal(1, "int64"))


def _excluded_between(attempts: ir.Table, ex: Exclusion, e: int) -> ir.BooleanValue:
    """An exclusion event after step ``from`` and before step ``min(to, reached)``."""
    first, last = ex.from_step - 1, ex.to_step - 1
    # Steps are reached as a prefix, so the first non-null going down is the end step.
    end = ibis.coalesce(*(attempts[f"_t{k}"] for k in range(last, first, -1)))
    return (attempts[f"_nx{e}"] < end).fill_null(False)


def _strict_attempts(p: ir.Table, spec: FunnelSpec) -> ir.Table:
    n, w = len(spec.steps), spec.window_seconds
    order = ibis.window(group_by=p.customer_key, order_by=p._seq)
    ahead = {f"_lm{j}": p[f"_m{j}"].lead(j).over(order) for j in range(1, n)}
    ahead |= {f"_lt{j}": p._ts.lead(j).over(order) for j in range(1, n)}
    a = p.mutate(**ahead)
    a = a.filter(a._m0 & a._start_ok)
    # The first j whose event is not step j (or is outside the window) ends the attempt.
    breaks = [ibis.cases((a[f"_lm{j}"].fill_null(False) & (a[f"_lt{j}"] <= a._ts + w), n),
                         else_=j) for j in range(1, n)]
    reach = ibis.least(*breaks) if len(breaks) > 1 else breaks[0]
    a = a.mutate(_reach=reach.cast("int64"))
    times = {f"_t{j}": ibis.cases((a._reach > j, a[f"_lt{j}"])) for j in range(1, n)}
    # No event lies between two consecutive steps of a strict attempt: nothing to exclude.
    return a.select("customer_key", "_day", "_reach", _s0=a._seq, _t0=a._ts, **times,
                    _excluded=ibis.literal(False))


def _unordered_attempts(p: ir.Table, spec: FunnelSpec) -> ir.Table:
    n, w = len(spec.steps), spec.window_seconds
    ahead = ibis.window(group_by=p.customer_key, order_by=p._ts, range=(0, w))
    later = ibis.window(group_by=p.customer_key, order_by=p._ts, range=(1, None))
    firsts = {f"_f{k}": _first_after(p[f"_m{k}"], p._ts, ahead) for k in range(n)}
    nexts = {f"_nx{e}": _first_after(p[f"_x{e}"], p._ts, later)
             for e in range(len(spec.exclusions))}
    a = p.mutate(**firsts, **nexts)
    a = a.filter(ibis.or_(*(a[f"_m{k}"] for k in range(n))) & a._start_ok)
    reach = sum((a[f"_f{k}"].notnull().cast("int64") for k in range(n)),
                ibis.literal(0, "int64"))
    last = ibis.greatest(*(a[f"_f{k}"].fill_null(0) for k in range(n)))
    excluded = [(a[f"_nx{e}"] < last).fill_null(False) for e in range(len(spec.exclusions))]
    return a.select("customer_key", "_day", *firsts, _s0=a._seq, _t0=a._ts, _reach=reach,
                    _excluded=ibis.or_(ibis.literal(False), *excluded))


def funnel_attempts(events: ir.Table, spec: FunnelSpec, since: date | None = None,
                    until: date | None = None,
                    offset_hours: float = DEFAULT_OFFSET_HOURS) -> ir.Table:
    """Every attempt (a possible start) with how far it got: the building block."""
    p = _prepared(events, spec, since, until, offset_hours)
    if spec.order is FunnelOrder.STRICT:
        return _strict_attempts(p, spec)
    if spec.order is FunnelOrder.UNORDERED:
        return _unordered_attempts(p, spec)
    return _ordered_attempts(p, spec)


def _best(attempts: ir.Table, *keys: str) -> ir.Table:
    """Each unit's best attempt: furthest step, then earliest start, then earliest event."""
    w = ibis.window(group_by=[attempts[k] for k in keys],
                    order_by=[attempts._reach.desc(), attempts._t0, attempts._s0])
    ranked = attempts.mutate(_rank=ibis.row_number().over(w))
    return ranked.filter(ranked._rank == 0).drop("_rank")


# -- lazy answers -----------------------------------------------------------------------------


def funnel_actors(events: ir.Table, spec: FunnelSpec, since: date | None = None,
                  until: date | None = None,
                  offset_hours: float = DEFAULT_OFFSET_HOURS) -> ir.Table:
    """One row per actor who entered: ``customer_key``, ``steps_reached``, ``excluded``,
    ``entered_on`` (local date) and ``step_{k}_at`` (UTC epoch seconds, 1-based k; for
    unordered funnels the k-th step completed)."""
    best = _best(funnel_attempts(events, spec, since, until, offset_hours), "customer_key")
    n = len(spec.steps)
    columns = {"customer_key": best.customer_key, "steps_reached": best._reach,
               "excluded": best._excluded, "entered_on": best._day}
    if spec.order is not FunnelOrder.UNORDERED:
        return best.select(**columns, **{f"step_{k + 1}_at": best[f"_t{k}"]
                                         for k in range(n)})
    actors = best.select(**columns)
    long = _long_step_times(best.mutate(breakdown=ibis.literal("all"),
                                        _scope=ibis.literal("total")), spec)
    times = long.group_by(_key=long.customer_key).aggregate(
        **{f"step_{k + 1}_at": long._t.max(where=long._level == k) for k in range(n)})
    joined = actors.inner_join(times, actors.customer_key == times._key)
    return joined.drop("_key")


def funnel_step_counts(events: ir.Table, spec: FunnelSpec, since: date | None = None,
                       until: date | None = None,
                       offset_hours: float = DEFAULT_OFFSET_HOURS) -> ir.Table:
    """``step`` (1-based) and ``count``: actors reaching each step (after exclusions)."""
    actors = funnel_actors(events, spec, since, until, offset_hours)
    actors = actors.filter(~actors.excluded)
    n = len(spec.steps)
    return actors.aggregate(**{f"step_{k}": (actors.steps_reached >= k).cast("int64").sum()
                               .fill_null(0) for k in range(1, n + 1)})


def funnel_customers(events: ir.Table, spec: FunnelSpec, step: int,
                     outcome: str | Outcome = Outcome.CONVERTED, *, since: date | None = None,
                     until: date | None = None, offset_hours: float = DEFAULT_OFFSET_HOURS,
                     tags: ir.Table | None = None, breakdown: str | None = None,
                     breakdown_value: str | None = None) -> ir.Table:
    """The ``customer_key`` of actors who reached ``step`` (1-based), or who reached it
    and dropped off before the next; optionally only one breakdown group."""
    try:
        wanted = Outcome(str(outcome))
    except ValueError:
        raise AnalysisError(f"unknown outcome {outcome!r}: use converted or "
                            "dropped_off") from None
    n = len(spec.steps)
    if not 1 <= step <= n:
        raise AnalysisError(f"step must be between 1 and {n}, got {step}")
    if wanted is Outcome.DROPPED_OFF and step == n:
        raise AnalysisError(f"nobody drops off after the last step ({n}); choose 1 to {n - 1}")
    actors = funnel_actors(events, spec, since, until, offset_hours)
    actors = actors.filter(~actors.excluded)
    hit = (actors.steps_reached >= step if wanted is Outcome.CONVERTED
           else actors.steps_reached == step)
    chosen = actors.filter(hit)
    if breakdown is not None or breakdown_value is not None:
        chosen = with_breakdown(chosen, tags, breakdown)
        if breakdown_value is not None:
            chosen = chosen.filter(chosen.breakdown == breakdown_value)
    return chosen.select("customer_key")


# -- statistics in the engine -----------------------------------------------------------------


def histogram_edges(window_seconds: int) -> list[int]:
    """Bin boundaries 0 < ... < window: the fixed edges below the window, then the window."""
    return [0, *(e for e in HISTOGRAM_EDGES if e < window_seconds), window_seconds]


def _long_step_times(best: ir.Table, spec: FunnelSpec) -> ir.Table:
    """One row per (unit, step reached): ``_level`` (0-based) and the second ``_t`` it was
    reached, with ``_tprev`` (previous step) and ``_tfirst`` (step 1).

    ``best`` has one row per unit with ``customer_key``, ``breakdown`` and ``_scope``.
    Unordered funnels number the steps in the order they were completed.
    """
    n = len(spec.steps)
    keep = ("customer_key", "breakdown", "_scope")
    if spec.order is not FunnelOrder.UNORDERED:
        times = [best._t0, *(best[f"_t{k}"] for k in range(1, n))]
        return ibis.union(*(best.filter(times[k].notnull()).select(
            *keep, _level=ibis.literal(k, "int64"), _t=times[k],
            _tprev=times[k - 1] if k else ibis.null("int64"), _tfirst=best._t0)
            for k in range(n)))
    found = ibis.union(*(best.filter(best[f"_f{k}"].notnull()).select(
        *keep, _step=ibis.literal(k, "int64"), _t=best[f"_f{k}"], _tfirst=best._t0)
        for k in range(n)))
    order = ibis.window(group_by=[found.customer_key, found._scope, found.breakdown],
                        order_by=[found._t, found._step])
    return found.select(*keep, "_t", "_tfirst", _level=ibis.row_number().over(order),
                        _tprev=found._t.lag().over(order))


def _order_stat_aggregates(t: ir.Table, value: str, prefix: str,
                           edges: list[int]) -> dict[str, ir.Value]:
    """Aggregates of ``value`` per group given its 0-based rank ``_rn_<value>`` and ``_n``."""
    v, rn, n = t[value], t[f"_rn_{value}"], t._n
    out: dict[str, ir.Value] = {
        f"{prefix}_sum": v.sum(), f"{prefix}_min": v.min(), f"{prefix}_max": v.max(),
        # Median: the 0-based ranks floor((n-1)/2) and floor(n/2).
        f"{prefix}_lo": v.max(where=(2 * rn <= n - 1) & (n - 1 < 2 * rn + 2)),
        f"{prefix}_hi": v.max(where=(2 * rn <= n) & (n < 2 * rn + 2)),
    }
    for p in PERCENTILES:  # 1-based rank r = ceil(p n / 100): r*100 >= p n > (r-1)*100
        out[f"{prefix}_p{p}"] = v.max(where=((rn + 1) * 100 >= p * n) & (rn * 100 < p * n))
    for i, lower in enumerate(edges[1:-1], start=1):
        out[f"{prefix}_ge{i}"] = (v >= lower).cast("int64").sum()
    return out


def _step_stats(units: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Per (scope, breakdown, level): actors and time-to-convert statistics."""
    times = _long_step_times(units, spec)
    long = times.mutate(_dprev=times._t - times._tprev, _dfirst=times._t - times._tfirst)
    group = [long._scope, long.breakdown, long._level]
    ranked = long.mutate(
        _n=long.count().over(ibis.window(group_by=group)),
        _rn__dprev=ibis.row_number().over(ibis.window(group_by=group, order_by=long._dprev)),
        _rn__dfirst=ibis.row_number().over(ibis.window(group_by=group, order_by=long._dfirst)))
    edges = histogram_edges(spec.window_seconds)
    return ranked.group_by("_scope", "breakdown", "_level").aggregate(
        count=ranked.count(), **_order_stat_aggregates(ranked, "_dprev", "prev", edges),
        **_order_stat_aggregates(ranked, "_dfirst", "first", edges))


# -- running it -------------------------------------------------------------------------------


def event_pages(engine: Engine, events: ir.Table) -> dict[str, set[str | None]]:
    """Each event name in ``events`` with the pages it occurs on (one small query)."""
    require_columns(events, EVENT_COLUMNS, "a funnel")
    pages: dict[str, set[str | None]] = {}
    for row in collect(engine, events.select("event_name", "page").distinct()):
        if row["event_name"] is not None:
            pages.setdefault(row["event_name"], set()).add(row["page"])
    return pages


def check_spec_events(spec: FunnelSpec, pages: Mapping[str, set[str | None]]) -> None:
    """Raise AnalysisError for a step or exclusion whose event (or page) never occurs."""
    for c in spec.conditions():
        if c.event not in pages:
            close = difflib.get_close_matches(c.event, list(pages), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise AnalysisError(f"unknown event {c.event!r}: no such event in the data{hint}")
        if c.page is not None and c.page not in pages[c.event]:
            seen = ", ".join(sorted(p for p in pages[c.event] if p is not None)) or "none"
            raise AnalysisError(f"no {c.event} event on page {c.page!r}; pages seen: {seen}")


def check_events(engine: Engine, events: ir.Table, spec: FunnelSpec) -> None:
    """Raise AnalysisError for a step or exclusion whose event (or page) never occurs."""
    check_spec_events(spec, event_pages(engine, events))


def compute_funnel(engine: Engine, events: ir.Table, spec: FunnelSpec, *,
                   since: date | None = None, until: date | None = None,
                   offset_hours: float = DEFAULT_OFFSET_HOURS, tags: ir.Table | None = None,
                   breakdown: str | None = None, period: str | Period | None = None,
                   validate: bool = True) -> Funnel:
    """The funnel over ``events`` (warehouse columns), on ``engine``.

    ``tags`` (a tag snapshot) and ``breakdown`` split the result by a tag's value;
    ``period`` adds conversion over time by the period of each attempt's start;
    ``validate`` checks first that every named event occurs in ``events``.
    """
    if since is not None and until is not None and since > until:
        raise AnalysisError(f"--since {since} is after --until {until}")
    chosen_period = None if period is None else Period.parse(period)
    if breakdown is not None and (tags is None or breakdown not in tags.columns):
        raise AnalysisError(f"unknown breakdown tag {breakdown!r}")
    if validate:
        check_events(engine, events, spec)
    attempts = funnel_attempts(events, spec, since, until, offset_hours)
    stats = _step_stats(_scoped(attempts, tags, breakdown, chosen_period), spec)
    if chosen_period is not None:
        stats = stats.mutate(_end=_data_end(events, spec, until, offset_hours))
    rows = collect(engine, stats)  # everything in one query
    excluded = next((int(r["count"]) for r in rows
                     if r["_scope"] == "excluded" and r["_level"] == 0), 0)
    total = [r for r in rows if r["_scope"] == "total"]
    groups = _groups([r for r in rows if r["_scope"] == "group"], spec)
    over_time: tuple[FunnelPeriod, ...] = ()
    if chosen_period is not None:
        over_time = _periods([r for r in rows if r["_scope"] == "period"], spec,
                             chosen_period)
    return Funnel(spec, _steps_from_rows(total, spec), excluded, since, until,
                  offset_hours, breakdown, groups, chosen_period, over_time)


def _scoped(attempts: ir.Table, tags: ir.Table | None, breakdown: str | None,
            period: Period | None) -> ir.Table:
    """The units' best attempts, once per scope: ``total`` (counted actors), ``excluded``
    (actors dropped by an exclusion), ``group`` (counted actors by breakdown value; only
    with a breakdown) and ``period`` (actor and period of the start, the period's first
    day in ``breakdown``; only with a period)."""
    best = _best(attempts, "customer_key")
    counted = best.filter(~best._excluded)
    parts = [counted.mutate(breakdown=ibis.literal("all"), _scope=ibis.literal("total")),
             best.filter(best._excluded).mutate(breakdown=ibis.literal("all"),
                                                _scope=ibis.literal("excluded"))]
    if breakdown is not None:
        grouped = with_breakdown(counted, tags, breakdown)
        parts.append(grouped.mutate(_scope=ibis.literal("group")))
    if period is not None:
        units = attempts.mutate(_period=period_start(attempts._day, period))
        per_period = _best(units, "customer_key", "_period")
        per_period = per_period.filter(~per_period._excluded)
        # Formatted, not cast: the week's start is a timestamp in DuckDB (date - interval).
        day = per_period._period.strftime("%Y-%m-%d")
        parts.append(per_period.mutate(breakdown=day,
                                       _scope=ibis.literal("period")).drop("_period"))
    return ibis.union(*parts)


def _data_end(events: ir.Table, spec: FunnelSpec, until: date | None,
              offset_hours: float) -> ir.IntegerValue:
    """The last local second (epoch) the analysed events cover, as a scalar subquery."""
    last = epoch_seconds(events.event_time.max().truncate("s")) + round(offset_hours * 3600)
    if until is None:
        return last.as_scalar()
    bound = _epoch_day(until + timedelta(days=1)) + spec.window_seconds - 1
    return ibis.least(last, bound).as_scalar()


def analyze_funnel(data: AnalyticsData, spec: FunnelSpec, *, since: date | None = None,
                   until: date | None = None, breakdown: str | None = None,
                   period: str | Period | None = None) -> Funnel:
    """The funnel over a workspace's identity-resolved events, in its time zone."""
    tags = data.tags(columns=[breakdown]) if breakdown is not None else None
    return compute_funnel(data.engine, data.events(), spec, since=since, until=until,
                          offset_hours=data.offset_hours, tags=tags, breakdown=breakdown,
                          period=period)


# -- from rows to dataclasses -----------------------------------------------------------------


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _time_stats(row: Mapping[str, Any] | None, prefix: str, edges: list[int]) -> TimeToConvert:
    count = int(row["count"]) if row else 0
    if not count or row is None:
        bins = tuple(HistogramBin(lo, hi, 0) for lo, hi in pairwise(edges))
        return TimeToConvert(0, None, None, None, None, {}, bins)
    at_least = [count, *(int(row[f"{prefix}_ge{i}"]) for i in range(1, len(edges) - 1)), 0]
    bins = tuple(HistogramBin(edges[i], edges[i + 1], at_least[i] - at_least[i + 1])
                 for i in range(len(edges) - 1))
    return TimeToConvert(
        count=count, mean_seconds=int(row[f"{prefix}_sum"]) / count,
        median_seconds=(int(row[f"{prefix}_lo"]) + int(row[f"{prefix}_hi"])) / 2,
        min_seconds=int(row[f"{prefix}_min"]), max_seconds=int(row[f"{prefix}_max"]),
        percentiles={p: int(row[f"{prefix}_p{p}"]) for p in PERCENTILES}, histogram=bins)


def _steps_from_rows(rows: Sequence[Mapping[str, Any]], spec: FunnelSpec
                     ) -> tuple[FunnelStep, ...]:
    by_level = {int(r["_level"]): r for r in rows}
    counts = [int(by_level[k]["count"]) if k in by_level else 0
              for k in range(len(spec.steps))]
    edges = histogram_edges(spec.window_seconds)
    steps = []
    for k, name in enumerate(spec.step_names):
        row = by_level.get(k)
        steps.append(FunnelStep(
            step=k + 1, name=name, count=counts[k],
            dropped_off=counts[k] - (counts[k + 1] if k + 1 < len(counts) else 0),
            conversion_from_first=_ratio(counts[k], counts[0]),
            conversion_from_previous=_ratio(counts[k], counts[k - 1] if k else counts[0]),
            time_to_convert=_time_stats(row, "prev", edges) if k else None,
            time_from_first=_time_stats(row, "first", edges) if k else None))
    return tuple(steps)


def _groups(rows: Sequence[Mapping[str, Any]], spec: FunnelSpec) -> tuple[FunnelGroup, ...]:
    values: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        values.setdefault(str(r["breakdown"]), []).append(r)
    groups = [FunnelGroup(v, _steps_from_rows(rs, spec)) for v, rs in values.items()]
    return tuple(sorted(groups, key=lambda g: (-g.steps[0].count, g.value)))


def _periods(rows: Sequence[Mapping[str, Any]], spec: FunnelSpec,
             period: Period) -> tuple[FunnelPeriod, ...]:
    """Every period from the first to the last with entrants (empty ones as zeros)."""
    if not rows:
        return ()
    data_end = int(rows[0]["_end"])
    n = len(spec.steps)
    counts: dict[date, list[int]] = {}
    for r in rows:
        start = date.fromisoformat(str(r["breakdown"]))
        counts.setdefault(start, [0] * n)[int(r["_level"])] = int(r["count"])
    out = []
    for start in _period_range(min(counts), max(counts), period):
        steps = counts.get(start, [0] * n)
        # Complete when even an entrant at the period's last second had the whole window.
        last_entry = _epoch_day(_next_period(start, period)) - 1
        out.append(FunnelPeriod(start, steps[0], steps[-1], _ratio(steps[-1], steps[0]),
                                last_entry + spec.window_seconds <= data_end, tuple(steps)))
    return tuple(out)


def _next_period(start: date, period: Period) -> date:
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def _period_range(first: date, last: date, period: Period) -> list[date]:
    out, current = [], first
    while current <= last:
        out.append(current)
        current = _next_period(current, period)
    return out


__all__ = [
    "DEFAULT_WINDOW", "EventCondition", "Exclusion", "Funnel", "FunnelGroup", "FunnelOrder",
    "FunnelPeriod", "FunnelSpec", "FunnelStep", "HistogramBin", "Outcome", "TimeToConvert",
    "analyze_funnel", "check_events", "check_spec_events", "compute_funnel", "event_pages",
    "funnel_actors", "funnel_attempts", "funnel_customers", "funnel_step_counts",
    "histogram_edges",
]
