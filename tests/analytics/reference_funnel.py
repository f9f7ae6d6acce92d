"""Funnels by brute force: plain Python over each actor's sorted event list.

Written from the definitions in ``finpersona.analytics.funnel`` (and docs/analytics.md),
not from its code: every attempt is followed event by event, every exclusion is
looked for in the actor's list, and statistics are computed from the full lists of
times. Inputs are the event rows as dicts (warehouse column names).
"""

from __future__ import annotations

import calendar
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

Condition = tuple[str, str | None]  # (event name, page or None)


@dataclass(frozen=True)
class RefExclusion:
    condition: Condition
    from_step: int  # 1-based
    to_step: int


@dataclass(frozen=True)
class RefEvent:
    second: int  # UTC epoch seconds
    local_day: date
    name: str | None
    page: str | None
    may_start: bool


@dataclass(frozen=True)
class RefAttempt:
    reach: int
    start: int  # second of the first step
    index: int  # position of the start in the actor's list
    times: tuple[int, ...]  # second of each step reached (unordered: in completion order)
    day: date  # local day of the start


@dataclass
class RefFunnel:
    counts: list[int]
    excluded: int
    actors: dict[str, RefAttempt]  # best attempt of every actor who entered
    excluded_actors: set[str]
    over_time: dict[date, tuple[int, int]] = field(default_factory=dict)
    data_end: int | None = None  # last local second covered


def epoch(ts: datetime) -> int:
    return calendar.timegm(ts.timetuple())


def matches(condition: Condition, name: str | None, page: str | None) -> bool:
    event, wanted_page = condition
    return name == event and (wanted_page is None or page == wanted_page)


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _events_by_actor(rows: Sequence[Mapping[str, Any]], steps: Sequence[Condition],
                     exclusions: Sequence[RefExclusion], window: int, order: str,
                     since: date | None, until: date | None,
                     offset_hours: float) -> dict[str, list[RefEvent]]:
    offset = round(offset_hours * 3600)
    wanted = [*steps, *(x.condition for x in exclusions)]
    out: dict[str, list[RefEvent]] = {}
    for row in rows:
        if row["customer_key"] is None or row["event_time"] is None:
            continue
        second = epoch(row["event_time"])
        local = second + offset
        if since is not None and local < epoch(datetime.combine(since, datetime.min.time())):
            continue
        may_start = True
        if until is not None:
            end = epoch(datetime.combine(until + timedelta(days=1), datetime.min.time()))
            if local >= end + window:
                continue
            may_start = local < end
        name, page = row["event_name"], row["page"]
        if order != "strict" and not any(matches(c, name, page) for c in wanted):
            continue
        day = (row["event_time"] + timedelta(seconds=offset)).date()
        out.setdefault(row["customer_key"], []).append(
            RefEvent(second, day, name, page, may_start))
    for events in out.values():
        def key(e: RefEvent) -> tuple[int, int, str, str]:
            first = next((k for k, c in enumerate(steps) if matches(c, e.name, e.page)),
                         len(steps))
            return e.second, first, e.name or "", e.page or ""
        events.sort(key=key)
    return out


def _ordered(events: list[RefEvent], steps: Sequence[Condition], window: int,
             strict: bool) -> list[RefAttempt]:
    attempts = []
    for i, e in enumerate(events):
        if not (e.may_start and matches(steps[0], e.name, e.page)):
            continue
        times, pos = [e.second], i
        for k in range(1, len(steps)):
            candidates = [pos + 1] if strict else range(pos + 1, len(events))
            nxt = next((j for j in candidates if j < len(events)
                        and matches(steps[k], events[j].name, events[j].page)), None)
            if nxt is None or events[nxt].second > e.second + window:
                break
            times.append(events[nxt].second)
            pos = nxt
        attempts.append(RefAttempt(len(times), e.second, i, tuple(times), e.local_day))
    return attempts


