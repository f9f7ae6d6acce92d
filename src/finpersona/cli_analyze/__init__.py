"""``finpersona analyze ...``: one module per analysis, all on one command group."""

from __future__ import annotations

from finpersona.cli_analyze.app import analyze_app

__all__ = ["analyze_app"]
