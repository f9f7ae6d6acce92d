"""Literal values: how they are written, described to analysts, and matched.

Shared by the parser, the type checker, the printer and both evaluators so
that, for instance, what counts as a valid date or what ``%`` means in LIKE is
decided in exactly one place.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from finpersona.tags.expression.ast import Literal

# Only the plain calendar form: date.fromisoformat would also take "20250601" and week
# dates, which analysts do not mean and engines would not read the same way.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL", "TRUE", "FALSE", "DATE"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_iso_date(text: str) -> date | None:
    """The date written as ``YYYY-MM-DD``, or None when it is not a real calendar date."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def is_identifier(name: str) -> bool:
    """Whether ``name`` can be written as a tag name (keywords cannot)."""
    return bool(_IDENTIFIER.fullmatch(name)) and name.upper() not in KEYWORDS


def is_number(value: object) -> bool:
    # bool is a subclass of int in Python, but TRUE is not a number in the language.
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def is_integral(value: int | Decimal) -> bool:
    return isinstance(value, int) or value == value.to_integral_value()


def format_number(value: int | Decimal) -> str:
    """The number as the language writes it: plain digits, never an exponent."""
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written in an expression")
    text = format(value, "f")
    # A Decimal without a fraction (Decimal("5"), Decimal("1E+3")) would read back as an
    # int; a ".0" keeps it a Decimal, which equals the original.
    return text if "." in text else text + ".0"


def format_literal(value: Literal) -> str:
    """The literal in expression syntax (what the printer writes)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return format_number(value)
    if isinstance(value, str):
        return quote(value)
    return f"DATE '{value.isoformat()}'"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def describe(value: Literal) -> str:
    """The literal in words, for error messages ("the number 30", "the text '30'")."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return f"the number {format_number(value)}"
    if isinstance(value, str):
        return f"the text {quote(value)}"
    return f"the date {value.isoformat()}"


def like_regex(pattern: str) -> re.Pattern[str]:
    """LIKE as a regular expression: ``%`` any run, ``_`` one character, the rest literal.

    There is no escape character: DuckDB reads a backslash literally and Spark as an
    escape, so patterns with backslashes are refused (see ``check_like_pattern``).
    DOTALL because both engines let ``%`` and ``_`` match line breaks.
    """
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def like_pattern_problem(pattern: str) -> str | None:
    """Why a LIKE pattern cannot run the same on every engine, or None."""
    if "\\" in pattern:
        return ("a LIKE pattern cannot contain a backslash (\\): the engines disagree on "
                "what it means; '%' and '_' are the only special characters")
    return None
