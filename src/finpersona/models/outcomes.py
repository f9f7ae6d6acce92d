"""What happens in the outcome window after a snapshot: churn and product take-up.

Label expressions for the churn and propensity models, written in Ibis over the
warehouse so they run on DuckDB and Spark alike. Dates are local (the workspace's
time zone); timestamps in the warehouse are UTC and shifted here. Definitions and
the choice of each threshold: docs/models/churn-propensity.md.

* **Churn** in (T, T+h], for a customer *with the bank at T* (movable assets of at
  least ``min_assets`` at the last holdings snapshot on or before T): the customer
  has gone quiet by the end of the window (no customer-initiated transaction and no
  app/web event in its last ``quiet_days`` days) *and* has taken the money away
  (movable assets at the first month-end snapshot on or after T+h below
  ``kept_share`` of those at T). Movable assets are demand and time deposits,
  wealth-management products and funds: what a leaving customer can take along.
* **Take-up** of a product type in (T, T+h], for a customer who does not hold that
  type at T (no account of it opened on or before T and not closed by then): an
  account of that type is opened in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from finpersona.models.data import last_data_day
from finpersona.models.spec import KEY, ModelContext, ModelError

# Customer-initiated transactions: every type but the ones that post without the customer
# acting (the same rule as the lifecycle tags, tags/catalogue/lifecycle.yaml).
BANK_INITIATED = ("interest", "fee")
MOVABLE_TYPES = ("demand_deposit", "time_deposit", "wealth_management", "fund")


def _local_date(ts: ir.TimestampValue, offset_hours: float) -> ir.DateValue:
    return (ts + ibis.interval(seconds=round(offset_hours * 3600))).date()


def _date(value: Any) -> date:
    day: date = value.date() if hasattr(value, "date") else value
    return day


def _typed(ctx: ModelContext, name: str) -> ir.Table:
    """A warehouse table with each row's product type (from the product master)."""
    t = ctx.table(name)
    products = ctx.table("products").select("product_id", "product_type").distinct(
        on="product_id", keep="first")
    return t.inner_join(products, "product_id")


def active_customers(ctx: ModelContext, first: date, last: date) -> ir.Table:
    """Customers with a customer-initiated transaction or an app/web event on [first, last]."""
    t = ctx.transactions()
    t_day = _local_date(t.txn_time, ctx.offset_hours)
    txn = t.filter((t.status == "success") & ~t.txn_type.isin(BANK_INITIATED)
                   & t_day.between(first, last)).select(KEY)
    e = ctx.events()
    e_day = _local_date(e.event_time, ctx.offset_hours)
    used = e.filter(e[KEY].notnull() & e_day.between(first, last)).select(KEY)
    return txn.union(used, distinct=True)


def holdings_snapshot(ctx: ModelContext, day: date, *, after: bool) -> date | None:
    """The last holdings snapshot date on or before ``day`` (or the first on or after)."""
    h = ctx.table("holdings")
    if after:
        found = ctx.engine.scalar(h.filter(h.snapshot_date >= day).snapshot_date.min())
    else:
        found = ctx.engine.scalar(h.filter(h.snapshot_date <= day).snapshot_date.max())
    return None if found is None else _date(found)


def movable_assets(ctx: ModelContext, snapshot: date) -> ir.Table:
    """customer_key and ``assets``: balances of movable products at one snapshot date."""
    h = _typed(ctx, "holdings")
    h = h.filter((h.snapshot_date == snapshot) & h.product_type.isin(MOVABLE_TYPES)
                 & h[KEY].notnull())
    return h.group_by(KEY).aggregate(assets=h.balance.cast("float64").sum())


def check_matured(ctx: ModelContext, as_of: date, days: int, what: str) -> None:
    """Outcomes after ``as_of`` need data up to as_of + days."""
    last = last_data_day(ctx)
    if as_of + timedelta(days=days) > last:
        raise ModelError(f"{what}: the {days}-day outcome window after {as_of} ends "
                         f"{as_of + timedelta(days=days)}, after the last data day {last}; "
                         "choose an earlier snapshot")


