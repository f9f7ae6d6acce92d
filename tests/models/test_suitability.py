"""Investor suitability: the published grade/risk matrix, its engine form, the product list.

The reference is the rule as the suitability regimes state it (C1 buys R1 only, ...,
C5 buys up to R5), written out below as a literal matrix rather than derived from the
code's own comparison.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finpersona.analytics.data import open_analytics
from finpersona.models.suitability import (
    GRADES,
    RISK_LEVELS,
    SUITABILITY_TYPES,
    is_suitable,
    suitable_expr,
    suitable_products,
)
from tests.conftest import Ingested

# Rows C1..C5, columns R1..R5: 1 = may buy (CBIRC/SAC matching of grade and risk level).
MATRIX = (
    (1, 0, 0, 0, 0),
    (1, 1, 0, 0, 0),
    (1, 1, 1, 0, 0),
    (1, 1, 1, 1, 0),
    (1, 1, 1, 1, 1),
)
PAIRS = [(g, r, bool(MATRIX[i][j])) for i, g in enumerate(GRADES)
         for j, r in enumerate(RISK_LEVELS)]
UNKNOWN = (None, float("nan"), pd.NA)


@pytest.mark.parametrize(("grade", "risk", "expected"), PAIRS)
def test_the_published_matrix(grade: str, risk: str, expected: bool) -> None:
    assert is_suitable(grade, risk) is expected
    # Case and surrounding blanks do not matter (values typed by hand in source systems).
    assert is_suitable(f" {grade.lower()} ", risk.lower()) is expected


@pytest.mark.parametrize("unknown", UNKNOWN)
def test_no_grade_no_sale_and_no_risk_level_no_sale(unknown: object) -> None:
    # Even R1: the rules want the assessment before the first purchase of any covered product.
    assert not any(is_suitable(unknown, r) for r in RISK_LEVELS)  # type: ignore[arg-type]
    assert not any(is_suitable(g, unknown) for g in GRADES)  # type: ignore[arg-type]


@pytest.mark.parametrize(("grade", "risk", "message"), [
    ("C6", "R1", "unknown customer grade 'C6'"),
    ("C3", "R0", "unknown product risk level 'R0'"),
    ("", "R1", "unknown customer grade ''"),
    (3, "R1", "customer grade is a text"),
    ("C3", True, "product risk level is a text"),
])
def test_bad_values_are_refused_with_the_allowed_ones(grade: object, risk: object,
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        is_suitable(grade, risk)  # type: ignore[arg-type]
    assert "C1" in str(info.value) or "R1" in str(info.value)


grades = st.sampled_from(GRADES)
risks = st.sampled_from(RISK_LEVELS)


@given(grades, grades, risks)
def test_monotone_in_the_grade(a: str, b: str, risk: str) -> None:
    low, high = sorted((a, b))  # "C1" < "C2" < ... as text too
    assert is_suitable(high, risk) >= is_suitable(low, risk)


@given(grades, risks, risks)
def test_monotone_in_the_risk(grade: str, a: str, b: str) -> None:
    low, high = sorted((a, b))
    assert is_suitable(grade, low) >= is_suitable(grade, high)


values = st.one_of(st.none(), st.sampled_from([*GRADES, *RISK_LEVELS, "c2", " R3", "X", "C6"]))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(values, values), min_size=1, max_size=40))
def test_engine_form_equals_python_and_is_never_null(pairs: list[tuple[str | None,
                                                                        str | None]]) -> None:
    def python(grade: str | None, risk: str | None) -> bool:
        try:
            return is_suitable(grade, risk)
        except ValueError:
            return False  # in the engine a typo is simply an unknown value

    frame = pd.DataFrame(pairs, columns=["grade", "risk"], dtype=object)
    table = ibis.memtable(frame, schema={"grade": "string", "risk": "string"})
    expr = table.select(ok=suitable_expr(table.grade, table.risk))
    got = ibis.duckdb.connect().to_pyarrow(expr).column("ok").to_pylist()
    assert got == [python(g, r) for g, r in pairs]


@pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j's sockets on Spark, not ours
def test_suitable_products_from_the_warehouse(ingested: Ingested) -> None:
    with open_analytics(ingested.workspace) as ctx:
        products = ctx.engine.to_arrow(ctx.table("products")).to_pandas()
        listed = {g: ctx.engine.to_arrow(suitable_products(ctx, g)).to_pandas()
                  for g in (*GRADES, None)}
        everything = ctx.engine.to_arrow(
            suitable_products(ctx, "C5", on_sale_only=False)).to_pandas()
        with pytest.raises(ValueError, match="unknown customer grade"):
            suitable_products(ctx, "C9")
    for grade in GRADES:
        top = int(grade[1])
        expected = products[products.product_type.isin(SUITABILITY_TYPES)
                            & (products.risk_level.str[1].astype(int) <= top)
                            & (products.status == "on_sale")]
        got = listed[grade]
        assert sorted(got.product_id) == sorted(expected.product_id), grade
        assert list(got.risk_level) == sorted(got.risk_level)  # ordered by risk
    assert listed[None].empty
    # Deposits and credit products are not sold under the suitability rules.
    assert set(listed["C5"].product_type) <= set(SUITABILITY_TYPES)
    assert len(listed["C1"]) < len(listed["C3"]) < len(listed["C5"])
    assert set(everything.product_id) >= set(listed["C5"].product_id)
    # The reference itself: each grade buys exactly its own number of levels.
    assert [sum(row) for row in MATRIX] == [1, 2, 3, 4, 5]

