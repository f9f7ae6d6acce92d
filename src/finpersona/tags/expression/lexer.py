"""Splitting expression text into tokens, one at a time.

The lexer is lazy (the parser pulls one token ahead), so the first error in the
text is the one reported: ``a = = 'x`` complains about the second ``=``, not
about the unterminated string after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from finpersona.tags.expression.errors import ExpressionError
from finpersona.tags.expression.literals import KEYWORDS

# Numbers become DECIMAL(p, s) literals on the engines, and 38 is the widest decimal
# both DuckDB and Spark have; integers must fit BIGINT for the same reason.
MAX_DIGITS = 38
_INT64 = 2**63

# What a Chinese input method types instead of the ASCII character the language expects.
_FULL_WIDTH = {
    "（": "(", "）": ")", "，": ",", "＝": "=", "＜": "<", "＞": ">", "！": "!",
    "‘": "'", "’": "'", "“": "'", "”": "'", "＇": "'", "－": "-",
}

_OPERATORS = {"<=": "<=", ">=": ">=", "<>": "!=", "!=": "!=", "=": "=", "<": "<", ">": ">"}


class Kind(Enum):
    IDENT = "a tag name"
    KEYWORD = "a keyword"
    NUMBER = "a number"
    STRING = "a quoted text"
    OP = "an operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    EOF = "the end of the expression"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # exactly as written
    pos: int
    # NUMBER: int | Decimal; STRING: the unquoted text; KEYWORD: the upper-cased word;
    # OP: the canonical operator ("<>" becomes "!="); otherwise None.
    value: int | Decimal | str | None = None

    def is_keyword(self, *words: str) -> bool:
        return self.kind is Kind.KEYWORD and self.value in words

    def shown(self) -> str:
        """The token as an error message names it."""
        if self.kind is Kind.EOF:
            return "the end of the expression"
        if self.kind is Kind.KEYWORD:
            return str(self.value)
        if self.kind in (Kind.NUMBER, Kind.STRING):
            return self.text
        return f"'{self.text}'"


def _is_ident_start(char: str) -> bool:
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")


def _is_ident_char(char: str) -> bool:
    return _is_ident_start(char) or _is_digit(char)


def _is_digit(char: str) -> bool:
    # Not str.isdigit(): that also accepts '²' and Arabic-Indic digits.
    return "0" <= char <= "9"


class Lexer:
    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.i = start

    def error(self, message: str, position: int,
              suggestions: tuple[str, ...] = ()) -> ExpressionError:
        return ExpressionError(message, position, self.text, suggestions)

    def next(self) -> Token:
        text, n = self.text, len(self.text)
        while self.i < n and text[self.i].isspace():  # also U+3000, the full-width space
            self.i += 1
        start = self.i
        if start >= n:
            return Token(Kind.EOF, "", n)
        char = text[start]
        if _is_ident_start(char):
            return self._word(start)
        if _is_digit(char) or char == "-":
            return self._number(start)
        if char == "'":
            return self._string(start)
        for written, canonical in _OPERATORS.items():
            if text.startswith(written, start) and not text.startswith("==", start):
                self.i = start + len(written)
                return Token(Kind.OP, written, start, canonical)
        simple = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}
        if char in simple:
            self.i = start + 1
            return Token(simple[char], char, start)
        raise self._unexpected(start)

    def _word(self, start: int) -> Token:
        end = start
        while end < len(self.text) and _is_ident_char(self.text[end]):
            end += 1
        word = self.text[start:end]
        self.i = end
        if word.upper() in KEYWORDS:
            return Token(Kind.KEYWORD, word, start, word.upper())
        return Token(Kind.IDENT, word, start)

    def _number(self, start: int) -> Token:
        text, n = self.text, len(self.text)
        end = start + 1 if text[start] == "-" else start
        if end >= n or not _is_digit(text[end]):
            raise self.error("expected a number after '-'", start)
        while end < n and _is_digit(text[end]):
            end += 1
        if end < n and text[end] == ".":
            end += 1
            if end >= n or not _is_digit(text[end]):
                raise self.error(f"expected digits after the decimal point in "
                                 f"'{text[start:end]}'", end)
            while end < n and _is_digit(text[end]):
                end += 1
        if end < n and (_is_ident_char(text[end]) or text[end] == "."):
            stop = end
            while stop < n and (_is_ident_char(text[stop]) or text[stop] == "."):
                stop += 1
            raise self.error(f"'{text[start:stop]}' is not a number", start)
        written = text[start:end]
        self.i = end
        whole, _, fraction = written.lstrip("-").partition(".")
        digits = len(whole.lstrip("0")) + len(fraction)  # the DECIMAL precision it needs
        if digits > MAX_DIGITS:
            raise self.error(f"the number {written} has more than {MAX_DIGITS} digits", start)
        value: int | Decimal
        if "." in written:
            value = Decimal(written)
        else:
            value = int(written)
            if not -_INT64 <= value < _INT64:
                raise self.error(f"the whole number {written} is too large "
                                 "(write it with a decimal point, e.g. "
                                 f"{written}.0)", start, (f"{written}.0",))
        return Token(Kind.NUMBER, written, start, value)

    def _string(self, start: int) -> Token:
        text, n = self.text, len(self.text)
        parts = []
        i = start + 1
        while True:
            close = text.find("'", i)
            if close == -1:
                raise self.error("unterminated text: the quote that starts here is never "
                                 "closed (add a closing ')", start)
            parts.append(text[i:close])
            if close + 1 < n and text[close + 1] == "'":  # '' is a quote inside the text
                parts.append("'")
                i = close + 2
                continue
            self.i = close + 1
            return Token(Kind.STRING, text[start:close + 1], start, "".join(parts))

    def _unexpected(self, start: int) -> ExpressionError:  # noqa: PLR0911 - one hint per typo
        text = self.text
        char = text[start]
        two = text[start:start + 2]
        if two == "==":
            return self.error("'==' is not an operator; to test equality write a single '='",
                              start, ("=",))
        if char in "&|":
            word = "AND" if char == "&" else "OR"
            return self.error(f"'{two if two in ('&&', '||') else char}' is not an operator; "
                              f"write {word}", start, (word,))
        if char == '"':
            return self.error('text is written in single quotes (\'...\'), not double quotes',
                              start)
        if char == "!":
            return self.error("'!' is not an operator; write != for 'not equal' or NOT to "
                              "negate a condition", start, ("!=", "NOT"))
        if char in _FULL_WIDTH:
            ascii_char = _FULL_WIDTH[char]
            return self.error(f"the full-width character '{char}' is not part of the "
                              f"language; use '{ascii_char}'", start, (ascii_char,))
        if char.isalpha():  # a letter outside A-Z: Chinese text written without quotes
            end = start
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[start:end]
            return self.error(f"unexpected '{word}': tag names use only A-Z, 0-9 and '_', "
                              "and text values must be in single quotes",
                              start, ("'" + word.replace("'", "''") + "'",))
        return self.error(f"unexpected character '{char}'", start)
