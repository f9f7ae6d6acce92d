"""Cleaning and validation compiled from the schema into engine expressions.

Each column's raw text goes through small steps: trim, full-width to ASCII,
null tokens, then a parser for its logical type. A parser returns the typed
value and an error code (null when the value is good). Nothing here runs row
by row in Python: the result is one Ibis projection that any engine executes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from finpersona.privacy import id_check_digit_valid_expr, strip_expr
from finpersona.schema import Column, ColumnType, Pii, Reason, Table

if TYPE_CHECKING:
    from finpersona.engine import Engine

_FULL = "０１２３４５６７８９．，－／：＋　Ｘｘ"
_HALF = "0123456789.,-/:+ Xx"
assert len(_FULL) == len(_HALF)
# Edge characters that make trimming worthwhile. Vertical tab and form feed are left out:
# as SQL literals Spark would read their escapes as letters (a value edged by one of them
# is then not trimmed and fails its format check instead of being altered).
_SPACES = (" ", "\t", "\r", "\n", "\u00a0", "\u3000")
TRUE_WORDS = ("true", "t", "1", "y", "yes", "是")
FALSE_WORDS = ("false", "f", "0", "n", "no", "否")
DECIMAL_TYPE = "decimal(18, 4)"
_NUMBER = r"^[+-]?(\d{1,14}(\.\d*)?|\.\d+)$"
_INTEGER = r"^[+-]?\d{1,18}$"


class TimeZoneError(ValueError):
    """The workspace zone changes its offset (DST); only fixed-offset zones are supported."""


def utc_offset_hours(zone: str) -> float:
    """The zone's offset from UTC, which must not change through the year."""
    tz = ZoneInfo(zone)
    offsets = {tz.utcoffset(datetime(2025, m, 15)) for m in range(1, 13)}
    if len(offsets) != 1:
        raise TimeZoneError(f"time zone {zone} observes daylight saving; use a fixed-offset zone")
    (offset,) = offsets
    assert offset is not None
    return offset / timedelta(hours=1)


@dataclass(frozen=True)
class CleanContext:
    engine: Engine
    today: date
    utc_offset_hours: float


def _blank_to_null(v: ir.StringValue) -> ir.StringValue:
    return ibis.ifelse(v == "", ibis.null(str), v)


def _bound(col: Column, which: str, ctx: CleanContext) -> date | None:
    text = col.earliest if which == "earliest" else col.latest
    if text is None:
        return None
    return ctx.today if text == "today" else date.fromisoformat(text)


def _prepare(raw: ir.StringValue, col: Column) -> ir.StringValue:
    """Trim, map full-width digits/punctuation, and turn null tokens into nulls."""
    typed = col.type is not ColumnType.STRING or col.allowed or col.pattern or col.pii
    # translate() is slow; only text with non-ASCII characters can hold full-width ones.
    v = ibis.ifelse(raw.re_search(r"[^\x00-\x7f]"), raw.translate(_FULL, _HALF), raw) \
        if typed else raw
    # strip_expr, not .strip(): Ibis's strip emits a \f escape that Spark reads as "f".
    # The regex is only worth running when an end character is whitespace.
    padded = v.left(1).isin(_SPACES) | v.right(1).isin(_SPACES)
    v = _blank_to_null(ibis.ifelse(padded, strip_expr(v), v))
    if col.null_tokens:
        v = ibis.ifelse(v.lower().isin(list(col.null_tokens)), ibis.null(str), v)
    if col.pii is Pii.PHONE:
        v = v.re_replace(r"[\s\-()]", "")
        v = ibis.ifelse(v.re_search(r"^\+?861\d{10}$"), v.right(11), v)
    elif col.pii is Pii.ID_NUMBER:
        v = v.upper()
    elif col.pii is Pii.EMAIL:
        v = v.lower()
    elif col.pii is Pii.CARD_NUMBER:
        v = v.re_replace(r"[\s\-]", "")
    return v


