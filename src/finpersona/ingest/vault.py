"""The customer vault: raw identifiers kept only encrypted, bound to the customer key."""

from __future__ import annotations

import json

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from finpersona.engine import Engine
from finpersona.privacy import Vault
from finpersona.schema import Table, pseudonym_column
from finpersona.warehouse import Transaction

VAULT_CUSTOMERS = "vault__customers"


def write_customer_vault(engine: Engine, txn: Transaction, accepted: ir.Table, table: Table,
                         vault_key: bytes, run_id: str) -> int:
    """Encrypt each accepted customer's identifiers as one JSON document."""
    key_col = pseudonym_column("customer_id")
    pii = [c.name for c in table.columns if c.pii is not None and c.name != "customer_id"]
    vault = Vault(vault_key)
    seg = txn.new_dir("vault", "customers")
    seg.mkdir(parents=True)
    writer: pq.ParquetWriter | None = None
    rows = 0
    expr = accepted.select(key_col, *[f"_vault_{c}" for c in pii])
    try:
        for batch in engine.to_arrow_batches(expr):
            cols = {c: batch.column(f"_vault_{c}").to_pylist() for c in pii}
            docs = [json.dumps({c: cols[c][i] for c in pii}, ensure_ascii=False)
                    for i in range(batch.num_rows)]
            keys = batch.column(key_col)
            out = pa.table({key_col: keys, "ciphertext": vault.encrypt_column(
                pa.array(docs, pa.string()), keys)})
            if writer is None:
                writer = pq.ParquetWriter(seg / "part-0000.parquet", out.schema)
            writer.write_table(out)
            rows += out.num_rows
    finally:
        if writer is not None:
            writer.close()
    txn.append(VAULT_CUSTOMERS, seg, rows, run_id=run_id)
    return rows
