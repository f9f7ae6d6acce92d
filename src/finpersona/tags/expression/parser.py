"""Recursive-descent parser: expression text to the syntax tree, nothing else.

Grammar (keywords case-insensitive; NOT binds tighter than AND, AND than OR)::

    expression := or
    or         := and (OR and)*
    and        := not (AND not)*
    not        := NOT not | '(' or ')' | predicate
    predicate  := tag ( op value
                      | [NOT] BETWEEN value AND value
                      | [NOT] IN '(' value (',' value)* ')'
                      | [NOT] LIKE string
                      | IS [NOT] NULL
                      | <nothing: a bare bool tag> )
    value      := number | string | TRUE | FALSE | DATE string

AND / OR chains are flattened, parenthesised ones too, so that equivalent
groupings give one tree (``(a AND b) AND c`` equals ``a AND b AND c``) and the
printer's output parses back to the same tree.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from decimal import Decimal

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
    Tag,
    Truthy,
)
from finpersona.tags.expression.errors import ExpressionError
from finpersona.tags.expression.lexer import Kind, Lexer, Token
from finpersona.tags.expression.literals import parse_iso_date

_COMPARISONS = "a comparison (=, !=, <, <=, >, >=, BETWEEN, IN, LIKE or IS NULL)"


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises :class:`ExpressionError` with the position."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = Lexer(text)
        self.tok = self.lexer.next()
        self.prev: Token | None = None
        self.depth = 0  # open parentheses, so errors say whether ')' or the end may follow

    # -- helpers -----------------------------------------------------------------------
    def at(self, kind: Kind) -> bool:
        # A method rather than ``self.tok.kind is ...`` inline: mypy would keep that
        # narrowing across advance() and call later tests unreachable.
        return self.tok.kind is kind

    def advance(self) -> Token:
        token = self.tok
        self.prev = token
        self.tok = self.lexer.next()
        return token

    def error(self, expected: str, suggestions: tuple[str, ...] = ()) -> ExpressionError:
        """``expected X, found Y`` at the current token (just ``expected X`` at the end)."""
        found = "" if self.at(Kind.EOF) else f", found {self.tok.shown()}"
        return ExpressionError(f"expected {expected}{found}", self.tok.pos, self.text,
                               suggestions)

    def keyword_suggestions(self, *allowed: str) -> tuple[str, ...]:
        """``BETWEN`` → ``BETWEEN``: a misspelt keyword reads as a tag name."""
        if not self.at(Kind.IDENT):
            return ()
        return tuple(difflib.get_close_matches(self.tok.text.upper(), allowed, n=2, cutoff=0.7))

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.at(Kind.EOF):
            raise ExpressionError("the expression is empty: expected a condition", 0, self.text)
        node = self.or_()
        if self.at(Kind.RPAREN):
            raise ExpressionError("unbalanced parentheses: this ')' has no matching '('",
                                  self.tok.pos, self.text)
        if not self.at(Kind.EOF):
            raise self.error("AND, OR or the end of the expression",
                             self.keyword_suggestions("AND", "OR"))
        return node

    def or_(self) -> Node:
        start = self.tok.pos
        operands = [self.and_()]
        while self.tok.is_keyword("OR"):
            self.advance()
            operands.append(self.and_())
        if len(operands) == 1:
            return operands[0]
        return Or(tuple(_flatten(operands, Or)), start)

    def and_(self) -> Node:
        start = self.tok.pos
        operands = [self.not_()]
        while self.tok.is_keyword("AND"):
            self.advance()
            operands.append(self.not_())
        if len(operands) == 1:
            return operands[0]
        return And(tuple(_flatten(operands, And)), start)

    def not_(self) -> Node:
        token = self.tok
        if token.is_keyword("NOT"):
            self.advance()
            return Not(self.not_(), token.pos)
        if token.kind is Kind.LPAREN:
            return self.parenthesised()
        if token.kind is Kind.IDENT:
            return self.predicate()
        after = f" after {self.prev.shown()}" if self.prev is not None else ""
        if token.kind is Kind.RPAREN and self.prev is not None and self.prev.kind is Kind.LPAREN:
            raise self.error("a condition inside the parentheses")
        if token.kind in (Kind.NUMBER, Kind.STRING) or token.is_keyword("TRUE", "FALSE", "DATE"):
            raise self.error(f"a condition{after} (conditions start with the tag name, "
                             "e.g. age >= 30)")
        raise self.error(f"a condition{after}")

    def parenthesised(self) -> Node:
        opening = self.advance()
        self.depth += 1
        node = self.or_()
        self.depth -= 1
        if self.at(Kind.RPAREN):
            self.advance()
            return node
        if self.at(Kind.EOF):
            raise ExpressionError("unbalanced parentheses: this '(' is never closed "
                                  "(expected ')')", opening.pos, self.text)
        raise self.error("AND, OR or ')'", self.keyword_suggestions("AND", "OR"))

    def predicate(self) -> Node:
        name = self.advance()
        tag = Tag(name.text, name.pos)
        token = self.tok
        if token.kind is Kind.OP:
            self.advance()
            op = CompareOp(str(token.value))
            return Compare(tag, op, self.value(f"'{token.text}'"), tag.pos)
        negated = False
        if token.is_keyword("NOT"):
            self.advance()
            negated = True
            if not self.tok.is_keyword("BETWEEN", "IN", "LIKE"):
                raise self.error(f"BETWEEN, IN or LIKE after NOT (following {name.shown()})",
                                 self.keyword_suggestions("BETWEEN", "IN", "LIKE"))
            token = self.tok
        if token.is_keyword("BETWEEN"):
            self.advance()
            low = self.value("BETWEEN")
            if not self.tok.is_keyword("AND"):
                raise self.error("AND between the two ends of BETWEEN",
                                 self.keyword_suggestions("AND"))
            self.advance()
            high = self.value("BETWEEN ... AND")
            return Between(tag, low, high, tag.pos, negated)
        if token.is_keyword("IN"):
            self.advance()
            return InList(tag, self.in_values(), tag.pos, negated)
        if token.is_keyword("LIKE"):
            self.advance()
            if not self.at(Kind.STRING):
                raise self.error("a quoted pattern after LIKE (e.g. LIKE '重要%')")
            return Like(tag, str(self.advance().value), tag.pos, negated)
        if token.is_keyword("IS"):
            self.advance()
            is_not = self.tok.is_keyword("NOT")
            if is_not:
                self.advance()
            if not self.tok.is_keyword("NULL"):
                raise self.error("NOT NULL after IS NOT" if is_not else
                                 "NULL or NOT NULL after IS", self.keyword_suggestions("NULL"))
            self.advance()
            return IsNull(tag, tag.pos, is_not)
        if self.tok.kind in (Kind.EOF, Kind.RPAREN) or self.tok.is_keyword("AND", "OR"):
            return Truthy(tag, tag.pos)
        closing = "')'" if self.depth else "the end"
        raise self.error(f"{_COMPARISONS}, AND, OR or {closing} after {name.shown()}",
                         self.keyword_suggestions("BETWEEN", "IN", "LIKE", "IS", "NOT",
                                                  "AND", "OR"))

    def in_values(self) -> tuple[Literal, ...]:
        if not self.at(Kind.LPAREN):
            raise self.error("'(' after IN, e.g. IN (1, 2)")
        self.advance()
        if self.at(Kind.RPAREN):
            raise self.error("at least one value in the IN list")
        values = [self.value("'('")]
        while self.at(Kind.COMMA):
            self.advance()
            values.append(self.value("','"))
        if not self.at(Kind.RPAREN):
            raise self.error("',' or ')' in the IN list")
        self.advance()
        return tuple(values)

    def value(self, after: str) -> Literal:
        token = self.tok
        if token.kind is Kind.NUMBER:
            self.advance()
            if isinstance(token.value, int | Decimal):
                return token.value
        if token.kind is Kind.STRING:
            self.advance()
            return str(token.value)
        if token.is_keyword("TRUE", "FALSE"):
            self.advance()
            return token.value == "TRUE"
        if token.is_keyword("DATE"):
            self.advance()
            if not self.at(Kind.STRING):
                raise self.error("a quoted date after DATE, e.g. DATE '2025-06-01'")
            written = self.advance()
            day = parse_iso_date(str(written.value))
            if day is None:
                raise ExpressionError(f"{written.text} is not a valid date; write dates as "
                                      "'YYYY-MM-DD', e.g. DATE '2025-06-01'",
                                      written.pos, self.text)
            return day
        if token.kind is Kind.IDENT:
            raise self.error(f"a value after {after} (a number, a quoted text, TRUE, FALSE or "
                             f"DATE '...'); comparing one tag with another is not supported")
        if token.is_keyword("NULL"):
            raise self.error(f"a value after {after}; to test for a missing value write "
                             "IS NULL or IS NOT NULL", ("IS NULL",))
        raise self.error(f"a value after {after}")


def _flatten(operands: list[Node], kind: type[And] | type[Or]) -> Iterator[Node]:
    for operand in operands:
        if isinstance(operand, kind):
            yield from operand.operands
        else:
            yield operand


def value_positions(text: str, node: Compare | Between | InList | Like) -> list[int]:
    """Where each literal of a predicate starts in ``text``, in order; [] if unknown.

    The tree keeps only the predicate's position, but a message about a wrong value
    should point at the value; the predicate is re-read from the source to find it.
    """
    wanted = {Compare: 1, Between: 2, Like: 1}.get(type(node), 0)
    if isinstance(node, InList):
        wanted = len(node.values)
    if not 0 <= node.pos < len(text):
        return []
    lexer = Lexer(text, node.pos)
    positions: list[int] = []
    try:
        first = lexer.next()
        if first.kind is not Kind.IDENT or first.text != node.tag.name:
            return []  # not the text this tree was parsed from
        while len(positions) < wanted:
            token = lexer.next()
            if token.kind is Kind.EOF:
                return []
            if token.kind in (Kind.NUMBER, Kind.STRING) or token.is_keyword("TRUE", "FALSE"):
                positions.append(token.pos)
            elif token.is_keyword("DATE"):
                positions.append(token.pos)
                lexer.next()  # the quoted date belongs to this value
    except ExpressionError:
        return []
    return positions
