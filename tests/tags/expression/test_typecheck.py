"""Type checking: each rule, where it points, and what it suggests."""

from __future__ import annotations

from datetime import date

import pytest

from finpersona.tags.expression import (
    ExpressionError,
    check,
    compile_expression,
    parse,
    same_tree,
)
from finpersona.tags.types import TagSignature, ValueType

SIGNATURES = {
    s.name: s
    for s in (
        TagSignature("age", ValueType.INT),
        TagSignature("city_tier", ValueType.INT),
        TagSignature("aum", ValueType.DECIMAL),
        TagSignature("has_credit_card", ValueType.BOOL),
        TagSignature("churn_risk", ValueType.CATEGORY, ("low", "medium", "high")),
        TagSignature("rfm_class", ValueType.CATEGORY, ("重要价值", "重要发展", "一般挽留")),
        TagSignature("occupation", ValueType.CATEGORY),  # values not declared: anything goes
        TagSignature("last_txn_date", ValueType.DATE),
        TagSignature("amount_sum_90d", ValueType.DECIMAL),
        TagSignature("amount_sum_30d", ValueType.DECIMAL),
    )
}


@pytest.mark.parametrize("text", [
    "age BETWEEN 25 AND 35 AND city_tier IN (1,2) AND has_credit_card AND NOT churn_risk = 'high'",
    "rfm_class LIKE '重要%' OR aum >= 500000.5",
    "last_txn_date >= DATE '2025-06-01'",
    "last_txn_date >= '2025-06-01'",
    "last_txn_date BETWEEN '2025-01-01' AND DATE '2025-01-01'",
    "last_txn_date NOT IN ('2025-01-01', DATE '2025-02-01')",
    "churn_risk IS NULL AND age IS NOT NULL AND has_credit_card IS NULL AND last_txn_date IS NULL",
    "occupation NOT IN ('student', 'retired')",
    "occupation = 'anything at all' OR occupation LIKE '%'",
    "age <> 3 AND age != 3 AND age < 3.5 AND age >= -1",
    "city_tier = 1.0 AND city_tier IN (1.00, 2)",
    "age BETWEEN 25.5 AND 35",
    "aum = 3 AND aum IN (1, 2.5) AND aum BETWEEN 0 AND 0.01",
    "has_credit_card = TRUE AND has_credit_card != FALSE AND has_credit_card IN (TRUE, FALSE)",
    "NOT (has_credit_card OR NOT has_credit_card)",
    "churn_risk != 'low' AND churn_risk IN ('low', 'high') AND churn_risk NOT LIKE 'l%'",
    "age BETWEEN 30 AND 30",
])
def test_well_typed_expressions_pass(text: str) -> None:
    check(parse(text), SIGNATURES, text=text)
    compile_expression(text, SIGNATURES)


# (text, position, part of the message, suggestions)
REJECTED = [
    # unknown tags, with the nearest names
    ("agee = 1", 0, "unknown tag 'agee'", ("age",)),
    ("Age = 1", 0, "unknown tag 'Age'", ("age",)),
    ("age = 1 AND amount_sum_60d > 0", 12, "unknown tag 'amount_sum_60d'",
     ("amount_sum_90d", "amount_sum_30d")),
    ("zzz IS NULL", 0, "unknown tag 'zzz'", ()),
    # numbers
    ("age = '30'", 6, "age is a whole-number tag, so it is compared with a number, not with "
     "the text '30'", ("30",)),
    ("aum > TRUE", 6, "aum is a numeric tag, so it is compared with a number, not with TRUE",
     ()),
    ("aum > DATE '2025-01-01'", 6, "not with the date 2025-01-01", ()),
    ("age IN (1, 'x')", 11, "not with the text 'x'", ()),
    ("age BETWEEN 1 AND 'x'", 18, "not with the text 'x'", ()),
    ("city_tier = 1.5", 12, "city_tier holds whole numbers, so it can never equal 1.5", ()),
    ("city_tier != 1.5", 13, "city_tier holds whole numbers, so it always differs from 1.5",
     ()),
    ("city_tier IN (1, 2.5)", 17, "so 2.5 in the IN list can never match", ()),
    ("age", 0, "age is a whole-number tag, not a yes/no tag, so it cannot stand alone", ()),
    ("age LIKE '1%'", 0, "LIKE applies only to category tags, and age is a whole-number tag",
     ()),
    # categories
    ("churn_risk = 'hgh'", 13, "'hgh' is not a value of churn_risk (its values are 'low', "
     "'medium', 'high')", ("high",)),
    ("churn_risk = 'High'", 13, "'High' is not a value of churn_risk", ("high",)),
    ("churn_risk IN ('low', 'meduim')", 22, "'meduim' is not a value", ("medium",)),
    ("churn_risk != 'none'", 14, "'none' is not a value", ()),
    ("rfm_class = '重要价'", 12, "'重要价' is not a value of rfm_class", ("重要价值",)),
    ("churn_risk = 3", 13, "churn_risk is a category tag, so it is compared with a quoted "
     "value such as 'low', not with the number 3", ()),
    ("churn_risk > 'low'", 0, "its values have no order, so '>' does not apply", ()),
    ("churn_risk BETWEEN 'high' AND 'low'", 0,
     "BETWEEN applies only to numbers and dates, and churn_risk is a category tag", ()),
    ("churn_risk", 0, "compare it, e.g. churn_risk = 'low'", ()),
    ("occupation LIKE 'a\\b'", 16, "cannot contain a backslash", ()),
    # yes/no tags
    ("has_credit_card = 1", 18, "has_credit_card is a yes/no tag, so it is compared with TRUE "
     "or FALSE, not with the number 1", ("TRUE",)),
    ("has_credit_card = 'N'", 18, "not with the text 'N'", ("FALSE",)),
    ("has_credit_card IN (TRUE, 0)", 26, "not with the number 0", ("FALSE",)),
    ("has_credit_card > FALSE", 0, "only = and != (with TRUE or FALSE) apply to it, not '>'",
     ()),
    ("has_credit_card BETWEEN FALSE AND TRUE", 0, "BETWEEN applies only to numbers and dates",
     ()),
    ("has_credit_card LIKE 'T%'", 0, "LIKE applies only to category tags", ()),
    # dates
    ("last_txn_date >= '2025-13-01'", 17, "'2025-13-01' is not a valid date; write dates as "
     "'YYYY-MM-DD'", ()),
    ("last_txn_date >= 'yesterday'", 17, "'yesterday' is not a valid date", ()),
    ("last_txn_date IN ('2025-01-01', '2025/01/02')", 32, "'2025/01/02' is not a valid date",
     ()),
    ("last_txn_date > 20250601", 16, "last_txn_date is a date tag, so it is compared with a "
     "date such as DATE '2025-06-01', not with the number 20250601", ()),
    ("last_txn_date", 0, "e.g. last_txn_date >= DATE '2025-06-01'", ()),
    # BETWEEN bounds
    ("age BETWEEN 35 AND 25", 12, "BETWEEN 35 AND 25 can never match: the low end is above the "
     "high end; write BETWEEN 25 AND 35", ()),
    ("aum NOT BETWEEN 0.5 AND 0.25", 16, "BETWEEN 0.5 AND 0.25 can never match", ()),
    ("last_txn_date BETWEEN '2025-02-01' AND DATE '2025-01-31'", 22, "can never match", ()),
]


