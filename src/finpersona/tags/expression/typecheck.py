"""Type checking: does every condition make sense for the tag it names?

The rules, with the reason for each (messages say the same in plain words):

- every tag must exist (else the nearest names are suggested);
- numbers compare with numbers (``=``, ``<``, BETWEEN, IN); a whole-number tag
  cannot equal ``1.5``, so ``=``, ``!=`` and IN with such a value are refused
  as almost certainly a mistake, while ``<``, ``>`` and BETWEEN may use it;
- categories compare with quoted values through ``=``, ``!=``, IN and LIKE
  only (their values have no order), and a value outside the tag's declared
  values is refused, since it could never match;
- yes/no tags stand alone or compare with TRUE / FALSE through ``=``, ``!=``
  and IN;
- dates compare with ``DATE 'YYYY-MM-DD'`` or a quoted valid ``YYYY-MM-DD``;
- BETWEEN's low end must not be above its high end (it would match nobody);
- IS [NOT] NULL applies to every tag.

The checker stops at the first problem, in text order.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    CompareOp,
    InList,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Or,
    Truthy,
)
from finpersona.tags.expression.errors import ExpressionError
from finpersona.tags.expression.literals import (
    describe,
    format_literal,
    format_number,
    is_integral,
    is_number,
    like_pattern_problem,
    parse_iso_date,
    quote,
)
from finpersona.tags.expression.parser import parse, value_positions
from finpersona.tags.expression.tree import map_literals
from finpersona.tags.types import TagSignature, ValueType

_KIND = {
    ValueType.BOOL: "a yes/no tag",
    ValueType.INT: "a whole-number tag",
    ValueType.DECIMAL: "a numeric tag",
    ValueType.CATEGORY: "a category tag",
    ValueType.DATE: "a date tag",
}
_EXAMPLE_DATE = "DATE '2025-06-01'"
_MAX_LISTED = 12  # values listed in a message before "…"
# Values analysts write for yes / no that are not TRUE / FALSE.
_YES = {"1", "y", "yes", "true", "t", "是", "有"}
_NO = {"0", "n", "no", "false", "f", "否", "无"}

Predicate = Compare | Between | InList | Like


def check(node: Node, signatures: Mapping[str, TagSignature], *, text: str = "") -> None:
    """Raise :class:`ExpressionError` for the first condition that does not make sense.

    ``text`` is the source the tree was parsed from, if any: with it errors point at
    the offending value and can show the line; without it they point at the condition.
    """
    _Checker(signatures, text).visit(node)


def compile_expression(text: str, signatures: Mapping[str, TagSignature]) -> Node:
    """Parse and check ``text``; the tree returned has typed literals.

    A date written as a quoted string (``last_txn_date >= '2025-06-01'``) comes back
    as a ``date`` literal, so compilers never re-parse dates; otherwise the tree is
    exactly :func:`parse`'s.
    """
    node = parse(text)
    check(node, signatures, text=text)

    def typed(name: str, value: Literal) -> Literal:
        if signatures[name].type is ValueType.DATE and isinstance(value, str):
            day = parse_iso_date(value)
            assert day is not None  # check() has refused anything else
            return day
        return value

    return map_literals(node, typed)


class _Checker:
    def __init__(self, signatures: Mapping[str, TagSignature], text: str) -> None:
        self.signatures = signatures
        self.text = text

    def error(self, message: str, position: int,
              suggestions: Sequence[str] = ()) -> ExpressionError:
        return ExpressionError(message, position, self.text, suggestions)

    def visit(self, node: Node) -> None:
        if isinstance(node, Not):
            self.visit(node.operand)
        elif isinstance(node, And | Or):
            for operand in node.operands:
                self.visit(operand)
        else:
            self.predicate(node)

    def signature(self, name: str, position: int) -> TagSignature:
        signature = self.signatures.get(name)
        if signature is None:
            raise self.error(f"unknown tag '{name}'", position,
                             _nearest(name, list(self.signatures)))
        return signature

    def predicate(self, node: Predicate | IsNull | Truthy) -> None:
        sig = self.signature(node.tag.name, node.tag.pos)
        if isinstance(node, IsNull):
            return  # any tag may be missing
        if isinstance(node, Truthy):
            if sig.type is not ValueType.BOOL:
                raise self.error(f"{sig.name} is {_KIND[sig.type]}, not a yes/no tag, so it "
                                 f"cannot stand alone as a condition; compare it, e.g. "
                                 f"{_example_condition(sig)}", node.pos)
            return
        positions = value_positions(self.text, node) if self.text else []

        def at(index: int) -> int:
            return positions[index] if index < len(positions) else node.pos

        if isinstance(node, Like):
            if sig.type is not ValueType.CATEGORY:
                raise self.error(f"LIKE applies only to category tags, and {sig.name} is "
                                 f"{_KIND[sig.type]}", node.pos)
            problem = like_pattern_problem(node.pattern)
            if problem:
                raise self.error(problem, at(0))
            return
        if isinstance(node, Compare):
            self.operator(sig, node.op, node.pos)
            self.value(sig, node.value, at(0), node.op)
        elif isinstance(node, Between):
            if sig.type in (ValueType.BOOL, ValueType.CATEGORY):
                raise self.error(f"BETWEEN applies only to numbers and dates, and {sig.name} "
                                 f"is {_KIND[sig.type]}", node.pos)
            self.value(sig, node.low, at(0), None)
            self.value(sig, node.high, at(1), None)
            self.bounds(node, at(0))
        else:
            for index, value in enumerate(node.values):
                self.value(sig, value, at(index), CompareOp.EQ, in_list=True)

    def operator(self, sig: TagSignature, op: CompareOp, position: int) -> None:
        if op in (CompareOp.EQ, CompareOp.NE):
            return
        if sig.type is ValueType.BOOL:
            raise self.error(f"{sig.name} is a yes/no tag: only = and != (with TRUE or FALSE) "
                             f"apply to it, not '{op.value}'", position)
        if sig.type is ValueType.CATEGORY:
            raise self.error(f"{sig.name} is a category tag: its values have no order, so "
                             f"'{op.value}' does not apply (use =, !=, IN or LIKE)", position)

    def value(  # noqa: PLR0912 - one branch per value type, read top to bottom
            self, sig: TagSignature, value: Literal, position: int, op: CompareOp | None,
            *, in_list: bool = False) -> None:
        """One literal against the tag's type; ``op`` is None inside BETWEEN, EQ in IN lists."""
        name, kind = sig.name, sig.type
        if kind is ValueType.BOOL:
            if not isinstance(value, bool):
                raise self.error(f"{name} is a yes/no tag, so it is compared with TRUE or "
                                 f"FALSE, not with {describe(value)}", position,
                                 _yes_no_guess(value))
        elif kind.is_numeric:
            if not is_number(value):
                raise self.error(f"{name} is {_KIND[kind]}, so it is compared with a number, "
                                 f"not with {describe(value)}", position, _number_guess(value))
            assert isinstance(value, int | Decimal)
            if (kind is ValueType.INT and op in (CompareOp.EQ, CompareOp.NE)
                    and not is_integral(value)):
                shown = format_number(value)
                if in_list:
                    reason = f"so {shown} in the IN list can never match"
                elif op is CompareOp.EQ:
                    reason = f"so it can never equal {shown}"
                else:
                    reason = f"so it always differs from {shown}"
                raise self.error(f"{name} holds whole numbers, {reason}; use a whole number",
                                 position)
        elif kind is ValueType.CATEGORY:
            example = quote(sig.values[0]) if sig.values else "'...'"
            if not isinstance(value, str):
                written = format_literal(value)
                guess = (written,) if sig.values and written in sig.values else ()
                raise self.error(f"{name} is a category tag, so it is compared with a quoted "
                                 f"value such as {example}, not with {describe(value)}",
                                 position, guess)
            if sig.values is not None and value not in sig.values:
                listed = ", ".join(quote(v) for v in sig.values[:_MAX_LISTED])
                more = ", …" if len(sig.values) > _MAX_LISTED else ""
                raise self.error(f"{quote(value)} is not a value of {name} (its values are "
                                 f"{listed}{more})", position, _nearest(value, sig.values))
        elif isinstance(value, str):
            if parse_iso_date(value) is None:
                raise self.error(f"{quote(value)} is not a valid date; write dates as "
                                 f"'YYYY-MM-DD', e.g. {_EXAMPLE_DATE}", position)
        elif isinstance(value, bool) or is_number(value):
            raise self.error(f"{name} is a date tag, so it is compared with a date such as "
                             f"{_EXAMPLE_DATE}, not with {describe(value)}", position)

    def bounds(self, node: Between, position: int) -> None:
        low, high = _comparable(node.low), _comparable(node.high)
        if low > high:  # type: ignore[operator]  # both numbers or both dates, checked above
            lo, hi = format_literal(node.low), format_literal(node.high)
            raise self.error(f"BETWEEN {lo} AND {hi} can never match: the low end is above "
                             f"the high end; write BETWEEN {hi} AND {lo}", position)


