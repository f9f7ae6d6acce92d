"""Quarantine: every rejected row kept with its reason, inspectable, never with raw identifiers.

Quarantined rows keep the raw text of their non-personal columns (so a person
can see what was wrong) and masked forms of personal ones. Rows that could not
be split into fields at all keep a masked preview; their raw text is stored
only encrypted, in the vault.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finpersona.ingest.readers import FILE, JSON, LINE, Reject
from finpersona.privacy import Vault, WorkspaceSecrets, mask_free_text
from finpersona.schema import Reason, Table
from finpersona.warehouse import Transaction, Warehouse

QUARANTINE_PREFIX = "quarantine__"
VAULT_PREFIX = "vault__quarantine__"
KEY_COLUMNS = ["_run_id", FILE, "_sha", LINE, "_reason", "_reason_column", "_preview"]


def quarantine_table_name(table: str) -> str:
    return QUARANTINE_PREFIX + table


class QuarantineWriter:
    def __init__(self, warehouse: Warehouse, txn: Transaction, secrets: WorkspaceSecrets,
                 run_id: str) -> None:
        self.warehouse = warehouse
        self.txn = txn
        self.vault = Vault(secrets.vault_key)
        self.run_id = run_id

    def _seen(self, table: str) -> set[tuple[str, int]]:
        """(file hash, line) of rows quarantined by earlier runs: re-sent, not new."""
        dirs = self.txn.table_dirs(quarantine_table_name(table))
        files = [p for d in dirs for p in d.glob("*.parquet")]
        if not files:
            return set()
        seen = pq.read_table(files, columns=["_sha", LINE])
        return set(zip(seen["_sha"].to_pylist(), seen[LINE].to_pylist(), strict=True))

    def write(self, table: Table, classified: ir.Table | None, rejects: list[Reject],
              sha_by_file: dict[str, str]) -> tuple[int, int, dict[str, int]]:
        """Store this run's quarantined rows; returns (new, already quarantined, by reason)."""
        rows: list[dict[str, Any]] = []
        secret_raw: list[str | None] = []
        if classified is not None:
            bad = classified.filter(classified._status.isin(["invalid", "conflict"]))
            cols = [c for c in bad.columns
                    if c.startswith("_raw_") or c.endswith(("_key", "_masked"))]
            picked = bad.select(FILE, LINE, JSON, "_reason", "_reason_column", "_status", *cols)
            data = picked.to_pyarrow()
            for row in data.to_pylist():
                reason = Reason.KEY_CONFLICT.value if row.pop("_status") == "conflict" \
                    else row["_reason"]
                raw_line = row.pop(JSON)
                row["_reason"] = reason
                row["_preview"] = mask_free_text(raw_line) if raw_line is not None and \
                    reason == Reason.BAD_JSON.value else None
                secret_raw.append(raw_line if reason == Reason.BAD_JSON.value else None)
                rows.append(row)
        for rej in rejects:
            rows.append({FILE: rej.file, LINE: rej.line, "_reason": rej.reason.value,
                         "_reason_column": None, "_preview": mask_free_text(rej.raw)})
            secret_raw.append(rej.raw)
        seen = self._seen(table.name)
        new_rows, new_secrets, repeated = [], [], 0
        for row, raw in zip(rows, secret_raw, strict=True):
            row["_sha"] = sha_by_file[row[FILE]]
            row["_run_id"] = self.run_id
            if (row["_sha"], row[LINE]) in seen:
                repeated += 1
                continue
            new_rows.append(row)
            new_secrets.append(raw)
        by_reason = dict(Counter(r["_reason"] for r in new_rows))
        if new_rows:
            self._store(table, new_rows, new_secrets)
        return len(new_rows), repeated, by_reason

    def _store(self, table: Table, rows: list[dict[str, Any]], secrets: list[str | None]) -> None:
        names = KEY_COLUMNS + sorted({k for r in rows for k in r} - set(KEY_COLUMNS))
        data = pa.table({n: pa.array([r.get(n) for r in rows],
                                     pa.int64() if n == LINE else pa.string()) for n in names})
        seg = self.txn.new_dir("quarantine", table.name)
        seg.mkdir(parents=True)
        pq.write_table(data, seg / "part-0000.parquet")
        self.txn.append(quarantine_table_name(table.name), seg, data.num_rows, run_id=self.run_id)
        keep = [i for i, s in enumerate(secrets) if s is not None]
        if not keep:
            return
        ids = pa.array([f"{rows[i]['_sha']}:{rows[i][LINE]}" for i in keep], pa.string())
        plain = pa.array([secrets[i] for i in keep], pa.string())
        vault = pa.table({"_sha": pc.take(data["_sha"], pa.array(keep)),
                          LINE: pc.take(data[LINE], pa.array(keep)),
                          "ciphertext": self.vault.encrypt_column(plain, ids)})
        vseg = self.txn.new_dir("vault", "quarantine_" + table.name)
        vseg.mkdir(parents=True)
        pq.write_table(vault, vseg / "part-0000.parquet")
        self.txn.append(VAULT_PREFIX + table.name, vseg, vault.num_rows, run_id=self.run_id)
