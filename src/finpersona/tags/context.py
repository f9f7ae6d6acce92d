"""What a tag computation sees: the engine, the as-of date and the source views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import ibis
import ibis.expr.types as ir

from finpersona.engine import Engine

LOCAL_DATE = "_local_date"  # every windowed view carries the local date of its time column


@dataclass
class TagContext:
    """Source views for one build.

    ``view(name)`` returns the documented source view (docs/tag-definitions.md):
    rows with a null ``customer_key`` removed, rows after the as-of date removed,
    and a ``_local_date`` column (the local date of the view's time column) where
    the view has one. ``in_window`` keeps the rows of the last N local days.
    """

    engine: Engine
    as_of: date
    offset_hours: float
    loader: Callable[[TagContext, str, int | None, frozenset[str] | None], ir.Table]
    _cache: dict[tuple[str, int | None, frozenset[str] | None], ir.Table] = field(
        default_factory=dict)
    # The published scores of a model for this as-of date (None: not scored), so the
    # snapshot carries model tags; without it model tags are null.
    model_scores: Callable[[str], ir.Table | None] | None = None

    def view(self, name: str, days: int | None = None,
             needs: frozenset[str] | None = None) -> ir.Table:
        """The view; with ``days``, only its rows of the last N local days.

        Cutting here rather than with :meth:`in_window` on the whole view lets the
        cut reach the raw table, below the view's joins (identity resolution, home
        city), where the engine can skip row groups instead of joining rows it drops.
        ``needs`` names the columns the caller reads: an enrichment that costs a join
        (the home city behind ``is_cross_city``) is then made only when needed, and is
        null otherwise. Without it every column is real.
        """
        key = (name, days, needs)
        if key not in self._cache:
            self._cache[key] = self.loader(self, name, days, needs)
        return self._cache[key]

    def in_window(self, table: ir.Table, days: int | None) -> ir.Table:
        if days is None:
            return table
        return table.filter(table[LOCAL_DATE] >= self.window_start(days))

    def window_start(self, days: int) -> ir.DateScalar:
        """The first local date of a window of N days ending on the as-of date."""
        # A date computed here, not ``as_of - INTERVAL``: DuckDB types date minus interval
        # as a timestamp, and comparing every row's date with it casts each one.
        return ibis.literal(self.as_of - timedelta(days=days - 1))

    def as_of_literal(self) -> ir.DateScalar:
        return ibis.literal(self.as_of)
