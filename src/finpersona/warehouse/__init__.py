"""Table registry, atomic publish and dated snapshots over open Parquet files."""

from finpersona.warehouse.store import Transaction, Warehouse, WarehouseError, new_id

__all__ = ["Transaction", "Warehouse", "WarehouseError", "new_id"]
