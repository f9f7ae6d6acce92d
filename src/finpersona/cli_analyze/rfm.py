"""``finpersona analyze rfm``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.cli_analyze.app import analyze_app, optional_date, run_analysis
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json
from finpersona.cli_common import out as console


@analyze_app.command("rfm")
def rfm(
    window: Annotated[str | None, typer.Option(
        "--window", help="Days of debits up to the as-of date, e.g. 365d or 52w "
        "(default: the workspace setting rfm_window_days).")] = None,
    scoring: Annotated[str | None, typer.Option(
        "--scoring", help="quantile (fifths of the debiting customers) or fixed (the "
        "workspace's rfm_*_cuts); default: the setting rfm_scoring.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Last day of the window (default: the latest build).")] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """RFM scores and the eight classic classes (重要价值 … 一般挽留), as the tags
    r_score, f_score, m_score and rfm_segment compute them."""
    from finpersona.analytics.rfm import compute_rfm

    day = optional_date(as_of, "--as-of")
    result = run_analysis(workspace, engine, lambda data: compute_rfm(
        data, as_of=day, window=window, scoring=scoring))
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(f"RFM as of {result.as_of}, {result.window_days} days, {result.scoring} "
                  f"scoring (high = score {result.high_score}+): {result.customers:,} "
                  f"customers, {result.active_customers:,} with a debit in the window")
    table = RichTable()
    table.add_column("class", min_width=8, no_wrap=True)  # 4 Chinese characters, never cut
    for name in ("R", "F", "M", "customers", "share", "avg R days", "avg F", "avg M",
                 "total M"):
        table.add_column(name)
    for c in result.classes:
        table.add_row(c.name, *("high" if h else "low" for h in (c.r_high, c.f_high, c.m_high)),
                      f"{c.customers:,}", f"{c.share:.1%}",
                      "" if c.mean_recency_days is None else f"{c.mean_recency_days:.1f}",
                      f"{c.mean_frequency:.1f}", f"{c.mean_monetary:,.2f}",
                      f"{c.total_monetary:,.2f}")
    console.print(table)
