"""The canonical data model: tables, columns, types, keys and validation rules."""

from finpersona.schema.model import Column, ColumnType, Pii, Table, pseudonym_column
from finpersona.schema.reasons import REASON_TEXT, Reason
from finpersona.schema.tables import TABLES, TABLES_BY_NAME, get_table

__all__ = [
    "REASON_TEXT",
    "TABLES",
    "TABLES_BY_NAME",
    "Column",
    "ColumnType",
    "Pii",
    "Reason",
    "Table",
    "get_table",
    "pseudonym_column",
]