def _comparable(value: Literal) -> object:
    if isinstance(value, str):
        return parse_iso_date(value)
    return value


def _nearest(word: str, candidates: Sequence[str]) -> tuple[str, ...]:
    """The closest names, a different-case spelling first (``Age`` → ``age``)."""
    same_case = [c for c in candidates if c.lower() == word.lower() and c != word]
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=3, cutoff=0.6)
    found = [*same_case, *(by_lower[c] for c in close)]
    return tuple(dict.fromkeys(found))[:3]


def _example_condition(sig: TagSignature) -> str:
    if sig.type is ValueType.CATEGORY:
        example = quote(sig.values[0]) if sig.values else "'...'"
        return f"{sig.name} = {example}"
    if sig.type is ValueType.DATE:
        return f"{sig.name} >= {_EXAMPLE_DATE}"
    return f"{sig.name} > 0"


def _yes_no_guess(value: Literal) -> tuple[str, ...]:
    written = str(value).strip().lower()
    if written in _YES:
        return ("TRUE",)
    if written in _NO:
        return ("FALSE",)
    return ()


def _number_guess(value: Literal) -> tuple[str, ...]:
    """``age = '30'`` → suggest ``30``."""
    if not isinstance(value, str):
        return ()
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return ()
    return (format(number, "f"),) if number.is_finite() else ()
