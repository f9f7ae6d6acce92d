"""Sessions and dwell time: who came back how often, for how long, and where they stayed.

Definitions (docs/analytics.md, "Sessions and dwell time"):

* **Actor**: the stitched ``customer_key``; events without a customer fall back to
  the device (``device:<anonymous_key>``) and then to the SDK session
  (``sdk:<session_id>``), so pre-login browsing counts. Events with none of the
  three cannot be attributed and are left out.
* **Event order** within an actor: ``event_time``, then ``event_name``, ``page``,
  ``platform``, ``dwell_ms`` and ``event_id`` (nulls first), so events sharing a
  timestamp are always taken in the same order on every engine.
* **Session**: a maximal run of an actor's events in which no pause between two
  consecutive events is *longer* than the gap (default 30 minutes, the workspace
  setting ``session_gap_minutes``); a pause of exactly the gap stays in the session.
  Sessions are not cut at local midnight; a session belongs to the local date and
  platform of its first event.
* **Page visit**: a run of consecutive page-carrying events (page not null) on the
  same page within a session; pages per session counts visits, so A → A → B is two.
* **Session length**: last event minus first event (a one-event session lasts 0 s).
* **Bounce**: a session with exactly one page visit that lasted less than 10 s;
  the bounce rate is over sessions with at least one page visit (PostHog's
  ``$is_bounce`` without its autocapture condition).
* **Time to next** (PostHog's time on page): for an event, the time until the next
  event of the session; for a page visit, from its first event to the first event
  after it. Unknown (not averaged) at the end of a session.
* **Reported dwell**: the SDK's own ``dwell_ms`` where present, kept apart from
  time to next because the two measure different things.

Durations are compared at millisecond precision (:func:`epoch_ms`); every total
is an exact integer and medians are the usual middle value (the mean of the two
middle values for an even count), so all engines give equal answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import (
    NO_VALUE,
    AnalysisError,
    collect,
    jsonable,
    local_time,
    parse_duration,
    require_columns,
    with_breakdown,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.engine import Engine

DEFAULT_GAP = timedelta(minutes=30)
BOUNCE_SECONDS = 10
DEVICE_PREFIX = "device:"
SDK_SESSION_PREFIX = "sdk:"
EVENT_COLUMNS = ("customer_key", "anonymous_key", "session_id", "event_time", "event_name",
                 "page", "platform", "dwell_ms")
SESSION_KEYS = ("actor_key", "session_number")


class SessionsBy(StrEnum):
    """The extra split of a session report."""

    PLATFORM = "platform"
    CUSTOMER = "customer"
    PAGE = "page"
    FEATURE = "feature"

    @classmethod
    def parse(cls, value: str | SessionsBy) -> SessionsBy:
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise AnalysisError(f"unknown split {value!r}: use {choices}") from None


# -- building blocks (lazy Ibis) ----------------------------------------------------------

def gap_seconds(gap: timedelta | str) -> int:
    """The inactivity gap as whole seconds (at least one)."""
    value = parse_duration(gap)
    seconds = value.total_seconds()
    if seconds != int(seconds):
        raise AnalysisError(f"the session gap must be whole seconds, got {value}")
    return int(seconds)


def epoch_ms(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Milliseconds since 1970, from calendar parts.

    ``epoch_seconds`` rounds fractional seconds on DuckDB and truncates them on
    Spark; whole days plus the clock parts are exact on both (sub-milliseconds
    are dropped).
    """
    days = ts.date().delta(ibis.date(1970, 1, 1), unit="day").cast("int64")
    clock = (ts.hour().cast("int64") * 3600 + ts.minute().cast("int64") * 60
             + ts.second().cast("int64"))
    return (days * 86400 + clock) * 1000 + ts.millisecond().cast("int64")


def event_order(t: ir.Table) -> list[ir.Value]:
    """A total, engine-independent order of one actor's events (ties broken by content)."""
    keys: list[ir.Value] = [t.event_time.asc()]
    for name in ("event_name", "page", "platform", "dwell_ms", "event_id"):
        if name in t.columns:
            keys.append(ibis.asc(t[name], nulls_first=True))
    return keys


