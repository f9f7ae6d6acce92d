"""Reading warehouse tables and hidden truth with plain pyarrow/pandas, independent of engines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finpersona.config import Workspace


def catalog(ws: Workspace) -> dict:  # type: ignore[type-arg]
    path = ws.warehouse_dir / "catalog.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_table(ws: Workspace, name: str) -> pa.Table:
    entry = catalog(ws)["tables"][name]
    parts = []
    for seg in entry["segments"]:
        for f in sorted((ws.warehouse_dir / seg["path"]).glob("*.parquet")):
            parts.append(pq.read_table(f))
    return pa.concat_tables(parts, promote_options="permissive")


def read_snapshot(ws: Workspace, name: str, as_of: str) -> pa.Table:
    entry = catalog(ws)["snapshots"][name][as_of]
    files = sorted((ws.warehouse_dir / entry["path"]).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def truth(bank_truth: Path, name: str) -> pd.DataFrame:
    return pq.read_table(bank_truth / f"{name}.parquet").to_pandas()


def quarantined_locations(ws: Workspace) -> dict[tuple[str, str, int], str]:
    out: dict[tuple[str, str, int], str] = {}
    for name in catalog(ws)["tables"]:
        if name.startswith("quarantine__"):
            data = read_table(ws, name)
            for f, line, reason in zip(data["_file"].to_pylist(), data["_line"].to_pylist(),
                                       data["_reason"].to_pylist(), strict=True):
                out[(name.removeprefix("quarantine__"), f, line)] = reason
    return out


def canonical(table: pa.Table, drop: tuple[str, ...] = ("_ingest_run",)) -> pd.DataFrame:
    """A table as a sorted frame of text, for comparing engines cell by cell."""
    frame = table.drop_columns([c for c in drop if c in table.column_names]).to_pandas()
    frame = frame[sorted(frame.columns)]
    for col in frame.columns:
        frame[col] = frame[col].map(lambda v: None if pd.isna(v) else str(v))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)