# Rewrites that turn every accepted spelling into 'YYYY-MM-DD[ HH:MM:SS]'; {n} is group n.
_DATE_REWRITES: tuple[tuple[str, str], ...] = (
    (r"^(\d{4})(\d{2})(\d{2})[ T]?(\d{2})(\d{2})(\d{2})$", "{1}-{2}-{3} {4}:{5}:{6}"),
    (r"^(\d{4})(\d{2})(\d{2})$", "{1}-{2}-{3}"),
    (r"^(\d{4})-(\d)-", "{1}-0{2}-"),
    (r"^(\d{4}-\d{2})-(\d)(\D|$)", "{1}-0{2}{3}"),
    (r"^(\d{4}-\d{2}-\d{2})[ T]+", "{1} "),
    (r" (\d):", " 0{1}:"),
    (r":(\d)(:|$)", ":0{1}{2}"),
    (r":(\d)$", ":0{1}"),
    (r" (\d{2}):(\d{2})$", " {1}:{2}:00"),
    (r"(:\d{2})\.\d+$", "{1}"),
)
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def _canonical_date_text(v: ir.StringValue, ctx: CleanContext) -> ir.StringValue:
    """2025年1月2日, 2025/1/2, 2025.1.2, 20250102 and 2025-1-2 3:04 all become ISO text."""
    s = (v.re_replace("年|月", "-").re_replace("日", "").replace("/", "-")
         .re_replace(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", ctx.engine.template("{1}-{2}-{3}")))
    for pattern, template in _DATE_REWRITES:
        s = s.re_replace(pattern, ctx.engine.template(template))
    # Most values are already ISO; the rewrite chain only runs for the others.
    already_iso = v.re_search(_ISO_DATE) | v.re_search(_ISO_TIMESTAMP)
    return ibis.ifelse(already_iso, v, s)


Parsed = tuple[ir.Value, ir.Value]  # (typed value, error code or null)
_NONE = ibis.null(str)


def _error_if(condition: ir.BooleanValue, reason: Reason) -> ir.StringValue:
    return ibis.ifelse(condition.fill_null(False), reason.value, _NONE)


def _parse_int(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    s = v.replace(",", "")
    ok = s.re_search(_INTEGER).fill_null(False)
    return (ibis.ifelse(ok, s.try_cast("int64"), ibis.null("int64")),
            _error_if(v.notnull() & ~ok, Reason.BAD_NUMBER))


def _parse_decimal(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    s = v.re_replace(r"^(¥|￥|RMB|CNY)\s*", "").re_replace(r"[,\s]", "")
    ok = s.re_search(_NUMBER).fill_null(False)
    return (ibis.ifelse(ok, s.try_cast(DECIMAL_TYPE), ibis.null(DECIMAL_TYPE)),
            _error_if(v.notnull() & ~ok, Reason.BAD_NUMBER))


def _parse_bool(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    lv = v.lower()
    value = ibis.cases((lv.isin(TRUE_WORDS), True), (lv.isin(FALSE_WORDS), False),
                       else_=ibis.null("boolean"))
    return value, _error_if(v.notnull() & value.isnull(), Reason.BAD_BOOL)


def _parse_temporal(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    """``v`` is already canonical text (see ``_canonical_date_text``)."""
    if col.type is ColumnType.DATE:
        day_text = ibis.ifelse(v.re_search(_ISO_TIMESTAMP), v.left(10), v)  # date part only
        value: ir.Value = ibis.ifelse(day_text.re_search(_ISO_DATE), day_text,
                                      ibis.null(str)).try_cast("date")
        local_day = value
    else:
        full = ibis.ifelse(v.re_search(_ISO_DATE), v + " 00:00:00", v)
        local = ibis.ifelse(full.re_search(_ISO_TIMESTAMP), full,
                            ibis.null(str)).try_cast("timestamp")
        local_day = local.date()
        value = local - ibis.interval(seconds=round(ctx.utc_offset_hours * 3600))
    err = _error_if(v.notnull() & value.isnull(), Reason.BAD_DATE)
    lo, hi = _bound(col, "earliest", ctx), _bound(col, "latest", ctx)
    outside = ibis.literal(False)
    if lo is not None:
        outside = outside | (local_day < ibis.literal(lo))
    if hi is not None:
        outside = outside | (local_day > ibis.literal(hi))
    return value, err.fill_null(_error_if(outside, Reason.OUT_OF_RANGE))


def _parse_json(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    return v, _error_if(v.notnull() & ~ctx.engine.json_is_object(v), Reason.BAD_FORMAT)


def _parse_string(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    if col.allowed:
        lv = v.lower()
        value = ibis.cases(*((lv == a.lower(), a) for a in col.allowed), else_=_NONE)
        return value, _error_if(v.notnull() & value.isnull(), Reason.UNKNOWN_CODE)
    err: ir.StringValue = _NONE
    if col.pattern:
        err = _error_if(v.notnull() & ~v.re_search(col.pattern).fill_null(False),
                        Reason.BAD_FORMAT)
    if col.pii is Pii.ID_NUMBER:
        bad_check = ~id_check_digit_valid_expr(v).fill_null(False)
        err = err.fill_null(_error_if(v.notnull() & bad_check, Reason.BAD_ID_NUMBER))
    return v, err


PARSERS: dict[ColumnType, Callable[[ir.StringValue, Column, CleanContext], Parsed]] = {
    ColumnType.INT: _parse_int,
    ColumnType.DECIMAL: _parse_decimal,
    ColumnType.BOOL: _parse_bool,
    ColumnType.DATE: _parse_temporal,
    ColumnType.TIMESTAMP: _parse_temporal,
    ColumnType.JSON: _parse_json,
    ColumnType.STRING: _parse_string,
}


def _parse(v: ir.StringValue, col: Column, ctx: CleanContext) -> Parsed:
    """Typed value and error for one prepared column, then the numeric range rule."""
    value, err = PARSERS[col.type](v, col, ctx)
    if col.minimum is not None or col.maximum is not None:
        outside = ibis.literal(False)
        if col.minimum is not None:
            outside = outside | (value < col.minimum)
        if col.maximum is not None:
            outside = outside | (value > col.maximum)
        err = err.fill_null(_error_if(outside, Reason.OUT_OF_RANGE))
    return value, err


VALUE, ERROR, PREPARED, DATE_TEXT = "_v__", "_e__", "_p__", "_d__"
TEMPORAL = (ColumnType.DATE, ColumnType.TIMESTAMP)


def clean_table(raw: ir.Table, table: Table, ctx: CleanContext) -> ir.Table:
    """Add typed values (``_v__<col>``), the first failing ``_reason`` and ``_reason_column``.

    The work is split into flat steps that refer to the previous step's columns by
    name. One nested expression would repeat every sub-expression many times and
    grow to megabytes of SQL, which Spark's planner cannot digest.
    """
    prepared = raw.mutate(**{PREPARED + c.name: _prepare(raw[c.name], c) for c in table.columns})
    dated = prepared.mutate(**{
        DATE_TEXT + c.name: _canonical_date_text(prepared[PREPARED + c.name], ctx)
        for c in table.columns if c.type in TEMPORAL})
    parsed: dict[str, ir.Value] = {}
    for col in table.columns:
        text = dated[(DATE_TEXT if col.type in TEMPORAL else PREPARED) + col.name]
        value, err = _parse(text, col, ctx)
        if col.required:
            err = ibis.ifelse(dated[PREPARED + col.name].isnull(),
                              Reason.MISSING_REQUIRED.value, err)
        parsed[VALUE + col.name] = value
        parsed[ERROR + col.name] = err
    checked = dated.mutate(**parsed)
    errors = [checked[ERROR + c.name] for c in table.columns]
    reason_column = ibis.cases(*((e.notnull(), c.name) for e, c in zip(errors, table.columns,
                                                                        strict=True)),
                               else_=ibis.null(str))
    done = checked.mutate(_reason=ibis.coalesce(*errors), _reason_column=reason_column)
    helpers = [c for c in done.columns if c.startswith((PREPARED, DATE_TEXT, ERROR))]
    return done.drop(*helpers)


def extract_json_columns(staged: ir.Table, table: Table, engine: Engine) -> ir.Table:
    """Turn a staged table of JSON lines into the canonical text columns (+ a validity flag)."""
    line = staged["_json"]
    ok = engine.json_is_object(line)
    cols = {c.name: ibis.ifelse(ok, engine.json_get(line, c.name), ibis.null(str))
            for c in table.columns}
    return staged.select("_file", "_line", "_json", _json_ok=ok, **cols)
