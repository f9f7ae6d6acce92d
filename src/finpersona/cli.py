"""The ``finpersona`` command line. It only parses, calls the packages below, and reports."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from finpersona import __version__
from finpersona.config import ConfigError, Workspace, open_workspace

app = typer.Typer(help="FinPersona: customer analytics and profiling for financial institutions.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
quarantine_app = typer.Typer(help="Inspect rows that ingestion quarantined.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
out = Console(soft_wrap=True)  # never break a path or message across lines
err = Console(stderr=True, soft_wrap=True)

WorkspaceOpt = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Workspace folder (default ./finpersona-workspace or "
    "$FINPERSONA_WORKSPACE).", show_default=False)]
EngineOpt = Annotated[str | None, typer.Option(
    "--engine", help="duckdb (embedded, default) or spark; overrides the workspace setting.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document for scripts.")]
T = TypeVar("T")


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _known_errors() -> tuple[type[BaseException], ...]:
    from finpersona.build import BuildError
    from finpersona.engine import EngineError
    from finpersona.ingest.clean import TimeZoneError
    from finpersona.ingest.runner import ReconciliationError
    from finpersona.ingest.sources import SourceError
    from finpersona.warehouse import WarehouseError

    return (UserError, ConfigError, EngineError, WarehouseError, SourceError, BuildError,
            ReconciliationError, TimeZoneError)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except _known_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc


def _emit_json(data: Any) -> None:
    if is_dataclass(data) and not isinstance(data, type):
        data = asdict(data)
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(TextColumn("{task.description:<40}"), BarColumn(), TextColumn(
            "{task.percentage:>5.1f}%"), TimeElapsedColumn(), console=err,
            transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage[:40], completed=done, total=max(total, 1))

        yield update


def _workspace(path: Path | None, engine: str | None = None, create: bool = True) -> Workspace:
    return open_workspace(path, create=create).with_engine(engine)


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

    with _progress(not as_json) as progress:
        summary = _run(lambda: generate_demo_bank(out_dir, customers=customers, seed=seed,
                                                  dirty_rate=dirty_rate, months=months,
                                                  progress=progress))
    result = {"source_dir": str(summary.source_dir), "truth_dir": str(summary.truth_dir),
              "rows": summary.rows, "files": len(summary.files)}
    if as_json:
        _emit_json(result)
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

    ws = _run(lambda: _workspace(workspace, engine))
    with _progress(not as_json) as progress:
        report = _run(lambda: ingest_directory(ws, directory, progress=progress))
    if as_json:
        _emit_json(report.to_json())
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

    day = _run(lambda: _parse_date(as_of)) if as_of else None
    ws = _run(lambda: _workspace(workspace, engine, create=False))
    with _progress(not as_json) as progress:
        report = _run(lambda: build(ws, day, progress=progress))
    if as_json:
        _emit_json(report)
        return
    for name, rows in report.tables.items():
        out.print(f"[green]built[/] {name} as of {report.as_of}: {rows:,} rows "
                  f"→ {report.paths[name]}")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"--as-of must be a date like 2025-12-31, not {text!r}") from exc


@app.command()
def status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the warehouse: tables, rows and snapshots."""
    from finpersona.warehouse import Warehouse

    ws = _run(lambda: _workspace(workspace, create=False))
    catalog = _run(lambda: Warehouse(ws.warehouse_dir).catalog())
    tables: dict[str, int] = {k: v["rows"] for k, v in sorted(catalog["tables"].items())}
    snapshots: dict[str, list[str]] = {
        k: sorted(v) for k, v in sorted(catalog["snapshots"].items())}
    result = {"workspace": str(ws.root), "engine": ws.settings.engine, "tables": tables,
              "snapshots": snapshots}
    if as_json:
        _emit_json(result)
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

    ws = _run(lambda: _workspace(workspace, create=False))
    result = _run(lambda: read_run_log(ws, limit=limit))
    if as_json:
        _emit_json(result)
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

    ws = _run(lambda: _workspace(workspace, create=False))
    result = _run(lambda: list_quarantine(ws, table=table, reason=reason, limit=limit))
    if as_json:
        _emit_json(result)
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

    ws = _run(lambda: _workspace(workspace, create=False))
    result = _run(lambda: show_quarantine(ws, row_id, reveal=reveal))
    if as_json:
        _emit_json(result)
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
    as_json: JsonOpt = False,
) -> None:
    """The whole path: generate a demo bank, ingest it, build, and say where the results are."""
    from finpersona.build import build
    from finpersona.ingest import ingest_directory
    from finpersona.synth import generate_demo_bank

    ws = _run(lambda: _workspace(workspace, engine))
    with _progress(not as_json) as progress:
        summary = _run(lambda: generate_demo_bank(out_dir, customers=customers, seed=seed,
                                                  progress=progress))
    with _progress(not as_json) as progress:
        report = _run(lambda: ingest_directory(ws, summary.source_dir, progress=progress))
    with _progress(not as_json) as progress:
        built = _run(lambda: build(ws, progress=progress))
    result = {
        "source_dir": str(summary.source_dir), "truth_dir": str(summary.truth_dir),
        "workspace": str(ws.root), "warehouse": str(ws.warehouse_dir),
        "ingest": {k: {"read": v.read, "accepted": v.accepted, "quarantined": v.quarantined,
                       "duplicates": v.duplicates} for k, v in report.tables.items()},
        "build": asdict(built),
    }
    if as_json:
        _emit_json(result)
        return
    read = sum(v.read for v in report.tables.values())
    acc = sum(v.accepted for v in report.tables.values())
    quar = sum(v.quarantined for v in report.tables.values())
    dup = sum(v.duplicates for v in report.tables.values())
    out.print(f"[green]1. generated[/] {customers:,} customers → {summary.source_dir}")
    out.print(f"[green]2. ingested[/] {read:,} rows: {acc:,} accepted, {quar:,} quarantined, "
              f"{dup:,} duplicates")
    out.print(f"[green]3. built[/] daily_summary as of {built.as_of}: "
              f"{built.tables.get('daily_summary', 0):,} rows")
    out.print("\nResults:")
    out.print(f"  warehouse (Parquet + catalog.json): {ws.warehouse_dir}")
    out.print(f"  daily summary snapshot: {built.paths.get('daily_summary')}")
    out.print(f"  run records: {ws.runs_dir}")
    out.print("  next: finpersona status · finpersona quarantine list")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
