"""``finpersona audience``: select, count, save, profile, overlap and export audiences.

Only parses, calls :mod:`finpersona.audiences`, and reports. Registered by the
main command line as ``app.add_typer(cli_audience.app, name="audience")``; it
shares options and consoles through :mod:`finpersona.cli_common`, never importing
:mod:`finpersona.cli`, so there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from finpersona.cli_common import (
    EngineOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    err,
    known_errors,
    open_ws,
    out,
)
from finpersona.config import Workspace

app = typer.Typer(help="Select, count, save, profile, compare and export audiences (人群圈选).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Tag snapshot date YYYY-MM-DD (default: the latest build).")]
T = TypeVar("T")


def _errors() -> tuple[type[BaseException], ...]:
    from finpersona.appdb import AppDatabaseError
    from finpersona.audiences import AudienceError

    return (*known_errors(), AudienceError, AppDatabaseError)


def _fail(message: str) -> NoReturn:
    # Escaped: expressions and values contain brackets that Rich would read as markup.
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except _errors() as exc:
        _fail(str(exc))


def _workspace(path: Path | None, engine: str | None = None) -> Workspace:
    return _run(lambda: open_ws(path, engine, create=False))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _n(value: int | None) -> str:
    return "suppressed" if value is None else f"{value:,}"


@app.command()
def count(
    expression: Annotated[str, typer.Argument(help="Expression over tags, e.g. "
                                              "\"age >= 30 AND has_credit_card\".")],
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many customers an expression selects (bitmap index when built, else a scan)."""
    from finpersona.audiences import count as count_audience

    ws = _workspace(workspace, engine)
    result = _run(lambda: count_audience(ws, expression, as_of))
    if as_json:
        emit_json(result)
        return
    out.print(f"{result.count:,} customers as of {result.as_of} "
              f"({result.method}, {result.elapsed_ms:,.1f} ms)")


