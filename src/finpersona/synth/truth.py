"""The hidden truth: what really generated the source files, for scoring the platform."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finpersona.synth import personas as ps
from finpersona.synth.acquisition import ACQUIRED_TYPES, Acquisitions
from finpersona.synth.attrition import Attrition
from finpersona.synth.customers import INCOME_BANDS, CustomerChunk
from finpersona.synth.events import EventChunk

CUSTOMER_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("persona", pa.string()), ("true_pd", pa.float64()),
    ("monthly_income", pa.float64()), ("true_income_band", pa.string()),
    ("aum", pa.float64()), ("card_utilisation", pa.float64()), ("activity", pa.float64()),
    ("risk_appetite", pa.float64()), ("age", pa.int64())])
UPLIFT_SCHEMA = pa.schema([("customer_id", pa.string()), ("campaign_id", pa.string()),
                           ("true_uplift", pa.float64()), ("arm", pa.string())])
# Planted churn: the hazard per day, the day the customer could start leaving (the
# period start, or the day they joined) and when they left (local time; null: stayed).
CHURN_SCHEMA = pa.schema([("customer_id", pa.string()), ("churn_hazard_per_day", pa.float64()),
                          ("exposed_from", pa.date32()), ("churned_at", pa.timestamp("s"))])
# Planted acquisition, one row per customer and product type: the hazard per day, whether
# the customer held the type when the period (or relationship) began, the day they began
# lacking it (null: held it throughout) and the day they opened one (null: none).
ACQUISITION_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("product_type", pa.string()),
    ("hazard_per_day", pa.float64()), ("held_at_start", pa.bool_()),
    ("exposed_from", pa.date32()), ("acquired_on", pa.date32())])
IDENTITY_SCHEMA = pa.schema([("event_id", pa.string()), ("anonymous_id", pa.string()),
                             ("true_customer_id", pa.string()), ("device_kind", pa.string())])


@dataclass
class TruthWriter:
    """Streams the truth tables chunk by chunk so memory stays bounded."""

    truth_dir: Path
    start: date
    _writers: dict[str, pq.ParquetWriter] = field(default_factory=dict)
    persona_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(len(ps.PERSONAS), dtype=np.int64))

    def _append(self, name: str, schema: pa.Schema, table: pa.Table) -> None:
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(self.truth_dir / f"{name}.parquet", schema)
        self._writers[name].write_table(table.cast(schema))

    def customers(self, cust: CustomerChunk) -> None:
        self.persona_counts += np.bincount(cust.persona, minlength=len(ps.PERSONAS))
        band = np.searchsorted(np.array([5_000, 10_000, 20_000, 50_000]), cust.income,
                               side="right")
        self._append("customers", CUSTOMER_SCHEMA, pa.table({
            "customer_id": cust.customer_id,
            "persona": pa.array(np.array(ps.PERSONA_NAMES)[cust.persona]),
            "true_pd": pa.array(cust.true_pd),
            "monthly_income": pa.array(np.round(cust.income, 2)),
            "true_income_band": pa.array(np.array(INCOME_BANDS)[band]),
            "aum": pa.array(np.round(cust.aum, 2)),
            "card_utilisation": pa.array(cust.utilisation),
            "activity": pa.array(cust.activity),
            "risk_appetite": pa.array(cust.risk_appetite),
            "age": pa.array(cust.age)}))

    def churn(self, cust: CustomerChunk, leaving: Attrition) -> None:
        exposed = np.maximum(cust.registered, np.datetime64(self.start, "D"))
        self._append("churn", CHURN_SCHEMA, pa.table({
            "customer_id": cust.customer_id,
            "churn_hazard_per_day": pa.array(leaving.hazard),
            "exposed_from": pa.array(exposed.astype("datetime64[D]")),
            "churned_at": pa.array(leaving.churned_at.astype("datetime64[s]"))}))

    def acquisition(self, cust: CustomerChunk, acquired: Acquisitions) -> None:
        n, k = acquired.hazard.shape
        self._append("acquisition", ACQUISITION_SCHEMA, pa.table({
            "customer_id": cust.customer_id.take(pa.array(np.repeat(np.arange(n), k))),
            "product_type": pa.array(np.tile(np.array(ACQUIRED_TYPES), n)),
            "hazard_per_day": pa.array(acquired.hazard.ravel()),
            "held_at_start": pa.array(acquired.held.ravel()),
            "exposed_from": pa.array(acquired.exposed_from.ravel()),
            "acquired_on": pa.array(acquired.opened.ravel())}))

    def uplift(self, table: pa.Table) -> None:
        self._append("uplift", UPLIFT_SCHEMA, table)

    def identity(self, events: EventChunk) -> None:
        self._append("identity", IDENTITY_SCHEMA, pa.table({
            "event_id": events.columns["event_id"], "anonymous_id": events.anonymous_id,
            "true_customer_id": events.true_customer, "device_kind": events.device_kind}))

    def close(self, corruptions: pa.Table, manifest: dict[str, Any]) -> None:
        for writer in self._writers.values():
            writer.close()
        pq.write_table(corruptions, self.truth_dir / "corruptions.parquet")
        text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True)
        (self.truth_dir / "manifest.json").write_text(text + "\n", encoding="utf-8")
