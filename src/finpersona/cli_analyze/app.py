"""The ``finpersona analyze`` command group and what its commands share.

Each analysis has its own module in this package that adds one or more commands
to :data:`analyze_app`; they only parse options, call ``finpersona.analytics``
and print (a table for people, ``--json`` for scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, TypeVar

import typer

from finpersona.analytics.data import AnalyticsData, open_analytics
from finpersona.cli_common import UserError, open_ws, parse_date, run_cli

analyze_app = typer.Typer(
    help="Behaviour analysis: sessions, paths, funnels, retention, lifecycle, RFM, "
    "consumption patterns, association rules, trends and credit vintages.",
    no_args_is_help=True)

T = TypeVar("T")

SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="First local date analysed (YYYY-MM-DD); default: all history.")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="Last local date analysed (YYYY-MM-DD); default: all history.")]
BreakdownOpt = Annotated[str | None, typer.Option(
    "--breakdown", help="Split the result by the value of this tag (latest tag snapshot).")]


def optional_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"{option} must be a date like 2025-12-31, not {text!r}") from exc


@contextmanager
def analytics(workspace: Any, engine: str | None) -> Iterator[AnalyticsData]:
    ws = open_ws(workspace, engine, create=False)
    with open_analytics(ws) as data:
        yield data


def run_analysis(workspace: Any, engine: str | None, fn: Callable[[AnalyticsData], T]) -> T:
    """Open the workspace's data, run ``fn`` on it, turn known errors into messages."""

    def go() -> T:
        with analytics(workspace, engine) as data:
            return fn(data)

    return run_cli(go)


__all__ = ["BreakdownOpt", "SinceOpt", "UntilOpt", "analyze_app", "optional_date",
           "parse_date", "run_analysis"]
