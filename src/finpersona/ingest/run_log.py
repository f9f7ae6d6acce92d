"""Reading back the ingestion-run records kept in the warehouse (table ``ingest_runs``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finpersona.config import Workspace
from finpersona.warehouse import Warehouse

RUNS_TABLE = "ingest_runs"


def read_run_log(workspace: Workspace, *, limit: int = 10) -> list[dict[str, Any]]:
    """The most recent runs, newest first, each with its per-table counts."""
    warehouse = Warehouse(workspace.warehouse_dir)
    if not warehouse.has_table(RUNS_TABLE):
        return []
    files = [p for d in warehouse.table_dirs(RUNS_TABLE) for p in sorted(d.glob("*.parquet"))]
    rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
    runs: dict[str, dict[str, Any]] = {}
    for row in rows:
        run = runs.setdefault(row["run_id"], {"run_id": row["run_id"],
                                              "started_at": str(row["started_at"]),
                                              "tables": []})
        run["tables"].append({k: row[k] for k in ("table", "files", "read", "accepted",
                                                  "quarantined", "duplicates")})
    # Segments are appended run by run, so first appearance is chronological; run ids of
    # two runs started in the same second differ only by a random suffix, so don't sort them.
    return list(runs.values())[::-1][:limit]
