"""``finpersona build``: derived tables for an as-of date, published as one dated snapshot.

Each stage computes into fresh folders; the snapshot becomes visible only when
every stage has succeeded, in one atomic catalog update. A failed build leaves
the previous snapshots exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import ibis

from finpersona.config import Workspace
from finpersona.engine import Engine, connect
from finpersona.ingest.clean import utc_offset_hours
from finpersona.ingest.identity import resolved_events
from finpersona.summary import DAILY_SUMMARY, daily_summary
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
    seconds: float = 0.0


@dataclass(frozen=True)
class StageContext:
    engine: Engine
    warehouse: Warehouse
    txn: Transaction
    as_of: date
    offset_hours: float
    build_id: str


def _stage_daily_summary(ctx: StageContext) -> tuple[str, int]:
    table = daily_summary(ctx.warehouse.read(ctx.engine, "transactions"),
                          resolved_events(ctx.engine, ctx.warehouse), ctx.as_of, ctx.offset_hours)
    table = table.mutate(as_of=ibis.literal(ctx.as_of))
    seg = ctx.txn.new_dir("snapshots", DAILY_SUMMARY, f"{ctx.as_of.isoformat()}-{ctx.build_id}")
    ctx.engine.write_parquet(table, seg)
    rows = int(ctx.engine.scalar(ctx.engine.read_parquet([seg]).count()))
    ctx.txn.put_snapshot(DAILY_SUMMARY, ctx.as_of.isoformat(), seg, rows, build_id=ctx.build_id)
    return str(seg), rows


Stage = Callable[[StageContext], tuple[str, int]]
STAGES: dict[str, Stage] = {DAILY_SUMMARY: _stage_daily_summary}
REQUIRED_TABLES = ("transactions", "events", "identity_devices", "identity_sessions")


def build(workspace: Workspace, as_of: date | None = None, *, progress: Progress | None = None,
          fail_after: str | None = None) -> BuildReport:
    """Compute every stage for the as-of date and publish them together."""
    started = datetime.now(UTC)
    warehouse = Warehouse(workspace.warehouse_dir)
    missing = [t for t in REQUIRED_TABLES if not warehouse.has_table(t)]
    if missing:
        raise BuildError(f"missing tables {', '.join(missing)}: ingest transactions and events "
                         "first (`finpersona ingest DIR`)")
    offset = utc_offset_hours(workspace.settings.timezone)
    build_id = new_id()
    with connect(workspace.settings) as engine:
        day = as_of or _last_local_day(engine, warehouse, offset)
        report = BuildReport(build_id=build_id, as_of=day.isoformat(),
                             engine=workspace.settings.engine)
        try:
            with warehouse.transaction() as txn:
                ctx = StageContext(engine, warehouse, txn, day, offset, build_id)
                for i, (name, stage) in enumerate(STAGES.items()):
                    if progress:
                        progress(name, i, len(STAGES))
                    path, rows = stage(ctx)
                    report.tables[name] = rows
                    report.paths[name] = path
                    if fail_after == name:  # tests inject a failure between compute and publish
                        raise BuildError(f"injected failure after stage {name}")
                if progress:
                    progress("publish", len(STAGES), len(STAGES))
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
