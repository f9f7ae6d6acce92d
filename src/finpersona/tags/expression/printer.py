"""The canonical text of a tree: how saved audiences and generated docs write it.

Keywords upper-case, single spaces, ``!=`` for "not equal", parentheses only
where precedence needs them. ``parse(to_text(tree))`` gives the tree back
(positions aside) for every tree :func:`parse` can produce.
"""

from __future__ import annotations

from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Tag,
)
from finpersona.tags.expression.literals import format_literal, is_identifier, quote


def to_text(node: Node) -> str:  # noqa: PLR0911 - one return per node type
    if isinstance(node, Or):
        # An Or inside an Or only comes from a hand-built tree; the parentheses keep its
        # meaning (though parsing flattens it).
        return " OR ".join(_wrapped(n, (Or,)) for n in node.operands)
    if isinstance(node, And):
        return " AND ".join(_wrapped(n, (And, Or)) for n in node.operands)
    if isinstance(node, Not):
        return "NOT " + _wrapped(node.operand, (And, Or))
    name = _name(node.tag)
    if isinstance(node, Compare):
        return f"{name} {node.op.value} {format_literal(node.value)}"
    if isinstance(node, Between):
        low, high = format_literal(node.low), format_literal(node.high)
        return f"{name} {_not(node.negated)}BETWEEN {low} AND {high}"
    if isinstance(node, InList):
        values = ", ".join(format_literal(v) for v in node.values)
        return f"{name} {_not(node.negated)}IN ({values})"
    if isinstance(node, Like):
        return f"{name} {_not(node.negated)}LIKE {quote(node.pattern)}"
    if isinstance(node, IsNull):
        return f"{name} IS {_not(node.negated)}NULL"
    return name


def _wrapped(node: Node, kinds: tuple[type[object], ...]) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, kinds) else text


def _not(negated: bool) -> str:
    return "NOT " if negated else ""


def _name(tag: Tag) -> str:
    if not is_identifier(tag.name):
        raise ValueError(f"'{tag.name}' cannot be written as a tag name in an expression")
    return tag.name