@app.command()
def save(
    name: Annotated[str, typer.Argument(help="snake_case or Chinese name, e.g. young_card.")],
    expression: Annotated[str, typer.Argument(help="Expression over tags.")],
    description: Annotated[str | None, typer.Option(
        help="What the audience is for (kept on --replace when not given).")] = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Redefine an existing audience (clears its size history).")] = False,
    actor: Annotated[str | None, typer.Option(help="Who saves it (default: the OS user).")
                     ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a named audience after checking its expression against the tag catalogue."""
    from finpersona.audiences import save_audience

    ws = _workspace(workspace)
    result = _run(lambda: save_audience(ws, name, expression, description, actor=actor,
                                        replace=replace))
    if as_json:
        emit_json(result)
        return
    out.print(f"[green]saved[/] {escape(result.name)}: {escape(result.expression)}")


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Saved audiences with their latest recorded size."""
    from finpersona.audiences import list_audiences

    ws = _workspace(workspace)
    result = _run(lambda: list_audiences(ws))
    if as_json:
        emit_json([{k: v for k, v in asdict(a).items() if k != "sizes"} for a in result])
        return
    table = RichTable(title=f"{len(result)} audiences")
    for col in ("name", "expression", "size", "as of", "description"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold")
    for a in result:
        shown = f"[list] {a.expression}" if a.is_list else a.expression
        table.add_row(escape(a.name), escape(shown),
                      "" if a.size is None else f"{a.size:,}", str(a.size_as_of or ""),
                      escape(a.description))
    out.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="Audience name.")],
         workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """An audience's definition and its size at every refresh."""
    from finpersona.audiences import show_audience

    ws = _workspace(workspace)
    result = _run(lambda: show_audience(ws, name))
    if as_json:
        emit_json(result)
        return
    out.print(f"[bold]{escape(result.name)}[/]: {escape(result.expression)}")
    if result.is_list:
        out.print(f"a fixed list of customers, kept in {escape(str(result.members))}")
    if result.description:
        out.print(escape(result.description))
    out.print(f"created {result.created_at:%Y-%m-%d %H:%M} UTC by {escape(result.created_by)}, "
              f"updated {result.updated_at:%Y-%m-%d %H:%M} UTC")
    table = RichTable(title="size by build")
    table.add_column("as of")
    table.add_column("customers", justify="right")
    table.add_column("computed at (UTC)")
    for s in result.sizes:
        table.add_row(str(s.as_of), f"{s.count:,}", f"{s.computed_at:%Y-%m-%d %H:%M}")
    out.print(table)


@app.command()
def refresh(
    names: Annotated[list[str] | None, typer.Argument(
        help="Audiences to refresh (default: all).", show_default=False)] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recount saved audiences on the latest tag snapshot and record their sizes."""
    from finpersona.audiences import refresh_audiences

    ws = _workspace(workspace, engine)
    results = _run(lambda: refresh_audiences(ws, names or None))
    failed = [r for r in results if r.error]
    if as_json:
        emit_json([asdict(r) for r in results])
    else:
        for r in results:
            if r.error:
                err.print(f"[bold red]error:[/] {escape(r.name)}: {escape(r.error)}")
            else:
                out.print(f"{escape(r.name)}: {r.count:,} as of {r.as_of} ({r.method})")
    if failed:
        raise typer.Exit(1)


@app.command()
def delete(name: Annotated[str, typer.Argument(help="Audience name.")],
           workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a saved audience and its size history (its exports stay in the export log)."""
    from finpersona.audiences import delete_audience

    ws = _workspace(workspace)
    _run(lambda: delete_audience(ws, name))
    if as_json:
        emit_json({"deleted": name})
        return
    out.print(f"[green]deleted[/] {escape(name)}")


@app.command()
def profile(
    name: Annotated[str | None, typer.Argument(help="Saved audience (or use --expr).",
                                               show_default=False)] = None,
    expr: Annotated[str | None, typer.Option("--expr", help="Profile an expression instead.")
                    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Tags to show, most distinctive first.")] = 20,
    bands: Annotated[int, typer.Option(min=2, max=20, help="Quantile bands for numeric tags.")
                     ] = 5,
    all_tags: Annotated[bool, typer.Option(
        "--all-tags", help="Also show the tags the expression itself uses.")] = False,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare an audience with the whole base tag by tag (shares and TGI)."""
    from finpersona.audiences import profile as profile_audience

    if (name is None) == (expr is None):
        _fail('give an audience NAME or --expr "EXPRESSION" (one of them)')
    ws = _workspace(workspace, engine)
    result = _run(lambda: profile_audience(ws, name, expression=expr, top=top, bands=bands,
                                           as_of=as_of, include_defining=all_tags))
    if as_json:
        emit_json(result)
        return
    out.print(f"[bold]{escape(result.audience or result.expression)}[/]: "
              f"{result.audience_size:,} of {result.base_size:,} customers as of "
              f"{result.as_of}; cells under {result.k} customers suppressed")
    for tag in result.tags:
        gap = "—" if tag.score is None else f"{tag.score * 100:.1f} pts"
        title = f"{tag.tag} ({tag.type}) · share gap {gap}"
        if tag.audience_mean is not None or tag.base_mean is not None:
            title += f" · mean {tag.audience_mean} vs {tag.base_mean}"
        table = RichTable(title=escape(title), title_justify="left")
        for col in ("value", "audience", "base", "audience %", "base %", "TGI"):
            table.add_column(col, justify="left" if col == "value" else "right")
        for c in tag.cells:
            table.add_row(escape("(missing)" if c.value is None else c.value),
                          _n(c.audience_count), _n(c.base_count), _pct(c.audience_share),
                          _pct(c.base_share), "—" if c.tgi is None else f"{c.tgi:.0f}")
        out.print(table)


@app.command()
def overlap(
    names: Annotated[list[str], typer.Argument(help="Two or three saved audiences.")],
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sizes of every region where two or three audiences overlap (Venn)."""
    from finpersona.audiences import overlap as overlap_audiences

    ws = _workspace(workspace, engine)
    result = _run(lambda: overlap_audiences(ws, names, as_of=as_of))
    if as_json:
        emit_json(result)
        return
    sizes = ", ".join(f"{escape(n)} {s:,}" for n, s in result.sizes.items())
    out.print(f"as of {result.as_of} ({result.method}): {sizes}")
    table = RichTable(title=f"regions (under {result.k} suppressed)")
    table.add_column("only in")
    table.add_column("customers", justify="right")
    for region in result.regions:
        table.add_row(escape(" ∩ ".join(region.members)), _n(region.count))
    out.print(table)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Saved audience to export.")],
    purpose: Annotated[str, typer.Option(help="marketing, risk or service.")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write.")],
    file_format: Annotated[str, typer.Option("--format", help="csv, parquet or xlsx.")
                           ] = "csv",
    channel: Annotated[str | None, typer.Option(
        help="Marketing channel: sms, phone, email, app_push or wechat.")] = None,
    reidentify: Annotated[bool, typer.Option(
        "--reidentify", help="Add masked name and phone (needs the re-identification right)."
    )] = False,
    actor: Annotated[str | None, typer.Option(help="Who exports (default: the OS user).")
                     ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")
                         ] = False,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export an audience's customer keys, keeping only those the purpose allows; logged."""
    from finpersona.audiences import default_actor
    from finpersona.audiences import export as export_audience

    ws = _workspace(workspace, engine)
    result = _run(lambda: export_audience(
        ws, name, purpose, channel, format=file_format, out=out_path,
        actor=actor or default_actor(), reidentify=reidentify, as_of=as_of,
        overwrite=overwrite))
    if as_json:
        emit_json(result)
        return
    out.print(f"[green]exported[/] {result.exported:,} of {result.selected:,} customers "
              f"→ {escape(result.path)} (export log #{result.log_id})")
    for reason, n in result.excluded.items():
        if n:
            out.print(f"  excluded {reason}: {n:,}")
