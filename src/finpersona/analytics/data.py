"""The warehouse tables analyses read, opened on the workspace's engine.

Each method returns an Ibis table with the warehouse's own column names
(``docs/data-model.md``); timestamps stay in UTC and the analyses localise
them with :attr:`AnalyticsData.offset_hours`. Events come identity-resolved:
``customer_key`` is the stitched owner (null for visitors who never logged in).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import ibis.expr.types as ir

from finpersona.analytics.base import AnalysisError
from finpersona.config import Workspace
from finpersona.engine import Engine, connect
from finpersona.ingest.clean import utc_offset_hours
from finpersona.ingest.identity import resolved_events
from finpersona.tags.store import TAG_SNAPSHOT
from finpersona.warehouse import Warehouse


@dataclass
class AnalyticsData:
    engine: Engine
    warehouse: Warehouse
    offset_hours: float
    workspace: Workspace | None = None  # where results can be saved (e.g. audiences)

    def table(self, name: str) -> ir.Table:
        if not self.warehouse.has_table(name):
            raise AnalysisError(f"the warehouse has no {name} table yet: run "
                                "`finpersona ingest` on sources that include it")
        return self.warehouse.read(self.engine, name)

    def events(self) -> ir.Table:
        """App/web events with the stitched owner in ``customer_key``."""
        self.table("events")
        t = resolved_events(self.engine, self.warehouse)
        return t.mutate(customer_key=t.resolved_customer_key).drop(
            "resolved_customer_key", "identity_method")

    def transactions(self) -> ir.Table:
        t = self.table("transactions")
        return t.filter(t.customer_key.notnull())

    def customers(self) -> ir.Table:
        t = self.table("customers")
        return t.filter(t.customer_key.notnull()).distinct(on="customer_key", keep="first")

    def snapshot_dates(self) -> list[date]:
        return [date.fromisoformat(d) for d in self.warehouse.snapshot_dates(TAG_SNAPSHOT)]

    def tags(self, as_of: date | None = None, columns: Sequence[str] | None = None) -> ir.Table:
        """The tag snapshot of ``as_of`` (default: the latest build)."""
        dates = self.snapshot_dates()
        if not dates:
            raise AnalysisError("no tag snapshot yet: run `finpersona build` first")
        chosen = as_of or dates[-1]
        if chosen not in dates:
            known = ", ".join(d.isoformat() for d in dates[-5:])
            raise AnalysisError(f"no tag snapshot for {chosen}; latest builds: {known}")
        t = self.warehouse.read_snapshot(self.engine, TAG_SNAPSHOT, chosen.isoformat())
        if columns is None:
            return t
        unknown = [c for c in columns if c not in t.columns]
        if unknown:
            raise AnalysisError(f"unknown tag(s) {', '.join(unknown)} in the snapshot of {chosen}")
        return t.select("customer_key", *columns)


@contextmanager
def open_analytics(workspace: Workspace, engine: str | None = None) -> Iterator[AnalyticsData]:
    ws = workspace.with_engine(engine)
    eng = connect(ws.settings)
    try:
        yield AnalyticsData(eng, Warehouse(ws.warehouse_dir),
                            utc_offset_hours(ws.settings.timezone), ws)
    finally:
        eng.close()
