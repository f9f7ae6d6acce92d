"""The source views tags are defined over (docs/tag-definitions.md, "Source views").

A view is a warehouse table cut at the as-of date and enriched with the columns
tag authors need again and again (local date and hour, product type, the latest
holding per account, identity-stitched events). Views are engine expressions:
nothing here pulls customer data into Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.ingest.identity import IDENTITY_TABLE, SESSION_TABLE, resolve
from finpersona.schema import TABLES_BY_NAME, ColumnType
from finpersona.tags.calendar import festival_dates
from finpersona.tags.context import LOCAL_DATE, TagContext
from finpersona.tags.types import TagSignature, ValueType
from finpersona.warehouse import Warehouse


@dataclass(frozen=True)
class ViewSpec:
    table: str  # the warehouse table it reads
    time_column: str | None  # the column windows cut on (None: no windows)
    extra: tuple[tuple[str, ValueType], ...] = ()  # enriched columns and their types


_PRODUCT = (("product_type", ValueType.CATEGORY), ("risk_level", ValueType.CATEGORY))
_LOCAL = (("hour", ValueType.INT),)

VIEWS: dict[str, ViewSpec] = {
    "customers": ViewSpec("customers", None, (("age", ValueType.INT),
                                              ("tenure_months", ValueType.INT))),
    "accounts": ViewSpec("accounts", "opened_date", _PRODUCT),
    "holdings": ViewSpec("holdings", "snapshot_date", _PRODUCT),
    "holdings_latest": ViewSpec("holdings", None, _PRODUCT),
    "transactions": ViewSpec("transactions", "txn_time", (
        *_LOCAL, ("weekday", ValueType.INT), ("is_weekend", ValueType.BOOL),
        ("is_festival", ValueType.BOOL), ("is_cross_city", ValueType.BOOL),
        ("is_online", ValueType.BOOL))),
    "events": ViewSpec("events", "event_time", _LOCAL),
    "loan_applications": ViewSpec("loan_applications", "applied_at"),
    "loans": ViewSpec("loans", "disbursed_date"),
    "repayments": ViewSpec("repayments", "due_date", (("is_overdue", ValueType.BOOL),)),
    "service_tickets": ViewSpec("service_tickets", "opened_at"),
    "marketing_touches": ViewSpec("marketing_touches", "sent_at"),
    "consents_latest": ViewSpec("consents", None),
    "risk_assessments": ViewSpec("risk_assessments", "assessed_at"),
    "social_mentions": ViewSpec("social_mentions", "posted_at"),
}

_VALUE_TYPES = {ColumnType.STRING: ValueType.CATEGORY, ColumnType.INT: ValueType.INT,
                ColumnType.DECIMAL: ValueType.DECIMAL, ColumnType.BOOL: ValueType.BOOL,
                ColumnType.DATE: ValueType.DATE}


def view_signatures(view: str) -> dict[str, TagSignature]:
    """The columns of a view a filter or measure may use, typed for the expression language.

    Personal columns appear only as their pseudonymous ``*_key`` (a category without a
    value list). Timestamps are offered as dates: a measure over one yields its local
    date; in filters prefer ``local_date`` / ``hour``. JSON columns are not offered.
    """
    spec = VIEWS[view]
    table = TABLES_BY_NAME[spec.table]
    out: dict[str, TagSignature] = {"customer_key": TagSignature("customer_key",
                                                                 ValueType.CATEGORY)}
    for col in table.columns:
        if col.pii is not None:
            for name in col.warehouse_names():
                if name.endswith("_key"):
                    out[name] = TagSignature(name, ValueType.CATEGORY)
            continue
        kind = _VALUE_TYPES.get(col.type)
        if kind is not None:
            out[col.name] = TagSignature(col.name, kind, col.allowed if col.allowed else None)
    if spec.time_column is not None:
        out["local_date"] = TagSignature("local_date", ValueType.DATE)
    for col in table.columns:  # timestamps: IS NULL tests only make sense; typed as dates
        if col.type is ColumnType.TIMESTAMP and col.pii is None:
            out[col.name] = TagSignature(col.name, ValueType.DATE)
    for name, kind in spec.extra:
        values = None
        if name in ("product_type", "risk_level"):
            values = TABLES_BY_NAME["products"].column(name).allowed
        out[name] = TagSignature(name, kind, values)
    return out


def _local_date(column: ir.Value, offset_hours: float) -> ir.DateValue:
    if column.type().is_date():
        return column
    ts: ir.TimestampValue = column
    return (ts + ibis.interval(seconds=round(offset_hours * 3600))).date()


def _local_hour(column: ir.TimestampValue, offset_hours: float) -> ir.IntegerValue:
    return (column + ibis.interval(seconds=round(offset_hours * 3600))).hour()


def _with_products(table: ir.Table, products: ir.Table | None) -> ir.Table:
    if products is None:
        return table.mutate(product_type=ibis.null(str), risk_level=ibis.null(str))
    prod = products.select("product_id", "product_type", "risk_level").distinct(
        on="product_id", keep="first")
    return table.left_join(prod, "product_id").select(table, prod.product_type, prod.risk_level)


def whole_months(start: ir.DateValue, end: ir.DateValue) -> ir.IntegerValue:
    """Whole calendar months from start to end (a day-of-month not yet reached doesn't count)."""
    months = (end.year() - start.year()) * 12 + (end.month() - start.month())
    return months - ibis.ifelse(end.day() < start.day(), 1, 0)


def whole_years(start: ir.DateValue, end: ir.DateValue) -> ir.IntegerValue:
    """Whole years from start to end: an age."""
    before = (end.month() < start.month()) | (
        (end.month() == start.month()) & (end.day() < start.day()))
    return end.year() - start.year() - ibis.ifelse(before, 1, 0)


class SourceLoader:
    """Builds the views of one warehouse for a :class:`TagContext`."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def __call__(self, ctx: TagContext, name: str, days: int | None = None,
                 needs: frozenset[str] | None = None) -> ir.Table:
        if name not in VIEWS:
            raise KeyError(f"unknown source view {name!r}; known: {', '.join(sorted(VIEWS))}")
        spec = VIEWS[name]
        if days is not None and spec.time_column is None:
            raise KeyError(f"source view {name!r} has no time column to cut a window on")
        if name == "transactions":
            return self._view_transactions(ctx, days, needs)
        build: Callable[[TagContext, int | None], ir.Table] = getattr(
            self, f"_view_{name}", None) or (lambda c, d: self._generic(c, spec, d))
        return build(ctx, days)

    def _read(self, ctx: TagContext, table: str) -> ir.Table | None:
        if not self.warehouse.has_table(table):
            return None
        return self.warehouse.read(ctx.engine, table)

    def _read_required(self, ctx: TagContext, table: str) -> ir.Table:
        t = self._read(ctx, table)
        if t is None:
            t = _empty(table)
        return t

    def _cut(self, ctx: TagContext, t: ir.Table, time_column: str | None,
             days: int | None = None, *, attributed: bool = True) -> ir.Table:
        """Rows attributed to a customer and not after the as-of date, with their local date.

        With ``days``, only the rows of the last N local days (null dates dropped).
        """
        if attributed:
            t = t.filter(t.customer_key.notnull())
        if time_column is None:
            return t
        if days is not None:
            # The same window on the raw column: a plain range the engine pushes into
            # the Parquet scan (row groups skipped by their min/max), which a condition
            # on the shifted local date is not.
            first_day = ctx.as_of - timedelta(days=days - 1)
            raw = t[time_column]
            if raw.type().is_timestamp():
                start = datetime.combine(first_day, time()) - timedelta(hours=ctx.offset_hours)
                end = datetime.combine(ctx.as_of + timedelta(days=1), time()) - timedelta(
                    hours=ctx.offset_hours)
                t = t.filter((raw >= start) & (raw < end))
            else:
                t = t.filter((raw >= first_day) & (raw <= ctx.as_of))
        day = _local_date(t[time_column], ctx.offset_hours)
        t = t.mutate(**{LOCAL_DATE: day, "local_date": day})
        if days is not None:
            return t.filter((t[LOCAL_DATE] >= ctx.window_start(days))
                            & (t[LOCAL_DATE] <= ctx.as_of_literal()))
        return t.filter(t[LOCAL_DATE].isnull() | (t[LOCAL_DATE] <= ctx.as_of_literal()))

    def _generic(self, ctx: TagContext, spec: ViewSpec, days: int | None = None) -> ir.Table:
        t = self._read_required(ctx, spec.table)
        if spec.table == "repayments":
            t = t.mutate(is_overdue=t.days_past_due > 0)
        return self._cut(ctx, t, spec.time_column, days)

    def _view_customers(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        t = self._read_required(ctx, "customers")
        t = t.filter(t.customer_key.notnull() & (
            t.registered_at.isnull() | (t.registered_at <= ctx.as_of_literal())))
        t = t.distinct(on="customer_key", keep="first")
        as_of = ctx.as_of_literal()
        return t.mutate(age=whole_years(t.birth_date, as_of),
                        tenure_months=whole_months(t.registered_at, as_of))

    def _view_accounts(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        t = self._cut(ctx, self._read_required(ctx, "accounts"), "opened_date", days)
        return _with_products(t, self._read(ctx, "products"))

    def _view_holdings(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        t = self._cut(ctx, self._read_required(ctx, "holdings"), "snapshot_date", days)
        return _with_products(t, self._read(ctx, "products"))

    def _view_holdings_latest(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        h = ctx.view("holdings")
        h = h.filter(h[LOCAL_DATE].notnull())
        # Each account's row of its latest snapshot (one per account and date: the key).
        # A join on the grouped maximum, which engines hash, rather than a sorted
        # row_number window. The maximum comes from a narrow scan of its own: were it
        # grouped from ``h``, ``h`` would be used twice and become a common table
        # expression that DuckDB materialises with every column of the table.
        raw = self._read_required(ctx, "holdings")
        dates = raw.select(_acct=raw.account_id, _day=raw.snapshot_date,
                           _attributed=raw.customer_key.notnull())
        dates = dates.filter(dates._attributed & (dates._day <= ctx.as_of_literal()))
        latest = dates.group_by("_acct").aggregate(_latest=dates._day.max())
        joined = h.inner_join(latest, (h.account_id == latest._acct)
                              & (h.snapshot_date == latest._latest))
        return joined.select(*(c for c in h.columns if c not in (LOCAL_DATE, "local_date")))

    def _view_transactions(self, ctx: TagContext, days: int | None = None,
                           needs: frozenset[str] | None = None) -> ir.Table:
        t = self._cut(ctx, self._read_required(ctx, "transactions"), "txn_time", days)
        if needs is None or "is_cross_city" in needs:
            cities = ctx.view("customers").select(_home_key="customer_key", _home_city="city")
            t = t.left_join(cities, t.customer_key == cities._home_key).drop("_home_key")
        else:  # nobody reads it: spare the join with customers
            t = t.mutate(_home_city=ibis.null(str))
        day = t[LOCAL_DATE]
        weekday = day.day_of_week.index() + 1  # Ibis: Monday = 0
        years = range(ctx.as_of.year - 6, ctx.as_of.year + 1)
        festivals = sorted({d for y in years for d in festival_dates(y)})
        return t.mutate(
            hour=_local_hour(t.txn_time, ctx.offset_hours),
            weekday=weekday,
            is_weekend=weekday >= 6,
            # A long IN list, which DuckDB runs as a join even when nobody reads it.
            is_festival=(day.isin(festivals) if needs is None or "is_festival" in needs
                         else ibis.null(bool)),
            is_cross_city=t.city.notnull() & t._home_city.notnull() & (t.city != t._home_city),
            is_online=t.channel.isin(["online", "app"]),
        ).drop("_home_city")

    def _view_events(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        if not self.warehouse.has_table("events"):
            t = self._cut(ctx, _empty("events"), "event_time", days)
        else:
            # Cut by time first, then resolve identities: the joins see only kept rows.
            raw = self._cut(ctx, self.warehouse.read(ctx.engine, "events"), "event_time",
                            days, attributed=False)
            t = resolve(raw, self.warehouse.read(ctx.engine, IDENTITY_TABLE),
                        self.warehouse.read(ctx.engine, SESSION_TABLE))
            t = t.mutate(customer_key=t.resolved_customer_key).drop(
                "resolved_customer_key", "identity_method")
            t = t.filter(t.customer_key.notnull())
        return t.mutate(hour=_local_hour(t.event_time, ctx.offset_hours))

    def _view_consents_latest(self, ctx: TagContext, days: int | None = None) -> ir.Table:
        t = self._cut(ctx, self._read_required(ctx, "consents"), "recorded_at")
        t = t.filter(t[LOCAL_DATE].notnull())
        w = ibis.window(group_by=[t.customer_key, t.purpose, t.channel],
                        order_by=[ibis.desc(t.recorded_at), ibis.asc(t.granted)])
        ranked = t.mutate(_rn=ibis.row_number().over(w))
        return ranked.filter(ranked._rn == 0).drop("_rn", LOCAL_DATE, "local_date")


_PHYSICAL = {ColumnType.STRING: pa.string(), ColumnType.INT: pa.int64(),
             ColumnType.DECIMAL: pa.decimal128(18, 4), ColumnType.BOOL: pa.bool_(),
             ColumnType.DATE: pa.date32(), ColumnType.TIMESTAMP: pa.timestamp("us"),
             ColumnType.JSON: pa.string()}


def _empty(table: str) -> ir.Table:
    """A table with the warehouse's columns and no rows, for a source not ingested yet."""
    spec = TABLES_BY_NAME[table]
    fields = [(name, pa.string() if col.pii is not None else _PHYSICAL[col.type])
              for col in spec.columns for name in col.warehouse_names()]
    return ibis.memtable(pa.schema(fields).empty_table())
