"""``finpersona analyze ...``: one module per analysis, all on one command group."""

from __future__ import annotations

# Importing a module registers its commands on the group.
from finpersona.cli_analyze import (  # noqa: F401
    credit,
    funnel,
    lifecycle,
    paths,
    patterns,
    retention,
    rfm,
    rules,
    sessions,
    trends,
)
from finpersona.cli_analyze.app import analyze_app

__all__ = ["analyze_app"]
