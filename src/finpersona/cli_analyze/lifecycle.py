"""``finpersona analyze lifecycle`` and ``finpersona analyze stickiness``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.base import Period
from finpersona.analytics.lifecycle import (
    LifecycleQuery,
    LifecycleResult,
    StickinessResult,
    analyze_lifecycle,
    analyze_stickiness,
)
from finpersona.analytics.retention import ActivitySource
from finpersona.cli_analyze.app import (
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json, run_cli
from finpersona.cli_common import out as console

PeriodOpt = Annotated[str, typer.Option(help="day, week (Monday first) or month.")]
SourceOpt = Annotated[str, typer.Option(
    help="events (any app/web event) or transactions (any successful transaction).")]
EventOpt = Annotated[str | None, typer.Option(
    "--event", help="Only this event name (or transaction type) counts as activity.")]


def _query(period: str, event: str | None, since: str | None, until: str | None,
           source: str) -> tuple[LifecycleQuery, ActivitySource]:
    return (LifecycleQuery(period=Period.parse(period), event=event,
                           since=optional_date(since, "--since"),
                           until=optional_date(until, "--until")),
            ActivitySource.parse(source))


@analyze_app.command("lifecycle")
def lifecycle_command(
    period: PeriodOpt = "week",
    source: SourceOpt = "events",
    event: EventOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """New, returning, resurrecting and dormant customers per period."""
    query, activity_source = run_cli(lambda: _query(period, event, since, until, source))
    result = run_analysis(workspace, engine, lambda data: analyze_lifecycle(
        data, query, activity_source))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_lifecycle(result)


@analyze_app.command("stickiness")
def stickiness_command(
    period: PeriodOpt = "week",
    source: SourceOpt = "events",
    event: EventOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many days of each week or month customers are active (1, 2, … 7 days)."""
    query, activity_source = run_cli(lambda: _query(period, event, since, until, source))
    result = run_analysis(workspace, engine, lambda data: analyze_stickiness(
        data, query, activity_source))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_stickiness(result)


def _title(result: LifecycleResult | StickinessResult, what: str) -> str:
    activity = result.event or f"any {result.source[:-1]}"
    return (f"[bold]{what}[/] by {result.period}, activity = {activity}; * = period not "
            f"complete (data {result.first_day} – {result.last_day})")


def _print_lifecycle(result: LifecycleResult) -> None:
    console.print(_title(result, "Lifecycle"))
    table = RichTable("period", "new", "returning", "resurrecting", "dormant", "active")
    for p in result.periods:
        table.add_row(p.period_start.isoformat() + ("" if p.complete else "*"),
                      f"{p.new:,}", f"{p.returning:,}", f"{p.resurrecting:,}",
                      f"{p.dormant:,}", f"{p.active:,}")
    console.print(table)


def _print_stickiness(result: StickinessResult) -> None:
    console.print(_title(result, "Stickiness"))
    # Columns up to the most active days anyone reached (a month has up to 31).
    longest = max((n + 1 for p in result.periods for n, c in enumerate(p.distribution) if c),
                  default=1)
    table = RichTable("period", "customers", "mean days",
                      *[f"{n}d" for n in range(1, longest + 1)])
    for p in result.periods:
        mean = f"{p.mean_active_days:.2f}" if p.mean_active_days is not None else "-"
        cells = [f"{c:,}" for c in p.distribution[:longest]]
        cells += [""] * (longest - len(cells))
        table.add_row(p.period_start.isoformat() + ("" if p.complete else "*"),
                      f"{p.customers:,}", mean, *cells)
    console.print(table)
