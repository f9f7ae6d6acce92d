"""``finpersona analyze funnel``."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from finpersona.analytics.base import AnalysisError
from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.funnel import (
    DEFAULT_WINDOW,
    Funnel,
    FunnelSpec,
    FunnelStep,
    Outcome,
    analyze_funnel,
    funnel_customers,
)

if TYPE_CHECKING:
    from finpersona.audiences import Audience
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
SaveOpt = Annotated[str | None, typer.Option(
    "--save-audience", help="Save the customers behind a step as a fixed-list audience "
    "with this name (see --at-step and --outcome).")]
AtStepOpt = Annotated[int | None, typer.Option(
    "--at-step", help="The step (1-based) whose customers --save-audience saves; default: "
    "the last step for converted, the first for dropped_off.")]
OutcomeOpt = Annotated[str, typer.Option(
    "--outcome", help="converted (reached the step) or dropped_off (reached it, not the "
    "next).")]


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
    save_audience: SaveOpt = None,
    at_step: AtStepOpt = None,
    outcome: OutcomeOpt = "converted",
    replace: Annotated[bool, typer.Option(
        "--replace", help="Redefine an existing audience of that name.")] = False,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Customers through ordered steps within a conversion window (each counted once).

    With --save-audience, the customers who converted at (or dropped off after) a step
    become a fixed-list audience that `audience profile`, `overlap` and `export` use.
    """
    saved: list[Audience] = []

    def run(data: AnalyticsData) -> Funnel:
        spec = FunnelSpec.parse(steps, window, order, exclude or [])
        first, last = optional_date(since, "--since"), optional_date(until, "--until")
        result = analyze_funnel(data, spec, since=first, until=last, breakdown=breakdown,
                                period=over_time)
        if save_audience is not None:
            saved.append(_save(data, spec, save_audience, at_step, outcome, first, last,
                               replace))
        return result

    result = run_analysis(workspace, engine, run)
    if as_json:
        body = result.to_dict()
        if saved:
            body["saved_audience"] = {"name": saved[0].name, "source": saved[0].expression}
        emit_json(body)
        return
    _print(result)
    if saved:
        out.print(f"[green]saved audience[/] {escape(saved[0].name)}: "
                  f"{escape(saved[0].expression)}")


def _save(data: AnalyticsData, spec: FunnelSpec, name: str, at_step: int | None,
          outcome: str, since: date | None, until: date | None, replace: bool) -> Audience:
    """Write the step's customers as a fixed-list audience, described by the funnel."""
    from finpersona.audiences import save_member_audience

    try:
        wanted = Outcome(outcome)
    except ValueError:
        raise AnalysisError(f"unknown outcome {outcome!r}: use converted or dropped_off"
                            ) from None
    n = len(spec.steps)
    step = at_step if at_step is not None else (n if wanted is Outcome.CONVERTED else 1)
    keys = funnel_customers(data.events(), spec, step, wanted, since=since, until=until,
                            offset_hours=data.offset_hours)
    labels = ", ".join(c.label for c in spec.steps)
    verb = "reached" if wanted is Outcome.CONVERTED else "dropped off after"
    span = f"; entered {since or '…'} to {until or '…'}" if since or until else ""
    source = (f"funnel [{labels}] ({spec.order.value}, window {_duration(spec.window_seconds)})"
              f": {verb} step {step}{span}")
    workspace = data.workspace
    if workspace is None:
        raise AnalysisError("saving an audience needs a workspace")
    return save_member_audience(workspace, name, keys, data.engine, source, replace=replace)


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
