"""Character tables shared by the Python and the engine (Ibis) forms of every function.

Each normalisation step is written twice, once for Python and once as an Ibis
expression, from the same constants here so that both give identical bytes.
Only operations that DuckDB and Spark execute identically are used: TRANSLATE
with one-to-one character maps, REGEXP_REPLACE with plain character classes,
LENGTH/SUBSTRING counted in code points. Case folding is ASCII-only on purpose:
Python, DuckDB (utf8proc) and Spark (Java) disagree on a few non-ASCII letters.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# What "strip" removes at both ends: ASCII whitespace, no-break space, ideographic space.
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u3000"
# The same set written as regex escapes: a literal control character in SQL text is
# re-escaped by the Spark dialect (\f) and then read back by Spark as a plain "f".
_WHITESPACE_CLASS = r" \t\n\r\x0b\x0c" + "\u00a0\u3000"
_STRIP_PATTERN = f"^[{_WHITESPACE_CLASS}]+|[{_WHITESPACE_CLASS}]+$"

ASCII_DIGITS = "0123456789"
FULLWIDTH_DIGITS = "０１２３４５６７８９"
ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
ASCII_UPPER = ASCII_LOWER.upper()

# ID numbers: full-width digits and the full-width check letter (either case) to ASCII.
FULLWIDTH_ID = FULLWIDTH_DIGITS + "Ｘｘ"
ASCII_ID = ASCII_DIGITS + "Xx"

_DIGITS_TABLE = str.maketrans(FULLWIDTH_DIGITS, ASCII_DIGITS)
_ID_TABLE = str.maketrans(FULLWIDTH_ID, ASCII_ID)
_UPPER_TABLE = str.maketrans(ASCII_LOWER, ASCII_UPPER)
_LOWER_TABLE = str.maketrans(ASCII_UPPER, ASCII_LOWER)


# --- Python -----------------------------------------------------------------------------------


def strip(value: str) -> str:
    return value.strip(WHITESPACE)


def digits(value: str) -> str:
    """Every ASCII or full-width digit, in order, as ASCII; everything else dropped."""
    return "".join(c for c in value.translate(_DIGITS_TABLE) if c in ASCII_DIGITS)


def ascii_upper(value: str) -> str:
    return value.translate(_UPPER_TABLE)


def ascii_lower(value: str) -> str:
    return value.translate(_LOWER_TABLE)


def fullwidth_id_to_ascii(value: str) -> str:
    return value.translate(_ID_TABLE)


# --- Ibis -------------------------------------------------------------------------------------


def strip_expr(value: ir.StringValue) -> ir.StringValue:
    # Not StringValue.strip(): DuckDB and Spark trim different character sets.
    return value.re_replace(_STRIP_PATTERN, "")


def digits_expr(value: ir.StringValue) -> ir.StringValue:
    return value.translate(FULLWIDTH_DIGITS, ASCII_DIGITS).re_replace("[^0-9]", "")


def ascii_upper_expr(value: ir.StringValue) -> ir.StringValue:
    return value.translate(ASCII_LOWER, ASCII_UPPER)


def ascii_lower_expr(value: ir.StringValue) -> ir.StringValue:
    return value.translate(ASCII_UPPER, ASCII_LOWER)


def fullwidth_id_to_ascii_expr(value: ir.StringValue) -> ir.StringValue:
    return value.translate(FULLWIDTH_ID, ASCII_ID)


@ibis.udf.scalar.builtin(name="substring")  # type: ignore[untyped-decorator]
def _substring(value: str, start: int, length: int) -> str:  # type: ignore[empty-body]
    """SQL SUBSTRING (1-based, code points) in DuckDB and Spark."""


def substring_expr(value: ir.StringValue, start: int, length: int) -> ir.StringValue:
    """``value[start:start + length]`` (0-based, like Python) for literal positions.

    Unlike ``StringValue.substr``, which compiles a negative-start branch that
    repeats the whole argument, this keeps the SQL (and Spark's generated code) small.
    """
    return _substring(value, start + 1, length)


def stars_expr(count: ir.IntegerValue) -> ir.StringValue:
    """``count`` asterisks (none when ``count`` is not positive)."""
    return ibis.literal("*").repeat(ibis.greatest(count, 0))


def null_string() -> ir.StringValue:
    return ibis.null("string")
