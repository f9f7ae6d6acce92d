"""Investor suitability (适当性): which product risk levels a customer's grade allows.

The rule of the CBIRC and CSRC suitability regimes (商业银行理财业务监督管理办法,
证券期货投资者适当性管理办法) as banks apply it to their five-level scales:

- a customer graded Ck may buy products rated R1 up to Rk: C1 only R1, C2 up to R2,
  C3 up to R3, C4 up to R4, C5 everything;
- **no grade, no sale**: a customer without a grade (no valid questionnaire) is
  suitable for nothing, R1 included. The rules require the assessment *before* the
  first purchase of a product they cover, whatever its risk; the fix is a
  questionnaire, not an exception for low-risk products;
- a product without a risk level cannot be checked, so it is not suitable either.

Only wealth-management, fund and insurance products are sold under these rules
(:data:`SUITABILITY_TYPES`); deposits are not an investment and credit products go
through credit approval instead, so :func:`suitable_products` does not list them.

For a sale, pass the customer's *valid questionnaire* grade (``risk_tolerance_level``
while ``risk_assessment_expired`` is false). The ``risk_preference`` model grade can be
one above it (see :mod:`finpersona.models.risk_preference`); use it to choose what to
show, not to approve a sale.

:func:`is_suitable` checks one pair in Python and rejects values that are not a grade
or a risk level; :func:`suitable_expr` is the same rule as an engine expression over
columns, where anything that is not C1-C5 / R1-R5 (null, a typo) counts as unknown,
hence not suitable.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from finpersona.models.spec import ModelContext

GRADES = ("C1", "C2", "C3", "C4", "C5")
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
SUITABILITY_TYPES = ("wealth_management", "fund", "insurance")


def grade_level(grade: Any) -> int | None:
    """1-5 for C1-C5 (surrounding blanks and case ignored); None when unknown (null)."""
    return _level(grade, GRADES, "customer grade")


def risk_level(risk: Any) -> int | None:
    """1-5 for R1-R5 (surrounding blanks and case ignored); None when unknown (null)."""
    return _level(risk, RISK_LEVELS, "product risk level")


def _level(value: Any, names: tuple[str, ...], what: str) -> int | None:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                         and pd.isna(value)):
        return None
    if not isinstance(value, str):
        raise ValueError(f"a {what} is a text such as {names[0]!r}, got {value!r}")
    text = value.strip().upper()
    if text not in names:
        raise ValueError(f"unknown {what} {value!r}: use one of {', '.join(names)} "
                         "(or None when unknown)")
    return names.index(text) + 1


def is_suitable(customer_grade: str | None, product_risk: str | None) -> bool:
    """True when a customer graded ``customer_grade`` may buy a product rated ``product_risk``.

    >>> is_suitable("C3", "R3"), is_suitable("C3", "R4"), is_suitable(None, "R1")
    (True, False, False)
    """
    grade, risk = grade_level(customer_grade), risk_level(product_risk)
    return grade is not None and risk is not None and risk <= grade


def suitable_expr(grade_column: ir.StringValue, risk_column: ir.StringValue
                  ) -> ir.BooleanValue:
    """The rule over engine columns: true when the risk level is at most the grade.

    Never null: an unknown grade or risk level (null, or not C1-C5 / R1-R5 after
    trimming and upper-casing) gives false.
    """
    grade = _level_expr(grade_column, GRADES)
    risk = _level_expr(risk_column, RISK_LEVELS)
    return ibis.ifelse(grade.notnull() & risk.notnull(), risk <= grade, False)


def _level_expr(column: ir.StringValue, names: tuple[str, ...]) -> ir.IntegerValue:
    text = column.cast("string").strip().upper()
    return ibis.cases(*[(text == n, i) for i, n in enumerate(names, start=1)],
                      else_=ibis.null("int64")).cast("int64")


def suitable_products(ctx: ModelContext, grade: str | None, *,
                      on_sale_only: bool = True) -> ir.Table:
    """The products of the warehouse's ``products`` table a customer graded ``grade`` may
    buy: wealth-management, fund and insurance products with a risk level up to the
    grade (none without a grade), on sale unless ``on_sale_only`` is false, ordered by
    risk level and product id."""
    level = grade_level(grade)  # a bad grade fails here, with the message above
    p = ctx.table("products")
    chosen = p.product_type.isin(list(SUITABILITY_TYPES)) & suitable_expr(
        ibis.literal(GRADES[level - 1] if level else None, type="string"), p.risk_level)
    if on_sale_only:
        chosen &= p.status == "on_sale"
    return (p.filter(chosen)
            .select("product_id", "product_name", "product_type", "risk_level", "status")
            .order_by(["risk_level", "product_id"]))