def actor_key(t: ir.Table) -> ir.StringValue:
    """Customer, else device, else SDK session: whoever the events can be pinned on."""
    null: ir.StringValue = ibis.null("string")
    return ibis.cases(
        (t.customer_key.notnull(), t.customer_key),
        (t.anonymous_key.notnull(), ibis.literal(DEVICE_PREFIX) + t.anonymous_key),
        (t.session_id.notnull(), ibis.literal(SDK_SESSION_PREFIX) + t.session_id),
        else_=null)


def session_window(t: ir.Table) -> Any:
    """Events of one session in :func:`event_order`."""
    return ibis.window(group_by=list(SESSION_KEYS), order_by=event_order(t))


def sessionize(events: ir.Table, *, gap: timedelta | str = DEFAULT_GAP,
               offset_hours: float) -> ir.Table:
    """The events with their actor and session.

    Adds ``actor_key``, ``session_number`` (1, 2, ... per actor in time order),
    ``session_key`` (``<actor_key>#<n>``), ``local_time`` and
    ``session_start_local`` (the local time of the session's first event).
    Events that belong to no actor are dropped.
    """
    require_columns(events, EVENT_COLUMNS, "sessions")
    seconds = gap_seconds(gap)
    t = events.filter(events.event_time.notnull())
    t = t.mutate(actor_key=actor_key(t))
    t = t.filter(t.actor_key.notnull())
    by_actor = ibis.window(group_by="actor_key", order_by=event_order(t))
    previous = t.event_time.lag().over(by_actor)
    t = t.mutate(_starts=previous.isnull()
                 | (t.event_time > previous + ibis.interval(seconds=seconds)))
    running = ibis.window(group_by="actor_key", order_by=event_order(t), rows=(None, 0))
    null_time: ir.TimestampValue = ibis.null("timestamp")
    t = t.mutate(
        session_number=t._starts.cast("int64").sum().over(running),
        # Times only grow within an actor, so the latest start seen is this session's.
        _session_start=ibis.ifelse(t._starts, t.event_time, null_time).max().over(running))
    return t.mutate(
        session_key=t.actor_key + "#" + t.session_number.cast("string"),
        local_time=local_time(t.event_time, offset_hours),
        session_start_local=local_time(t._session_start, offset_hours),
    ).drop("_starts", "_session_start")


def within_dates(sessionized: ir.Table, since: date | None, until: date | None) -> ir.Table:
    """Whole sessions whose first event falls on a local date in [since, until]."""
    if since is not None and until is not None and since > until:
        raise AnalysisError(f"--since {since} is after --until {until}")
    t = sessionized
    start_day = t.session_start_local.date()
    if since is not None:
        t = t.filter(start_day >= since)
    if until is not None:
        t = t.filter(start_day <= until)
    return t


def timed_events(sessionized: ir.Table) -> ir.Table:
    """Each event with its timing in the session and its place in a page visit.

    Adds ``ms`` (its time, :func:`epoch_ms`), ``ms_to_next`` (null on the session's
    last event), ``event_index`` (1, 2, ... in the session), ``opens_visit`` /
    ``closes_visit`` (first / last event of a page visit) and, on a visit's last event,
    ``visit_ms``: from the visit's first event to the event after it (null when the
    session ends on the visit).
    """
    w = session_window(sessionized)
    t = sessionized.mutate(ms=epoch_ms(sessionized.event_time),
                           _next_ms=epoch_ms(sessionized.event_time.lead().over(w)),
                           event_index=ibis.row_number().over(w) + 1)
    t = t.mutate(ms_to_next=t._next_ms - t.ms).drop("_next_ms")
    # Events with a page, in order, apart from those without one: their neighbours in
    # this partition are the neighbouring page events.
    pw = ibis.window(group_by=[*SESSION_KEYS, t.page.isnull()], order_by=event_order(t))
    before, after = t.page.lag().over(pw), t.page.lead().over(pw)
    t = t.mutate(opens_visit=t.page.notnull() & (before.isnull() | (before != t.page)),
                 closes_visit=t.page.notnull() & (after.isnull() | (after != t.page)))
    running = ibis.window(group_by=[*SESSION_KEYS, t.page.isnull()], order_by=event_order(t),
                          rows=(None, 0))
    null_ms: ir.IntegerValue = ibis.null("int64")
    # Times only grow in a session, so the latest visit start seen is this visit's.
    visit_start = ibis.ifelse(t.opens_visit, t.ms, null_ms).max().over(running)
    return t.mutate(visit_ms=ibis.ifelse(t.closes_visit, t.ms + t.ms_to_next - visit_start,
                                         null_ms))


