"""The warehouse catalog: atomic publish, rollback, snapshots, gc and locking."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finpersona.config import Settings
from finpersona.engine import Engine, connect
from finpersona.warehouse import Transaction, Warehouse, WarehouseError


class BoomError(Exception):
    pass


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = connect(Settings())
    yield eng
    eng.close()


def write_segment(txn: Transaction, area: str, table: str, values: list[int],
                  label: str | None = None) -> Path:
    seg = txn.new_dir(area, table, label)
    seg.mkdir(parents=True)
    pq.write_table(pa.table({"v": values}), seg / "part-0000.parquet")
    return seg


def publish(warehouse: Warehouse, table: str, values: list[int]) -> Path:
    with warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", table, values)
        txn.append(table, seg, len(values))
    return seg


def read_values(engine: Engine, warehouse: Warehouse, table: str) -> list[int]:
    return sorted(engine.to_arrow(warehouse.read(engine, table))["v"].to_pylist())


def all_dirs(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_dir()}


# -- rollback and atomic commit -------------------------------------------------------


def test_failed_transaction_leaves_catalog_and_removes_new_folders(warehouse: Warehouse) -> None:
    kept = publish(warehouse, "loans", [1, 2])
    before = warehouse.catalog_path.read_bytes()
    new_dirs: list[Path] = []
    with pytest.raises(BoomError), warehouse.transaction() as txn:
        new_dirs.append(write_segment(txn, "tables", "loans", [3]))
        txn.append("loans", new_dirs[-1], 1)
        new_dirs.append(write_segment(txn, "tables", "brand_new", [4]))
        txn.replace("brand_new", new_dirs[-1], 1)
        new_dirs.append(write_segment(txn, "snapshots", "daily", [5], "2025-01-01-x"))
        txn.put_snapshot("daily", "2025-01-01", new_dirs[-1], 1)
        assert all(d.is_dir() for d in new_dirs)
        raise BoomError
    assert warehouse.catalog_path.read_bytes() == before
    assert not any(d.exists() for d in new_dirs)
    assert kept.is_dir()
    assert not warehouse.catalog_path.with_suffix(".json.tmp").exists()
    assert warehouse.tables()["loans"]["rows"] == 2


def test_failed_first_transaction_creates_no_catalog(warehouse: Warehouse) -> None:
    with pytest.raises(BoomError), warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [1])
        txn.append("loans", seg, 1)
        raise BoomError
    assert not warehouse.catalog_path.exists()
    assert not seg.exists()
    assert warehouse.catalog() == {"version": 1, "tables": {}, "snapshots": {}}


def test_keyboard_interrupt_also_rolls_back(warehouse: Warehouse) -> None:
    with pytest.raises(KeyboardInterrupt), warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [1])
        txn.append("loans", seg, 1)
        raise KeyboardInterrupt
    assert not seg.exists()
    assert not warehouse.has_table("loans")


def test_readers_see_old_data_until_commit(warehouse: Warehouse, engine: Engine) -> None:
    publish(warehouse, "loans", [1, 2])
    reader = Warehouse(warehouse.root)  # an independent reader of the same folder
    old_inode = warehouse.catalog_path.stat().st_ino
    with warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [3])
        txn.append("loans", seg, 1)
        # Staged data is visible to the transaction itself, not to readers.
        assert len(txn.table_dirs("loans")) == 2
        assert reader.tables()["loans"]["rows"] == 2
        assert read_values(engine, reader, "loans") == [1, 2]
        old_handle = warehouse.catalog_path.open(encoding="utf-8")
    try:
        # The catalog was replaced by rename: a handle opened before still reads the old file.
        assert json.load(old_handle)["tables"]["loans"]["rows"] == 2
    finally:
        old_handle.close()
    assert warehouse.catalog_path.stat().st_ino != old_inode
    assert reader.tables()["loans"]["rows"] == 3
    assert read_values(engine, reader, "loans") == [1, 2, 3]
    assert not warehouse.catalog_path.with_suffix(".json.tmp").exists()


def test_append_with_zero_rows_adds_no_segment(warehouse: Warehouse) -> None:
    publish(warehouse, "loans", [1])
    with warehouse.transaction() as txn:
        txn.append("loans", txn.new_dir("tables", "loans"), 0)
    entry = warehouse.tables()["loans"]
    assert (len(entry["segments"]), entry["rows"]) == (1, 1)


def test_replace_drops_earlier_segments(warehouse: Warehouse, engine: Engine) -> None:
    publish(warehouse, "loans", [1, 2])
    with warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [9])
        txn.replace("loans", seg, 1, build_id="b1")
    entry = warehouse.tables()["loans"]
    assert entry["rows"] == 1
    assert entry["segments"][0]["build_id"] == "b1"
    assert read_values(engine, warehouse, "loans") == [9]


def test_reading_a_missing_table_says_to_ingest(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="ingest data first"):
        warehouse.table_dirs("loans")


def test_failure_while_writing_the_catalog_rolls_back(warehouse: Warehouse) -> None:
    publish(warehouse, "loans", [1])
    before = warehouse.catalog_path.read_bytes()
    with pytest.raises(TypeError), warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [2])
        txn.append("loans", seg, 1, note=object())  # not JSON-serialisable
    assert warehouse.catalog_path.read_bytes() == before
    assert not seg.exists()
    assert not warehouse.catalog_path.with_suffix(".json.tmp").exists()


# -- snapshots ------------------------------------------------------------------------


def test_snapshots_per_as_of_date(warehouse: Warehouse, engine: Engine) -> None:
    with pytest.raises(WarehouseError, match="no snapshot"):
        warehouse.read_snapshot(engine, "daily")
    for day, values in (("2025-01-31", [1]), ("2024-12-31", [2, 2]), ("2025-02-28", [3, 3, 3])):
        with warehouse.transaction() as txn:
            seg = write_segment(txn, "snapshots", "daily", values, f"{day}-b")
            txn.put_snapshot("daily", day, seg, len(values), build_id="b")
    assert warehouse.snapshot_dates("daily") == ["2024-12-31", "2025-01-31", "2025-02-28"]
    assert warehouse.snapshot_dates("other") == []

    def snap(as_of: str | None) -> list[int]:
        return engine.to_arrow(warehouse.read_snapshot(engine, "daily", as_of))["v"].to_pylist()

    assert snap("2024-12-31") == [2, 2]
    assert snap("2025-01-31") == [1]
    assert snap(None) == [3, 3, 3]  # the latest by default
    with pytest.raises(WarehouseError, match=r"as of 2025-03-31; have 2024-12-31, 2025-01-31"):
        snap("2025-03-31")


def test_rebuilding_a_date_replaces_its_snapshot(warehouse: Warehouse, engine: Engine) -> None:
    with warehouse.transaction() as txn:
        first = write_segment(txn, "snapshots", "daily", [1], "2025-01-31-a")
        txn.put_snapshot("daily", "2025-01-31", first, 1)
    with warehouse.transaction() as txn:
        second = write_segment(txn, "snapshots", "daily", [2], "2025-01-31-b")
        txn.put_snapshot("daily", "2025-01-31", second, 1)
    assert warehouse.snapshot_dates("daily") == ["2025-01-31"]
    read = engine.to_arrow(warehouse.read_snapshot(engine, "daily", "2025-01-31"))
    assert read["v"].to_pylist() == [2]
    assert warehouse.gc() == [first]


# -- gc -------------------------------------------------------------------------------


def test_gc_removes_orphan_folders_only(warehouse: Warehouse, engine: Engine) -> None:
    live_table = publish(warehouse, "loans", [1])
    with warehouse.transaction() as txn:
        live_snap = write_segment(txn, "snapshots", "daily", [1], "2025-01-01-a")
        txn.put_snapshot("daily", "2025-01-01", live_snap, 1)
    with pytest.raises(BoomError), warehouse.transaction() as txn:
        write_segment(txn, "tables", "loans", [2])
        raise BoomError
    orphans = {warehouse.root / "tables" / "loans" / "crashed-run",
               warehouse.root / "tables" / "never_published" / "x",
               warehouse.root / "snapshots" / "daily" / "2025-01-02-crashed"}
    for path in orphans:
        path.mkdir(parents=True)
        (path / "part-0000.parquet").write_bytes(b"partial")
    assert sorted(warehouse.gc()) == sorted(orphans)
    assert not any(p.exists() for p in orphans)
    assert live_table.is_dir()
    assert live_snap.is_dir()
    assert read_values(engine, warehouse, "loans") == [1]
    assert warehouse.gc() == []


def test_gc_on_an_empty_warehouse(warehouse: Warehouse) -> None:
    assert warehouse.gc() == []


def test_gc_also_removes_orphan_quarantine_and_vault_folders(warehouse: Warehouse) -> None:
    publish(warehouse, "loans", [1])
    orphans = [warehouse.root / "quarantine" / "loans" / "crashed",
               warehouse.root / "vault" / "quarantine_loans" / "crashed"]
    for path in orphans:
        path.mkdir(parents=True)
    removed = warehouse.gc()
    assert sorted(removed) == sorted(orphans)


def test_gc_does_not_delete_a_running_transactions_folders(warehouse: Warehouse) -> None:
    publish(warehouse, "loans", [1])
    with warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [2])
        txn.append("loans", seg, 1)
        with contextlib.suppress(WarehouseError):  # refusing while a writer runs is fine too
            warehouse.gc()
    assert all(d.is_dir() for d in warehouse.table_dirs("loans"))


# -- locking and damage ---------------------------------------------------------------


def test_second_concurrent_transaction_is_refused(warehouse: Warehouse) -> None:
    with warehouse.transaction() as txn:
        seg = write_segment(txn, "tables", "loans", [1])
        txn.append("loans", seg, 1)
        with pytest.raises(WarehouseError, match="being written by another run"), \
                Warehouse(warehouse.root).transaction():
            pass
    # The refusal did not disturb the first transaction, and the lock is free again.
    assert warehouse.tables()["loans"]["rows"] == 1
    publish(warehouse, "loans", [2])
    assert warehouse.tables()["loans"]["rows"] == 2


@pytest.mark.parametrize("text", ['{"version": 1, "tables": {', "", "not json"])
def test_damaged_catalog_gives_a_clear_error(warehouse: Warehouse, text: str) -> None:
    warehouse.root.mkdir(parents=True)
    warehouse.catalog_path.write_text(text, encoding="utf-8")
    with pytest.raises(WarehouseError, match=r"damaged catalog .*catalog\.json"):
        warehouse.tables()
    with pytest.raises(WarehouseError, match="damaged catalog"), warehouse.transaction():
        pass
    assert warehouse.catalog_path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("payload", [b"[]", b"null", b'{"version": 1}', b"\xff\xfe{}"],
                         ids=["list", "null", "no-tables", "not-utf8"])
def test_catalog_of_the_wrong_shape_gives_a_clear_error(warehouse: Warehouse,
                                                        payload: bytes) -> None:
    warehouse.root.mkdir(parents=True)
    warehouse.catalog_path.write_bytes(payload)
    with pytest.raises(WarehouseError):
        warehouse.tables()
