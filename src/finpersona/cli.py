"""The ``finpersona`` command line. It only parses, calls the packages below, and reports."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from finpersona import __version__
from finpersona.cli_analyze import analyze_app
from finpersona.cli_audience import app as audience_app
from finpersona.cli_common import (
    EngineOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    open_ws,
    out,
    parse_date,
    progress_bar,
    run_cli,
)
from finpersona.cli_model import model_app
from finpersona.cli_tags import customer_app, tags_app

app = typer.Typer(help="FinPersona: customer analytics and profiling for financial institutions.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
quarantine_app = typer.Typer(help="Inspect rows that ingestion quarantined.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(tags_app, name="tags")
app.add_typer(customer_app, name="customer")
app.add_typer(audience_app, name="audience")
app.add_typer(analyze_app, name="analyze")
app.add_typer(model_app, name="model")


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for source/ and truth/.")] = Path(
        "demo"),
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 7,
    dirty_rate: Annotated[float, typer.Option(min=0.0, max=0.5,
                                              help="Share of rows made messy.")] = 0.02,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of history.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """Generate the synthetic demo bank (source files plus hidden truth)."""
    from finpersona.synth import generate_demo_bank

    with progress_bar(not as_json) as progress:
        summary = run_cli(lambda: generate_demo_bank(out_dir, customers=customers, seed=seed,
                                                  dirty_rate=dirty_rate, months=months,
                                                  progress=progress))
    result = {"source_dir": str(summary.source_dir), "truth_dir": str(summary.truth_dir),
              "rows": summary.rows, "files": len(summary.files)}
    if as_json:
        emit_json(result)
        return
    out.print(f"[green]wrote[/] {sum(summary.rows.values()):,} rows in {len(summary.files)} files "
              f"to {summary.source_dir} (hidden truth in {summary.truth_dir})")


@app.command()
def ingest(
    directory: Annotated[Path, typer.Argument(help="Folder of source files.")],
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read, clean, protect, deduplicate and load source files; quarantine what is invalid."""
    from finpersona.ingest import ingest_directory

    ws = run_cli(lambda: open_ws(workspace, engine))
    with progress_bar(not as_json) as progress:
        report = run_cli(lambda: ingest_directory(ws, directory, progress=progress))
    if as_json:
        emit_json(report.to_json())
        return
    table = RichTable(title=f"ingest run {report.run_id} ({report.engine})")
    for col in ("table", "read", "accepted", "quarantined", "duplicates"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for name, c in sorted(report.tables.items()):
        table.add_row(name, f"{c.read:,}", f"{c.accepted:,}", f"{c.quarantined:,}",
                      f"{c.duplicates:,}")
    out.print(table)
    if report.skipped_files:
        out.print(f"[yellow]skipped {len(report.skipped_files)} files matching no table:[/] "
                  + ", ".join(report.skipped_files[:5]))
    out.print(f"warehouse: {ws.warehouse_dir}")


@app.command("build")
def build_cmd(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Snapshot date YYYY-MM-DD (default: the last day with data).")] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute the derived tables for an as-of date and publish them as one snapshot."""
    from finpersona.build import build

    day = run_cli(lambda: parse_date(as_of)) if as_of else None
    ws = run_cli(lambda: open_ws(workspace, engine, create=False))
    with progress_bar(not as_json) as progress:
        report = run_cli(lambda: build(ws, day, progress=progress))
    if as_json:
        emit_json(report)
        return
    for name, rows in report.tables.items():
        out.print(f"[green]built[/] {name} as of {report.as_of}: {rows:,} rows "
                  f"→ {report.paths[name]}")


@app.command()
def report(
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path(
        "report.html"),
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Tag snapshot date YYYY-MM-DD (default: the latest build).")] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the overview as one self-contained HTML file (charts work offline)."""
    from finpersona.report import write_report

    day = run_cli(lambda: parse_date(as_of)) if as_of else None
    ws = run_cli(lambda: open_ws(workspace, engine, create=False))
    with progress_bar(not as_json) as progress:
        summary = run_cli(lambda: write_report(ws, out_file, as_of=day, progress=progress))
    if as_json:
        emit_json(summary)
        return
    out.print(f"[green]wrote[/] {summary.path} ({summary.bytes / 2**20:.1f} MB, as of "
              f"{summary.as_of}): {len(summary.sections)} sections")
    for key, why in summary.missing.items():
        out.print(f"[yellow]not drawn[/] {key}: {why}")


@app.command()
def status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the warehouse: tables, rows and snapshots."""
    from finpersona.warehouse import Warehouse

    ws = run_cli(lambda: open_ws(workspace, create=False))
    catalog = run_cli(lambda: Warehouse(ws.warehouse_dir).catalog())
    tables: dict[str, int] = {k: v["rows"] for k, v in sorted(catalog["tables"].items())}
    snapshots: dict[str, list[str]] = {
        k: sorted(v) for k, v in sorted(catalog["snapshots"].items())}
    result = {"workspace": str(ws.root), "engine": ws.settings.engine, "tables": tables,
              "snapshots": snapshots}
    if as_json:
        emit_json(result)
        return
    table = RichTable(title=f"workspace {ws.root}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in tables.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
    for name, dates in snapshots.items():
        out.print(f"snapshot {name}: {', '.join(dates)}")


@app.command()
def runs(workspace: WorkspaceOpt = None,
         limit: Annotated[int, typer.Option(min=1, help="Most recent runs to show.")] = 10,
         as_json: JsonOpt = False) -> None:
    """Ingestion-run records: per run and table, rows read, accepted, quarantined, duplicates."""
    from finpersona.ingest.run_log import read_run_log

    ws = run_cli(lambda: open_ws(workspace, create=False))
    result = run_cli(lambda: read_run_log(ws, limit=limit))
    if as_json:
        emit_json(result)
        return
    table = RichTable(title=f"last {len(result)} ingestion runs")
    for col in ("run", "started", "table", "read", "accepted", "quarantined", "duplicates"):
        table.add_column(col, justify="right" if col in ("read", "accepted", "quarantined",
                                                         "duplicates") else "left")
    for run in result:
        for row in run["tables"]:
            table.add_row(run["run_id"], run["started_at"], row["table"], f"{row['read']:,}",
                          f"{row['accepted']:,}", f"{row['quarantined']:,}",
                          f"{row['duplicates']:,}")
    out.print(table)


@quarantine_app.command("list")
def quarantine_list(
    workspace: WorkspaceOpt = None,
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Counts by table and reason, then the first quarantined rows."""
    from finpersona.ingest.quarantine_view import list_quarantine

    ws = run_cli(lambda: open_ws(workspace, create=False))
    result = run_cli(lambda: list_quarantine(ws, table=table, reason=reason, limit=limit))
    if as_json:
        emit_json(result)
        return
    summary = RichTable(title="quarantine")
    for col in ("table", "reason", "rows"):
        summary.add_column(col)
    for row in result["counts"]:
        summary.add_row(row["table"], row["reason"], f"{row['rows']:,}")
    out.print(summary)
    rows = RichTable(title=f"first {len(result['rows'])} rows")
    for col in ("id", "reason", "column", "preview"):
        rows.add_column(col, overflow="fold")
    for row in result["rows"]:
        rows.add_row(row["id"], row["reason"], row["column"] or "", row["preview"])
    out.print(rows)


@quarantine_app.command("show")
def quarantine_show(
    row_id: Annotated[str, typer.Argument(help="Row id from `quarantine list` (table:file:line).")],
    workspace: WorkspaceOpt = None,
    reveal: Annotated[bool, typer.Option(
        help="Decrypt the raw line from the vault (contains personal data).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Everything kept about one quarantined row."""
    from finpersona.ingest.quarantine_view import show_quarantine

    ws = run_cli(lambda: open_ws(workspace, create=False))
    result = run_cli(lambda: show_quarantine(ws, row_id, reveal=reveal))
    if as_json:
        emit_json(result)
        return
    for key, value in result.items():
        out.print(f"[bold]{key}[/]: {value}")


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=100, help="Customers in the demo bank.")] = 10_000,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo data goes.")] = Path(
        "demo"),
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    models: Annotated[bool, typer.Option(
        help="Also build two earlier quarter-ends and train, promote and score every "
             "model.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """The whole path: generate a demo bank, ingest it, build, and say where the results are."""
    from finpersona.build import build
    from finpersona.ingest import ingest_directory
    from finpersona.models.workflow import train_and_score_all
    from finpersona.synth import generate_demo_bank

    ws = run_cli(lambda: open_ws(workspace, engine))
    with progress_bar(not as_json) as progress:
        summary = run_cli(lambda: generate_demo_bank(out_dir, customers=customers, seed=seed,
                                                  progress=progress))
    with progress_bar(not as_json) as progress:
        report = run_cli(lambda: ingest_directory(ws, summary.source_dir, progress=progress))
    with progress_bar(not as_json) as progress:
        built = run_cli(lambda: build(ws, progress=progress))
    trained: list[Any] = []
    if models:
        # Supervised models train on one snapshot and are tested on a later one whose
        # outcome window has ended: the month-ends six and three months before.
        latest = date.fromisoformat(built.as_of)

        def earlier_builds(progress: Any) -> None:
            for months in (6, 3):
                build(ws, _month_end_before(latest, months), progress=progress)

        with progress_bar(not as_json) as progress:
            run_cli(lambda: earlier_builds(progress))
            trained = run_cli(lambda: train_and_score_all(ws, progress=progress))
    result = {
        "source_dir": str(summary.source_dir), "truth_dir": str(summary.truth_dir),
        "workspace": str(ws.root), "warehouse": str(ws.warehouse_dir),
        "ingest": {k: {"read": v.read, "accepted": v.accepted, "quarantined": v.quarantined,
                       "duplicates": v.duplicates} for k, v in report.tables.items()},
        "build": asdict(built),
        "models": [{"model": card.ref, "training_as_of": card.training_as_of,
                    "split": card.split, "metrics": card.metrics, "scored": scored.to_dict()}
                   for card, scored in trained],
    }
    if as_json:
        emit_json(result)
        return
    read = sum(v.read for v in report.tables.values())
    acc = sum(v.accepted for v in report.tables.values())
    quar = sum(v.quarantined for v in report.tables.values())
    dup = sum(v.duplicates for v in report.tables.values())
    out.print(f"[green]1. generated[/] {customers:,} customers → {summary.source_dir}")
    out.print(f"[green]2. ingested[/] {read:,} rows: {acc:,} accepted, {quar:,} quarantined, "
              f"{dup:,} duplicates")
    out.print(f"[green]3. built[/] as of {built.as_of}: daily_summary "
              f"{built.tables.get('daily_summary', 0):,} rows; tag_snapshot "
              f"{built.tables.get('tag_snapshot', 0):,} customers with tags, history and index")
    if trained:
        out.print(f"[green]4. models[/] trained, promoted and scored as of {built.as_of}:")
        for card, scored in trained:
            headline = ", ".join(f"{k} {card.metrics[k]:.3f}" for k in HEADLINE_METRICS
                                 if isinstance(card.metrics.get(k), float))
            out.print(f"   {card.ref:<22} {scored.score.rows:>7,} customers  {headline}")
    out.print("\nResults:")
    out.print(f"  warehouse (Parquet + catalog.json): {ws.warehouse_dir}")
    out.print(f"  daily summary snapshot: {built.paths.get('daily_summary')}")
    out.print(f"  tag snapshot: {built.paths.get('tag_snapshot')}")
    out.print(f"  run records: {ws.runs_dir}")
    if trained:
        out.print(f"  model registry and cards: {ws.models_dir}")
    out.print("  next: finpersona report --out report.html · finpersona tags list · "
              "finpersona customer show KEY · "
              "finpersona audience count \"age BETWEEN 25 AND 35\" · "
              "finpersona analyze funnel --steps product_view,loan_apply_start,"
              "loan_apply_submit · finpersona model list · "
              "finpersona model explain credit_risk KEY")


# The held-out figures the demo prints per model (the rest are in each model card).
HEADLINE_METRICS = ("auc", "ks", "correlation", "total_relative_error", "silhouette",
                    "stability_ari_mean", "coverage")


def _month_end_before(day: date, months: int) -> date:
    """The last day of the month ``months`` before ``day``'s month."""
    first = date(day.year, day.month, 1)
    index = first.year * 12 + first.month - 1 - months + 1  # the month after the target
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
