"""Helpers over whole trees: comparing them, and rewriting their literals.

Dataclass equality is too loose for "the same expression": it compares
positions (which differ after pretty-printing) yet treats ``1``, ``TRUE`` and
``Decimal('1')`` as equal (Python's ``True == 1 == Decimal(1)``), although the
three mean different things to the type checker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    InList,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Or,
    Tag,
)


def strip_positions(node: Node) -> Node:
    """The same tree with every ``pos`` set to 0 (for comparing trees from different text)."""
    if isinstance(node, Not):
        return Not(strip_positions(node.operand), 0)
    if isinstance(node, And):
        return And(tuple(strip_positions(n) for n in node.operands), 0)
    if isinstance(node, Or):
        return Or(tuple(strip_positions(n) for n in node.operands), 0)
    return replace(node, tag=Tag(node.tag.name, 0), pos=0)


def same_tree(a: Node, b: Node) -> bool:
    """Whether two trees say the same thing: equal up to positions, literals of equal type.

    Decimals compare by value (``1.0`` and ``1.00`` are the same literal).
    """
    return _key(a) == _key(b)


def _key(node: Node) -> object:  # noqa: PLR0911 - one return per node type
    if isinstance(node, Not):
        return ("not", _key(node.operand))
    if isinstance(node, And | Or):
        return (type(node).__name__, tuple(_key(n) for n in node.operands))
    if isinstance(node, Compare):
        return ("compare", node.tag.name, node.op, _literal_key(node.value))
    if isinstance(node, Between):
        return ("between", node.tag.name, node.negated,
                _literal_key(node.low), _literal_key(node.high))
    if isinstance(node, InList):
        return ("in", node.tag.name, node.negated, tuple(_literal_key(v) for v in node.values))
    if isinstance(node, Like):
        return ("like", node.tag.name, node.negated, node.pattern)
    if isinstance(node, IsNull):
        return ("isnull", node.tag.name, node.negated)
    return ("truthy", node.tag.name)


def _literal_key(value: Literal) -> tuple[str, object]:
    # Decimals compare by value through ==, so 1.0 and 1.00 give equal keys.
    return (type(value).__name__, value)


def map_literals(node: Node, fn: Callable[[str, Literal], Literal]) -> Node:
    """The tree with every literal replaced by ``fn(tag name, literal)``."""
    if isinstance(node, Not):
        return replace(node, operand=map_literals(node.operand, fn))
    if isinstance(node, And | Or):
        return replace(node, operands=tuple(map_literals(n, fn) for n in node.operands))
    name = node.tag.name
    if isinstance(node, Compare):
        return replace(node, value=fn(name, node.value))
    if isinstance(node, Between):
        return replace(node, low=fn(name, node.low), high=fn(name, node.high))
    if isinstance(node, InList):
        return replace(node, values=tuple(fn(name, v) for v in node.values))
    return node
