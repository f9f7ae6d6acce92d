"""Publishing tags: the dated wide snapshot, the change history and the count index.

- ``tag_snapshot`` (a dated warehouse snapshot): one row per customer, one column per
  online tag, for one as-of date.
- ``tag_history`` (a warehouse table, replaced by each build): one row per customer,
  tag and value period, ``valid_from`` inclusive, ``valid_to`` exclusive (null while
  current). Only changes are stored, so a customer's tags as they were on any build
  date are the rows with ``valid_from <= D < valid_to``.
- ``tag_index`` (a dated snapshot): compressed bitmaps for interactive audience counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.engine import Engine
from finpersona.tags.catalogue import Catalogue
from finpersona.tags.types import ValueType
from finpersona.warehouse import Transaction, Warehouse

TAG_SNAPSHOT = "tag_snapshot"
TAG_HISTORY = "tag_history"
TAG_INDEX = "tag_index"
KEY = "customer_key"
# ``finpersona model score`` publishes each model's tags as the dated snapshot
# ``model_scores_<model>``; the build joins it into the tag snapshot of that date.
MODEL_SCORES_PREFIX = "model_scores_"


def model_scores_table(model: str) -> str:
    return f"{MODEL_SCORES_PREFIX}{model}"


@dataclass(frozen=True)
class HistoryUpdate:
    rows: int
    opened: int  # value periods started by this build (changes and new customers)
    closed: int  # value periods ended by this build
    skipped_reason: str | None = None


def value_text(column: ir.Value, vtype: ValueType) -> ir.StringValue:
    """One text form per value that both engines print identically (history is long-form)."""
    if vtype is ValueType.DECIMAL:
        # Doubles print differently per engine (Spark switches to 1.0E7); decimals don't.
        return column.cast("decimal(38, 4)").cast("string")
    if vtype is ValueType.BOOL:
        flag: ir.BooleanValue = column
        return ibis.ifelse(flag, "true", "false")
    return column.cast("string")


def long_form(snapshot: ir.Table, catalogue: Catalogue) -> ir.Table:
    """(customer_key, tag, value) for every tag of the snapshot, values as text."""
    tags = [t for t in catalogue.snapshot_tags() if t.name in snapshot.columns]
    parts = [snapshot.select(KEY, tag=ibis.literal(t.name),
                             value=value_text(snapshot[t.name], t.type)) for t in tags]
    return ibis.union(*parts)


def history_date(warehouse: Warehouse) -> str | None:
    """The build date the published history runs to (None before the first build)."""
    segments = warehouse.tables().get(TAG_HISTORY, {}).get("segments", [])
    return str(segments[-1]["as_of"]) if segments else None


def update_history(engine: Engine, warehouse: Warehouse, txn: Transaction, snapshot: ir.Table,
                   catalogue: Catalogue, as_of: date, build_id: str) -> HistoryUpdate:
    """Close the periods whose value changed, open new ones; keep the rest as they were."""
    day = ibis.literal(as_of)
    current = long_form(snapshot, catalogue)
    last = history_date(warehouse)
    if last is not None and last > as_of.isoformat():
        return HistoryUpdate(0, 0, 0, skipped_reason=(
            f"history already runs to {last}; a build for an earlier date does not rewrite it"))
    if warehouse.has_table(TAG_HISTORY):
        old = warehouse.read(engine, TAG_HISTORY)
        # Rebuilding the same date replaces that date's changes.
        old = old.filter(old.valid_from < day).mutate(
            valid_to=ibis.ifelse(old.valid_to >= day, ibis.null("date"), old.valid_to))
    else:
        old = ibis.memtable(pa.schema([(KEY, pa.string()), ("tag", pa.string()),
                                       ("value", pa.string()), ("valid_from", pa.date32()),
                                       ("valid_to", pa.date32())]).empty_table())
    old = engine.materialize(old, f"_history_old_{build_id.replace('-', '_')}")
    closed_before = old.filter(old.valid_to.notnull())
    open_rows = old.filter(old.valid_to.isnull())
    cur = current.rename(_ck=KEY, _tag="tag", _value="value")
    joined = open_rows.outer_join(cur, (open_rows[KEY] == cur._ck) & (open_rows.tag == cur._tag))
    same = joined[KEY].notnull() & joined._ck.notnull() & joined.value.identical_to(joined._value)
    kept = joined.filter(same).select(KEY, "tag", "value", "valid_from", "valid_to")
    ended = joined.filter(joined[KEY].notnull() & ~same).select(
        KEY, "tag", "value", "valid_from", valid_to=day)
    started = joined.filter(joined._ck.notnull() & ~same).select(
        **{KEY: joined._ck, "tag": joined._tag, "value": joined._value},
        valid_from=day, valid_to=ibis.null("date"))
    history = ibis.union(closed_before, kept, ended, started)
    seg = txn.new_dir("tables", TAG_HISTORY)
    engine.write_parquet(history, seg)
    written = engine.read_parquet([seg])
    stats = engine.to_arrow(written.aggregate(
        rows=written.count(),
        opened=written.count(where=written.valid_from == day),
        closed=written.count(where=written.valid_to == day)))
    rows, opened, closed = (int(stats[c][0].as_py() or 0) for c in ("rows", "opened", "closed"))
    txn.replace(TAG_HISTORY, seg, rows, as_of=as_of.isoformat(), build_id=build_id)
    return HistoryUpdate(rows, opened, closed)


def history_as_of(engine: Engine, warehouse: Warehouse, day: date) -> ir.Table:
    """Every customer's tag values as they were on ``day`` (long form)."""
    h = warehouse.read(engine, TAG_HISTORY)
    d = ibis.literal(day)
    return h.filter((h.valid_from <= d) & (h.valid_to.isnull() | (h.valid_to > d)))


def build_index(engine: Engine, snapshot_dir: Path, catalogue: Catalogue, out: Path) -> int:
    """Bitmaps over the published snapshot, for counts in milliseconds; returns customers."""
    from finpersona.audiences.index import TagIndex

    table = engine.to_arrow(engine.read_parquet([snapshot_dir]).drop("as_of"))
    sigs = {t.name: t.signature for t in catalogue.snapshot_tags() if t.name in table.column_names}
    index = TagIndex.build(table, sigs)
    index.save(out)
    return index.size