@pytest.mark.parametrize(("text", "position", "message", "suggestions"), REJECTED)
def test_type_errors(text: str, position: int, message: str,
                     suggestions: tuple[str, ...]) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, SIGNATURES)
    error = caught.value
    assert message in error.message
    assert error.position == position
    assert error.suggestions == suggestions
    assert error.text == text
    assert str(error).splitlines()[0].startswith(f"{error.message} at position {position}")


def test_unknown_tag_message_reads_as_documented() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("agee BETWEEN 25 AND 35", SIGNATURES)
    assert str(caught.value).splitlines()[0] == (
        "unknown tag 'agee' at position 0; did you mean 'age'?")


def test_the_first_problem_in_the_text_is_reported() -> None:
    with pytest.raises(ExpressionError, match="unknown tag 'b'"):
        compile_expression("a_tag_that_is_fine IS NULL OR b = 1 OR agee = 2",
                           {**SIGNATURES, "a_tag_that_is_fine": SIGNATURES["age"]})


def test_without_the_text_errors_point_at_the_condition() -> None:
    tree = parse("age = 1 AND churn_risk = 'hgh'")
    with pytest.raises(ExpressionError) as caught:
        check(tree, SIGNATURES)
    assert caught.value.position == 12  # where the condition starts, not the value
    assert caught.value.text == ""
    assert "\n" not in str(caught.value)
    # With different text than the tree came from, the checker does not guess.
    with pytest.raises(ExpressionError) as caught:
        check(tree, SIGNATURES, text="something else entirely, much longer than the tree")
    assert caught.value.position == 12


def test_long_value_lists_are_shortened() -> None:
    values = tuple(f"v{k}" for k in range(30))
    signatures = {"x": TagSignature("x", ValueType.CATEGORY, values)}
    with pytest.raises(ExpressionError) as caught:
        compile_expression("x = 'w1'", signatures)
    assert "'v11', …)" in caught.value.message
    assert "'v12'" not in caught.value.message


def test_compile_expression_types_quoted_dates() -> None:
    tree = compile_expression("last_txn_date >= '2025-06-01' AND occupation = '2025-06-01'",
                              SIGNATURES)
    expected = parse("last_txn_date >= DATE '2025-06-01' AND occupation = '2025-06-01'")
    assert same_tree(tree, expected)
    assert tree.operands[0].value == date(2025, 6, 1)  # type: ignore[union-attr]
    # Otherwise the tree is the parser's, positions included.
    text = "age IN (1, 2) OR last_txn_date BETWEEN DATE '2025-01-01' AND '2025-02-01'"
    compiled = compile_expression(text, SIGNATURES)
    assert compiled.operands[0] == parse(text).operands[0]  # type: ignore[union-attr]
    assert compiled.operands[1].high == date(2025, 2, 1)  # type: ignore[union-attr]
