"""``finpersona analyze patterns``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table as RichTable

from finpersona.cli_analyze.app import (
    SinceOpt,
    UntilOpt,
    analyze_app,
    optional_date,
    run_analysis,
)
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json
from finpersona.cli_common import out as console

if TYPE_CHECKING:
    from finpersona.analytics.patterns import (
        CrossCityResult,
        DayGroup,
        DistributionResult,
        MixResult,
        PatternsResult,
    )


@analyze_app.command("patterns")
def patterns(
    view: Annotated[str | None, typer.Option(
        "--view", help="One view: distribution, heatmap, weekday, festivals, channels, mcc "
        "or cross-city (default: all).")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    txn_types: Annotated[str, typer.Option(
        "--txn-types", help="Transaction types analysed, comma-separated, or all.")]
    = "purchase",
    top: Annotated[int, typer.Option("--top", help="City flows listed (cross-city).")] = 20,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Consumption patterns of successful transactions: distributions, hour x weekday heat
    map, weekday vs weekend, festivals vs ordinary days, channel, merchant category and
    cross-city mix."""
    from finpersona.analytics.patterns import compute_patterns

    first, last = optional_date(since, "--since"), optional_date(until, "--until")
    result = run_analysis(workspace, engine, lambda data: compute_patterns(
        data, views=[view] if view else None, since=first, until=last, txn_types=txn_types,
        top=top))
    if as_json:
        emit_json(result.to_dict())
        return
    _print(result)


def _print(result: PatternsResult) -> None:
    if result.distribution is not None:
        _print_distribution(result.distribution)
    if result.heatmap is not None:
        table = RichTable("weekday", *(str(h) for h in range(24)), title="hour x weekday")
        for i, row in enumerate(result.heatmap.matrix()):
            table.add_row(str(i + 1), *(str(n) for n in row))
        console.print(table)
    if result.weekday is not None:
        w = result.weekday
        _print_days([*w.weekdays, w.weekday, w.weekend], "weekday")
    if result.festivals is not None:
        table = RichTable("occasion", "channel", "days", "transactions", "per day", "lift",
                          title="festivals")
        for r in result.festivals.rows:
            table.add_row(r.occasion, r.channel, str(r.days), f"{r.transactions:,}",
                          _num(r.transactions_per_day), _num(r.lift))
        console.print(table)
    for mix in (result.channels, result.mcc):
        if mix is not None:
            _print_mix(mix)
    if result.cross_city is not None:
        _print_cross_city(result.cross_city)


def _print_distribution(d: DistributionResult) -> None:
    console.print(f"{d.purchases:,} transactions by {d.customers_with_purchases:,} of "
                  f"{d.customers:,} customers, CNY {d.amount_cny:,.2f}; ticket quantiles: "
                  + ", ".join(f"{k} {_num(v)}" for k, v in d.ticket_quantiles.items()))
    for title, bins in (("customers by transactions", d.count_histogram),
                        ("customers by CNY", d.spend_histogram),
                        ("transactions by CNY amount", d.ticket_histogram)):
        table = RichTable("from", "to", "count", title=title)
        for b in bins:
            table.add_row(f"{b.low:,g}", "∞" if b.high is None else f"{b.high:,g}",
                          f"{b.count:,}")
        console.print(table)


def _print_days(groups: list[DayGroup], title: str) -> None:
    table = RichTable("days", "name", "transactions", "per day", "CNY per day", title=title)
    for g in groups:
        table.add_row(str(g.days), g.name, f"{g.transactions:,}", _num(g.transactions_per_day),
                      _num(g.amount_per_day))
    console.print(table)


def _print_mix(mix: MixResult) -> None:
    table = RichTable(mix.dimension, "category", "transactions", "share", "customers", "CNY",
                      "share of CNY")
    for m in mix.rows:
        table.add_row(m.key, m.category or "", f"{m.transactions:,}",
                      f"{m.share_of_transactions:.1%}", f"{m.customers:,}",
                      f"{m.amount_cny:,.2f}", _num(m.share_of_amount))
    console.print(table)


def _print_cross_city(result: CrossCityResult) -> None:
    table = RichTable("location", "transactions", "share", "customers", "CNY",
                      title="cross-city")
    for loc in result.locations:
        table.add_row(loc.location, f"{loc.transactions:,}", _num(loc.share_of_transactions),
                      f"{loc.customers:,}", f"{loc.amount_cny:,.2f}")
    console.print(table)
    flows = RichTable("home city", "city", "transactions", "customers", "CNY")
    for f in result.flows:
        flows.add_row(f.home_city, f.city, f"{f.transactions:,}", f"{f.customers:,}",
                      f"{f.amount_cny:,.2f}")
    console.print(flows)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
