"""Distribution and coverage of one tag in a snapshot, computed in the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis

from finpersona.engine import Engine
from finpersona.tags.model import TagDefinition
from finpersona.tags.types import ValueType
from finpersona.warehouse import Warehouse

BINS = 10


@dataclass
class TagStats:
    name: str
    as_of: str
    customers: int
    null_share: float  # coverage is 1 - null_share
    values: list[dict[str, Any]] = field(default_factory=list)  # category / bool: value counts
    summary: dict[str, float | None] = field(default_factory=dict)  # numeric / date
    histogram: list[dict[str, Any]] = field(default_factory=list)  # numeric: equal-width bins


def tag_stats(engine: Engine, warehouse: Warehouse, tag: TagDefinition,
              as_of: str | None = None) -> TagStats:
    snap = warehouse.read_snapshot(engine, "tag_snapshot", as_of)
    day = as_of or warehouse.snapshot_dates("tag_snapshot")[-1]
    col = snap[tag.name]
    head = engine.to_arrow(snap.aggregate(n=snap.count(), nulls=snap.count(where=col.isnull())))
    n, nulls = int(head["n"][0].as_py()), int(head["nulls"][0].as_py())
    stats = TagStats(tag.name, day, n, nulls / n if n else 0.0)
    if tag.type in (ValueType.CATEGORY, ValueType.BOOL):
        counts = snap.filter(col.notnull()).group_by(value=col.cast("string")).aggregate(
            customers=ibis._.count()).order_by(ibis.desc("customers"), "value")
        for row in engine.to_arrow(counts).to_pylist():
            stats.values.append({"value": row["value"], "customers": row["customers"],
                                 "share": row["customers"] / n if n else 0.0})
        return stats
    num = col.cast("float64") if tag.type.is_numeric else col.epoch_days().cast("float64")
    agg = engine.to_arrow(snap.aggregate(lo=num.min(), hi=num.max(), mean=num.mean()))
    lo, hi, mean = (agg[c][0].as_py() for c in ("lo", "hi", "mean"))
    stats.summary = {"min": lo, "max": hi, "mean": mean}
    if lo is None or hi is None:
        return stats
    width = (hi - lo) / BINS or 1.0
    bucket = ((num - lo) / width).floor().clip(0, BINS - 1).cast("int64")
    hist = snap.filter(col.notnull()).group_by(bin=bucket).aggregate(
        customers=ibis._.count()).order_by("bin")
    for row in engine.to_arrow(hist).to_pylist():
        b = int(row["bin"])
        stats.histogram.append({"from": lo + b * width, "to": lo + (b + 1) * width,
                                "customers": row["customers"]})
    return stats
