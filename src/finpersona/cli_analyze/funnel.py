"""``finpersona analyze funnel``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.funnel import (
    DEFAULT_WINDOW,
    Funnel,
    FunnelSpec,
    FunnelStep,
    analyze_funnel,
)
from finpersona.cli_analyze.app import (
    BreakdownOpt,
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json, out

StepsOpt = Annotated[str, typer.Option(
    "--steps", help="Comma-separated steps: event names, optionally event@page "
    "(e.g. product_view,loan_apply_start,loan_apply_submit).")]
WindowOpt = Annotated[str, typer.Option(
    "--window", help="Conversion window from the first step: 30m, 2h, 14d, 2w.")]
OrderOpt = Annotated[str, typer.Option(
    "--order", help="ordered (other events may come between steps), strict (each step "
    "is the very next event) or unordered (any order).")]
ExcludeOpt = Annotated[list[str] | None, typer.Option(
    "--exclude", help="Drop customers with this event (event or event@page; with :FROM-TO "
    "only between those steps, e.g. logout:2-3) between the steps they went through; "
    "repeatable.")]
OverTimeOpt = Annotated[str | None, typer.Option(
    "--over-time", help="Also show the conversion of each day, week or month's entrants.")]


@analyze_app.command("funnel")
def funnel_command(
    steps: StepsOpt,
    window: WindowOpt = DEFAULT_WINDOW,
    order: OrderOpt = "ordered",
    exclude: ExcludeOpt = None,
    breakdown: BreakdownOpt = None,
    over_time: OverTimeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Customers through ordered steps within a conversion window (each counted once)."""

    def run(data: AnalyticsData) -> Funnel:
        spec = FunnelSpec.parse(steps, window, order, exclude or [])
        return analyze_funnel(data, spec, since=optional_date(since, "--since"),
                              until=optional_date(until, "--until"), breakdown=breakdown,
                              period=over_time)

    result = run_analysis(workspace, engine, run)
    if as_json:
        emit_json(result.to_dict())
        return
    _print(result)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _steps_table(title: str, steps: tuple[FunnelStep, ...]) -> RichTable:
    table = RichTable("step", "customers", "of first", "of previous", "median time",
                      title=title)
    for s in steps:
        table.add_row(f"{s.step}. {s.name}", str(s.count), _percent(s.conversion_from_first),
                      _percent(s.conversion_from_previous),
                      _duration(s.median_seconds_to_convert))
    return table


def _print(result: Funnel) -> None:
    spec = result.spec
    out.print(_steps_table(f"{spec.order.value} funnel, window {_duration(spec.window_seconds)}",
                           result.steps))
    if result.excluded_actors:
        out.print(f"{result.excluded_actors} customers excluded by "
                  f"{', '.join(e.label for e in spec.exclusions)}")
    for group in result.groups:
        out.print(_steps_table(f"{result.breakdown} = {group.value}", group.steps))
    if result.period is not None:
        table = RichTable(result.period.value, "entrants", "converted", "conversion",
                          title="conversion over time (by the period entered)")
        for p in result.over_time:
            mark = "" if p.complete else " (window still open)"
            table.add_row(p.period_start.isoformat(), str(p.entrants), str(p.converted),
                          _percent(p.conversion) + mark)
        out.print(table)


__all__ = ["funnel_command"]
