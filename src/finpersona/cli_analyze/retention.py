"""``finpersona analyze retention``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.base import Period
from finpersona.analytics.retention import (
    ActivitySource,
    RetentionMode,
    RetentionQuery,
    RetentionResult,
    Weighting,
    analyze_retention,
)
from finpersona.cli_analyze.app import (
    BreakdownOpt,
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json, run_cli
from finpersona.cli_common import out as console

_SHOWN_PERIODS = 13  # columns a terminal table shows; --json has them all


@analyze_app.command("retention")
def retention_command(
    start: Annotated[str, typer.Option(
        "--start", help="Start activity: an event name (or a transaction type with "
        "--source transactions), e.g. login or purchase.")],
    return_event: Annotated[str, typer.Option(
        "--return", help="Return activity, e.g. login.")],
    period: Annotated[str, typer.Option(help="day, week (Monday first) or month.")] = "week",
    periods: Annotated[int, typer.Option(
        help="Matrix columns, period 0 included (PostHog's total intervals).")] = 12,
    mode: Annotated[str, typer.Option(
        help="first: a customer's cohort is the period of their first start activity; "
        "recurring: every period with a start activity is a cohort entry.")] = "first",
    cumulative: Annotated[bool, typer.Option(
        "--cumulative", help="Count a customer in period k when they returned in k or "
        "any later period shown (PostHog's 'on or after').")] = False,
    source: Annotated[str, typer.Option(
        help="events (app/web events) or transactions (successful transactions, named "
        "by type).")] = "events",
    weighted: Annotated[str | None, typer.Option(
        help="Also weight by money: spend (purchases) or aum (deposit and wealth "
        "balances); the share of period 0's amount still there in period k.")] = None,
    breakdown: BreakdownOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cohort retention matrix: who comes back in the periods after a start activity."""

    def parse() -> tuple[RetentionQuery, ActivitySource, Weighting | None]:
        query = RetentionQuery(
            start_event=start, return_event=return_event, period=Period.parse(period),
            periods=periods, mode=RetentionMode.parse(mode), cumulative=cumulative,
            breakdown=breakdown, since=optional_date(since, "--since"),
            until=optional_date(until, "--until"))
        weighting = Weighting.parse(weighted) if weighted is not None else None
        query.validate(weighted=weighting is not None)
        return query, ActivitySource.parse(source), weighting

    query, activity_source, weighting = run_cli(parse)
    result = run_analysis(workspace, engine, lambda data: analyze_retention(
        data, query, activity_source, weighting))
    if as_json:
        emit_json(result.to_dict())
        return
    _print(result)


def _print(result: RetentionResult) -> None:
    what = "on or after" if result.cumulative else "in"
    console.print(f"[bold]{result.mode}-time[/] retention by {result.period}: start "
                  f"{result.start_event!r}, return {result.return_event!r} ({result.source}),"
                  f" share of each cohort returning {what} period k; * = period not complete"
                  f" (data {result.first_day} – {result.last_day})")
    if not result.cohorts:
        console.print("no cohort in the analysed range")
        return
    shown = min(result.periods, _SHOWN_PERIODS)
    columns = ["cohort", "customers"] + [f"{result.period[0].upper()}{k}" for k in range(shown)]
    if result.breakdown:
        columns.insert(0, result.breakdown)
    table = RichTable(*columns)
    for cohort in result.cohorts:
        cells = [f"{c.rate:.1%}" + ("" if c.complete else "*") for c in cohort.cells[:shown]]
        row = [cohort.cohort_start.isoformat(), f"{cohort.size:,}", *cells]
        row += [""] * (len(columns) - len(row) - (1 if result.breakdown else 0))
        table.add_row(*([cohort.breakdown] if result.breakdown else []), *row)
    console.print(table)
    for avg in result.average:
        if avg.period == 0:
            continue
        money = f", {result.weighted} retained {avg.amount_rate:.1%}" if (
            avg.amount_rate is not None) else ""
        label = f"{avg.breakdown}: " if result.breakdown else ""
        console.print(f"{label}period {avg.period}: {avg.rate:.1%} of {avg.cohort_customers:,}"
                      f" customers in {avg.cohorts} complete cohorts{money}")