def session_table(sessionized: ir.Table, *, bounce_seconds: int = BOUNCE_SECONDS) -> ir.Table:
    """One row per session: its actor, customer, start, length, events, pages, bounce."""
    t = timed_events(sessionized)
    first = t.event_index == 1
    null_text: ir.StringValue = ibis.null("string")
    sessions = t.group_by(list(SESSION_KEYS)).aggregate(
        session_key=t.session_key.max(),
        customer_key=t.customer_key.max(),
        start_local=t.local_time.min(),
        duration_ms=t.ms.max() - t.ms.min(),
        events=t.count(),
        page_visits=t.opens_visit.cast("int64").sum(),
        first_page=t.page.argmin(t.event_index, where=t.page.notnull()),
        platform=ibis.ifelse(first, t.platform, null_text).max())
    return sessions.mutate(
        platform=sessions.platform.fill_null(NO_VALUE),
        bounced=(sessions.page_visits == 1) & (sessions.duration_ms < bounce_seconds * 1000))


def median_by(table: ir.Table, keys: Sequence[str], value: str,
              name: str = "median") -> ir.Table:
    """The exact median of ``value`` per group (mean of the two middle values if even)."""
    t = table.filter(table[value].notnull())
    ordered = ibis.window(group_by=list(keys), order_by=[t[value]])
    ranked = t.select(*keys, _v=t[value], _rank=ibis.row_number().over(ordered) + 1,
                      _n=t[value].count().over(ibis.window(group_by=list(keys))))
    # The middle rank(s) r satisfy |2r - (n + 1)| <= 1: one for odd n, two for even n.
    middle = ranked.filter((ranked._rank * 2 - ranked._n - 1).abs() <= 1)
    return middle.group_by(list(keys)).aggregate(**{name: middle._v.mean()})


def medians_by(table: ir.Table, keys: Sequence[str], values: dict[str, ir.Value]
               ) -> ir.Table:
    """Several medians per group in one ranking pass: ``{output name: value}``."""
    long = ibis.union(*[table.select(*keys, _metric=ibis.literal(name),
                                     _value=value.cast("int64"))
                        for name, value in values.items()])
    medians = median_by(long, [*keys, "_metric"], "_value", "_median")
    null: ir.FloatingValue = ibis.null("float64")
    return medians.group_by(list(keys)).aggregate(**{
        name: ibis.ifelse(medians._metric == name, medians._median, null).max()
        for name in values})


def with_medians(stats: ir.Table, medians: ir.Table, keys: Sequence[str]) -> ir.Table:
    joined = stats.left_join(medians, list(keys))
    return joined.select(stats, *[joined[c] for c in medians.columns if c not in keys])


