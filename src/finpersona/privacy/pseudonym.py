"""Keyed pseudonyms: joinable within a workspace, not reversible without its secret.

The pseudonym of a value ``v`` of kind ``k`` is the first 20 hex characters of
``sha256(key_hex + ":" + k + ":" + normalise_k(v))``. It is computed inside the
engine (:func:`pseudonym_expr`, an Ibis expression, no Python per row) and, for
look-ups of a single raw value and for tests, in Python (:func:`pseudonym`);
both give byte-identical results.

Normalisation per kind (identical in both forms):

- ``customer_ref``, ``device_id``, ``handle``, ``name``: strip surrounding
  whitespace (ASCII, no-break space and the ideographic space U+3000);
- ``phone``: digits only (full-width digits count), then a leading ``86``
  country code is dropped from 13 digits and ``0086`` from 15 digits;
- ``id_number``: strip, full-width digits and Ｘ to ASCII, ASCII upper case;
- ``email``: strip, ASCII lower case;
- ``card_number``: digits only.

A null value, or one with nothing left after normalisation (a phone with no
digits), has no pseudonym: null in the engine, :class:`ValueError` from
:func:`pseudonym` and ``None`` from :func:`pseudonym_or_none`. Otherwise every
blank phone would pseudonymise to the same key and wrongly join customers.

The key is embedded in the compiled SQL as a literal: do not log the SQL of
expressions that contain pseudonyms.
"""

from __future__ import annotations

import hashlib

import ibis
import ibis.expr.types as ir

from finpersona.privacy import _text as t
from finpersona.schema.model import Pii

PSEUDONYM_LENGTH = 20

# 86 + 11 digits or 0086 + 11 digits: the country code is dropped, the last 11 digits kept.
_PHONE_WITH_COUNTRY_CODE = "^(86|0086)[0-9]{11}$"
_STRIP_ONLY = frozenset({Pii.CUSTOMER_REF, Pii.DEVICE_ID, Pii.HANDLE, Pii.NAME})


def _prefix(kind: Pii, key: bytes) -> str:
    if not key:
        raise ValueError("the pseudonym key must not be empty")
    return f"{key.hex()}:{Pii(kind).value}:"


def _normalise_phone(value: str) -> str:
    d = t.digits(value)
    if len(d) == 13 and d.startswith("86"):
        return d[2:]
    if len(d) == 15 and d.startswith("0086"):
        return d[4:]
    return d


def normalise(value: str, kind: Pii) -> str:
    """The canonical spelling of ``value`` that its pseudonym is computed from."""
    kind = Pii(kind)
    if kind in _STRIP_ONLY:
        out = t.strip(value)
    elif kind is Pii.PHONE:
        out = _normalise_phone(value)
    elif kind is Pii.ID_NUMBER:
        out = t.ascii_upper(t.fullwidth_id_to_ascii(t.strip(value)))
    elif kind is Pii.EMAIL:
        out = t.ascii_lower(t.strip(value))
    elif kind is Pii.CARD_NUMBER:
        out = t.digits(value)
    else:  # pragma: no cover - Pii is closed
        raise ValueError(f"no normalisation for {kind!r}")
    return out


def normalise_expr(value: ir.StringValue, kind: Pii) -> ir.StringValue:
    """:func:`normalise` as an Ibis expression; null stays null."""
    kind = Pii(kind)
    if kind in _STRIP_ONLY:
        return t.strip_expr(value)
    if kind is Pii.PHONE:
        d = t.digits_expr(value)
        # Only digits are left, so the regex decides length and prefix in one go: the
        # digits expression appears three times in the SQL instead of six.
        return ibis.ifelse(d.re_search(_PHONE_WITH_COUNTRY_CODE), d.right(11), d)
    if kind is Pii.ID_NUMBER:
        return t.ascii_upper_expr(t.fullwidth_id_to_ascii_expr(t.strip_expr(value)))
    if kind is Pii.EMAIL:
        return t.ascii_lower_expr(t.strip_expr(value))
    if kind is Pii.CARD_NUMBER:
        return t.digits_expr(value)
    raise ValueError(f"no normalisation for {kind!r}")  # pragma: no cover - Pii is closed


def pseudonym(value: str, kind: Pii, key: bytes) -> str:
    """The pseudonym of one raw value, e.g. to look a customer up by phone or ID number.

    Raises :class:`ValueError` when nothing is left after normalisation.
    """
    result = pseudonym_or_none(value, kind, key)
    if result is None:
        raise ValueError(f"{Pii(kind).value} value has nothing to pseudonymise after normalisation")
    return result


def pseudonym_or_none(value: str | None, kind: Pii, key: bytes) -> str | None:
    """Like :func:`pseudonym`, but ``None`` where the engine gives null."""
    prefix = _prefix(kind, key)
    if value is None:
        return None
    norm = normalise(value, kind)
    if not norm:
        return None
    digest = hashlib.sha256((prefix + norm).encode("utf-8")).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def pseudonym_expr(value: ir.StringValue, kind: Pii, key: bytes) -> ir.StringValue:
    """The pseudonym of every value of a string column, computed by the engine."""
    prefix = _prefix(kind, key)
    norm = normalise_expr(value, kind).nullif("")
    # A null normalised value gives null: concatenation and SHA-256 propagate it (tested).
    return t.substring_expr((ibis.literal(prefix) + norm).hexdigest("sha256"), 0,
                            PSEUDONYM_LENGTH)
