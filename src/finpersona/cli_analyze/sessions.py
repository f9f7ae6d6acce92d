"""``finpersona analyze sessions``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.data import AnalyticsData
from finpersona.analytics.sessions import (
    DwellStats,
    SessionReport,
    SessionStats,
    session_report,
)
from finpersona.cli_analyze.app import (
    BreakdownOpt,
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json
from finpersona.cli_common import out as console

GapOpt = Annotated[str | None, typer.Option(
    "--gap", help="A pause longer than this ends a session, e.g. 30m or 1h "
    "(default: the workspace's session_gap_minutes).", show_default=False)]
ByOpt = Annotated[list[str] | None, typer.Option(
    "--by", help="Also split by platform, customer, page (time on page) or feature "
    "(time per event name); repeat for several.", show_default=False)]
TopOpt = Annotated[int, typer.Option("--top", help="Rows per split and breakdown value.")]


@analyze_app.command("sessions")
def sessions_command(
    gap: GapOpt = None,
    by: ByOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    breakdown: BreakdownOpt = None,
    top: TopOpt = 20,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sessions by inactivity gap: length, pages per session, bounce rate, time on page."""
    def run(data: AnalyticsData) -> SessionReport:
        return session_report(data, gap=gap, by=by or (), breakdown=breakdown,
                              since=optional_date(since, "--since"),
                              until=optional_date(until, "--until"), top=top)

    report = run_analysis(workspace, engine, run)
    if as_json:
        emit_json(report.to_dict())
        return
    print_report(report)


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _session_table(title: str, rows: tuple[SessionStats, ...]) -> RichTable:
    table = RichTable("breakdown", "group", "sessions", "actors", "avg s", "median s",
                      "pages/session", "bounce", title=title)
    for s in rows:
        table.add_row(s.breakdown, s.group, f"{s.sessions:,}", f"{s.actors:,}",
                      _num(s.avg_duration_seconds), _num(s.median_duration_seconds),
                      _num(s.pages_per_session, 2), _percent(s.bounce_rate))
    return table


def _dwell_table(title: str, rows: tuple[DwellStats, ...]) -> RichTable:
    table = RichTable("breakdown", "name", "count", "sessions", "avg s to next",
                      "median s to next", "avg reported s", title=title)
    for d in rows:
        table.add_row(d.breakdown, d.name, f"{d.count:,}", f"{d.sessions:,}",
                      _num(d.avg_seconds_to_next), _num(d.median_seconds_to_next),
                      _num(d.avg_reported_seconds))
    return table


def print_report(report: SessionReport) -> None:
    console.print(f"sessions: a pause over {report.gap_seconds / 60:g} min starts a new one; "
                  f"bounce = one page visit under {report.bounce_seconds} s")
    console.print(_session_table("sessions", report.totals))
    for title, stats in (("per platform", report.platforms),
                         ("per customer (most sessions)", report.customers)):
        if stats:
            console.print(_session_table(title, stats))
    for title, dwell in (("time on page (per visit)", report.pages),
                         ("time per feature (per event)", report.features)):
        if dwell:
            console.print(_dwell_table(title, dwell))
