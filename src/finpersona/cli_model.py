"""``finpersona model ...``: train, register, promote, score, monitor and explain models.

Only parses, calls :mod:`finpersona.models.workflow`, and prints (a table, or
``--json`` for scripts). Registered by the main command line as
``app.add_typer(model_app, name="model")``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from finpersona.cli_common import (
    EngineOpt,
    JsonOpt,
    UserError,
    WorkspaceOpt,
    emit_json,
    open_ws,
    out,
    parse_date,
    progress_bar,
    run_cli,
)

model_app = typer.Typer(
    help="Prediction models: train, list, show, promote, score, monitor, explain (模型).",
    no_args_is_help=True)

AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Tag snapshot date YYYY-MM-DD (default: the latest build).")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Estimator parameter NAME=VALUE (JSON value), repeatable.")]


def _params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param must look like NAME=VALUE, not {item!r}")
        try:
            params[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[name.strip()] = raw  # plain text values need no quotes
    return params


def _ref(text: str) -> tuple[str, int | None]:
    from finpersona.models.registry import parse_ref

    return parse_ref(text)


def _date(text: str | None) -> Any:
    return parse_date(text) if text else None


def _metrics_line(metrics: dict[str, Any]) -> str:
    parts = [f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
             for k, v in metrics.items() if isinstance(v, int | float)]
    return ", ".join(parts[:8])


@model_app.command("train")
def model_train(
    name: Annotated[str, typer.Argument(help="Model: credit_risk, clv, churn, propensity, "
                                              "risk_preference, segmentation, lifecycle.")],
    as_of: AsOfOpt = None,
    param: ParamOpt = None,
    promote: Annotated[bool, typer.Option(help="Promote the new version at once.")] = False,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a new version on a snapshot, test it on held-out data, register it with a card."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    params = run_cli(lambda: _params(param))
    with progress_bar(not as_json and sys.stderr.isatty()) as bar:
        card = run_cli(lambda: workflow.train(ws, name, _date(as_of), params, engine, bar))
        if promote:
            card = run_cli(lambda: workflow.promote(ws, name, card.version))
    if as_json:
        emit_json(card.to_dict())
        return
    out.print(f"[bold]{card.ref}[/] trained on the snapshot of {card.training_as_of} "
              f"({card.rows['train']:,} customers); {escape(card.split)}")
    out.print(f"held-out: {_metrics_line(card.metrics)}")
    out.print(f"card: {ws.models_dir / card.name / f'v{card.version}' / 'card.md'}")


@model_app.command("list")
def model_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every model, its trained versions and which one is promoted."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    rows = run_cli(lambda: workflow.list_models(ws))
    if as_json:
        emit_json({"models": [r.to_dict() for r in rows]})
        return
    table = RichTable("model", "versions", "promoted", "latest trained", "held-out metrics")
    for r in rows:
        latest = r.latest or {}
        table.add_row(r.name, ", ".join(f"v{v}" for v in r.versions) or "-",
                      f"v{r.promoted}" if r.promoted else "-",
                      str(latest.get("created_at", "-")),
                      _metrics_line(latest.get("metrics", {})) or "-")
    out.print(table)


@model_app.command("show")
def model_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN (default: promoted, else newest).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A version's model card: purpose, data, metrics, parameters, limits."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    name, version = run_cli(lambda: _ref(ref))
    reg = workflow.registry(ws)
    card = run_cli(lambda: reg.card(name, version))
    if as_json:
        emit_json({**card.to_dict(), "promoted": reg.promoted(name) == card.version})
        return
    out.print(reg.card_markdown(name, card.version), markup=False)


@model_app.command("promote")
def model_promote(
    ref: Annotated[str, typer.Argument(help="NAME@vN (NAME alone: the newest version).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a version the one ``model score`` uses."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    name, version = run_cli(lambda: _ref(ref))
    card = run_cli(lambda: workflow.promote(ws, name, version))
    if as_json:
        emit_json({"name": name, "promoted": card.version})
        return
    out.print(f"{card.ref} promoted")


@model_app.command("score")
def model_score(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN (default: promoted, else newest).")],
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every customer in the engine and write the model's tags into the snapshot."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    name, version = run_cli(lambda: _ref(ref))
    with progress_bar(not as_json and sys.stderr.isatty()) as bar:
        result = run_cli(lambda: workflow.score(ws, name, version, _date(as_of), engine, bar))
    if as_json:
        emit_json(result.to_dict())
        return
    s = result.score
    out.print(f"{s.name}@v{s.version}: {s.rows:,} customers scored on {s.engine} for "
              f"{s.as_of}; tag snapshot rebuilt ({result.tag_rows:,} rows)")


@model_app.command("monitor")
def model_monitor(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN.")],
    as_of: AsOfOpt = None,
    top: Annotated[int, typer.Option(help="Features to list (largest CSI first).")] = 10,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """PSI of the scores and CSI of each feature since training; performance decay."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    name, version = run_cli(lambda: _ref(ref))
    report = run_cli(lambda: workflow.monitor(ws, name, version, _date(as_of), engine))
    if as_json:
        emit_json(report.to_dict())
        return
    out.print(f"[bold]{report.name}@v{report.version}[/]: {report.baseline_as_of} -> "
              f"{report.as_of} ({report.rows:,} customers): [bold]{report.worst()}[/]")
    table = RichTable("kind", "column", "PSI/CSI", "band")
    for s in report.outputs:
        table.add_row("output (PSI)", s.column, f"{s.index:.4f}", s.band)
    for s in report.features[:top]:
        table.add_row("feature (CSI)", s.column, f"{s.index:.4f}", s.band)
    out.print(table)
    if report.performance:
        for metric, row in report.performance["metrics"].items():
            out.print(f"{metric}: {row['at_training']:.4f} at training, {row['now']:.4f} on "
                      f"{report.performance['as_of']} ({row['change']:+.4f})")
    for note in report.notes:
        out.print(f"[dim]{escape(note)}[/]")


@model_app.command("explain")
def model_explain(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@vN.")],
    customer: Annotated[str, typer.Argument(help="customer_key, customer number, phone, ID "
                                                 "number or email.")],
    as_of: AsOfOpt = None,
    top: Annotated[int, typer.Option("-n", help="How many reasons.")] = 3,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why the model says what it says about one customer (reason codes)."""
    from finpersona.models import workflow

    ws = run_cli(lambda: open_ws(workspace, create=False))
    name, version = run_cli(lambda: _ref(ref))
    result = run_cli(lambda: workflow.explain(ws, name, customer, version, _date(as_of), top,
                                              engine))
    if as_json:
        emit_json(result.to_dict())
        return
    out.print(f"{result.name}@v{result.version} on {result.as_of} for {result.customer_key}")
    for k, v in result.outputs.items():
        out.print(f"  {k}: {v}")
    table = RichTable("feature", "value", "contribution", "direction")
    for r in result.reasons:
        table.add_row(str(r["feature"]), str(r["value"]), f"{r['contribution']:+.4f}",
                      str(r["direction"]))
    out.print(table)
