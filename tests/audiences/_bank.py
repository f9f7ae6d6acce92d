"""A small hand-made bank for the audience tests, written through the warehouse's transactions.

Customers c001-c015 are the export scenarios (one rule each, see ``SCENARIOS``);
the rest are random but seeded. Two tag snapshots (``AS_OF`` and ``EARLIER``)
let refresh record a history. ``reference_export`` is the export rules written
again in plain Python, row by row, to check the engine's joins against.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from finpersona.audiences.index import TagIndex
from finpersona.config import Settings, Workspace, open_workspace
from finpersona.tags.types import TagSignature, ValueType
from finpersona.warehouse import Warehouse

AS_OF = date(2025, 12, 31)
EARLIER = date(2025, 11, 30)
ZONE = "Asia/Shanghai"
CUSTOMERS = 240
SEGMENTS = ("mass", "affluent", "private", "vip")
CHANNELS = ("sms", "phone", "email", "app_push", "wechat")

SIGNATURES: dict[str, TagSignature] = {
    "age": TagSignature("age", ValueType.INT),
    "aum": TagSignature("aum", ValueType.DECIMAL),
    "segment": TagSignature("segment", ValueType.CATEGORY, SEGMENTS),
    "gender": TagSignature("gender", ValueType.CATEGORY, ("M", "F")),
    "has_credit_card": TagSignature("has_credit_card", ValueType.BOOL),
    "txn_count_30d": TagSignature("txn_count_30d", ValueType.INT),
    "last_login": TagSignature("last_login", ValueType.DATE),
    # In the catalogue but in no snapshot: added after the last build.
    "churn_risk": TagSignature("churn_risk", ValueType.CATEGORY, ("low", "high")),
}

# Scenario customers, all selected by ``age >= 18``: what a marketing export on sms does.
SCENARIOS = {
    "c001": None,  # sms granted
    "c002": None,  # any granted, nothing on sms
    "c003": "channel_refused",  # any granted, sms refused: the channel wins
    "c004": "do_not_disturb",  # any refused, sms granted
    "c005": "closed",  # closed, sms granted
    "c006": "no_consent",  # no records at all
    "c007": "contact_cap",  # sms granted, 4 touches sent in the window
    "c008": None,  # sms granted, 3 sent + 2 not sent
    "c009": None,  # sms granted, 4 sent but one a day before the window
    "c010": None,  # sms refused, then granted later
    "c011": "channel_refused",  # sms granted, then refused later
    "c012": "no_consent",  # sms granted only after the as-of date
    "c013": None,  # sms granted at 23:30 local on the as-of date (15:30 UTC)
    "c014": "no_consent",  # sms granted at 00:30 local the day after (16:30 UTC on as-of)
    "c015": "no_consent",  # a granted consent for another purpose only
    "c016": "channel_refused",  # sms granted and refused at the same instant: refusal wins
}


def local(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A local wall time as the warehouse stores it: zone-less UTC."""
    at = datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(ZONE))
    return at.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Bank:
    workspace: Workspace
    snapshots: dict[date, pa.Table]
    customers: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    touches: list[dict[str, Any]] = field(default_factory=list)

    def rows(self, as_of: date = AS_OF) -> list[dict[str, Any]]:
        return self.snapshots[as_of].to_pylist()


def make_workspace(root: Path, engine: str = "duckdb", **settings: Any) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    values = {"engine": engine, "timezone": ZONE, "parquet_compression": "none",
              "spark_master": "local[2]",
              "spark_conf": {"spark.sql.shuffle.partitions": "2",
                             "spark.default.parallelism": "2"}, **settings}
    (root / "settings.yaml").write_text(yaml.safe_dump(values), encoding="utf-8")
    return open_workspace(root)


def _snapshot(rng: random.Random, n: int, as_of: date) -> pa.Table:
    keys = [f"c{i:03d}" for i in range(1, n + 1)]
    age, aum, segment, gender, card, txn, login = [], [], [], [], [], [], []
    for i, _key in enumerate(keys):
        scenario = i < len(SCENARIOS)
        age.append(rng.randint(18, 80) if scenario or rng.random() > 0.05 else None)
        aum.append(round(rng.lognormvariate(10, 1.2), 2) if rng.random() > 0.05 else None)
        if i in (100, 101, 102):
            segment.append("vip")  # three customers: always below k
        else:
            segment.append(None if rng.random() < 0.05 else rng.choices(
                SEGMENTS[:3], weights=(6, 3, 1))[0])
        gender.append(rng.choice("MF"))
        card.append(None if rng.random() < 0.05 else rng.random() < 0.4)
        txn.append(0 if rng.random() < 0.35 else rng.randint(1, 40))
        login.append(as_of - timedelta(days=rng.randint(0, 400)))
    return pa.table({
        "customer_key": pa.array(keys, pa.string()),
        "age": pa.array(age, pa.int64()),
        "aum": pa.array(aum, pa.float64()),
        "segment": pa.array(segment, pa.string()),
        "gender": pa.array(gender, pa.string()),
        "has_credit_card": pa.array(card, pa.bool_()),
        "txn_count_30d": pa.array(txn, pa.int64()),
        "last_login": pa.array(login, pa.date32()),
        "as_of": pa.array([as_of] * n, pa.date32()),
    })