@dataclass(frozen=True)
class ChurnOutcome:
    """Churned by T+h: quiet at the end of the window and the money gone (module docs)."""

    horizon_days: int = 90
    quiet_days: int = 30
    kept_share: float = 0.2
    min_assets: float = 100.0

    def __post_init__(self) -> None:
        if not 0 < self.quiet_days <= self.horizon_days:
            raise ModelError(f"quiet_days must be within 1..horizon_days ({self.horizon_days}), "
                             f"got {self.quiet_days}")
        if not 0 < self.kept_share < 1:
            raise ModelError(f"kept_share must be between 0 and 1, got {self.kept_share}")

    def snapshots(self, ctx: ModelContext, as_of: date) -> tuple[date, date]:
        """The holdings snapshots that measure assets at T and at the end of the window."""
        check_matured(ctx, as_of, self.horizon_days, "churn")
        start = holdings_snapshot(ctx, as_of, after=False)
        end_day = as_of + timedelta(days=self.horizon_days)
        end = holdings_snapshot(ctx, end_day, after=True)
        if start is None or end is None:
            raise ModelError(f"churn needs holdings snapshots on or before {as_of} and on or "
                             f"after {end_day}; the warehouse has "
                             f"{'none before' if start is None else 'none after'}")
        return start, end

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table:
        """customer_key and ``target`` (1 churned, 0 stayed) for customers with the bank at T."""
        start, end = self.snapshots(ctx, as_of)
        last = as_of + timedelta(days=self.horizon_days)
        first_quiet = last - timedelta(days=self.quiet_days - 1)
        before = movable_assets(ctx, start)
        before = before.filter(before.assets >= self.min_assets)
        after = movable_assets(ctx, end).rename(assets_after="assets", _after_key=KEY)
        active = active_customers(ctx, first_quiet, last).rename(_active_key=KEY)
        j = before.left_join(after, before[KEY] == after._after_key)
        j = j.left_join(active, j[KEY] == active._active_key)
        gone = j.assets_after.fill_null(0.0) < self.kept_share * j.assets
        quiet = j._active_key.isnull()
        return j.select(KEY, target=(gone & quiet).cast("int64"))


def held_types(ctx: ModelContext, day: date) -> ir.Table:
    """customer_key and product_type of every account open on ``day`` (point in time)."""
    a = _typed(ctx, "accounts")
    a = a.filter(a[KEY].notnull() & (a.opened_date <= day)
                 & (a.closed_date.isnull() | (a.closed_date > day)))
    return a.select(KEY, "product_type").distinct()


def opened_types(ctx: ModelContext, first: date, last: date) -> ir.Table:
    """customer_key and product_type of every account opened on [first, last]."""
    a = _typed(ctx, "accounts")
    a = a.filter(a[KEY].notnull() & a.opened_date.between(first, last))
    return a.select(KEY, "product_type").distinct()


@dataclass(frozen=True)
class TakeUpOutcome:
    """For each product type: opened in (T, T+h], among customers without it at T."""

    product_types: tuple[str, ...]
    horizon_days: int = 90

    def labels(self, ctx: ModelContext, as_of: date) -> ir.Table:
        """customer_key and ``target_<type>`` per product type: 1 took it up, 0 did not,
        null for customers who held the type at T. Customers who joined after T are left out.
        """
        check_matured(ctx, as_of, self.horizon_days, "product take-up")
        customers = ctx.customers()
        people = customers.filter(customers.registered_at.isnull()
                                  | (customers.registered_at <= as_of)).select(KEY)
        last = as_of + timedelta(days=self.horizon_days)
        held = self._flags(held_types(ctx, as_of), "held")
        opened = self._flags(opened_types(ctx, as_of + timedelta(days=1), last), "opened")
        j = people.left_join(held, people[KEY] == held._held_key)
        j = j.left_join(opened, j[KEY] == opened._opened_key)
        columns = {}
        for kind in self.product_types:
            took = j[f"opened_{kind}"].fill_null(0)
            columns[f"target_{kind}"] = ibis.ifelse(j[f"held_{kind}"].fill_null(0) == 1,
                                                    ibis.null("int64"), took.cast("int64"))
        return j.select(KEY, **columns)

    def _flags(self, rows: ir.Table, prefix: str) -> ir.Table:
        flags = {f"{prefix}_{kind}": (rows.product_type == kind).cast("int64").max()
                 for kind in self.product_types}
        return rows.group_by(KEY).aggregate(**flags).rename(**{f"_{prefix}_key": KEY})
