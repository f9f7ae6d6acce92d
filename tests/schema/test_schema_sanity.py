"""The canonical schema is internally consistent."""

from __future__ import annotations

import re
from datetime import date

import pytest

from finpersona.schema import TABLES, TABLES_BY_NAME, ColumnType, Table

TABLE_IDS = [t.name for t in TABLES]
NUMERIC = (ColumnType.INT, ColumnType.DECIMAL)
DATED = (ColumnType.DATE, ColumnType.TIMESTAMP)


def test_table_names_are_unique() -> None:
    assert len(TABLE_IDS) == len(set(TABLE_IDS))
    assert set(TABLES_BY_NAME) == set(TABLE_IDS)


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_column_names_are_unique(table: Table) -> None:
    assert len(table.column_names) == len(set(table.column_names))


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_warehouse_names_are_unique(table: Table) -> None:
    names = [n for c in table.columns for n in c.warehouse_names()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_primary_key_exists_and_is_required(table: Table) -> None:
    assert table.primary_key, f"{table.name} has no primary key"
    assert len(table.primary_key) == len(set(table.primary_key))
    for key in table.primary_key:
        assert table.column(key).required, f"{table.name}.{key} is a key but not required"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_time_column_exists_is_dated_and_required(table: Table) -> None:
    if table.time_column is None:
        return
    col = table.column(table.time_column)
    assert col.type in DATED
    assert col.required


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_foreign_keys_point_to_existing_keys(table: Table) -> None:
    for column, target in table.foreign_keys:
        child = table.column(column)
        parent_name, _, parent_column = target.partition(".")
        assert parent_name in TABLES_BY_NAME, f"{table.name}.{column} → unknown table {target}"
        parent = TABLES_BY_NAME[parent_name]
        referenced = parent.column(parent_column)
        assert parent.primary_key == (parent_column,), f"{target} is not {parent_name}'s key"
        assert child.type == referenced.type
        assert child.pii == referenced.pii


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_required_columns_exist(table: Table) -> None:
    assert set(table.required_columns) <= set(table.column_names)
    assert table.required_columns, f"{table.name} has no required column"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_descriptions_grain_and_hints(table: Table) -> None:
    assert table.description.strip()
    assert table.grain.strip()
    assert table.mapping_hints
    for col in table.columns:
        assert col.description.strip(), f"{table.name}.{col.name} has no description"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_rules_are_well_formed(table: Table) -> None:
    for col in table.columns:
        where = f"{table.name}.{col.name}"
        if col.allowed is not None:
            assert col.type == ColumnType.STRING, where
            assert col.allowed, where
            lowered = [v.casefold() for v in col.allowed]
            # codes are matched case-insensitively, so they must differ beyond letter case
            assert len(lowered) == len(set(lowered)), f"{where} has duplicate allowed values"
        if col.pattern is not None:
            assert col.type == ColumnType.STRING, where
            re.compile(col.pattern)
        if col.minimum is not None or col.maximum is not None:
            assert col.type in NUMERIC, where
        if col.minimum is not None and col.maximum is not None:
            assert col.minimum <= col.maximum, where
        bounds = [b for b in (col.earliest, col.latest) if b is not None]
        if bounds:
            assert col.type in DATED, where
        parsed = [date.fromisoformat(b) for b in bounds if b != "today"]  # raises when malformed
        if len(parsed) == 2:
            assert parsed[0] <= parsed[1], where
        assert "" not in col.null_tokens, where
        assert len(col.null_tokens) == len(set(col.null_tokens)), where


def test_customer_id_is_the_same_everywhere() -> None:
    reference = TABLES_BY_NAME["customers"].column("customer_id")
    for table in TABLES:
        if "customer_id" in table.column_names:
            col = table.column("customer_id")
            assert (col.type, col.pii, col.pattern) == (
                reference.type, reference.pii, reference.pattern), table.name
