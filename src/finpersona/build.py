"""``finpersona build``: derived tables for an as-of date, published as one dated snapshot.

Each stage computes into fresh folders; the snapshot becomes visible only when
every stage has succeeded, in one atomic catalog update. A failed build leaves
the previous snapshots exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import ibis
import ibis.expr.types as ir

from finpersona.config import Workspace
from finpersona.engine import Engine, connect
from finpersona.ingest.clean import utc_offset_hours
from finpersona.ingest.identity import resolved_events
from finpersona.summary import DAILY_SUMMARY, daily_summary
from finpersona.tags.catalogue import Catalogue, CatalogueError, load_catalogue
from finpersona.tags.compiler import compile_snapshot
from finpersona.tags.context import TagContext
from finpersona.tags.sources import SourceLoader
from finpersona.tags.store import (
    TAG_INDEX,
    TAG_SNAPSHOT,
    build_index,
    model_scores_table,
    update_history,
)
from finpersona.warehouse import Transaction, Warehouse, WarehouseError, new_id

Progress = Callable[[str, int, int], None]


class BuildError(Exception):
    """The build cannot run (no data yet, bad date) or a stage failed."""


@dataclass
class BuildReport:
    build_id: str
    as_of: str
    engine: str
    tables: dict[str, int] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class StageContext:
    engine: Engine
    warehouse: Warehouse
    txn: Transaction
    as_of: date
    offset_hours: float
    build_id: str
    catalogue: Catalogue
    notes: dict[str, object] = field(default_factory=dict)


def _stage_daily_summary(ctx: StageContext) -> tuple[str, int]:
    table = daily_summary(ctx.warehouse.read(ctx.engine, "transactions"),
                          resolved_events(ctx.engine, ctx.warehouse), ctx.as_of, ctx.offset_hours)
    table = table.mutate(as_of=ibis.literal(ctx.as_of))
    seg = ctx.txn.new_dir("snapshots", DAILY_SUMMARY, f"{ctx.as_of.isoformat()}-{ctx.build_id}")
    ctx.engine.write_parquet(table, seg)
    rows = int(ctx.engine.scalar(ctx.engine.read_parquet([seg]).count()))
    ctx.txn.put_snapshot(DAILY_SUMMARY, ctx.as_of.isoformat(), seg, rows, build_id=ctx.build_id)
    return str(seg), rows


def _stage_tags(ctx: StageContext) -> tuple[str, int]:
    """The tag snapshot, then the change history and the count index built from it."""
    day = ctx.as_of.isoformat()

    def scores(model: str) -> ir.Table | None:
        table = model_scores_table(model)
        if day not in ctx.warehouse.snapshot_dates(table):
            return None
        return ctx.warehouse.read_snapshot(ctx.engine, table, day)

    tag_ctx = TagContext(ctx.engine, ctx.as_of, ctx.offset_hours, SourceLoader(ctx.warehouse),
                         model_scores=scores)
    snapshot = compile_snapshot(tag_ctx, ctx.catalogue)
    seg = ctx.txn.new_dir("snapshots", TAG_SNAPSHOT, f"{day}-{ctx.build_id}")
    ctx.engine.write_parquet(snapshot, seg)
    written = ctx.engine.read_parquet([seg])
    rows = int(ctx.engine.scalar(written.count()))
    ctx.txn.put_snapshot(TAG_SNAPSHOT, day, seg, rows, build_id=ctx.build_id,
                         tags=len(written.columns) - 2)
    history = update_history(ctx.engine, ctx.warehouse, ctx.txn, written, ctx.catalogue,
                             ctx.as_of, ctx.build_id)
    ctx.notes["tag_history"] = history.__dict__
    index_dir = ctx.txn.new_dir("snapshots", TAG_INDEX, f"{day}-{ctx.build_id}")
    size = build_index(ctx.engine, seg, ctx.catalogue, index_dir)
    ctx.txn.put_snapshot(TAG_INDEX, day, index_dir, size, build_id=ctx.build_id)
    return str(seg), rows


Stage = Callable[[StageContext], tuple[str, int]]
STAGES: dict[str, Stage] = {DAILY_SUMMARY: _stage_daily_summary, TAG_SNAPSHOT: _stage_tags}
REQUIRED_TABLES = ("transactions", "events", "identity_devices", "identity_sessions")


def build(workspace: Workspace, as_of: date | None = None, *, progress: Progress | None = None,
          fail_after: str | None = None, stages: Sequence[str] | None = None) -> BuildReport:
    """Compute every stage for the as-of date and publish them together.

    ``stages`` limits the build to some stages (``model score`` refreshes only the
    tag snapshot); the others keep their published snapshots.
    """
    started = datetime.now(UTC)
    warehouse = Warehouse(workspace.warehouse_dir)
    missing = [t for t in REQUIRED_TABLES if not warehouse.has_table(t)]
    if missing:
        raise BuildError(f"missing tables {', '.join(missing)}: ingest transactions and events "
                         "first (`finpersona ingest DIR`)")
    offset = utc_offset_hours(workspace.settings.timezone)
    try:
        catalogue = load_catalogue(workspace.tags_dir)
    except CatalogueError as exc:
        raise BuildError(str(exc)) from exc
    chosen = dict(STAGES) if stages is None else {n: STAGES[n] for n in stages if n in STAGES}
    if stages is not None and len(chosen) != len(stages):
        unknown = [n for n in stages if n not in STAGES]
        raise BuildError(f"unknown build stage(s) {unknown}; stages: {', '.join(STAGES)}")
    build_id = new_id()
    with connect(workspace.settings) as engine:
        day = as_of or _last_local_day(engine, warehouse, offset)
        report = BuildReport(build_id=build_id, as_of=day.isoformat(),
                             engine=workspace.settings.engine)
        try:
            with warehouse.transaction() as txn:
                ctx = StageContext(engine, warehouse, txn, day, offset, build_id, catalogue)
                for i, (name, stage) in enumerate(chosen.items()):
                    if progress:
                        progress(name, i, len(chosen))
                    path, rows = stage(ctx)
                    report.tables[name] = rows
                    report.paths[name] = path
                    if fail_after == name:  # tests inject a failure between compute and publish
                        raise BuildError(f"injected failure after stage {name}")
                report.notes = ctx.notes
                if progress:
                    progress("publish", len(chosen), len(chosen))
        except WarehouseError as exc:
            raise BuildError(str(exc)) from exc
    report.seconds = (datetime.now(UTC) - started).total_seconds()
    return report


def _last_local_day(engine: Engine, warehouse: Warehouse, offset_hours: float) -> date:
    t = warehouse.read(engine, "transactions")
    expr = (t.txn_time + ibis.interval(seconds=round(offset_hours * 3600))).date().max()
    last = engine.scalar(expr)
    if last is None:
        raise BuildError("no transactions yet; ingest data first")
    return last if isinstance(last, date) and not isinstance(last, datetime) else last.date()
