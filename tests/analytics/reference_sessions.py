"""Brute-force sessions and paths in plain Python, written from the definitions in
docs/analytics.md, independently of the Ibis code: lists, loops and sorting only."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from finpersona.analytics.paths import (
    END,
    OTHER,
    START,
    PathCount,
    PathReport,
    Sankey,
    SankeyLink,
    SankeyNode,
    StepCount,
)
from finpersona.analytics.sessions import DwellStats, SessionReport, SessionStats

EPOCH = datetime(1970, 1, 1)
NONE = "(none)"


@dataclass
class Session:
    actor: str
    customer: str | None
    events: list[dict[str, Any]]  # in event order
    breakdown: str = "all"
    visits: list[tuple[str, int, int | None]] = field(default_factory=list)

    @property
    def duration_ms(self) -> int:
        return ms(self.events[-1]["event_time"]) - ms(self.events[0]["event_time"])


def ms(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(milliseconds=1)


def _nullable(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else 0)


def order_key(e: dict[str, Any]) -> tuple[Any, ...]:
    return (e["event_time"], e["event_name"], _nullable(e.get("page")),
            _nullable(e.get("platform")), _nullable(e.get("dwell_ms")),
            _nullable(e.get("event_id")))


def actor_of(e: dict[str, Any]) -> str | None:
    if e.get("customer_key") is not None:
        return str(e["customer_key"])
    if e.get("anonymous_key") is not None:
        return f"device:{e['anonymous_key']}"
    if e.get("session_id") is not None:
        return f"sdk:{e['session_id']}"
    return None


def sessions_of(events: Iterable[dict[str, Any]], gap: timedelta) -> list[Session]:
    by_actor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        actor = actor_of(e)
        if actor is not None and e["event_time"] is not None:
            by_actor[actor].append(e)
    out: list[Session] = []
    for actor, evs in by_actor.items():
        evs.sort(key=order_key)
        current: list[dict[str, Any]] = []
        for e in evs:
            if current and e["event_time"] - current[-1]["event_time"] > gap:
                out.append(Session(actor, current[0].get("customer_key"), current))
                current = []
            current.append(e)
        out.append(Session(actor, current[0].get("customer_key"), current))
    for s in out:
        s.visits = visits_of(s.events)
    return out


def visits_of(events: list[dict[str, Any]]) -> list[tuple[str, int, int | None]]:
    """(page, start ms, duration ms or None) per run of the same page."""
    visits: list[tuple[str, int, int | None]] = []
    run_page: str | None = None
    run_start = 0
    run_last = -1
    for i, e in enumerate(events):
        page = e.get("page")
        if page is None:
            continue
        if page != run_page:
            if run_page is not None:
                visits.append((run_page, run_start, _visit_end(events, run_last, run_start)))
            run_page, run_start = page, ms(e["event_time"])
        run_last = i
    if run_page is not None:
        visits.append((run_page, run_start, _visit_end(events, run_last, run_start)))
    return visits


def _visit_end(events: list[dict[str, Any]], last: int, start: int) -> int | None:
    return ms(events[last + 1]["event_time"]) - start if last + 1 < len(events) else None


def in_dates(sessions: list[Session], since: date | None, until: date | None,
             offset_hours: float) -> list[Session]:
    shift = timedelta(seconds=round(offset_hours * 3600))
    keep = []
    for s in sessions:
        day = (s.events[0]["event_time"] + shift).date()
        if (since is None or day >= since) and (until is None or day <= until):
            keep.append(s)
    return keep


def median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _stats(breakdown: str, group: str, sessions: list[Session],
           bounce_seconds: int) -> SessionStats:
    page_sessions = [s for s in sessions if s.visits]
    bounced = [s for s in sessions
               if len(s.visits) == 1 and s.duration_ms < bounce_seconds * 1000]
    return SessionStats(
        breakdown=breakdown, group=group, sessions=len(sessions),
        actors=len({s.actor for s in sessions}),
        customers=len({s.customer for s in sessions if s.customer is not None}),
        events=sum(len(s.events) for s in sessions),
        page_visits=sum(len(s.visits) for s in sessions), page_sessions=len(page_sessions),
        bounced=len(bounced), total_duration_ms=sum(s.duration_ms for s in sessions),
        median_duration_ms=median([s.duration_ms for s in sessions]))


def _dwell(breakdown: str, name: str, items: list[tuple[Session, int | None]],
           reported: list[int]) -> DwellStats:
    timed = [d for _, d in items if d is not None]
    return DwellStats(
        breakdown=breakdown, name=name, count=len(items),
        sessions=len({id(s) for s, _ in items}), timed=len(timed),
        total_ms_to_next=sum(timed), median_ms_to_next=median(timed),
        reported=len(reported), total_reported_ms=sum(reported),
        median_reported_ms=median(reported))


def _top(rows: list[Any], size: str, name: str, top: int) -> list[Any]:
    out: list[Any] = []
    for b in sorted({r.breakdown for r in rows}):
        mine = sorted((r for r in rows if r.breakdown == b),
                      key=lambda r: (-getattr(r, size), getattr(r, name)))
        out.extend(mine[:top])
    return out


def session_report(events: list[dict[str, Any]], *, gap: timedelta, offset_hours: float,
                   by: Sequence[str] = (), tags: dict[str, Any] | None = None,
                   breakdown: str | None = None, since: date | None = None,
                   until: date | None = None, top: int = 20,
                   bounce_seconds: int = 10) -> SessionReport:
    sessions = in_dates(sessions_of(events, gap), since, until, offset_hours)
    for s in sessions:
        if breakdown is not None:
            value = (tags or {}).get(s.customer) if s.customer is not None else None
            s.breakdown = NONE if value is None else str(value)
    groups: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        groups[s.breakdown].append(s)
    totals = tuple(_stats(b, "all", groups[b], bounce_seconds) for b in sorted(groups))
    found: dict[str, Any] = {}
    if "platform" in by:
        per: dict[tuple[str, str], list[Session]] = defaultdict(list)
        for s in sessions:
            platform = s.events[0].get("platform")
            per[s.breakdown, NONE if platform is None else platform].append(s)
        rows = [_stats(b, g, v, bounce_seconds) for (b, g), v in per.items()]
        found["platforms"] = tuple(sorted(rows, key=lambda r: (r.breakdown, -r.sessions,
                                                               r.group)))
    if "customer" in by:
        per = defaultdict(list)
        for s in sessions:
            if s.customer is not None:
                per[s.breakdown, s.customer].append(s)
        rows = [_stats(b, g, v, bounce_seconds) for (b, g), v in per.items()]
        found["customers"] = tuple(_top(rows, "sessions", "group", top))
    if "page" in by:
        visits: dict[tuple[str, str], list[tuple[Session, int | None]]] = defaultdict(list)
        reported: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s in sessions:
            for page, _, duration in s.visits:
                visits[s.breakdown, page].append((s, duration))
            for e in s.events:
                if e.get("page") is not None and e.get("dwell_ms") is not None:
                    reported[s.breakdown, e["page"]].append(e["dwell_ms"])
        rows = [_dwell(b, n, v, reported[b, n]) for (b, n), v in visits.items()]
        found["pages"] = tuple(_top(rows, "count", "name", top))
    if "feature" in by:
        per_event: dict[tuple[str, str], list[tuple[Session, int | None]]] = defaultdict(list)
        reported = defaultdict(list)
        for s in sessions:
            for i, e in enumerate(s.events):
                nxt = (ms(s.events[i + 1]["event_time"]) - ms(e["event_time"])
                       if i + 1 < len(s.events) else None)
                per_event[s.breakdown, e["event_name"]].append((s, nxt))
                if e.get("dwell_ms") is not None:
                    reported[s.breakdown, e["event_name"]].append(e["dwell_ms"])
        rows = [_dwell(b, n, v, reported[b, n]) for (b, n), v in per_event.items()]
        found["features"] = tuple(_top(rows, "count", "name", top))
    order = ("platform", "page", "feature", "customer")
    splits = tuple(dict.fromkeys(b for b in by if b in order))
    return SessionReport(gap_seconds=int(gap.total_seconds()), offset_hours=offset_hours,
                         bounce_seconds=bounce_seconds, since=since, until=until,
                         breakdown=breakdown, totals=totals, splits=splits, **found)


# -- paths -------------------------------------------------------------------------------

def collapsed(session: Session, element: str) -> list[str]:
    column = "page" if element == "page" else "event_name"
    out: list[str] = []
    for e in session.events:
        name = e.get(column)
        if name is not None and (not out or out[-1] != name):
            out.append(name)
    return out


def _first_reach(seq: list[str], start: str, end: str, steps: int) -> list[str] | None:
    for i, name in enumerate(seq):
        if name != start:
            continue
        for j in range(i + 1, min(i + steps, len(seq))):
            if seq[j] == end:
                return seq[i:j + 1]
    return None


def _padded(found: list[str], steps: int, *, left: bool = False) -> list[str | None]:
    pad: list[str | None] = [None] * (steps - len(found))
    return [*pad, *found] if left else [*found, *pad]


def session_path(seq: list[str], steps: int, start: str | None, end: str | None,
                 direction: str) -> list[str | None] | None:
    """The path columns (reading order, None where a shorter path has no step)."""
    if direction == "between":
        assert start is not None and end is not None
        found = _first_reach(seq, start, end, steps)
        return None if found is None else _padded(found, steps)
    if start is None:
        return _padded(seq[:steps], steps) if seq else None
    if start not in seq:
        return None
    i = seq.index(start)
    if direction == "previous":
        return _padded(seq[max(0, i - steps + 1):i + 1], steps, left=True)
    return _padded(seq[i:i + steps], steps)


def _tie(cols: Sequence[str | None], direction: str) -> tuple[tuple[bool, str], ...]:
    near = list(cols)[::-1] if direction == "previous" else list(cols)
    return tuple((c is not None, c or "") for c in near)


def path_report(events: list[dict[str, Any]], *, gap: timedelta, offset_hours: float,
                element: str = "page", steps: int = 5, top: int = 10,
                start: str | None = None, end: str | None = None,
                direction: str | None = None, since: date | None = None,
                until: date | None = None, sankey_nodes: int = 8) -> PathReport:
    if start is not None and end is not None:
        direction = "between"
    elif end is not None:
        start, end, direction = end, None, "previous"
    else:
        direction = direction or "next"
    sessions = in_dates(sessions_of(events, gap), since, until, offset_hours)
    seqs = [collapsed(s, element) for s in sessions]
    counts: Counter[tuple[str | None, ...]] = Counter()
    for seq in seqs:
        path = session_path(seq, steps, start, end, direction)
        if path is not None:
            counts[tuple(path)] += 1
    in_paths = sum(counts.values())
    if direction == "between":
        scope, converted = sum(1 for seq in seqs if start in seq), in_paths
    else:
        scope, converted = in_paths, None
    share = (lambda n: n / scope if scope else None)  # noqa: E731
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], _tie(kv[0], direction)))[:top]
    paths = tuple(PathCount(tuple(c for c in cols if c is not None), n, share(n))
                  for cols, n in ranked)
    nearby: tuple[StepCount, ...] = ()
    anchor = steps - 1 if direction == "previous" else 0
    if start is not None and direction != "between":
        near: Counter[str] = Counter()
        side = anchor - 1 if direction == "previous" else anchor + 1
        missing = START if direction == "previous" else END
        for cols, n in counts.items():
            near[cols[side] if cols[side] is not None else missing] += n
        nearby = tuple(StepCount(k, n, share(n))
                       for k, n in sorted(near.items(), key=lambda kv: (-kv[1], kv[0])))
    return PathReport(
        element=element, direction=direction, start=start, end=end, steps=steps, top=top,
        gap_seconds=int(gap.total_seconds()), offset_hours=offset_hours, since=since,
        until=until, sessions=scope, converted=converted, paths=paths, next_steps=nearby,
        sankey=sankey(counts, steps, anchor, sankey_nodes))


def sankey(counts: Counter[tuple[str | None, ...]], steps: int, anchor: int,
           per_step: int) -> Sankey:
    label: dict[tuple[int, str], str] = {}
    nodes: Counter[tuple[int, str]] = Counter()
    for i in range(steps):
        at: Counter[str] = Counter()
        for cols, n in counts.items():
            if cols[i] is not None:
                at[cols[i]] += n
        ranked = sorted(at.items(), key=lambda kv: (-kv[1], kv[0]))
        for rank, (name, n) in enumerate(ranked):
            label[i, name] = name if rank < per_step else OTHER
            nodes[i - anchor, label[i, name]] += n
    links: Counter[tuple[int, str, str]] = Counter()
    for cols, n in counts.items():
        for i in range(steps - 1):
            a, b = cols[i], cols[i + 1]
            if a is not None and b is not None:
                links[i - anchor, label[i, a], label[i + 1, b]] += n
    node_list = sorted((SankeyNode(s, name, n) for (s, name), n in nodes.items()),
                       key=lambda x: (x.step, -x.sessions, x.name))
    link_list = sorted((SankeyLink(s, a, b, n) for (s, a, b), n in links.items()),
                       key=lambda x: (x.step, -x.sessions, x.source, x.target))
    return Sankey(tuple(node_list), tuple(link_list))
