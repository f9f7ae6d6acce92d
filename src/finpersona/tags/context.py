"""What a tag computation sees: the engine, the as-of date and the source views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

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
    loader: Callable[[TagContext, str], ir.Table]
    _cache: dict[str, ir.Table] = field(default_factory=dict)

    def view(self, name: str) -> ir.Table:
        if name not in self._cache:
            self._cache[name] = self.loader(self, name)
        return self._cache[name]

    def in_window(self, table: ir.Table, days: int | None) -> ir.Table:
        if days is None:
            return table
        start = ibis.literal(self.as_of) - ibis.interval(days=days - 1)
        return table.filter(table[LOCAL_DATE] >= start)

    def as_of_literal(self) -> ir.DateScalar:
        return ibis.literal(self.as_of)
