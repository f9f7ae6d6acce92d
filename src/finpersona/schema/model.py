"""The vocabulary the canonical data model is written in.

A table is a list of typed columns with validation rules. Ingestion reads these
rules as data: it never hard-codes a table. Personal identifiers are marked with
a :class:`Pii` kind so that the privacy step at the door knows what to replace
with a keyed pseudonym and a masked display form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical types; every engine maps them to its own physical types."""

    STRING = "string"
    INT = "int"
    DECIMAL = "decimal"  # money and rates: decimal(18, 4) in the warehouse
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"  # stored as UTC without zone; sources are in the workspace zone
    JSON = "json"  # a JSON object kept as text


class Pii(StrEnum):
    """Kinds of personal identifier, each with its own normalisation and mask."""

    CUSTOMER_REF = "customer_ref"  # the source system's customer number
    NAME = "name"
    PHONE = "phone"
    ID_NUMBER = "id_number"  # 18-digit resident identity card number
    EMAIL = "email"
    CARD_NUMBER = "card_number"
    DEVICE_ID = "device_id"
    HANDLE = "handle"  # a social-media account name


@dataclass(frozen=True)
class Column:
    """One column of a canonical table and the rules a value must satisfy."""

    name: str
    type: ColumnType
    description: str
    required: bool = False
    allowed: tuple[str, ...] | None = None  # the only valid codes, when set
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # a regular expression the cleaned text must match
    # Inclusive ISO date bounds for DATE/TIMESTAMP columns; "today" means the run's date.
    earliest: str | None = None
    latest: str | None = None
    pii: Pii | None = None
    # Values that mean "no value" in this column's sources (besides the empty string).
    null_tokens: tuple[str, ...] = ()

    @property
    def is_key_pseudonym(self) -> bool:
        """Whether the warehouse keeps a keyed pseudonym (joinable, not reversible)."""
        return self.pii is not None and self.pii is not Pii.NAME

    @property
    def is_masked(self) -> bool:
        """Whether the warehouse keeps a masked display form (张*, 138****5678)."""
        return self.pii is not None and self.pii not in (Pii.CUSTOMER_REF, Pii.DEVICE_ID)

    def warehouse_names(self) -> list[str]:
        """The column names this source column becomes in the warehouse."""
        if self.pii is None:
            return [self.name]
        names = []
        if self.is_key_pseudonym:
            names.append(pseudonym_column(self.name))
        if self.is_masked:
            names.append(f"{self.name}_masked")
        return names


def pseudonym_column(name: str) -> str:
    """``customer_id`` becomes ``customer_key``; ``phone`` becomes ``phone_key``."""
    stem = name[: -len("_id")] if name.endswith("_id") else name
    return f"{stem}_key"


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, its natural key and how sources deliver it."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    time_column: str | None = None  # the column an as-of date cuts on
    grain: str = ""  # one row per ...
    mapping_hints: tuple[str, ...] = ()  # where a bank usually finds this data
    foreign_keys: tuple[tuple[str, str], ...] = field(default=())  # (column, "table.column")

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]
