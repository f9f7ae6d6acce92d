"""Identity stitching: attribute anonymous (pre-login) behaviour to the customer.

A session in which exactly one customer logged in belongs to that customer,
including its events before the login and even when the device id was junk
(SDK session ids are unique). A device (``anonymous_key``) seen logged in as
exactly one customer is that customer's: its anonymous sessions are theirs
too. A device shared by a few customers (up to ``max_customers_per_device``)
is resolved per session only; its anonymous sessions stay anonymous. A device
seen with more customers than the limit (an emulator, a kiosk, a fraud ring)
is blocked and links nobody. Junk device ids
("0", "-1", "anonymous", ...) were already turned into nulls at the door.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from finpersona.engine import Engine
from finpersona.warehouse import Transaction, Warehouse

IDENTITY_TABLE = "identity_devices"
SESSION_TABLE = "identity_sessions"
LINKED, SHARED, BLOCKED = "linked", "shared", "blocked"


def device_links(events: ir.Table, max_customers: int) -> ir.Table:
    """One row per device seen logged in: how many customers, and its status."""
    logged = events.filter(events.anonymous_key.notnull() & events.customer_key.notnull())
    per_device = logged.group_by("anonymous_key").aggregate(
        n_customers=logged.customer_key.nunique(), any_customer=logged.customer_key.min())
    status = ibis.cases((per_device.n_customers == 1, LINKED),
                        (per_device.n_customers <= max_customers, SHARED), else_=BLOCKED)
    return per_device.select(
        "anonymous_key", "n_customers", status=status,
        customer_key=ibis.ifelse(per_device.n_customers == 1, per_device.any_customer,
                                 ibis.null(str)))


def session_links(events: ir.Table) -> ir.Table:
    """Sessions in which exactly one customer logged in."""
    logged = events.filter(events.customer_key.notnull() & events.session_id.notnull())
    per_session = logged.group_by("session_id").aggregate(
        n=logged.customer_key.nunique(), customer_key=logged.customer_key.min())
    return per_session.filter(per_session.n == 1).select("session_id", "customer_key")


def resolve(events: ir.Table, devices: ir.Table, sessions: ir.Table) -> ir.Table:
    """Events with ``resolved_customer_key`` and how it was found (``identity_method``)."""
    dev = devices.select("anonymous_key", _dev_status="status", _dev_customer="customer_key")
    ses = sessions.select("session_id", _ses_customer="customer_key")
    joined = events.left_join(dev, "anonymous_key").select(events, dev._dev_status,
                                                           dev._dev_customer)
    joined = joined.left_join(ses, "session_id").select(joined, ses._ses_customer)
    usable_session = joined._dev_status.isnull() | (joined._dev_status != BLOCKED)
    resolved = ibis.cases(
        (joined.customer_key.notnull(), joined.customer_key),
        (usable_session & joined._ses_customer.notnull(), joined._ses_customer),
        (joined._dev_status == LINKED, joined._dev_customer),
        else_=ibis.null(str))
    method = ibis.cases(
        (joined.customer_key.notnull(), "login"),
        (usable_session & joined._ses_customer.notnull(), "session"),
        (joined._dev_status == LINKED, "device"),
        (joined._dev_status == BLOCKED, "blocked_device"),
        else_="anonymous")
    return joined.mutate(resolved_customer_key=resolved, identity_method=method).drop(
        "_dev_status", "_dev_customer", "_ses_customer")


def build_identity_map(engine: Engine, txn: Transaction, max_customers: int,
                       run_id: str) -> dict[str, int]:
    """Recompute the device and session maps over all events, as this run will publish
    them (the transaction's view); returns device counts."""
    dirs = txn.table_dirs("events")
    if not dirs:
        return {}
    events = engine.read_parquet(dirs)
    devices = engine.materialize(device_links(events, max_customers),
                                 f"_identity_devices_{run_id.replace('-', '_')}")
    seg = txn.new_dir("tables", IDENTITY_TABLE)
    engine.write_parquet(devices, seg)
    stats = engine.to_arrow(devices.group_by("status").aggregate(n=ibis._.count()))
    counts = dict(zip(stats["status"].to_pylist(), stats["n"].to_pylist(), strict=True))
    txn.replace(IDENTITY_TABLE, seg, sum(counts.values()), run_id=run_id)
    sessions = session_links(events)
    sseg = txn.new_dir("tables", SESSION_TABLE)
    engine.write_parquet(sessions, sseg)
    n_sessions = int(engine.scalar(engine.read_parquet([sseg]).count()))
    txn.replace(SESSION_TABLE, sseg, n_sessions, run_id=run_id)
    return {f"devices_{k}": int(v) for k, v in sorted(counts.items())} | {
        "sessions_linked": n_sessions}


def resolved_events(engine: Engine, warehouse: Warehouse) -> ir.Table:
    """All events with identity resolved, for analyses and derived tables."""
    events = warehouse.read(engine, "events")
    return resolve(events, warehouse.read(engine, IDENTITY_TABLE),
                   warehouse.read(engine, SESSION_TABLE))
