"""The syntax tree of the audience / rule expression language.

An expression such as ``age BETWEEN 25 AND 35 AND city_tier IN (1, 2) AND NOT
churn_risk = 'high'`` parses into these frozen nodes. The tree is the only thing
the compilers see: to engine expressions (Ibis), to bitmap operations (the
audience index), and to a plain-Python reference evaluator used by the tests.
No text is ever pasted into SQL.

Semantics are SQL's three-valued logic: a comparison with a null tag value is
unknown; ``NOT unknown`` is unknown; ``unknown AND false`` is false; ``unknown
OR true`` is true. A customer is selected only where the whole expression is
true. ``IS NULL`` / ``IS NOT NULL`` are never unknown. A bare bool tag
(``has_credit_card``) means ``has_credit_card = TRUE``.

Every node carries ``pos``: the 0-based character offset in the source text
where the node starts, so errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

Literal = bool | int | Decimal | str | date


class CompareOp(StrEnum):
    EQ = "="
    NE = "!="  # also written <>
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True)
class Tag:
    """A tag (or, in fact-tag filters, a source column) named by an identifier."""

    name: str
    pos: int


@dataclass(frozen=True)
class Compare:
    tag: Tag
    op: CompareOp
    value: Literal
    pos: int


@dataclass(frozen=True)
class Between:
    """``tag BETWEEN low AND high``: inclusive on both ends, as in SQL."""

    tag: Tag
    low: Literal
    high: Literal
    pos: int
    negated: bool = False  # NOT BETWEEN


@dataclass(frozen=True)
class InList:
    tag: Tag
    values: tuple[Literal, ...]
    pos: int
    negated: bool = False  # NOT IN


@dataclass(frozen=True)
class Like:
    """``tag LIKE 'pattern'`` on category tags: ``%`` any run, ``_`` one character."""

    tag: Tag
    pattern: str
    pos: int
    negated: bool = False  # NOT LIKE


@dataclass(frozen=True)
class IsNull:
    tag: Tag
    pos: int
    negated: bool = False  # IS NOT NULL


@dataclass(frozen=True)
class Truthy:
    """A bare bool tag used as a condition."""

    tag: Tag
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]  # two or more, flattened
    pos: int


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]  # two or more, flattened
    pos: int


Node = Compare | Between | InList | Like | IsNull | Truthy | Not | And | Or


def tags_used(node: Node) -> set[str]:
    """Every tag name an expression refers to (for dependency graphs and column pruning)."""
    if isinstance(node, Not):
        return tags_used(node.operand)
    if isinstance(node, And | Or):
        return set().union(*(tags_used(n) for n in node.operands))
    return {node.tag.name}