def session_stats(sessions: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Counts, totals and the median length per group of sessions."""
    stats = sessions.group_by(list(keys)).aggregate(
        sessions=sessions.count(),
        actors=sessions.actor_key.nunique(),
        customers=sessions.customer_key.nunique(),
        events=sessions.events.sum(),
        page_visits=sessions.page_visits.sum(),
        page_sessions=(sessions.page_visits > 0).cast("int64").sum(),
        bounced=sessions.bounced.cast("int64").sum(),
        total_duration_ms=sessions.duration_ms.sum())
    return with_medians(stats, median_by(sessions, keys, "duration_ms", "median_duration_ms"),
                        keys)


def _dwell(events: ir.Table, keys: list[str], to_next: str) -> ir.Table:
    """Per group: ``_counted`` summed, sessions, the ``to_next`` times and reported dwell."""
    stats = events.group_by(keys).aggregate(
        count=events._counted.sum(),
        sessions=events.session_key.nunique(),
        timed=events[to_next].count(),
        total_ms_to_next=events[to_next].sum(),
        reported=events.dwell_ms.count(),
        total_reported_ms=events.dwell_ms.sum())
    medians = medians_by(events, keys, {"median_ms_to_next": events[to_next],
                                        "median_reported_ms": events.dwell_ms})
    return with_medians(stats, medians, keys)


def page_dwell(timed: ir.Table, group_by: Sequence[str] = ()) -> ir.Table:
    """Per page (``name``) and group: visits, time to next per visit (PostHog's time on
    page) and the SDK's reported dwell of its events."""
    pages = timed.filter(timed.page.notnull())
    pages = pages.mutate(name=pages.page, _counted=pages.opens_visit.cast("int64"))
    return _dwell(pages, [*group_by, "name"], "visit_ms")


def feature_dwell(timed: ir.Table, group_by: Sequence[str] = ()) -> ir.Table:
    """Per event name (``name``) and group: events, time to the next event and the SDK's
    reported dwell."""
    events = timed.mutate(name=timed.event_name, _counted=ibis.literal(1, "int64"))
    return _dwell(events, [*group_by, "name"], "ms_to_next")


def customer_sessions(sessions: ir.Table) -> ir.Table:
    """Per customer (customer-scale, stays lazy): sessions, length, pages, bounces."""
    known = sessions.filter(sessions.customer_key.notnull())
    return session_stats(known, ["customer_key"])


# -- results ---------------------------------------------------------------------------

def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


@dataclass(frozen=True)
class SessionStats:
    """Sessions of one group (a breakdown value and, with a split, a platform or customer)."""

    breakdown: str
    group: str
    sessions: int
    actors: int
    customers: int
    events: int
    page_visits: int
    page_sessions: int  # sessions with at least one page visit: the bounce-rate base
    bounced: int
    total_duration_ms: int
    median_duration_ms: float | None

    @property
    def avg_duration_seconds(self) -> float | None:
        return _seconds(_ratio(self.total_duration_ms, self.sessions))

    @property
    def median_duration_seconds(self) -> float | None:
        return _seconds(self.median_duration_ms)

    @property
    def pages_per_session(self) -> float | None:
        return _ratio(self.page_visits, self.sessions)

    @property
    def events_per_session(self) -> float | None:
        return _ratio(self.events, self.sessions)

    @property
    def bounce_rate(self) -> float | None:
        return _ratio(self.bounced, self.page_sessions)

    def to_dict(self) -> dict[str, Any]:
        return {"breakdown": self.breakdown, "group": self.group, "sessions": self.sessions,
                "actors": self.actors, "customers": self.customers, "events": self.events,
                "page_visits": self.page_visits, "page_sessions": self.page_sessions,
                "bounced": self.bounced, "bounce_rate": self.bounce_rate,
                "avg_duration_seconds": self.avg_duration_seconds,
                "median_duration_seconds": self.median_duration_seconds,
                "pages_per_session": self.pages_per_session,
                "events_per_session": self.events_per_session}


@dataclass(frozen=True)
class DwellStats:
    """Time spent on one page (per visit) or one feature (per event name)."""

    breakdown: str
    name: str
    count: int  # page visits, or events of this name
    sessions: int
    timed: int  # visits/events whose time to next is known (not the session's end)
    total_ms_to_next: int
    median_ms_to_next: float | None
    reported: int  # events carrying the SDK's dwell_ms
    total_reported_ms: int
    median_reported_ms: float | None

    @property
    def avg_seconds_to_next(self) -> float | None:
        return _seconds(_ratio(self.total_ms_to_next, self.timed))

    @property
    def median_seconds_to_next(self) -> float | None:
        return _seconds(self.median_ms_to_next)

    @property
    def avg_reported_seconds(self) -> float | None:
        return _seconds(_ratio(self.total_reported_ms, self.reported))

    @property
    def median_reported_seconds(self) -> float | None:
        return _seconds(self.median_reported_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"breakdown": self.breakdown, "name": self.name, "count": self.count,
                "sessions": self.sessions, "timed": self.timed,
                "avg_seconds_to_next": self.avg_seconds_to_next,
                "median_seconds_to_next": self.median_seconds_to_next,
                "total_seconds_to_next": self.total_ms_to_next / 1000,
                "reported": self.reported,
                "avg_reported_seconds": self.avg_reported_seconds,
                "median_reported_seconds": self.median_reported_seconds}


@dataclass(frozen=True)
class SessionReport:
    """Sessions per breakdown value (``totals``) and the requested splits."""

    gap_seconds: int
    offset_hours: float
    bounce_seconds: int
    since: date | None
    until: date | None
    breakdown: str | None
    totals: tuple[SessionStats, ...] = ()
    platforms: tuple[SessionStats, ...] = ()
    customers: tuple[SessionStats, ...] = ()
    pages: tuple[DwellStats, ...] = ()
    features: tuple[DwellStats, ...] = ()
    splits: tuple[str, ...] = ()  # which of the four lists were asked for

    def to_dict(self) -> dict[str, Any]:
        return {
            "gap_minutes": self.gap_seconds / 60, "offset_hours": self.offset_hours,
            "bounce_seconds": self.bounce_seconds, "since": jsonable(self.since),
            "until": jsonable(self.until), "breakdown": self.breakdown,
            "splits": list(self.splits),
            "totals": [s.to_dict() for s in self.totals],
            "platforms": [s.to_dict() for s in self.platforms],
            "customers": [s.to_dict() for s in self.customers],
            "pages": [s.to_dict() for s in self.pages],
            "features": [s.to_dict() for s in self.features]}


# -- running it ------------------------------------------------------------------------

def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _session_stats(row: dict[str, Any], group: str) -> SessionStats:
    return SessionStats(
        breakdown=str(row["breakdown"]), group=group, sessions=_int(row["sessions"]),
        actors=_int(row["actors"]), customers=_int(row["customers"]),
        events=_int(row["events"]), page_visits=_int(row["page_visits"]),
        page_sessions=_int(row["page_sessions"]), bounced=_int(row["bounced"]),
        total_duration_ms=_int(row["total_duration_ms"]),
        median_duration_ms=_float(row["median_duration_ms"]))


def _dwell_stats(row: dict[str, Any]) -> DwellStats:
    return DwellStats(
        breakdown=str(row["breakdown"]), name=str(row["name"]), count=_int(row["count"]),
        sessions=_int(row["sessions"]), timed=_int(row["timed"]),
        total_ms_to_next=_int(row["total_ms_to_next"]),
        median_ms_to_next=_float(row["median_ms_to_next"]),
        reported=_int(row["reported"]), total_reported_ms=_int(row["total_reported_ms"]),
        median_reported_ms=_float(row["median_reported_ms"]))


@contextmanager
def materialized(engine: Engine, expr: ir.Table) -> Iterator[ir.Table]:
    """Compute an intermediate once in engine memory for the several answers read from it
    (each answer would otherwise recompute, and Ibis recompile, the whole tree)."""
    name = f"_analysis_{uuid.uuid4().hex[:12]}"
    table = engine.materialize(expr, name)
    try:
        yield table
    finally:
        engine.release(name)


def _top_per_breakdown(stats: ir.Table, size: str, name: str, top: int) -> ir.Table:
    """The ``top`` largest groups of each breakdown value (ties: name ascending)."""
    w = ibis.window(group_by="breakdown", order_by=[stats[size].desc(), stats[name].asc()])
    ranked = stats.mutate(_rank=ibis.row_number().over(w))
    return ranked.filter(ranked._rank < top).drop("_rank")


def _session_answers(sessions: ir.Table, splits: Sequence[SessionsBy], top: int) -> ir.Table:
    """Totals and the session-level splits as one query (``level`` says which is which):
    one round trip, which matters on Spark where every query is a job."""
    keys = ["level", "breakdown", "group"]
    parts = [session_stats(sessions.mutate(level=ibis.literal("totals"),
                                           group=ibis.literal("all")), keys)]
    if SessionsBy.PLATFORM in splits:
        parts.append(session_stats(sessions.mutate(level=ibis.literal("platforms"),
                                                   group=sessions.platform), keys))
    if SessionsBy.CUSTOMER in splits:
        known = sessions.filter(sessions.customer_key.notnull())
        known = known.mutate(level=ibis.literal("customers"), group=known.customer_key)
        parts.append(_top_per_breakdown(session_stats(known, keys), "sessions", "group", top))
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def _dwell_answers(timed: ir.Table, splits: Sequence[SessionsBy], top: int) -> ir.Table:
    """Time on page and per feature as one query (``level``: pages or features)."""
    parts = []
    for split, dwell, level in ((SessionsBy.PAGE, page_dwell, "pages"),
                                (SessionsBy.FEATURE, feature_dwell, "features")):
        if split in splits:
            stats = _top_per_breakdown(dwell(timed, ["breakdown"]), "count", "name", top)
            parts.append(stats.mutate(level=ibis.literal(level)))
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def _by_level(rows: list[dict[str, Any]], size: str, name: str
              ) -> dict[str, list[dict[str, Any]]]:
    """Rows per level, in report order: breakdown, largest first, then name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (str(r["breakdown"]), -_int(r[size]),
                                           str(r[name]))):
        out.setdefault(str(row["level"]), []).append(row)
    return out


def analyze_sessions(
    engine: Engine, events: ir.Table, *, tags: ir.Table | None = None,
    gap: timedelta | str = DEFAULT_GAP, offset_hours: float,
    by: Sequence[str | SessionsBy] = (), breakdown: str | None = None,
    since: date | None = None, until: date | None = None, top: int = 20,
    bounce_seconds: int = BOUNCE_SECONDS,
) -> SessionReport:
    """Sessions of an event table (see the module docstring for the definitions)."""
    splits = tuple(dict.fromkeys(SessionsBy.parse(b) for b in by))
    if top < 1:
        raise AnalysisError(f"--top must be at least 1, got {top}")
    if bounce_seconds < 1:
        raise AnalysisError(f"the bounce threshold must be at least 1 s, got {bounce_seconds}")
    sessionized = within_dates(sessionize(events, gap=gap, offset_hours=offset_hours),
                               since, until)
    # The breakdown is the customer's tag, the same on every event of a session.
    per_session = with_breakdown(session_table(sessionized, bounce_seconds=bounce_seconds),
                                 tags, breakdown)
    with materialized(engine, per_session) as sessions:
        levels = _by_level(collect(engine, _session_answers(sessions, splits, top)),
                           "sessions", "group")
    stats = {level: tuple(_session_stats(r, str(r["group"])) for r in rows)
             for level, rows in levels.items()}
    dwell: dict[str, tuple[DwellStats, ...]] = {}
    if SessionsBy.PAGE in splits or SessionsBy.FEATURE in splits:
        timed = with_breakdown(timed_events(sessionized), tags, breakdown)
        rows = collect(engine, _dwell_answers(timed, splits, top))
        dwell = {level: tuple(_dwell_stats(r) for r in level_rows)
                 for level, level_rows in _by_level(rows, "count", "name").items()}
    return SessionReport(
        gap_seconds=gap_seconds(gap), offset_hours=offset_hours,
        bounce_seconds=bounce_seconds, since=since, until=until, breakdown=breakdown,
        splits=tuple(s.value for s in splits), totals=stats.get("totals", ()),
        platforms=stats.get("platforms", ()), customers=stats.get("customers", ()),
        pages=dwell.get("pages", ()), features=dwell.get("features", ()))


def workspace_gap(data: AnalyticsData) -> timedelta:
    """The workspace's ``session_gap_minutes`` setting."""
    return timedelta(minutes=data.engine.settings.session_gap_minutes)


def session_report(
    data: AnalyticsData, *, gap: timedelta | str | None = None,
    by: Sequence[str | SessionsBy] = (), breakdown: str | None = None,
    since: date | None = None, until: date | None = None, top: int = 20,
    bounce_seconds: int = BOUNCE_SECONDS,
) -> SessionReport:
    """Sessions over the workspace's identity-resolved events, in its local time; the gap
    defaults to the workspace setting ``session_gap_minutes``."""
    tags = data.tags(columns=[breakdown]) if breakdown is not None else None
    return analyze_sessions(data.engine, data.events(), tags=tags,
                            gap=workspace_gap(data) if gap is None else gap,
                            offset_hours=data.offset_hours, by=by, breakdown=breakdown,
                            since=since, until=until, top=top, bounce_seconds=bounce_seconds)


__all__ = ["BOUNCE_SECONDS", "DEFAULT_GAP", "DwellStats", "SessionReport", "SessionStats",
           "SessionsBy", "analyze_sessions", "customer_sessions", "epoch_ms", "event_order",
           "feature_dwell", "materialized", "medians_by", "page_dwell", "session_report",
           "session_stats", "session_table", "sessionize", "timed_events", "within_dates",
           "workspace_gap"]
