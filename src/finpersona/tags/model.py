"""A tag as the catalogue declares it (see docs/tag-definitions.md for the YAML form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from finpersona.tags.types import TagKind, TagSignature, TagStatus, ValueType


class Measure(StrEnum):
    COUNT = "count"
    EXISTS = "exists"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT_DISTINCT = "count_distinct"
    MODE = "mode"
    FIRST = "first"
    LAST = "last"
    SHARE = "share"
    VALUE = "value"


class Transform(StrEnum):
    DAYS_TO_AS_OF = "days_to_as_of"
    MONTHS_TO_AS_OF = "months_to_as_of"
    YEARS_TO_AS_OF = "years_to_as_of"


WINDOWS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "180d": 180, "365d": 365,
                                  "lifetime": None}


@dataclass(frozen=True)
class Band:
    value: str
    upto: Decimal | None = None  # exclusive upper bound; None on the last band


@dataclass(frozen=True)
class FactDefinition:
    source: str
    measure: Measure
    column: str | None = None
    filter: str | None = None
    where: str | None = None  # share only
    window: str = "lifetime"
    transform: Transform | None = None
    default: Any = None
    round: int = 4

    @property
    def window_days(self) -> int | None:
        return WINDOWS[self.window]


@dataclass(frozen=True)
class RuleCase:
    when: str
    then: Any


@dataclass(frozen=True)
class RuleDefinition:
    expression: str | None = None  # bool rules
    cases: tuple[RuleCase, ...] = ()
    otherwise: Any = None  # ``else`` in YAML


@dataclass(frozen=True)
class Origin:
    """Where a tag was declared, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class TagDefinition:
    name: str
    title_zh: str
    title_en: str
    description: str
    category: str
    kind: TagKind
    type: ValueType
    owner: str
    origin: Origin
    status: TagStatus = TagStatus.ONLINE
    refresh: str = "daily"
    values: tuple[str, ...] | None = None
    fact: FactDefinition | None = None
    rule: RuleDefinition | None = None
    python: str | None = None  # "module:function"
    model: str | None = None  # model name for model tags
    bands: tuple[Band, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signature(self) -> TagSignature:
        return TagSignature(self.name, self.type, self.values)

    @property
    def is_computed(self) -> bool:
        """Online fact and rule tags are computed by a build; model tags are written by models."""
        return self.status is TagStatus.ONLINE and self.kind is not TagKind.MODEL