def _unordered(events: list[RefEvent], steps: Sequence[Condition],
               window: int) -> list[RefAttempt]:
    attempts = []
    for i, e in enumerate(events):
        if not (e.may_start and any(matches(c, e.name, e.page) for c in steps)):
            continue
        firsts = []
        for c in steps:
            found = [x.second for x in events if matches(c, x.name, x.page)
                     and e.second <= x.second <= e.second + window]
            if found:
                firsts.append(min(found))
        times = tuple(sorted(firsts))
        attempts.append(RefAttempt(len(times), e.second, i, times, e.local_day))
    return attempts


def _is_excluded(best: RefAttempt, events: list[RefEvent],
                 exclusions: Sequence[RefExclusion]) -> bool:
    for x in exclusions:
        first, last = x.from_step - 1, x.to_step - 1
        if best.reach - 1 <= first:
            continue
        begin, end = best.times[first], best.times[min(last, best.reach - 1)]
        if any(matches(x.condition, e.name, e.page) and begin < e.second < end
               for e in events):
            return True
    return False


def _best(attempts: Sequence[RefAttempt]) -> RefAttempt:
    return min(attempts, key=lambda a: (-a.reach, a.start, a.index))


def reference_funnel(rows: Sequence[Mapping[str, Any]], steps: Sequence[Condition],
                     window: int, order: str = "ordered",
                     exclusions: Sequence[RefExclusion] = (), since: date | None = None,
                     until: date | None = None, offset_hours: float = 8.0,
                     period: str | None = None) -> RefFunnel:
    by_actor = _events_by_actor(rows, steps, exclusions, window, order, since, until,
                                offset_hours)
    counts = [0] * len(steps)
    actors: dict[str, RefAttempt] = {}
    excluded: set[str] = set()
    over_time: dict[date, list[int]] = {}
    for actor, events in by_actor.items():
        attempts = (_unordered(events, steps, window) if order == "unordered"
                    else _ordered(events, steps, window, order == "strict"))
        if not attempts:
            continue
        best = _best(attempts)
        actors[actor] = best
        if _is_excluded(best, events, exclusions):
            excluded.add(actor)
        else:
            for k in range(best.reach):
                counts[k] += 1
        if period is not None:
            for start in {period_start(a.day, period) for a in attempts}:
                unit = _best([a for a in attempts if period_start(a.day, period) == start])
                if _is_excluded(unit, events, exclusions):
                    continue
                cell = over_time.setdefault(start, [0, 0])
                cell[0] += 1
                cell[1] += unit.reach == len(steps)
    return RefFunnel(counts, len(excluded), actors, excluded,
                     {k: (v[0], v[1]) for k, v in over_time.items()},
                     _data_end(rows, window, until, offset_hours))


def _data_end(rows: Sequence[Mapping[str, Any]], window: int, until: date | None,
              offset_hours: float) -> int | None:
    seconds = [epoch(r["event_time"]) for r in rows if r["event_time"] is not None]
    if not seconds:
        return None
    end = max(seconds) + round(offset_hours * 3600)
    if until is not None:
        end = min(end, epoch(datetime.combine(until + timedelta(days=1),
                                              datetime.min.time())) + window - 1)
    return end


# -- statistics over full lists ---------------------------------------------------------------


def step_seconds(ref: RefFunnel, level: int, from_first: bool) -> list[int]:
    """Seconds to reach step ``level`` (0-based, >= 1) for every counted actor."""
    return [a.times[level] - a.times[0 if from_first else level - 1]
            for actor, a in ref.actors.items()
            if actor not in ref.excluded_actors and a.reach > level]


def describe(values: Sequence[int], edges: Sequence[int]) -> dict[str, Any]:
    """count, mean, median, min, max, nearest-rank percentiles and histogram counts."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None,
                "percentiles": {}, "histogram": [0] * (len(edges) - 1)}
    ordered = sorted(values)
    n = len(ordered)
    histogram = [0] * (len(edges) - 1)
    for v in ordered:
        inner = [i for i in range(len(edges) - 1) if edges[i] <= v < edges[i + 1]]
        histogram[inner[0] if inner else len(edges) - 2] += 1
    return {"count": n, "mean": sum(ordered) / n, "median": statistics.median(ordered),
            "min": ordered[0], "max": ordered[-1],
            "percentiles": {p: ordered[math.ceil(p * n / 100) - 1] for p in (10, 25, 75, 90)},
            "histogram": histogram}
