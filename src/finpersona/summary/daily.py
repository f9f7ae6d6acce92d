"""The per-customer daily summary: the first derived table, the same expressions on every engine.

One row per customer and local calendar day with transaction counts and
amounts by channel and direction, and app/web activity (events, sessions,
dwell time) after identity stitching. Days are in the workspace time zone.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

CHANNELS = ("app", "pos", "online", "atm", "branch")
DAILY_SUMMARY = "daily_summary"


def _local_day(ts: ir.TimestampValue, offset_hours: float) -> ir.DateValue:
    return (ts + ibis.interval(seconds=round(offset_hours * 3600))).date()


def transaction_days(transactions: ir.Table, as_of: date, offset_hours: float) -> ir.Table:
    t = transactions.mutate(day=_local_day(transactions.txn_time, offset_hours))
    t = t.filter((t.day <= as_of) & (t.status.isnull() | (t.status == "success")))
    cny = t.currency == "CNY"
    metrics: dict[str, ir.Value] = {
        "txn_count": t.count(),
        "txn_amount_cny": t.amount.sum(where=cny),
        "debit_amount_cny": t.amount.sum(where=cny & (t.direction == "debit")),
        "credit_amount_cny": t.amount.sum(where=cny & (t.direction == "credit")),
    }
    for ch in CHANNELS:
        metrics[f"txn_count_{ch}"] = t.count(where=t.channel == ch)
        metrics[f"txn_amount_{ch}_cny"] = t.amount.sum(where=cny & (t.channel == ch))
    return t.group_by(["customer_key", "day"]).aggregate(**metrics)


def activity_days(events: ir.Table, as_of: date, offset_hours: float) -> ir.Table:
    e = events.filter(events.resolved_customer_key.notnull())
    e = e.mutate(day=_local_day(e.event_time, offset_hours))
    e = e.filter(e.day <= as_of)
    return e.group_by([e.resolved_customer_key.name("customer_key"), "day"]).aggregate(
        event_count=e.count(), session_count=e.session_id.nunique(),
        dwell_ms=e.dwell_ms.sum())


def daily_summary(transactions: ir.Table, events: ir.Table, as_of: date,
                  offset_hours: float) -> ir.Table:
    """Stack both sides with zeros for the other's measures, then add them up per day."""
    txn = transaction_days(transactions, as_of, offset_hours)
    act = activity_days(events, as_of, offset_hours)
    txn_cols = [c for c in txn.columns if c not in ("customer_key", "day")]
    act_cols = [c for c in act.columns if c not in ("customer_key", "day")]
    zero_int = ibis.literal(0, "int64")
    zero_dec = ibis.literal(0, "decimal(38, 4)")

    def zeros(cols: list[str], source: ir.Table) -> dict[str, ir.Value]:
        return {c: zero_dec if source[c].type().is_decimal() else zero_int for c in cols}

    left = txn.mutate(**zeros(act_cols, act)).mutate(
        **{c: txn[c].cast("decimal(38, 4)") if txn[c].type().is_decimal()
           else txn[c].cast("int64") for c in txn_cols})
    right = act.mutate(**zeros(txn_cols, txn)).mutate(
        **{c: act[c].cast("int64") for c in act_cols})
    cols = ["customer_key", "day", *txn_cols, *act_cols]
    stacked = ibis.union(left.select(*cols), right.select(*cols))
    summed = stacked.group_by(["customer_key", "day"]).aggregate(
        **{c: stacked[c].sum() for c in cols[2:]})
    return summed.mutate(**{c: summed[c].fill_null(0) for c in cols[2:]}).order_by(
        ["customer_key", "day"])
