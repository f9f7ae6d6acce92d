"""One ingestion run: read → clean → protect → deduplicate → publish, reconciled per table.

For every table, rows read = accepted + quarantined + duplicates. The run
publishes all its tables in one warehouse transaction, so a failure leaves the
previous state as it was. A record of the run is kept in the warehouse
(``ingest_runs``) and as JSON under ``runs/``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from finpersona.config import Workspace
from finpersona.engine import Engine, connect
from finpersona.ingest.clean import (
    VALUE,
    CleanContext,
    clean_table,
    extract_json_columns,
    utc_offset_hours,
)
from finpersona.ingest.identity import build_identity_map
from finpersona.ingest.protect import protect
from finpersona.ingest.quarantine import QuarantineWriter
from finpersona.ingest.readers import FILE, JSON, LINE, FileRead, read_source, staged_schema
from finpersona.ingest.sources import SourceFile, discover
from finpersona.ingest.vault import write_customer_vault
from finpersona.privacy import load_or_create_secrets
from finpersona.schema import TABLES_BY_NAME, Reason, Table, pseudonym_column
from finpersona.warehouse import Transaction, Warehouse, new_id

Progress = Callable[[str, int, int], None]
ROW_HASH = "_row_hash"
RUN_ID = "_ingest_run"
ACCEPTED, DUPLICATE, CONFLICT, INVALID = "accepted", "duplicate", "conflict", "invalid"


class ReconciliationError(Exception):
    """Counts did not add up: a row would have been lost. The run is not published."""


@dataclass
class TableCounts:
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    def reconciles(self) -> bool:
        return self.read == self.accepted + self.quarantined + self.duplicates


@dataclass
class IngestReport:
    run_id: str
    source: str
    started_at: str
    finished_at: str
    engine: str
    tables: dict[str, TableCounts]
    skipped_files: list[str]
    identity: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def warehouse_key(table: Table) -> list[str]:
    """The primary key as it is named in the warehouse (pseudonymised where personal)."""
    return [pseudonym_column(c) if table.column(c).pii is not None else c
            for c in table.primary_key]


def _row_hash(columns: dict[str, ir.Value]) -> ir.StringValue:
    parts = [v.cast("string").fill_null("\u2400") for v in columns.values()]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + "\x1f" + p
    return joined.hexdigest("sha256")


def _stage_name(table: Table, fmt: str, run_id: str) -> str:
    return f"_stage_{table.name}_{fmt}_{run_id.replace('-', '_')}"


def _stage_names(table: Table, run_id: str) -> list[str]:
    return [_stage_name(table, fmt, run_id) for fmt in ("csv", "parquet", "jsonl")]


def _classified_name(table: Table, run_id: str) -> str:
    return f"_classified_{table.name}_{run_id.replace('-', '_')}"


def _read_and_stage(engine: Engine, table: Table, files: list[SourceFile], run_id: str,
                    on_file: Callable[[SourceFile], None]) -> tuple[ir.Table, list[FileRead]]:
    """Read a table's files and stream them into the engine, a few files at a time.

    Each file is parsed on one thread (exact line numbers need that); pyarrow releases
    the GIL, so a window of files is read side by side. Rows are handed to the engine
    file by file and freed here, so memory holds at most one window of files.
    """
    reads: list[FileRead] = []
    parts: list[ir.Table] = []
    width = os.cpu_count() or 2
    with ThreadPoolExecutor(max_workers=width) as pool:
        for fmt in ("csv", "parquet", "jsonl"):
            group = [f for f in files if f.format == fmt]
            if not group:
                continue

            def batches(group: list[SourceFile] = group) -> Iterator[pa.Table]:
                for start in range(0, len(group), width):
                    window = group[start:start + width]
                    for read in pool.map(read_source, window, [table] * len(window)):
                        reads.append(read)
                        on_file(read.source)
                        yield read.take_data()

            staged = engine.stage(_stage_name(table, fmt, run_id), batches(),
                                  staged_schema(table, fmt))
            if fmt == "jsonl":
                part = extract_json_columns(staged, table, engine)
            else:
                part = staged.mutate(_json_ok=ibis.literal(True), **{JSON: ibis.null(str)})
            parts.append(part.select(FILE, LINE, "_json_ok", JSON, *table.column_names))
    return (parts[0] if len(parts) == 1 else ibis.union(*parts)), reads


def _classify(engine: Engine, warehouse: Warehouse, table: Table, raw: ir.Table,
              ctx: CleanContext, key: bytes, run_id: str) -> ir.Table:
    checked = clean_table(raw, table, ctx)
    json_ok = checked["_json_ok"]
    checked = checked.mutate(
        _reason=ibis.ifelse(json_ok, checked._reason, Reason.BAD_JSON.value),
        _reason_column=ibis.ifelse(json_ok, checked._reason_column, ibis.null(str)))
    values = {c.name: checked[VALUE + c.name] for c in table.columns}
    protected = protect(values, table, key)
    # Quarantine keeps the raw text of non-personal columns so a person can see what
    # was wrong; personal columns appear there only masked/pseudonymised.
    # Only invalid rows ever need it, so valid rows carry nulls (it would otherwise double
    # the size of what the engine holds; the raw JSON line alone is most of an event).
    invalid = checked._reason.notnull()
    raw_text = {f"_raw_{c.name}": ibis.ifelse(invalid, checked[c.name], ibis.null(str))
                for c in table.columns if c.pii is None}
    extra = {}
    if table.name == "customers":  # raw identifiers go to the encrypted vault only
        extra = {f"_vault_{c.name}": values[c.name] for c in table.columns if c.pii is not None}
    cleaned = checked.select(FILE, LINE, "_reason", "_reason_column",
                             **{JSON: ibis.ifelse(invalid, checked[JSON], ibis.null(str))},
                             **protected, **raw_text, **extra)
    cleaned = cleaned.mutate(**{ROW_HASH: _row_hash({k: cleaned[k] for k in protected})})
    pk = warehouse_key(table)
    # One pass over all rows (a union of valid and invalid rows would clean them twice):
    # validity is part of the window, so invalid rows never rank against valid ones.
    cleaned = cleaned.mutate(_valid=cleaned._reason.isnull())
    order = ibis.window(group_by=[cleaned._valid, *(cleaned[k] for k in pk)],
                        order_by=[cleaned[FILE], cleaned[LINE]])
    ranked = cleaned.mutate(_rn=ibis.row_number().over(order),
                            _first_hash=cleaned[ROW_HASH].first().over(order))
    if warehouse.has_table(table.name):
        existing = warehouse.read(engine, table.name).select(
            *pk, _ex_hash=ibis._[ROW_HASH]).distinct(on=pk, keep="first")
        ranked = ranked.left_join(existing, pk).select(ranked, existing._ex_hash)
    else:
        ranked = ranked.mutate(_ex_hash=ibis.null(str))
    status = ibis.cases(
        (~ranked._valid, INVALID),
        (ranked._ex_hash.notnull() & (ranked[ROW_HASH] == ranked._ex_hash), DUPLICATE),
        (ranked._ex_hash.notnull(), CONFLICT),
        (ranked._rn == 0, ACCEPTED),
        (ranked[ROW_HASH] == ranked._first_hash, DUPLICATE),
        else_=CONFLICT,
    )
    both = ranked.mutate(_status=status).drop("_rn", "_first_hash", "_ex_hash", "_valid")
    name = _classified_name(table, run_id)
    return engine.materialize(both, name)


def ingest_directory(workspace: Workspace, directory: Path, *,
                     progress: Progress | None = None, fail_before_publish: bool = False
                     ) -> IngestReport:
    """Ingest every recognised file in a folder into the workspace's warehouse."""
    started = datetime.now(UTC)
    run_id = new_id()
    sources, skipped = discover(directory)
    settings = workspace.settings
    secrets = load_or_create_secrets(workspace.secrets_dir)
    warehouse = Warehouse(workspace.warehouse_dir)
    zone = ZoneInfo(settings.timezone)
    ctx_offset = utc_offset_hours(settings.timezone)
    by_table: dict[str, list[SourceFile]] = defaultdict(list)
    for src in sources:
        by_table[src.table].append(src)
    counts: dict[str, TableCounts] = {}
    identity: dict[str, int] = {}
    done, total = 0, sum(s.size for s in sources) or 1
    with connect(settings) as engine, warehouse.transaction() as txn:
        ctx = CleanContext(engine, datetime.now(zone).date(), ctx_offset)
        quarantine = QuarantineWriter(warehouse, txn, secrets, run_id)
        for table_name in sorted(by_table):
            table = TABLES_BY_NAME[table_name]
            files = by_table[table_name]

            def on_file(src: SourceFile) -> None:
                nonlocal done
                done += src.size
                if progress:
                    progress(f"read {src.name}", done, total)

            raw, reads = _read_and_stage(engine, table, files, run_id, on_file)
            if progress:
                progress(f"clean, protect, dedup {table_name}", done, total)
            counts[table_name] = _ingest_table(engine, warehouse, txn, table, raw, reads, ctx,
                                               secrets.pseudonym_key, secrets.vault_key,
                                               quarantine, run_id)
        if "events" in by_table:
            identity = build_identity_map(engine, txn, settings.max_customers_per_device,
                                          run_id)
        _append_run_records(txn, run_id, counts, started)
        if fail_before_publish:  # used by tests to prove a failed run publishes nothing
            raise RuntimeError("injected failure before publish")
    report = IngestReport(run_id=run_id, source=str(directory), started_at=started.isoformat(),
                          finished_at=datetime.now(UTC).isoformat(), engine=settings.engine,
                          tables=counts, skipped_files=skipped, identity=identity)
    workspace.runs_dir.mkdir(parents=True, exist_ok=True)
    (workspace.runs_dir / f"ingest-{run_id}.json").write_text(
        json.dumps(report.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def _ingest_table(engine: Engine, warehouse: Warehouse, txn: Transaction, table: Table,
                  raw: ir.Table, reads: list[FileRead], ctx: CleanContext, pseudonym_key: bytes,
                  vault_key: bytes, quarantine: QuarantineWriter, run_id: str) -> TableCounts:
    counts = TableCounts(read=sum(r.records for r in reads),
                         files=[r.source.name for r in reads],
                         unknown_columns=sorted({c for r in reads for c in r.unknown_columns}))
    rejects = [rej for r in reads for rej in r.rejects]
    sha_by_file = {r.source.name: r.source.sha256 for r in reads}
    classified = None
    status_counts: dict[str, int] = {}
    if any(r.data_rows for r in reads):
        classified = _classify(engine, warehouse, table, raw, ctx, pseudonym_key, run_id)
        engine.release(*_stage_names(table, run_id))
        agg = engine.to_arrow(classified.group_by("_status").aggregate(n=ibis._.count()))
        status_counts = dict(zip(agg["_status"].to_pylist(), agg["n"].to_pylist(), strict=True))
        accepted = classified.filter(classified._status == ACCEPTED)
        keep = [c for c in classified.columns
                if not c.startswith(("_raw_", "_vault_", "_reason", "_status"))
                and c not in (FILE, LINE, JSON)]
        n_accepted = status_counts.get(ACCEPTED, 0)
        if n_accepted:
            seg = txn.new_dir("tables", table.name)
            engine.write_parquet(accepted.select(*keep).mutate(**{RUN_ID: ibis.literal(run_id)}),
                                 seg)
            txn.append(table.name, seg, n_accepted, run_id=run_id)
            if table.name == "customers":
                write_customer_vault(engine, txn, accepted, table, vault_key, run_id)
        counts.accepted = n_accepted
    new_q, repeated_q, by_reason = quarantine.write(table, classified, rejects, sha_by_file)
    counts.quarantined = new_q
    counts.duplicates = status_counts.get(DUPLICATE, 0) + repeated_q
    counts.quarantined_by_reason = by_reason
    if classified is not None:
        engine.release(_classified_name(table, run_id))
    if not counts.reconciles():
        raise ReconciliationError(
            f"{table.name}: read {counts.read} != accepted {counts.accepted} + quarantined "
            f"{counts.quarantined} + duplicates {counts.duplicates}; nothing was published")
    return counts


def _append_run_records(txn: Transaction, run_id: str,
                        counts: dict[str, TableCounts], started: datetime) -> None:
    import pyarrow.parquet as pq

    rows = [{"run_id": run_id, "started_at": started.replace(tzinfo=None), "table": name,
             "files": len(c.files), "read": c.read, "accepted": c.accepted,
             "quarantined": c.quarantined, "duplicates": c.duplicates}
            for name, c in sorted(counts.items())]
    if not rows:
        return
    seg = txn.new_dir("tables", "ingest_runs")
    seg.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), seg / "part-0000.parquet")
    txn.append("ingest_runs", seg, len(rows), run_id=run_id)