def _consent(key: str, channel: str, granted: bool, at: datetime,
             purpose: str = "marketing") -> dict[str, Any]:
    return {"customer_key": key, "purpose": purpose, "channel": channel, "granted": granted,
            "recorded_at": at, "source": "app"}


def _touch(n: int, key: str, at: datetime, sent: bool = True) -> dict[str, Any]:
    return {"touch_id": f"t{n:05d}", "campaign_id": "camp1", "customer_key": key,
            "channel": "sms", "arm": "treatment", "sent_at": at, "sent": sent,
            "converted": False}


def _scenario_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    long_ago = local(date(2024, 3, 1))
    c = [
        _consent("c001", "sms", True, long_ago),
        _consent("c002", "any", True, long_ago),
        _consent("c003", "any", True, long_ago), _consent("c003", "sms", False, long_ago),
        _consent("c004", "any", False, long_ago), _consent("c004", "sms", True, long_ago),
        _consent("c005", "sms", True, long_ago),
        _consent("c007", "sms", True, long_ago),
        _consent("c008", "sms", True, long_ago),
        _consent("c009", "sms", True, long_ago),
        _consent("c010", "sms", False, long_ago),
        _consent("c010", "sms", True, local(date(2025, 6, 1))),
        _consent("c011", "sms", True, long_ago),
        _consent("c011", "sms", False, local(date(2025, 6, 1))),
        _consent("c012", "sms", True, local(AS_OF + timedelta(days=3))),
        _consent("c013", "sms", True, local(AS_OF, 23, 30)),
        _consent("c014", "sms", True, local(AS_OF + timedelta(days=1), 0, 30)),
        _consent("c015", "sms", True, long_ago, purpose="analytics"),
        _consent("c016", "sms", True, long_ago), _consent("c016", "sms", False, long_ago),
    ]
    t = []
    for i in range(4):
        t.append(_touch(len(t), "c007", local(AS_OF - timedelta(days=i * 7))))
    for i in range(3):
        t.append(_touch(len(t), "c008", local(AS_OF - timedelta(days=i))))
    for i in range(2):
        t.append(_touch(len(t), "c008", local(AS_OF - timedelta(days=i)), sent=False))
    for i in range(3):
        t.append(_touch(len(t), "c009", local(AS_OF - timedelta(days=i))))
    # 30 local days up to the as-of date start at D-29 00:00; D-30 23:00 is outside.
    t.append(_touch(len(t), "c009", local(AS_OF - timedelta(days=30), 23)))
    return c, t, {"c005"}


def _random_records(rng: random.Random, keys: list[str]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[str]]:
    consents, touches, closed = [], [], set()
    for key in keys:
        if rng.random() < 0.08:
            closed.add(key)
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            channel = rng.choice((*CHANNELS, "any", "any"))
            purpose = "marketing" if rng.random() < 0.85 else "analytics"
            at = local(AS_OF - timedelta(days=rng.randint(-20, 900)), rng.randint(0, 23))
            consents.append(_consent(key, channel, rng.random() < 0.7, at, purpose))
        for _ in range(rng.choice((0, 0, 1, 3, 5))):
            at = local(AS_OF - timedelta(days=rng.randint(-5, 45)), rng.randint(0, 23))
            touches.append({**_touch(0, key, at, sent=rng.random() < 0.9)})
    return consents, touches, closed


def _write(warehouse: Warehouse, name: str, rows: list[dict[str, Any]],
           schema: pa.Schema) -> None:
    with warehouse.transaction() as txn:
        seg = txn.new_dir("tables", name)
        seg.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), seg / "part-0000.parquet")
        txn.append(name, seg, len(rows))


CUSTOMER_SCHEMA = pa.schema([("customer_key", pa.string()), ("name_masked", pa.string()),
                             ("phone_masked", pa.string()), ("status", pa.string())])
CONSENT_SCHEMA = pa.schema([("customer_key", pa.string()), ("purpose", pa.string()),
                            ("channel", pa.string()), ("granted", pa.bool_()),
                            ("recorded_at", pa.timestamp("us")), ("source", pa.string())])
TOUCH_SCHEMA = pa.schema([("touch_id", pa.string()), ("campaign_id", pa.string()),
                          ("customer_key", pa.string()), ("channel", pa.string()),
                          ("arm", pa.string()), ("sent_at", pa.timestamp("us")),
                          ("sent", pa.bool_()), ("converted", pa.bool_())])


