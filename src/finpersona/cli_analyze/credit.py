"""``finpersona analyze vintage``, ``roll-rates`` and ``dpd``: credit behaviour."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

import ibis.expr.types as ir
import typer
from rich.table import Table as RichTable

from finpersona.analytics.credit import (
    DpdDistribution,
    RollRateMatrix,
    RollRates,
    VintageCurves,
    compute_dpd_distribution,
    compute_roll_rates,
    compute_vintage,
    default_as_of,
)
from finpersona.analytics.data import AnalyticsData
from finpersona.cli_analyze.app import analyze_app, optional_date, run_analysis
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json, run_cli
from finpersona.cli_common import out as console
from finpersona.engine import Engine

T = TypeVar("T")
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Observe up to the last month end on or before this date (default: the "
    "latest disbursement or payment date in the data).")]


def _run(workspace: WorkspaceOpt, engine: EngineOpt, as_of: str | None,
         fn: Callable[[Engine, ir.Table, ir.Table, date], T]) -> T:
    chosen = run_cli(lambda: optional_date(as_of, "--as-of"))

    def go(data: AnalyticsData) -> T:
        loans, repayments = data.table("loans"), data.table("repayments")
        when = chosen or default_as_of(data.engine, loans, repayments)
        return fn(data.engine, loans, repayments, when)

    return run_analysis(workspace, engine, go)


@analyze_app.command("vintage")
def vintage_command(
    threshold: Annotated[int, typer.Option(
        help="A loan is bad once its month-end DPD reaches this many days (30, 60, 90).")]
    = 30,
    by: Annotated[str, typer.Option(help="count (share of loans) or amount (of principal).")]
    = "count",
    max_mob: Annotated[int | None, typer.Option(
        "--max-mob", help="Show months on book up to this one.")] = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Vintage curves: share of each disbursement month's loans ever bad, by months on book."""
    result = _run(workspace, engine, as_of, lambda e, loans, repayments, when: compute_vintage(
        e, loans, repayments, as_of=when, threshold=threshold, by=by, max_mob=max_mob))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_vintage(result)


@analyze_app.command("roll-rates")
def roll_rates_command(
    month: Annotated[str | None, typer.Option(
        "--month", help="Only the moves into this month's end (YYYY-MM).")] = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Roll rates between DPD buckets M0 … M6+ and closed, month end to month end."""
    result = _run(workspace, engine, as_of, lambda e, loans, repayments, when:
                  compute_roll_rates(e, loans, repayments, as_of=when, month=month))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_roll_rates(result)


@analyze_app.command("dpd")
def dpd_command(
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Loans, outstanding balance and overdue amount by DPD bucket at the latest month end."""
    result = _run(workspace, engine, as_of, lambda e, loans, repayments, when:
                  compute_dpd_distribution(e, loans, repayments, as_of=when))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_dpd(result)


def _print_vintage(result: VintageCurves) -> None:
    console.print(f"[bold]Vintage[/]: share of {'loans' if result.by == 'count' else 'principal'}"
                  f" ever {result.threshold}+ DPD, month ends up to {result.month_end}")
    longest = max((len(c.points) for c in result.cohorts), default=0)
    table = RichTable("cohort", "loans", *[f"MOB{m}" for m in range(1, longest + 1)])
    for c in result.cohorts:
        cells = [f"{p.rate:.1%}" for p in c.points]
        table.add_row(c.cohort, f"{c.loans:,}", *cells, *[""] * (longest - len(cells)))
    console.print(table)
    console.print(f"left out: {result.loans_without_schedule:,} loans without a schedule, "
                  f"{result.left_truncated_loans:,} with a schedule that starts after "
                  "instalment 1")


def _print_matrix(matrix: RollRateMatrix) -> None:
    table = RichTable("from \\ to", *matrix.states, "loans")
    for state, shares, total in zip(matrix.states, matrix.shares, matrix.from_totals,
                                    strict=True):
        table.add_row(state, *["" if s is None else f"{s:.1%}" for s in shares], f"{total:,}")
    console.print(table)


def _print_roll_rates(result: RollRates) -> None:
    for matrix in result.months:
        console.print(f"[bold]Roll rates into the end of {matrix.month}[/]")
        _print_matrix(matrix)
    if len(result.months) > 1:
        console.print(f"[bold]Pooled over {len(result.months)} months[/]")
        _print_matrix(result.pooled)


def _print_dpd(result: DpdDistribution) -> None:
    console.print(f"[bold]DPD distribution[/] at {result.month_end}")
    table = RichTable("bucket", "loans", "share", "balance", "share", "overdue")
    for b in result.buckets:
        table.add_row(b.bucket, f"{b.loans:,}",
                      "" if b.loan_share is None else f"{b.loan_share:.1%}", f"{b.balance:,.2f}",
                      "" if b.balance_share is None else f"{b.balance_share:.1%}",
                      f"{b.overdue_amount:,.2f}")
    console.print(table)
    console.print(f"closed: {result.closed_loans:,}; without a schedule: "
                  f"{result.loans_without_schedule:,}")
