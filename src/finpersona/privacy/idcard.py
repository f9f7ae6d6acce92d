"""The 18-character resident identity card number (GB 11643-1999).

Layout: 6-digit region code, 8-digit birth date ``YYYYMMDD`` (positions 7-14),
3-digit sequence whose last digit (position 17) is odd for men and even for
women, and a check character computed with ISO 7064 MOD 11-2 over the first 17
digits: ``sum(digit_i * weight_i) mod 11`` indexes ``"10X98765432"``.
"""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir

from finpersona.privacy._text import substring_expr

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_DIGITS = frozenset("0123456789")
_SHAPE = "^[0-9]{17}[0-9Xx]$"


def _has_shape(s: str) -> bool:
    """17 ASCII digits and then an ASCII digit or X (either case)."""
    return len(s) == 18 and all(c in _DIGITS for c in s[:17]) and s[17] in "0123456789Xx"


def id_check_digit(first17: str) -> str:
    """The check character ('0'-'9' or 'X') for the first 17 digits of an ID number."""
    if len(first17) != 17 or not all(c in _DIGITS for c in first17):
        raise ValueError("an ID number's check digit needs exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def id_check_digit_valid(s: str) -> bool:
    """Whether ``s`` is 17 digits plus a digit or X (either case) that is the right check character.

    The Python twin of :func:`id_check_digit_valid_expr`; the birth date is not checked.
    """
    return _has_shape(s) and id_check_digit(s[:17]) == s[17].upper()


def _birth_date(s: str) -> date | None:
    try:
        return date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return None


def is_valid_id_number(s: str) -> bool:
    """18 characters, 17 digits + digit/X, a correct check character and a real birth date."""
    return id_check_digit_valid(s) and _birth_date(s) is not None


def birth_date_from_id(s: str) -> date:
    """The birth date encoded in an 18-character ID number (check character not verified)."""
    if not _has_shape(s):
        raise ValueError("not an 18-character ID number")
    born = _birth_date(s)
    if born is None:
        raise ValueError(f"ID number has an impossible birth date {s[6:14]!r}")
    return born


def gender_from_id(s: str) -> str:
    """``"M"`` when the 17th digit is odd, ``"F"`` when it is even."""
    if not _has_shape(s):
        raise ValueError("not an 18-character ID number")
    return "M" if int(s[16]) % 2 == 1 else "F"


def id_check_digit_valid_expr(value: ir.StringValue) -> ir.BooleanValue:
    """:func:`id_check_digit_valid` as an Ibis expression (DuckDB and Spark).

    Null for null input, False for anything not shaped like an ID number.
    """
    shaped = (value.length() == 18) & value.re_search(_SHAPE)
    # TRY_CAST: a non-digit gives null instead of an error, and "False AND null" is False.
    total = sum(
        (substring_expr(value, i, 1).try_cast("int64") * w for i, w in enumerate(WEIGHTS)),
        start=ibis.literal(0, type="int64"),
    )
    expected = (total % 11).cases(*((i, c) for i, c in enumerate(CHECK_CHARS)))
    matches = substring_expr(value, 17, 1).translate("x", "X") == expected
    return ibis.ifelse(value.isnull(), ibis.null("boolean"), shaped & matches.fill_null(False))
