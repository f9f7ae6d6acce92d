"""``finpersona analyze trend``: a metric over time with a forecast and anomaly flags."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.analytics.trends import (
    DEFAULT_ANOMALY_THRESHOLD,
    DEFAULT_LEVEL,
    METRICS,
    Trend,
    TrendSeries,
    analyze_trend,
)
from finpersona.cli_analyze.app import (
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json, run_cli
from finpersona.cli_common import out as console

MetricOpt = Annotated[str, typer.Option(
    "--metric", help=f"What to count: {', '.join(METRICS)}.")]
PeriodOpt = Annotated[str, typer.Option(help="day, week (Monday first) or month.")]
TrendBreakdownOpt = Annotated[str | None, typer.Option(
    "--breakdown", help="Split by a column of the metric's table (e.g. channel, platform) "
    "or, if there is no such column, by a tag of the latest snapshot.")]
ForecastOpt = Annotated[int, typer.Option(
    "--forecast", help="Forecast this many periods after the last complete one (0: none).")]
LevelOpt = Annotated[float, typer.Option(help="Prediction interval level.")]
ThresholdOpt = Annotated[float, typer.Option(
    "--anomaly-threshold", help="Flag history points whose robust z-score exceeds this.")]


@analyze_app.command("trend")
def trend_command(
    metric: MetricOpt = "active_customers",
    period: PeriodOpt = "day",
    breakdown: TrendBreakdownOpt = None,
    forecast: ForecastOpt = 0,
    level: LevelOpt = DEFAULT_LEVEL,
    anomaly_threshold: ThresholdOpt = DEFAULT_ANOMALY_THRESHOLD,
    since: SinceOpt = None,
    until: UntilOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A metric per day, week or month (zero-filled), with a forecast and anomaly flags."""
    first, last = run_cli(lambda: (optional_date(since, "--since"),
                                   optional_date(until, "--until")))
    result = run_analysis(workspace, engine, lambda data: analyze_trend(
        data, metric, period=period, breakdown=breakdown, since=first, until=last,
        forecast=forecast, level=level, anomaly_threshold=anomaly_threshold))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_trend(result)


def _print_series(series: TrendSeries) -> None:
    table = RichTable("period", "value", "z", "")
    for p in series.points:
        score = "" if p.score is None else f"{p.score:+.1f}"
        table.add_row(p.period_start.isoformat() + ("*" if p.partial else ""),
                      f"{p.value:,.2f}".removesuffix(".00"), score,
                      "[bold red]anomaly[/]" if p.anomaly else "")
    if series.forecast is not None:
        for f in series.forecast.points:
            table.add_row(f"[cyan]{f.period_start.isoformat()}[/]", f"[cyan]{f.value:,.2f}[/]",
                          "", f"[cyan]{f.lower:,.2f} – {f.upper:,.2f}[/]")
    console.print(table)
    if series.forecast is not None:
        console.print(f"forecast model: {series.forecast.model}, "
                      f"{series.forecast.level:.0%} prediction interval")


def _print_trend(result: Trend) -> None:
    console.print(f"[bold]{result.metric}[/] ({result.description}) by {result.period}; "
                  f"data {result.first_day} – {result.last_day}; * = partial period")
    for series in result.series:
        if result.breakdown is not None:
            console.print(f"[bold]{result.breakdown} = {series.breakdown}[/]")
        _print_series(series)
