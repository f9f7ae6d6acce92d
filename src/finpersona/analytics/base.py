"""What every analysis shares: inputs in local time, periods, durations, breakdowns, errors.

Analyses are functions from Ibis tables to Ibis tables (lazy, engine-independent)
plus a small step that collects the already-aggregated answer into Python. The
inputs follow the warehouse's column names; timestamps are stored in UTC and
every analysis turns them into the workspace's local time first
(:func:`local_time`), so a day, a week or an hour means what the analyst expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.engine import Engine

NO_VALUE = "(none)"  # the breakdown group of customers whose tag value is null
DEFAULT_OFFSET_HOURS = 8.0  # Asia/Shanghai, the default workspace zone


class AnalysisError(ValueError):
    """A request an analysis cannot answer: bad parameters, unknown names, missing data."""


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @classmethod
    def parse(cls, value: str | Period) -> Period:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AnalysisError(f"unknown period {value!r}: use day, week or month") from None


_UNIT = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days",
         "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|min|m|h|d|w)\s*$", re.IGNORECASE)


def parse_duration(text: str | timedelta) -> timedelta:
    """``"30m"``, ``"2h"``, ``"14d"`` or ``"2w"`` as a timedelta (``m`` is minutes)."""
    if isinstance(text, timedelta):
        value = text
    else:
        match = _DURATION.match(text)
        if match is None:
            raise AnalysisError(f"cannot read duration {text!r}: write a whole number and a "
                                "unit, e.g. 30m, 2h, 14d or 2w")
        value = timedelta(**{_UNIT[match.group(2).lower()]: int(match.group(1))})
    if value <= timedelta(0):
        raise AnalysisError(f"a duration must be positive, got {text!r}")
    return value


def local_time(ts: ir.TimestampValue, offset_hours: float) -> ir.TimestampValue:
    """A UTC timestamp as wall-clock time in a fixed-offset zone."""
    return ts + ibis.interval(seconds=round(offset_hours * 3600))


def epoch_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970, the fraction dropped.

    Both engines agree on this where interval arithmetic they don't; truncating first
    matters because DuckDB's epoch is fractional and its cast rounds, Spark's floors.
    """
    return ts.truncate("s").epoch_seconds().cast("int64")


def period_start(value: ir.TimestampValue | ir.DateValue, period: Period) -> ir.DateValue:
    """The first day of the day / ISO week (Monday) / month a local time falls in."""
    day: ir.DateValue = value.date() if value.type().is_timestamp() else value
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        # A date on both engines (DuckDB's date minus an interval is a timestamp).
        return (day - day.day_of_week.index().as_interval("D")).cast("date")
    return ibis.date(day.year(), day.month(), 1)


def periods_between(start: ir.DateValue, end: ir.DateValue, period: Period) -> ir.IntegerValue:
    """How many whole periods ``end``'s period lies after ``start``'s (both period starts)."""
    if period is Period.MONTH:
        return (end.year() - start.year()) * 12 + (end.month() - start.month())
    days = end.delta(start, unit="day")
    return days // 7 if period is Period.WEEK else days


def require_columns(table: ir.Table, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise AnalysisError(f"{what} needs column(s) {', '.join(missing)}; "
                            f"the input has {', '.join(table.columns)}")


def with_breakdown(table: ir.Table, tags: ir.Table | None, tag: str | None) -> ir.Table:
    """Add a text ``breakdown`` column: the customer's value of ``tag`` (NO_VALUE if null).

    ``tags`` is a tag snapshot (one row per ``customer_key``). Without a tag every
    row is in one group named ``all``.
    """
    if tag is None or tags is None:
        return table.mutate(breakdown=ibis.literal("all"))
    if tag not in tags.columns:
        raise AnalysisError(f"unknown breakdown tag {tag!r}")
    values = tags.select(_bk_key=tags.customer_key, _bk_value=tags[tag].cast("string"))
    joined = table.left_join(values, table.customer_key == values._bk_key)
    return joined.mutate(breakdown=joined._bk_value.fill_null(NO_VALUE)).drop(
        "_bk_key", "_bk_value")


def collect(engine: Engine, expr: ir.Table) -> list[dict[str, Any]]:
    """Run an (already small, aggregated) expression and return its rows as dicts."""
    table: pa.Table = engine.to_arrow(expr)
    return list(table.to_pylist())


def jsonable(value: Any) -> Any:
    """Dates and decimals as JSON-friendly values (ISO text, float)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return float(value)
    return value
