"""``finpersona tags ...`` and ``finpersona customer show``: the catalogue and the portrait."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from finpersona.cli_common import (
    EngineOpt,
    JsonOpt,
    UserError,
    WorkspaceOpt,
    emit_json,
    open_ws,
    parse_date,
    run_cli,
)
from finpersona.cli_common import out as console

tags_app = typer.Typer(help="Browse the tag catalogue and tag distributions.",
                       no_args_is_help=True)
customer_app = typer.Typer(help="The 360° customer portrait.", no_args_is_help=True)


def _catalogue(workspace: WorkspaceOpt) -> Any:
    from finpersona.tags.catalogue import load_catalogue

    ws = open_ws(workspace, create=False)
    return load_catalogue(ws.tags_dir)


def _definition(tag: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if tag.fact is not None:
        body = {k: v for k, v in asdict(tag.fact).items() if v is not None}
    elif tag.rule is not None:
        body = ({"rule": tag.rule.expression} if tag.rule.expression else
                {"cases": [asdict(c) for c in tag.rule.cases], "else": tag.rule.otherwise})
    elif tag.python is not None:
        body = {"python": tag.python}
    elif tag.model is not None:
        body = {"model": tag.model}
    if tag.bands:
        body["bands"] = [{"upto": str(b.upto) if b.upto is not None else None, "value": b.value}
                         for b in tag.bands]
    return body


def tag_summary(tag: Any) -> dict[str, Any]:
    return {"name": tag.name, "title_zh": tag.title_zh, "title_en": tag.title_en,
            "category": tag.category, "kind": tag.kind.value, "type": tag.type.value,
            "status": tag.status.value, "owner": tag.owner, "refresh": tag.refresh,
            "values": list(tag.values) if tag.values else None,
            "description": tag.description, "definition": _definition(tag),
            "declared_in": str(tag.origin)}


@tags_app.command("list")
def tags_list(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this lifecycle status.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The tag catalogue (packaged tags plus the workspace's tags/*.yaml)."""
    cat = run_cli(lambda: _catalogue(workspace))
    tags = [t for t in cat.tags.values()
            if (category is None or t.category == category)
            and (status is None or t.status.value == status)]
    if as_json:
        emit_json({"tags": [tag_summary(t) for t in tags], "replaced": cat.replaced})
        return
    table = RichTable("name", "title", "category", "kind", "type", "status")
    for t in tags:
        table.add_row(t.name, f"{t.title_zh} · {t.title_en}", t.category, t.kind.value,
                      t.type.value, t.status.value)
    console.print(table)
    console.print(f"{len(tags)} tags" + (f"; workspace files replace {len(cat.replaced)}"
                                         if cat.replaced else ""))


@tags_app.command("show")
def tags_show(name: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """One tag: titles, description, definition, owner, lifecycle."""
    cat = run_cli(lambda: _catalogue(workspace))
    tag = run_cli(lambda: _get(cat, name))
    data = tag_summary(tag)
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        console.print(f"[bold]{key}[/]: {value}")


def _get(cat: Any, name: str) -> Any:
    try:
        return cat.get(name)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc


@tags_app.command("stats")
def tags_stats(
    name: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Build date (default: latest).")]
    = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Distribution and coverage (share null) of a tag in a build's snapshot."""
    from finpersona.engine import connect
    from finpersona.tags.stats import tag_stats
    from finpersona.warehouse import Warehouse

    cat = run_cli(lambda: _catalogue(workspace))
    tag = run_cli(lambda: _get(cat, name))
    ws = run_cli(lambda: open_ws(workspace, engine, create=False))
    day = run_cli(lambda: parse_date(as_of)).isoformat() if as_of else None
    wh = Warehouse(ws.warehouse_dir)
    if not wh.snapshot_dates("tag_snapshot"):
        run_cli(lambda: _fail("no tag snapshot yet: run `finpersona build` first"))
    with connect(ws.settings) as eng:
        stats = run_cli(lambda: tag_stats(eng, wh, tag, day))
    if as_json:
        emit_json(stats)
        return
    console.print(f"[bold]{tag.name}[/] ({tag.title_zh} · {tag.title_en}) as of {stats.as_of}: "
                  f"{stats.customers:,} customers, coverage {1 - stats.null_share:.1%}")
    table = RichTable("value", "customers", "share")
    for v in stats.values:
        table.add_row(str(v["value"]), f"{v['customers']:,}", f"{v['share']:.1%}")
    for h in stats.histogram:
        table.add_row(f"{h['from']:,.2f} – {h['to']:,.2f}", f"{h['customers']:,}",
                      f"{h['customers'] / max(stats.customers, 1):.1%}")
    console.print(table)
    if stats.summary:
        console.print(", ".join(f"{k} {v:,.4g}" for k, v in stats.summary.items()
                                if v is not None))


def _fail(message: str) -> None:
    raise UserError(message)


@tags_app.command("check")
def tags_check(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Validate the catalogue, including the workspace's own files; exit 1 on problems."""
    cat = run_cli(lambda: _catalogue(workspace))
    online = sum(1 for t in cat.tags.values() if t.status.value == "online")
    if as_json:
        emit_json({"ok": True, "tags": len(cat.tags), "online": online,
                   "files": [str(f) for f in cat.files]})
        return
    console.print(f"[green]ok[/]: {len(cat.tags)} tags ({online} online) in {len(cat.files)} "
                  "files")


@customer_app.command("show")
def customer_show(
    customer: Annotated[str, typer.Argument(help="customer_key, or a source customer number, "
                                            "phone, ID number or email (looked up by pseudonym)")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="See the portrait as it was on "
                                              "this date (default: latest build).")] = None,
    recent: Annotated[int, typer.Option(min=0, help="Recent items per activity kind.")] = 10,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every tag by category, masked personal data and recent activity of one customer."""
    from finpersona.engine import connect
    from finpersona.portrait import build_portrait

    cat = run_cli(lambda: _catalogue(workspace))
    ws = run_cli(lambda: open_ws(workspace, engine, create=False))
    day = run_cli(lambda: parse_date(as_of)) if as_of else None
    with connect(ws.settings) as eng:
        portrait = run_cli(lambda: build_portrait(ws, eng, cat, customer, day, recent=recent))
    if as_json:
        emit_json(portrait.to_json())
        return
    p = portrait
    console.print(f"[bold]customer {p.customer_key}[/] as of {p.as_of} "
                  f"(matched by {p.looked_up_by})")
    console.print(", ".join(f"{k}: {v}" for k, v in p.personal.items() if v is not None))
    for category, values in p.categories.items():
        table = RichTable("tag", "title", "value", "since", title=category, title_justify="left")
        for v in values:
            table.add_row(v.name, f"{v.title_zh} · {v.title_en}", _show(v.value),
                          v.changed_on or "")
        console.print(table)
    table = RichTable("when", "kind", "details", title="recent activity", title_justify="left")
    for item in p.timeline:
        table.add_row(item.at, item.kind, ", ".join(f"{k}={v}" for k, v in item.details.items()))
    console.print(table)


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.2f}"
    return str(value)
