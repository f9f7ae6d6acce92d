"""Masked display forms (张*, 138****5678) for people to read; never joinable.

:func:`mask_expr` (an Ibis expression, run by the engine) and :func:`mask`
(Python) give identical results. Values are normalised first as for pseudonyms
(see :mod:`finpersona.privacy.pseudonym`), so ``+86 138-1234-5678`` shows as
``138****5678``. Rules, where ``n`` is the length of the normalised value:

========================  ==================================================  ==========
kind                      display form                                        too short
========================  ==================================================  ==========
``name``                  first character + one ``*`` per remaining one       n = 1: ``*``
``phone``                 first 3 + ``****`` + last 4                         n < 11: all ``*``
``id_number``             first 6 + ``********`` + last 4                     n < 15: all ``*``
``email``                 first character of the local part + ``***@`` +      no ``@``: first
                          domain                                              character + ``***``
``card_number``           ``*`` for all but the last 4                        n < 12: all ``*``
``handle``                first character + ``***``                           n = 1: ``***``
``customer_ref``,         ``*`` for all but the last 4 (the warehouse keeps   n < 8: all ``*``
``device_id``             no display form for these; this is for previews)
========================  ==================================================  ==========

"Too short" values are starred entirely so that no mask ever shows a whole
identifier. A null value, or an empty one after normalisation, has no mask.

:func:`mask_free_text` is different: a best-effort preview of a raw line that
could not be parsed (quarantine), see its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from finpersona.privacy import _text as t
from finpersona.privacy.pseudonym import normalise, normalise_expr
from finpersona.schema.model import Pii

# Shortest normalised length that gets the partly readable form; shorter is all stars.
_MIN_PARTIAL = {
    Pii.NAME: 2,
    Pii.PHONE: 11,
    Pii.ID_NUMBER: 15,
    Pii.EMAIL: 1,
    Pii.CARD_NUMBER: 12,
    Pii.HANDLE: 2,
    Pii.CUSTOMER_REF: 8,
    Pii.DEVICE_ID: 8,
}


_PARTIAL: dict[Pii, Callable[[str], str]] = {
    Pii.NAME: lambda s: s[0] + "*" * (len(s) - 1),
    Pii.PHONE: lambda s: s[:3] + "****" + s[-4:],
    Pii.ID_NUMBER: lambda s: s[:6] + "********" + s[-4:],
    Pii.HANDLE: lambda s: s[0] + "***",
    Pii.CARD_NUMBER: lambda s: "*" * (len(s) - 4) + s[-4:],
    Pii.CUSTOMER_REF: lambda s: "*" * (len(s) - 4) + s[-4:],
    Pii.DEVICE_ID: lambda s: "*" * (len(s) - 4) + s[-4:],
}


def _mask_email_value(s: str) -> str:
    local, at, domain = s.partition("@")
    return local[:1] + "***@" + domain if at else s[:1] + "***"


def mask(value: str | None, kind: Pii) -> str | None:
    """The masked display form of one value (``None`` for null or empty)."""
    kind = Pii(kind)
    s = None if value is None else normalise(value, kind)
    if not s:
        return None
    if kind is Pii.EMAIL:
        return _mask_email_value(s)
    if len(s) < _MIN_PARTIAL[kind]:
        return "*" * (3 if kind is Pii.HANDLE else len(s))
    return _PARTIAL[kind](s)


def mask_expr(value: ir.StringValue, kind: Pii) -> ir.StringValue:
    """:func:`mask` as an Ibis expression that any engine runs."""
    kind = Pii(kind)
    s = normalise_expr(value, kind).nullif("")
    n = s.length()
    first = t.substring_expr(s, 0, 1)
    if kind is Pii.EMAIL:
        domain = s.re_replace("^[^@]*@", "")
        return ibis.ifelse(
            s.contains("@"),
            first.re_replace("@", "") + "***@" + domain,
            first + "***",
        )
    last4 = s.right(4)
    if kind is Pii.NAME:
        partial = first + t.stars_expr(n - 1)
    elif kind is Pii.PHONE:
        partial = t.substring_expr(s, 0, 3) + "****" + last4
    elif kind is Pii.ID_NUMBER:
        partial = t.substring_expr(s, 0, 6) + "********" + last4
    elif kind is Pii.HANDLE:
        partial = first + "***"
    else:  # CARD_NUMBER, CUSTOMER_REF, DEVICE_ID
        partial = t.stars_expr(n - 4) + last4
    short = ibis.literal("***") if kind is Pii.HANDLE else t.stars_expr(n)
    return ibis.ifelse(n < _MIN_PARTIAL[kind], short, partial)


# --- free text ------------------------------------------------------------------------------

_DIGIT = "0-9０-９"
# Digits, possibly grouped by single spaces or hyphens (138 1234 5678, 6222-0212-3456).
_DIGIT_RUN = re.compile(f"[{_DIGIT}](?:[ \\-]?[{_DIGIT}])*")
_DIGIT_CHAR = re.compile(f"[{_DIGIT}]")
# Identifier-like tokens (device UUIDs, customer numbers such as C000123456): letters,
# digits, '-' or '_' mixed, 8 or more long, with at least one digit and one letter
# (pure digit runs have their own rule below).
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])"
                         r"[A-Za-z0-9_\-]{8,}(?![A-Za-z0-9_\-])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
# A name-like field: 2-4 CJK characters right after a separator and not followed by more CJK.
_SEPARATORS = ",，、;；|\t:：\"'“”‘’「」『』=（(【\\["
_NAME_FIELD = re.compile(
    f"(?:(?<=[{re.escape(_SEPARATORS)}])|^)[ \u3000]*([{_CJK}]{{2,4}})(?![{_CJK}])",
    re.MULTILINE,
)


def _mask_digit_run(match: re.Match[str]) -> str:
    text = match.group(0)
    positions = [m.start() for m in _DIGIT_CHAR.finditer(text)]
    if len(positions) < 4:
        return text
    chars = list(text)
    for pos in positions[:-2]:
        chars[pos] = "*"
    return "".join(chars)


def _mask_identifier(match: re.Match[str]) -> str:
    token = match.group(0)
    return token[:2] + "*" * (len(token) - 2)


def _mask_email(match: re.Match[str]) -> str:
    return _mask_email_value(match.group(0))


def _mask_name(match: re.Match[str]) -> str:
    whole, name = match.group(0), match.group(1)
    return whole[: match.start(1) - match.start(0)] + name[0] + "*" * (len(name) - 1)


def mask_free_text(text: str) -> str:
    """A best-effort masked preview of a raw line that could not be parsed.

    Used for quarantine previews, where the line's structure is unknown:

    - every identifier-like token (8 or more letters, digits, '-' or '_' with
      at least one digit and one letter, such as a device UUID or a customer number) keeps
      only its first 2 characters: ``C000012345`` → ``C0********``;
    - every run of 4 or more digits (ASCII or full-width, possibly grouped by
      single spaces or hyphens) keeps only its last 2 digits: ``13812345678`` →
      ``*********78``;
    - every e-mail address gets its masked form: ``alice@example.com`` →
      ``a***@example.com``;
    - every run of 2-4 CJK characters that directly follows a field separator
      (comma, quote, colon, semicolon, pipe, tab, bracket or the start of a
      line, optionally then spaces) and is not followed by another CJK
      character, i.e. a name-like field, gets the name mask: ``,张三,`` → ``,张*,``.

    This is a heuristic, not a guarantee: a name inside running text or an
    identifier written with letters can survive. Previews are therefore shown
    only to roles allowed to see quarantine, and the raw line itself is kept
    only encrypted (see :class:`finpersona.privacy.Vault`).
    """
    out = _EMAIL.sub(_mask_email, text)
    out = _IDENTIFIER.sub(_mask_identifier, out)
    out = _DIGIT_RUN.sub(_mask_digit_run, out)
    return _NAME_FIELD.sub(_mask_name, out)
