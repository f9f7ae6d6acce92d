"""The small vocabulary tags are declared in: value types, kinds, lifecycle states.

Everything that reads tags (the compiler, the expression language, the bitmap
index, the portrait, the audience export) agrees on these names, so they live
in one module with no dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ValueType(StrEnum):
    """What a tag's value is. ``category`` values are strings from a closed list."""

    BOOL = "bool"
    INT = "int"
    DECIMAL = "decimal"
    CATEGORY = "category"
    DATE = "date"

    @property
    def is_numeric(self) -> bool:
        return self in (ValueType.INT, ValueType.DECIMAL)


class TagKind(StrEnum):
    FACT = "fact"  # an aggregate over warehouse data
    RULE = "rule"  # a business rule over other tags
    MODEL = "model"  # written by a model (later issues); null until its model scores


class TagStatus(StrEnum):
    DRAFT = "draft"
    ONLINE = "online"  # computed by every build and offered to audiences
    OFFLINE = "offline"  # kept in the catalogue, not computed
    RETIRED = "retired"  # kept for history only


@dataclass(frozen=True)
class TagSignature:
    """What the expression language needs to know about one tag (or column)."""

    name: str
    type: ValueType
    values: tuple[str, ...] | None = None  # allowed values of a category tag
