"""Reading the quarantine back: counts by reason, rows, and one row in full."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finpersona.config import Workspace
from finpersona.ingest.quarantine import QUARANTINE_PREFIX, VAULT_PREFIX
from finpersona.ingest.readers import FILE, LINE
from finpersona.privacy import Vault, load_or_create_secrets
from finpersona.warehouse import Warehouse, WarehouseError

PREVIEW_CHARS = 160


def _tables(warehouse: Warehouse) -> dict[str, pa.Table]:
    out = {}
    for name in sorted(warehouse.tables()):
        if name.startswith(QUARANTINE_PREFIX):
            files = [p for d in warehouse.table_dirs(name) for p in sorted(d.glob("*.parquet"))]
            parts = [pq.read_table(f) for f in files]
            out[name[len(QUARANTINE_PREFIX):]] = pa.concat_tables(parts, promote_options="default")
    return out


def _preview(row: dict[str, Any]) -> str:
    if row.get("_preview"):
        return str(row["_preview"])[:PREVIEW_CHARS]
    fields = []
    for key, value in row.items():
        if key.startswith("_raw_") and value not in (None, ""):
            fields.append(f"{key[5:]}={value}")
        elif key.endswith("_masked") and value:
            fields.append(f"{key}={value}")
    return "; ".join(fields)[:PREVIEW_CHARS]


def list_quarantine(workspace: Workspace, *, table: str | None = None, reason: str | None = None,
                    limit: int = 20) -> dict[str, Any]:
    tables = _tables(Warehouse(workspace.warehouse_dir))
    if table is not None and table not in tables:
        raise WarehouseError(f"no quarantined rows for table {table!r}; "
                             f"tables with quarantined rows: {', '.join(tables) or 'none'}")
    counts: Counter[tuple[str, str]] = Counter()
    rows: list[dict[str, Any]] = []
    for name, data in tables.items():
        if table is not None and name != table:
            continue
        for r, n in Counter(data["_reason"].to_pylist()).items():
            counts[(name, r)] += n
        shown = data if reason is None else data.filter(pc.equal(data["_reason"], reason))
        for row in shown.slice(0, max(0, limit - len(rows))).to_pylist():
            rows.append({"id": f"{name}:{row[FILE]}:{row[LINE]}", "table": name,
                         "file": row[FILE], "line": row[LINE], "reason": row["_reason"],
                         "column": row["_reason_column"], "preview": _preview(row)})
    return {"counts": [{"table": t, "reason": r, "rows": n}
                       for (t, r), n in sorted(counts.items()) if reason in (None, r)],
            "total": sum(n for (_, r), n in counts.items() if reason in (None, r)),
            "rows": rows}


def show_quarantine(workspace: Workspace, row_id: str, *, reveal: bool = False) -> dict[str, Any]:
    try:
        table, file, line_text = row_id.rsplit(":", 2)
        line = int(line_text)
    except ValueError as exc:
        raise WarehouseError(f"row id must look like table:file:line, not {row_id!r}") from exc
    warehouse = Warehouse(workspace.warehouse_dir)
    data = _tables(warehouse).get(table)
    if data is None:
        raise WarehouseError(f"no quarantined rows for table {table!r}")
    hit = data.filter(pc.and_(pc.equal(data[FILE], file), pc.equal(data[LINE], line)))
    if hit.num_rows == 0:
        raise WarehouseError(f"no quarantined row {row_id}")
    row = {k: v for k, v in hit.to_pylist()[-1].items() if v is not None}
    row["id"] = row_id
    if reveal:
        row["raw"] = _reveal(workspace, warehouse, table, row["_sha"], line)
    return row


def _reveal(workspace: Workspace, warehouse: Warehouse, table: str, sha: str, line: int) -> str:
    name = VAULT_PREFIX + table
    if not warehouse.has_table(name):
        return "(no raw text kept: the row was split into fields, shown masked above)"
    files = [p for d in warehouse.table_dirs(name) for p in sorted(d.glob("*.parquet"))]
    vault_rows = pa.concat_tables([pq.read_table(f) for f in files])
    hit = vault_rows.filter(pc.and_(pc.equal(vault_rows["_sha"], sha),
                                    pc.equal(vault_rows[LINE], line)))
    if hit.num_rows == 0:
        return "(no raw text kept: the row was split into fields, shown masked above)"
    vault = Vault(load_or_create_secrets(workspace.secrets_dir).vault_key)
    token = hit["ciphertext"][0].as_py()
    return vault.decrypt(token, f"{sha}:{line}".encode()).decode("utf-8")
