"""What every command group shares: consoles, common options, error handling, progress."""

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

from finpersona.config import ConfigError, Workspace, open_workspace

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


def known_errors() -> tuple[type[BaseException], ...]:
    from finpersona.analytics.base import AnalysisError
    from finpersona.audiences.errors import AudienceError
    from finpersona.build import BuildError
    from finpersona.engine import EngineError
    from finpersona.ingest.clean import TimeZoneError
    from finpersona.ingest.runner import ReconciliationError
    from finpersona.ingest.sources import SourceError
    from finpersona.models.spec import ModelError
    from finpersona.portrait import CustomerNotFoundError, PortraitError
    from finpersona.tags.catalogue import CatalogueError
    from finpersona.tags.expression import ExpressionError
    from finpersona.warehouse import WarehouseError

    return (UserError, ConfigError, EngineError, WarehouseError, SourceError, BuildError,
            ReconciliationError, TimeZoneError, CatalogueError, ExpressionError, PortraitError,
            CustomerNotFoundError, AnalysisError, AudienceError, ModelError)


def run_cli(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except known_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from exc


def emit_json(data: Any) -> None:
    if is_dataclass(data) and not isinstance(data, type):
        data = asdict(data)
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
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


def open_ws(path: Path | None, engine: str | None = None, create: bool = True) -> Workspace:
    return open_workspace(path, create=create).with_engine(engine)


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"--as-of must be a date like 2025-12-31, not {text!r}") from exc
