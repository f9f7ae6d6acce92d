"""``finpersona analyze paths``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.paths import (
    DEFAULT_SANKEY_NODES,
    DEFAULT_STEPS,
    DEFAULT_TOP,
    MAX_STEPS,
    PathReport,
    path_report,
)
from finpersona.cli_analyze.app import SinceOpt, UntilOpt, analyze_app, optional_date, run_analysis
from finpersona.cli_analyze.sessions import GapOpt
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json
from finpersona.cli_common import out as console


@analyze_app.command("paths")
def paths_command(
    top: Annotated[int, typer.Option("--top", help="How many paths to list.")] = DEFAULT_TOP,
    steps: Annotated[int, typer.Option(
        "--steps", help=f"Steps per path (1 to {MAX_STEPS}).")] = DEFAULT_STEPS,
    start: Annotated[str | None, typer.Option(
        "--from", help="Paths from this page (its first visit in each session).",
        show_default=False)] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Paths to this page; with --from, paths between the two.",
        show_default=False)] = None,
    direction: Annotated[str | None, typer.Option(
        "--direction", help="next (steps after --from, the default) or previous (steps "
        "before it).", show_default=False)] = None,
    element: Annotated[str, typer.Option(
        "--element", help="page, or event for sequences of event names.")] = "page",
    sankey_nodes: Annotated[int, typer.Option(
        "--sankey-nodes", help="Names kept per Sankey step; the rest is (other).")]
    = DEFAULT_SANKEY_NODES,
    gap: GapOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Operation paths: top paths, steps before/after a page, paths between two pages."""
    def run(data: AnalyticsData) -> PathReport:
        return path_report(data, gap=gap, element=element, steps=steps, top=top,
                           start=start, end=end, direction=direction,
                           since=optional_date(since, "--since"),
                           until=optional_date(until, "--until"), sankey_nodes=sankey_nodes)

    report = run_analysis(workspace, engine, run)
    if as_json:
        emit_json(report.to_dict())
        return
    print_report(report)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def print_report(report: PathReport) -> None:
    scope = {"next": f"sessions from their first {report.start}",
             "previous": f"sessions up to their first {report.start}",
             "between": f"sessions visiting {report.start}"}
    what = scope[report.direction] if report.start else "sessions"
    console.print(f"{report.sessions:,} {what}; up to {report.steps} {report.element} steps")
    if report.converted is not None:
        rate = report.converted / report.sessions if report.sessions else None
        console.print(f"{report.converted:,} reach {report.end} within {report.steps} steps "
                      f"({_percent(rate)})")
    table = RichTable("path", "sessions", "share", title="top paths")
    for p in report.paths:
        table.add_row(p.path, f"{p.sessions:,}", _percent(p.share))
    console.print(table)
    if report.next_steps:
        title = "steps before" if report.direction == "previous" else "steps after"
        steps = RichTable(report.element, "sessions", "share", title=f"{title} {report.start}")
        for s in report.next_steps:
            steps.add_row(s.name, f"{s.sessions:,}", _percent(s.share))
        console.print(steps)
