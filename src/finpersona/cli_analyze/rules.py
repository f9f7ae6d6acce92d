"""``finpersona analyze rules``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table as RichTable

from finpersona.cli_analyze.app import analyze_app, optional_date, run_analysis
from finpersona.cli_common import EngineOpt, JsonOpt, WorkspaceOpt, emit_json
from finpersona.cli_common import out as console


@analyze_app.command("rules")
def rules(
    items: Annotated[str, typer.Option(
        "--items", help="products (product types held), product-ids or mcc (merchant "
        "categories of successful purchases in the window).")] = "products",
    min_support: Annotated[float, typer.Option(
        "--min-support", help="Smallest share of baskets an itemset must be in.")] = 0.01,
    min_confidence: Annotated[float, typer.Option(
        "--min-confidence", help="Smallest confidence of a rule.")] = 0.2,
    min_lift: Annotated[float, typer.Option(
        "--min-lift", help="Smallest lift of a rule (1: no less than chance).")] = 1.0,
    max_len: Annotated[int, typer.Option(
        "--max-len", help="Most items in an itemset (1 to 4).")] = 3,
    top: Annotated[int, typer.Option("--top", help="Rules listed, best first.")] = 20,
    window: Annotated[str | None, typer.Option(
        "--window", help="mcc: days of purchases up to the as-of date (default 365d).")]
    = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Holdings or window end date (default: the latest build).")] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Association rules: products held together or merchant categories used together,
    with support, confidence, lift, leverage and conviction."""
    from finpersona.analytics.association import compute_rules

    day = optional_date(as_of, "--as-of")
    result = run_analysis(workspace, engine, lambda data: compute_rules(
        data, items=items, min_support=min_support, min_confidence=min_confidence,
        min_lift=min_lift, max_len=max_len, top=top, as_of=day, window=window))
    if as_json:
        emit_json(result.to_dict())
        return
    console.print(f"{result.items} as of {result.as_of}: {result.baskets:,} baskets, "
                  f"{len(result.itemsets):,} frequent itemsets (at least {result.min_count:,} "
                  f"baskets), {result.rules_found:,} rules; the top {len(result.rules)}:")
    table = RichTable("antecedent", "consequent", "support", "confidence", "lift", "leverage",
                      "conviction")
    for r in result.rules:
        table.add_row(", ".join(r.antecedent), ", ".join(r.consequent), f"{r.support:.3f}",
                      f"{r.confidence:.3f}", f"{r.lift:.2f}", f"{r.leverage:.4f}",
                      "∞" if r.conviction is None else f"{r.conviction:.2f}")
    console.print(table)