def publish_snapshot(warehouse: Warehouse, snapshot: pa.Table, as_of: date, *,
                     index: bool) -> None:
    with warehouse.transaction() as txn:
        seg = txn.new_dir("snapshots", "tag_snapshot", f"{as_of.isoformat()}-t")
        seg.mkdir(parents=True)
        pq.write_table(snapshot, seg / "part-0000.parquet")
        txn.put_snapshot("tag_snapshot", as_of.isoformat(), seg, snapshot.num_rows)
        if index:
            folder = txn.new_dir("snapshots", "tag_index", f"{as_of.isoformat()}-t")
            tags = {n: s for n, s in SIGNATURES.items() if n in snapshot.column_names}
            TagIndex.build(snapshot, tags).save(folder)
            txn.put_snapshot("tag_index", as_of.isoformat(), folder, snapshot.num_rows)


def build_bank(root: Path, engine: str = "duckdb", *, index: bool = False, seed: int = 11,
               tables: tuple[str, ...] = ("customers", "consents", "marketing_touches"),
               publish: tuple[date, ...] = (EARLIER, AS_OF), **settings: Any) -> Bank:
    """The workspace with tag snapshots (``publish``) and the consent-related tables."""
    rng = random.Random(seed)
    ws = make_workspace(root, engine, **settings)
    warehouse = Warehouse(ws.warehouse_dir)
    latest = _snapshot(rng, CUSTOMERS, AS_OF)
    earlier = _snapshot(rng, CUSTOMERS - 40, EARLIER)
    for day, snapshot in ((EARLIER, earlier), (AS_OF, latest)):
        if day in publish:
            publish_snapshot(warehouse, snapshot, day, index=index)
    keys = latest.column("customer_key").to_pylist()
    consents, scenario_touches, closed = _scenario_records()
    more_consents, more_touches, more_closed = _random_records(rng, keys[len(SCENARIOS):])
    consents += more_consents
    touches = [{**t, "touch_id": f"t{i:05d}"}
               for i, t in enumerate(scenario_touches + more_touches)]
    closed |= more_closed
    customers = [{"customer_key": k, "name_masked": f"{'张李王赵'[i % 4]}*",
                  "phone_masked": f"138****{i:04d}",
                  "status": "closed" if k in closed else rng.choice(("active", "dormant"))}
                 for i, k in enumerate(keys)]
    bank = Bank(ws, {AS_OF: latest, EARLIER: earlier}, customers, consents, touches)
    if "customers" in tables:
        _write(warehouse, "customers", customers, CUSTOMER_SCHEMA)
    if "consents" in tables:
        _write(warehouse, "consents", consents, CONSENT_SCHEMA)
    if "marketing_touches" in tables:
        _write(warehouse, "marketing_touches", touches, TOUCH_SCHEMA)
    return bank


# -- the export rules again, row by row -----------------------------------------------------
def reference_export(bank: Bank, selected: set[str], purpose: str, channel: str | None,
                     cap: int = 4) -> dict[str, str | None]:
    """{customer_key: first exclusion reason or None} for every selected customer."""
    day_after = local(AS_OF + timedelta(days=1), 0)
    start = day_after - timedelta(days=30)
    latest: dict[tuple[str, str], tuple[datetime, bool, bool]] = {}
    for c in bank.consents:
        if c["purpose"] != "marketing" or c["recorded_at"] >= day_after:
            continue
        key = (c["customer_key"], c["channel"])
        # Latest wins; on a tie a refusal wins (not granted sorts higher).
        candidate = (c["recorded_at"], not c["granted"], c["granted"])
        if key not in latest or candidate[:2] > latest[key][:2]:
            latest[key] = candidate
    sent = dict.fromkeys(selected, 0)
    for t in bank.touches:
        if t["sent"] and start <= t["sent_at"] < day_after and t["customer_key"] in sent:
            sent[t["customer_key"]] += 1
    closed = {c["customer_key"] for c in bank.customers if c["status"] == "closed"}
    out: dict[str, str | None] = {}
    for key in selected:
        on_any = latest.get((key, "any"))
        on_channel = latest.get((key, channel)) if channel else None
        reason: str | None = None
        if purpose in ("marketing", "service"):
            if key in closed:
                reason = "closed"
            elif on_any is not None and not on_any[2]:
                reason = "do_not_disturb"
        if purpose == "marketing" and reason is None:
            if on_channel is not None and not on_channel[2]:
                reason = "channel_refused"
            elif not (on_channel is not None or (on_any is not None and on_any[2])):
                reason = "no_consent"
            elif sent[key] >= cap:
                reason = "contact_cap"
        out[key] = reason
    return out


class TunedSettings(Settings):
    """Settings with the audience knobs the integrator is to add to ``Settings``."""

    k_anonymity: int = 10
    contact_cap_30d: int = 4
    reidentify_users: str = ""


def tuned(workspace: Workspace, **values: Any) -> Workspace:
    # Merged, not passed twice: once Settings has these fields, model_dump holds them too.
    return Workspace(workspace.root,
                     TunedSettings(**{**workspace.settings.model_dump(), **values}))
