"""The warehouse: open Parquet files plus one catalog that says which files are live.

Writers put new data into fresh folders first and then replace ``catalog.json``
in one atomic rename. Readers only follow the catalog, so a run that fails
half-way leaves the previous state whole and readable; its folders are orphans
that ``gc`` removes. Any engine (and any BI tool) reads the same Parquet files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from finpersona.engine import Engine

CATALOG = "catalog.json"
FORMAT_VERSION = 1


class WarehouseError(Exception):
    """The warehouse is missing a table, locked, or its catalog is damaged."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    """Sortable, unique ids for runs, segments and builds."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


@dataclass
class Warehouse:
    root: Path

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG

    def catalog(self) -> dict[str, Any]:
        if not self.catalog_path.exists():
            return {"version": FORMAT_VERSION, "tables": {}, "snapshots": {}}
        try:
            data = json.loads(self.catalog_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WarehouseError(f"damaged catalog {self.catalog_path}: {exc}") from exc
        if not (isinstance(data, dict) and isinstance(data.get("tables"), dict)
                and isinstance(data.get("snapshots"), dict)):
            raise WarehouseError(f"damaged catalog {self.catalog_path}: expected an object "
                                 "with 'tables' and 'snapshots'")
        return data

    # -- reading -----------------------------------------------------------------------
    def tables(self) -> dict[str, dict[str, Any]]:
        return dict(self.catalog()["tables"])

    def has_table(self, name: str) -> bool:
        return name in self.catalog()["tables"]

    def table_dirs(self, name: str) -> list[Path]:
        entry = self.catalog()["tables"].get(name)
        if entry is None:
            raise WarehouseError(f"the warehouse has no table {name!r}; ingest data first")
        return [self.root / seg["path"] for seg in entry["segments"]]

    def read(self, engine: Engine, name: str) -> ir.Table:
        return engine.read_parquet(self.table_dirs(name))

    def snapshot_dates(self, name: str) -> list[str]:
        return sorted(self.catalog()["snapshots"].get(name, {}))

    def read_snapshot(self, engine: Engine, name: str, as_of: str | None = None) -> ir.Table:
        snaps = self.catalog()["snapshots"].get(name, {})
        if not snaps:
            raise WarehouseError(f"no snapshot of {name!r} yet; run `finpersona build`")
        key = as_of or max(snaps)
        if key not in snaps:
            have = ", ".join(sorted(snaps))
            raise WarehouseError(f"no snapshot of {name!r} as of {key}; have {have}")
        return engine.read_parquet([self.root / snaps[key]["path"]])

    # -- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """One writer at a time (a run, or gc); others are refused, not queued."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WarehouseError(f"{self.root} is being written by another run") from exc
            yield

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Stage new data; publish it all at once when the block ends without error."""
        with self._writer_lock():
            txn = Transaction(self, self.catalog())
            try:
                yield txn
                txn.commit()
            except BaseException:
                txn.discard()
                raise

    def gc(self) -> list[Path]:
        """Remove folders no catalog entry points to (left by failed runs)."""
        with self._writer_lock():
            return self._gc()

    def _gc(self) -> list[Path]:
        live = {self.root / seg["path"] for t in self.catalog()["tables"].values()
                for seg in t["segments"]}
        live |= {self.root / s["path"] for snaps in self.catalog()["snapshots"].values()
                 for s in snaps.values()}
        removed = []
        for area in ("tables", "snapshots", "quarantine", "vault"):
            base = self.root / area
            if not base.exists():
                continue
            for table_dir in base.iterdir():
                for seg in table_dir.iterdir():
                    if seg not in live:
                        shutil.rmtree(seg)
                        removed.append(seg)
        return removed


@dataclass
class Transaction:
    warehouse: Warehouse
    catalog: dict[str, Any]
    created: list[Path] = field(default_factory=list)

    def new_dir(self, area: str, table: str, label: str | None = None) -> Path:
        path = self.warehouse.root / area / table / (label or new_id())
        self.created.append(path)
        return path

    def table_dirs(self, table: str) -> list[Path]:
        """Live folders of a table including what this transaction has added so far."""
        entry = self.catalog["tables"].get(table, {"segments": []})
        return [self.warehouse.root / seg["path"] for seg in entry["segments"]]

    def append(self, table: str, directory: Path, rows: int, **meta: Any) -> None:
        entry = self.catalog["tables"].setdefault(table, {"segments": [], "rows": 0})
        if rows:
            entry["segments"].append(
                {"path": str(directory.relative_to(self.warehouse.root)), "rows": rows,
                 "created_at": _now(), **meta})
        entry["rows"] = sum(s["rows"] for s in entry["segments"])
        entry["updated_at"] = _now()

    def replace(self, table: str, directory: Path, rows: int, **meta: Any) -> None:
        self.catalog["tables"][table] = {"segments": [], "rows": 0}
        self.catalog["tables"][table]["segments"].append(
            {"path": str(directory.relative_to(self.warehouse.root)), "rows": rows,
             "created_at": _now(), **meta})
        self.catalog["tables"][table]["rows"] = rows
        self.catalog["tables"][table]["updated_at"] = _now()

    def put_snapshot(self, table: str, as_of: str, directory: Path, rows: int, **meta: Any) -> None:
        snaps = self.catalog["snapshots"].setdefault(table, {})
        snaps[as_of] = {"path": str(directory.relative_to(self.warehouse.root)), "rows": rows,
                        "created_at": _now(), **meta}

    def commit(self) -> None:
        tmp = self.warehouse.catalog_path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(self.catalog, fh, indent=1, sort_keys=True, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.warehouse.catalog_path)  # the single atomic step

    def discard(self) -> None:
        for path in self.created:
            shutil.rmtree(path, ignore_errors=True)
        self.warehouse.catalog_path.with_suffix(".json.tmp").unlink(missing_ok=True)
