"""Operation paths: what people do in a session, step by step.

Definitions (docs/analytics.md, "Operation paths"):

* Sessions are those of :mod:`finpersona.analytics.sessions` (actor, inactivity gap,
  whole sessions by the local date of their first event).
* A session's **path** is its sequence of pages (or event names) in event order,
  with events without one left out and consecutive repeats collapsed
  (A, A, B, A → A, B, A). **Steps** are the positions in that sequence.
* **Top paths**: the first ``steps`` steps of every session, counted in sessions.
* **From a page** (``direction=next``): each session that reaches the page is taken
  from its *first* visit of it; the path is that visit and up to ``steps - 1`` steps
  after it, and the next steps are the step right after it (``(end)`` when the
  session ends there). **To a page** (``direction=previous``): the same first visit,
  with up to ``steps - 1`` steps before it (``(start)`` when the session began there).
* **Between two pages**: a session goes from A to B when B follows a visit of A within
  ``steps - 1`` steps; it is counted once, from the earliest such visit of A to the
  first B after it. Its share is over the sessions that visit A.
* **Sankey**: nodes are (step offset from the anchor, name) with the sessions there,
  links join consecutive steps; per step the ``sankey_nodes`` largest names stay and
  the rest is merged into ``(other)``.
* Ties in every ranking are broken by the names, nearest step first, a missing step
  (a shorter path) before any name.

Paths are built with ``lead``/``lag`` a bounded number of times over the collapsed
steps (no array functions), so every engine gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.analytics.base import AnalysisError, collect, jsonable
from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.sessions import (
    DEFAULT_GAP,
    SESSION_KEYS,
    event_order,
    gap_seconds,
    materialized,
    sessionize,
    within_dates,
    workspace_gap,
)
from finpersona.engine import Engine

DEFAULT_STEPS = 5
MAX_STEPS = 10
DEFAULT_TOP = 10
DEFAULT_SANKEY_NODES = 8
END, START, OTHER = "(end)", "(start)", "(other)"
PATH_SEPARATOR = " → "


class PathElement(StrEnum):
    PAGE = "page"
    EVENT = "event"

    @classmethod
    def parse(cls, value: str | PathElement) -> PathElement:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown path element {value!r}: use page or event") from None


class Direction(StrEnum):
    NEXT = "next"
    PREVIOUS = "previous"
    BETWEEN = "between"

    @classmethod
    def parse(cls, value: str | Direction) -> Direction:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown direction {value!r}: use next or previous") from None


@dataclass(frozen=True)
class PathQuery:
    """What to count: the anchor(s), the direction and the step limit."""

    steps: int = DEFAULT_STEPS
    start: str | None = None  # --from
    end: str | None = None  # --to
    direction: Direction = Direction.NEXT

    @classmethod
    def of(cls, steps: int, start: str | None, end: str | None,
           direction: str | Direction | None) -> PathQuery:
        """Check the combination: ``--to`` alone looks back, both pages look between."""
        if not 1 <= steps <= MAX_STEPS:
            raise AnalysisError(f"--steps must be between 1 and {MAX_STEPS}, got {steps}")
        wanted = None if direction is None else Direction.parse(direction)
        if wanted is Direction.BETWEEN:
            raise AnalysisError("give --from and --to for paths between two pages")
        if start is not None and end is not None:
            if wanted is not None:
                raise AnalysisError("--direction does not apply to paths between --from "
                                    "and --to")
            chosen = Direction.BETWEEN
        elif end is not None:
            if wanted is Direction.NEXT:
                raise AnalysisError("--to looks back from a page: use --from PAGE for the "
                                    "steps after it")
            chosen, start, end = Direction.PREVIOUS, end, None
        else:
            chosen = wanted or Direction.NEXT
            if start is None and chosen is Direction.PREVIOUS:
                raise AnalysisError("--direction previous needs a page: --from PAGE or "
                                    "--to PAGE")
        if start is not None and steps < 2:
            raise AnalysisError("paths from or to a page need --steps of at least 2")
        return cls(steps, start, end, chosen)

    @property
    def anchor_index(self) -> int:
        """Which path column holds the anchor (the page the steps count from)."""
        return self.steps - 1 if self.direction is Direction.PREVIOUS else 0

    @property
    def columns(self) -> list[str]:
        return [f"step_{i}" for i in range(1, self.steps + 1)]

    @property
    def nearest_first(self) -> list[str]:
        """The path columns from the anchor outwards: the order ties are broken in."""
        cols = self.columns
        return cols[::-1] if self.direction is Direction.PREVIOUS else cols


# -- building blocks (lazy Ibis) ----------------------------------------------------------

def path_steps(sessionized: ir.Table, element: PathElement | str = PathElement.PAGE
               ) -> ir.Table:
    """One row per collapsed step: the session, ``step`` (1, 2, ...) and ``name``."""
    column = "page" if PathElement.parse(element) is PathElement.PAGE else "event_name"
    t = sessionized.mutate(_name=sessionized[column])
    t = t.filter(t._name.notnull())
    w = ibis.window(group_by=list(SESSION_KEYS), order_by=event_order(t))
    t = t.mutate(_previous=t._name.lag().over(w))
    t = t.filter(t._previous.isnull() | (t._previous != t._name))
    w = ibis.window(group_by=list(SESSION_KEYS), order_by=event_order(t))
    return t.select(*SESSION_KEYS, name=t._name, step=ibis.row_number().over(w) + 1)


def _shifted(steps: ir.Table, count: int, *, back: bool) -> dict[str, ir.Value]:
    """``_lead_1`` ... (or ``_lag_1`` ...): the names 1..count steps away in the session."""
    w = ibis.window(group_by=list(SESSION_KEYS), order_by=steps.step)
    if back:
        return {f"_lag_{j}": steps.name.lag(j).over(w) for j in range(1, count + 1)}
    return {f"_lead_{j}": steps.name.lead(j).over(w) for j in range(1, count + 1)}


def session_paths(steps: ir.Table, query: PathQuery) -> ir.Table:
    """One row per session in scope: ``step_1`` ... ``step_k`` in reading order.

    Shorter paths leave the far columns null (the first ones, looking back).
    """
    k = query.steps
    if query.direction is Direction.BETWEEN:
        return _between_paths(steps, query)
    back = query.direction is Direction.PREVIOUS
    t = steps.mutate(**_shifted(steps, k - 1, back=back))
    if query.start is None:
        t = t.filter(t.step == 1)
    else:
        null_step: ir.IntegerValue = ibis.null("int64")
        first_visit = ibis.ifelse(t.name == query.start, t.step, null_step).min().over(
            ibis.window(group_by=list(SESSION_KEYS)))
        t = t.mutate(_anchor=first_visit)
        t = t.filter(t.step == t._anchor)
    if back:
        values = [t[f"_lag_{j}"] for j in range(k - 1, 0, -1)] + [t.name]
    else:
        values = [t.name] + [t[f"_lead_{j}"] for j in range(1, k)]
    return t.select(*SESSION_KEYS, **dict(zip(query.columns, values, strict=True)))


def _between_paths(steps: ir.Table, query: PathQuery) -> ir.Table:
    k = query.steps
    t = steps.mutate(**_shifted(steps, k - 1, back=False))
    t = t.filter(t.name == query.start)
    null_step: ir.IntegerValue = ibis.null("int64")
    reach = ibis.cases(*[(t[f"_lead_{j}"] == query.end, j) for j in range(1, k)],
                       else_=null_step)
    t = t.mutate(_reach=reach)
    t = t.filter(t._reach.notnull())
    t = t.mutate(_first=t.step.min().over(ibis.window(group_by=list(SESSION_KEYS))))
    t = t.filter(t.step == t._first)
    null_text: ir.StringValue = ibis.null("string")
    values = [t.name] + [ibis.ifelse(t._reach >= j, t[f"_lead_{j}"], null_text)
                         for j in range(1, k)]
    return t.select(*SESSION_KEYS, **dict(zip(query.columns, values, strict=True)))


def path_counts(paths: ir.Table, query: PathQuery) -> ir.Table:
    """Sessions per distinct path."""
    return paths.group_by(query.columns).aggregate(sessions=paths.count())


def top_paths(counts: ir.Table, query: PathQuery, top: int) -> ir.Table:
    order = [counts.sessions.desc()] + [ibis.asc(counts[c], nulls_first=True)
                                        for c in query.nearest_first]
    return counts.order_by(order).limit(top)


def neighbour_steps(counts: ir.Table, query: PathQuery) -> ir.Table:
    """Sessions per step right after (or before) the anchor, ``(end)``/``(start)`` if none."""
    offset = -1 if query.direction is Direction.PREVIOUS else 1
    column = query.columns[query.anchor_index + offset]
    missing = START if query.direction is Direction.PREVIOUS else END
    named = counts.mutate(name=counts[column].fill_null(missing))
    return named.group_by("name").aggregate(sessions=named.sessions.sum())


def sankey_tables(counts: ir.Table, query: PathQuery,
                  per_step: int) -> tuple[ir.Table, ir.Table]:
    """Nodes (step, name, sessions) and links (step, source, target, sessions).

    ``step`` is the offset from the anchor (0); a link's target is at ``step + 1``.
    """
    cols = query.columns
    null_text: ir.StringValue = ibis.null("string")
    # One row per path and step: the name there and the one after it.
    long = ibis.union(*[counts.select(
        step=ibis.literal(i - query.anchor_index).cast("int64"), name=counts[c],
        target=counts[cols[i + 1]] if i + 1 < len(cols) else null_text,
        sessions=counts.sessions) for i, c in enumerate(cols)])
    long = long.filter(long.name.notnull())
    nodes = long.group_by(["step", "name"]).aggregate(sessions=long.sessions.sum())
    w = ibis.window(group_by="step", order_by=[nodes.sessions.desc(), nodes.name.asc()])
    ranked = nodes.mutate(_rank=ibis.row_number().over(w))
    labels = ranked.select(_l_step="step", _l_name="name", _label=ibis.ifelse(
        ranked._rank < per_step, ranked.name, ibis.literal(OTHER)))
    source = long.join(labels, (long.step == labels._l_step) & (long.name == labels._l_name))
    source = source.select("step", "target", "sessions", source=source._label)
    merged_nodes = source.group_by(["step", "source"]).aggregate(
        sessions=source.sessions.sum()).rename(name="source")
    pairs = source.filter(source.target.notnull())
    pairs = pairs.join(labels, (pairs.step + 1 == labels._l_step)
                       & (pairs.target == labels._l_name))
    merged_links = pairs.group_by(step=pairs.step, source=pairs.source,
                                  target=pairs._label).aggregate(
        sessions=pairs.sessions.sum())
    return merged_nodes, merged_links


def top_paths_query(events: ir.Table, *, gap: timedelta | str = DEFAULT_GAP,
                    offset_hours: float, steps: int = DEFAULT_STEPS, top: int = DEFAULT_TOP,
                    element: PathElement | str = PathElement.PAGE) -> ir.Table:
    """The most frequent paths from the session start as one lazy query (the benchmark's).

    Columns ``step_1`` ... ``step_<steps>`` and ``sessions``, largest first.
    """
    query = PathQuery.of(steps, None, None, None)
    if top < 1:
        raise AnalysisError(f"--top must be at least 1, got {top}")
    step_rows = path_steps(sessionize(events, gap=gap, offset_hours=offset_hours), element)
    return top_paths(path_counts(session_paths(step_rows, query), query), query, top)


# -- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PathCount:
    steps: tuple[str, ...]
    sessions: int
    share: float | None  # of the sessions in scope

    @property
    def path(self) -> str:
        return PATH_SEPARATOR.join(self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "steps": list(self.steps), "sessions": self.sessions,
                "share": self.share}


@dataclass(frozen=True)
class StepCount:
    name: str
    sessions: int
    share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sessions": self.sessions, "share": self.share}


@dataclass(frozen=True)
class SankeyNode:
    step: int  # offset from the anchor
    name: str
    sessions: int

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "sessions": self.sessions}


@dataclass(frozen=True)
class SankeyLink:
    step: int  # of the source; the target is at step + 1
    source: str
    target: str
    sessions: int

    def to_dict(self) -> dict[str, Any]:
        return {"source_step": self.step, "source": self.source,
                "target_step": self.step + 1, "target": self.target,
                "sessions": self.sessions}


@dataclass(frozen=True)
class Sankey:
    nodes: tuple[SankeyNode, ...]
    links: tuple[SankeyLink, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes],
                "links": [link.to_dict() for link in self.links]}


@dataclass(frozen=True)
class PathReport:
    element: str
    direction: str  # next, previous or between
    start: str | None  # the anchor page (from), or A of A → B
    end: str | None  # B of A → B
    steps: int
    top: int
    gap_seconds: int
    offset_hours: float
    since: date | None
    until: date | None
    sessions: int  # in scope: with a path / reaching the anchor / visiting A
    converted: int | None  # between: sessions going from A to B within the limit
    paths: tuple[PathCount, ...]
    next_steps: tuple[StepCount, ...]  # the step after (or before) the anchor
    sankey: Sankey

    def to_dict(self) -> dict[str, Any]:
        return {"element": self.element, "direction": self.direction, "from": self.start,
                "to": self.end, "steps": self.steps, "top": self.top,
                "gap_minutes": self.gap_seconds / 60, "offset_hours": self.offset_hours,
                "since": jsonable(self.since), "until": jsonable(self.until),
                "sessions": self.sessions, "converted": self.converted,
                "conversion": (None if self.converted is None
                               else _share(self.converted, self.sessions)),
                "paths": [p.to_dict() for p in self.paths],
                "next_steps": [s.to_dict() for s in self.next_steps],
                "sankey": self.sankey.to_dict()}


# -- running it ------------------------------------------------------------------------

def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _path_key(steps: list[str | None]) -> tuple[tuple[bool, str], ...]:
    return tuple((s is not None, s or "") for s in steps)


def _check_known(engine: Engine, steps: ir.Table, names: list[str], what: str) -> None:
    """A page nobody visited is most likely a typo: say which names exist."""
    for name in names:
        if int(engine.scalar(steps.filter(steps.name == name).count())) == 0:
            common = steps.group_by("name").aggregate(n=steps.count())
            known = [r["name"] for r in collect(engine, common.order_by(
                [common.n.desc(), common.name.asc()]).limit(12))]
            raise AnalysisError(f"no session in range has {what} {name!r}; most common: "
                                + (", ".join(known) or "none"))


def _answer(kind: str, t: ir.Table, query: PathQuery, **values: ir.Value) -> ir.Table:
    """One part of the combined answer; columns it does not have are typed nulls."""
    text: ir.StringValue = ibis.null("string")
    number: ir.IntegerValue = ibis.null("int64")
    texts = {c: values.get(c, text).cast("string")
             for c in ("name", "target", *query.columns)}
    return t.select(kind=ibis.literal(kind), step=values.get("step", number).cast("int64"),
                    **texts, sessions=t.sessions.cast("int64"))


def _answers(counts: ir.Table, query: PathQuery, top: int, per_step: int,
             scope: ir.Table | None) -> ir.Table:
    """Every answer of a report in one query (``kind`` tells them apart): Spark runs each
    query as a job, so one round trip instead of six."""
    total = counts.aggregate(sessions=counts.sessions.sum())
    best = top_paths(counts, query, top)
    parts = [_answer("total", total, query),
             _answer("path", best, query, **{c: best[c] for c in query.columns})]
    if query.start is not None and query.direction is not Direction.BETWEEN:
        near = neighbour_steps(counts, query)
        parts.append(_answer("near", near, query, name=near.name))
    nodes, links = sankey_tables(counts, query, per_step)
    parts.append(_answer("node", nodes, query, step=nodes.step, name=nodes.name))
    parts.append(_answer("link", links, query, step=links.step, name=links.source,
                         target=links.target))
    if scope is not None:
        parts.append(_answer("scope", scope, query))
    return ibis.union(*parts)


def analyze_paths(
    engine: Engine, events: ir.Table, *, gap: timedelta | str = DEFAULT_GAP,
    offset_hours: float, element: PathElement | str = PathElement.PAGE,
    steps: int = DEFAULT_STEPS, top: int = DEFAULT_TOP, start: str | None = None,
    end: str | None = None, direction: Direction | str | None = None,
    since: date | None = None, until: date | None = None,
    sankey_nodes: int = DEFAULT_SANKEY_NODES,
) -> PathReport:
    """Top paths, next/previous steps, paths between two pages and the Sankey data."""
    kind = PathElement.parse(element)
    query = PathQuery.of(steps, start, end, direction)
    if top < 1 or sankey_nodes < 1:
        raise AnalysisError("--top and the Sankey nodes per step must be at least 1")
    sessionized = within_dates(sessionize(events, gap=gap, offset_hours=offset_hours),
                               since, until)
    step_rows = path_steps(sessionized, kind)
    scope = None
    if query.direction is Direction.BETWEEN:
        visits = step_rows.filter(step_rows.name == query.start).select(
            *SESSION_KEYS).distinct()
        scope = visits.aggregate(sessions=visits.count())
    with materialized(engine, path_counts(session_paths(step_rows, query), query)) as counts:
        rows = collect(engine, _answers(counts, query, top, sankey_nodes, scope))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(str(row["kind"]), []).append(row)
    in_paths = int(by_kind["total"][0]["sessions"] or 0)
    if query.direction is Direction.BETWEEN:
        sessions, converted = int(by_kind["scope"][0]["sessions"]), in_paths
    else:
        sessions, converted = in_paths, None
    # Nothing found may be a typo in a page name: then say so rather than answer zero.
    if query.start is not None and (converted if converted is not None else sessions) == 0:
        names = [n for n in (query.start, query.end) if n is not None]
        _check_known(engine, step_rows, names, "page" if kind is PathElement.PAGE else "event")
    return PathReport(
        element=kind.value, direction=query.direction.value, start=query.start,
        end=query.end, steps=query.steps, top=top, gap_seconds=gap_seconds(gap),
        offset_hours=offset_hours, since=since, until=until, sessions=sessions,
        converted=converted, paths=_paths(by_kind.get("path", []), query, sessions),
        next_steps=_near(by_kind.get("near", []), sessions),
        sankey=_sankey(by_kind.get("node", []), by_kind.get("link", [])))


def _paths(rows: list[dict[str, Any]], query: PathQuery,
           sessions: int) -> tuple[PathCount, ...]:
    rows = sorted(rows, key=lambda r: (-int(r["sessions"]),
                                       _path_key([r[c] for c in query.nearest_first])))
    return tuple(PathCount(tuple(str(r[c]) for c in query.columns if r[c] is not None),
                           int(r["sessions"]), _share(int(r["sessions"]), sessions))
                 for r in rows)


def _near(rows: list[dict[str, Any]], sessions: int) -> tuple[StepCount, ...]:
    ordered = sorted(rows, key=lambda r: (-int(r["sessions"]), str(r["name"])))
    return tuple(StepCount(str(r["name"]), int(r["sessions"]),
                           _share(int(r["sessions"]), sessions)) for r in ordered)


def _sankey(node_rows: list[dict[str, Any]], link_rows: list[dict[str, Any]]) -> Sankey:
    nodes = sorted((SankeyNode(int(r["step"]), str(r["name"]), int(r["sessions"]))
                    for r in node_rows), key=lambda n: (n.step, -n.sessions, n.name))
    links = sorted((SankeyLink(int(r["step"]), str(r["name"]), str(r["target"]),
                               int(r["sessions"])) for r in link_rows),
                   key=lambda x: (x.step, -x.sessions, x.source, x.target))
    return Sankey(tuple(nodes), tuple(links))


def path_report(
    data: AnalyticsData, *, gap: timedelta | str | None = None,
    element: PathElement | str = PathElement.PAGE, steps: int = DEFAULT_STEPS,
    top: int = DEFAULT_TOP, start: str | None = None, end: str | None = None,
    direction: Direction | str | None = None, since: date | None = None,
    until: date | None = None, sankey_nodes: int = DEFAULT_SANKEY_NODES,
) -> PathReport:
    """Paths over the workspace's identity-resolved events, in its local time; the gap
    defaults to the workspace setting ``session_gap_minutes``."""
    return analyze_paths(data.engine, data.events(),
                         gap=workspace_gap(data) if gap is None else gap,
                         offset_hours=data.offset_hours, element=element, steps=steps,
                         top=top, start=start, end=end, direction=direction, since=since,
                         until=until, sankey_nodes=sankey_nodes)


__all__ = ["DEFAULT_SANKEY_NODES", "DEFAULT_STEPS", "DEFAULT_TOP", "END", "MAX_STEPS", "OTHER",
           "START", "Direction", "PathCount", "PathElement", "PathQuery", "PathReport",
           "Sankey", "SankeyLink", "SankeyNode", "StepCount", "analyze_paths", "neighbour_steps",
           "path_counts", "path_report", "path_steps", "sankey_tables", "session_paths",
           "top_paths", "top_paths_query"]
