"""The 360° customer portrait (客户画像): tags by category, masked identity, recent activity.

One object serves the command line, the REST API and the web page. Values come from
the tag history, so a portrait can be seen as it was on any build date; personal
data appears only in masked form, and ticket free text is left out (it may hold
identifiers a customer typed in).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import ibis

from finpersona.config import Workspace
from finpersona.engine import Engine
from finpersona.ingest.clean import utc_offset_hours
from finpersona.ingest.identity import resolved_events
from finpersona.portrait.lookup import resolve_customer
from finpersona.tags.catalogue import Catalogue
from finpersona.tags.store import TAG_HISTORY, history_as_of, history_date
from finpersona.tags.types import ValueType
from finpersona.warehouse import Warehouse

PERSONAL = ("name_masked", "gender", "birth_date", "phone_masked", "email_masked",
            "id_number_masked", "province", "city", "city_tier", "occupation", "education",
            "income_band", "marital_status", "registration_channel", "registered_at",
            "kyc_level", "status")


class PortraitError(LookupError):
    """No such customer, or no tag build on or before the date asked for."""


@dataclass
class TagValue:
    name: str
    title_zh: str
    title_en: str
    kind: str
    type: str
    value: Any
    changed_on: str | None  # the build date this value first appeared


@dataclass
class TimelineItem:
    kind: str  # transaction | session | ticket | touch
    at: str  # local time, ISO
    details: dict[str, Any]


@dataclass
class Portrait:
    customer_key: str
    as_of: str
    looked_up_by: str  # how the ID given was matched (customer_key, customer_id, phone, ...)
    personal: dict[str, Any]
    categories: dict[str, list[TagValue]] = field(default_factory=dict)
    timeline: list[TimelineItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _plain(asdict(self))
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _typed(text: str | None, vtype: ValueType) -> Any:
    if text is None:
        return None
    if vtype is ValueType.BOOL:
        return text == "true"
    if vtype is ValueType.INT:
        return int(text)
    if vtype is ValueType.DECIMAL:
        return float(Decimal(text))
    return text


def build_portrait(workspace: Workspace, engine: Engine, catalogue: Catalogue, customer: str,
                   as_of: date | None = None, *, recent: int = 10) -> Portrait:
    warehouse = Warehouse(workspace.warehouse_dir)
    if not warehouse.has_table(TAG_HISTORY):
        raise PortraitError("no tags built yet: run `finpersona build` first")
    key, matched = resolve_customer(workspace, engine, warehouse, customer)
    day = as_of or _last_build_day(warehouse)
    history = history_as_of(engine, warehouse, day)
    rows = engine.to_arrow(history.filter(history.customer_key == key)).to_pylist()
    if not rows:
        raise PortraitError(f"customer {customer!r} has no tags on {day} (before their first "
                            "build, or before they registered)")
    found = {r["tag"]: r for r in rows}
    portrait = Portrait(customer_key=key, as_of=day.isoformat(), looked_up_by=matched,
                        personal=_personal(engine, warehouse, key))
    for tag in catalogue.tags.values():
        row = found.get(tag.name)
        if row is None:
            continue
        portrait.categories.setdefault(tag.category, []).append(TagValue(
            name=tag.name, title_zh=tag.title_zh, title_en=tag.title_en, kind=tag.kind.value,
            type=tag.type.value, value=_typed(row["value"], tag.type),
            changed_on=row["valid_from"].isoformat() if row["valid_from"] else None))
    portrait.timeline = _timeline(workspace, engine, warehouse, key, day, recent)
    return portrait


def _last_build_day(warehouse: Warehouse) -> date:
    return date.fromisoformat(str(history_date(warehouse)))


def _personal(engine: Engine, warehouse: Warehouse, key: str) -> dict[str, Any]:
    c = warehouse.read(engine, "customers")
    cols = [n for n in PERSONAL if n in c.columns]
    rows = engine.to_arrow(c.filter(c.customer_key == key).select(*cols).limit(1)).to_pylist()
    return _plain(rows[0]) if rows else {}


def _timeline(workspace: Workspace, engine: Engine, warehouse: Warehouse, key: str, day: date,
              recent: int) -> list[TimelineItem]:
    """The most recent activity of each kind up to the end of the as-of day (local time)."""
    offset = ibis.interval(seconds=round(utc_offset_hours(workspace.settings.timezone) * 3600))
    end = ibis.literal(datetime.combine(day + timedelta(days=1), datetime.min.time()))
    items: list[TimelineItem] = []

    def add(kind: str, table: str, time_col: str, cols: list[str]) -> None:
        if not warehouse.has_table(table):
            return
        t = warehouse.read(engine, table)
        local = t[time_col] + offset
        t = t.filter((t.customer_key == key) & (local < end)).mutate(_at=local)
        got = engine.to_arrow(t.order_by(ibis.desc("_at")).select("_at", *cols).limit(recent))
        for row in got.to_pylist():
            at = row.pop("_at")
            items.append(TimelineItem(kind, at.isoformat(), _plain(row)))

    add("transaction", "transactions", "txn_time",
        ["amount", "currency", "direction", "txn_type", "channel", "mcc", "city", "status"])
    add("ticket", "service_tickets", "opened_at",
        ["channel", "category", "is_complaint", "satisfaction"])
    add("touch", "marketing_touches", "sent_at",
        ["campaign_id", "channel", "arm", "opened", "clicked", "converted"])
    if warehouse.has_table("events"):
        ev = resolved_events(engine, warehouse)
        ev = ev.filter((ev.resolved_customer_key == key) & ev.session_id.notnull()
                       & ((ev.event_time + offset) < end))
        sessions = ev.group_by("session_id").aggregate(
            _at=(ev.event_time + offset).min(), ended=(ev.event_time + offset).max(),
            events=ev.count(), platform=ev.platform.max(),
            dwell_seconds=(ev.dwell_ms.sum() / 1000).round(1))
        got = engine.to_arrow(sessions.order_by(ibis.desc("_at")).limit(recent))
        for row in got.to_pylist():
            at = row.pop("_at")
            items.append(TimelineItem("session", at.isoformat(), _plain(row)))
    items.sort(key=lambda i: i.at, reverse=True)
    return items
