"""Privacy at the door: personal identifiers leave as keyed pseudonyms and masks only."""

from __future__ import annotations

import ibis.expr.types as ir

from finpersona.privacy import mask_expr, pseudonym_expr
from finpersona.schema import Table, pseudonym_column


def protect(values: dict[str, ir.Value], table: Table, pseudonym_key: bytes) -> dict[str, ir.Value]:
    """The warehouse form of a cleaned row: no raw personal identifier survives."""
    out: dict[str, ir.Value] = {}
    for col in table.columns:
        value = values[col.name]
        if col.pii is None:
            out[col.name] = value
            continue
        if col.is_key_pseudonym:
            out[pseudonym_column(col.name)] = pseudonym_expr(value, col.pii, pseudonym_key)
        if col.is_masked:
            out[f"{col.name}_masked"] = mask_expr(value, col.pii)
    return out


def pii_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns if c.pii is not None]
