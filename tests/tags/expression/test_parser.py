"""Parsing: every construct, precedence, positions, and errors that point at the problem."""

from __future__ import annotations

import pickle
from datetime import date
from decimal import Decimal

import pytest

from finpersona.tags.expression import (
    ExpressionError,
    parse,
    same_tree,
    strip_positions,
    tags_used,
    to_text,
)
from finpersona.tags.expression.ast import (
    And,
    Between,
    Compare,
    CompareOp,
    InList,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Tag,
    Truthy,
)


def t(name: str) -> Tag:
    return Tag(name, 0)


def eq(name: str, value: object) -> Compare:
    return Compare(t(name), CompareOp.EQ, value, 0)  # type: ignore[arg-type]


def bare(name: str) -> Truthy:
    return Truthy(t(name), 0)


def parsed(text: str) -> Node:
    return strip_positions(parse(text))


# -- constructs ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "tree"), [
    ("x = 3", eq("x", 3)),
    ("x != 3", Compare(t("x"), CompareOp.NE, 3, 0)),
    ("x <> 3", Compare(t("x"), CompareOp.NE, 3, 0)),
    ("x < 3", Compare(t("x"), CompareOp.LT, 3, 0)),
    ("x <= 3", Compare(t("x"), CompareOp.LE, 3, 0)),
    ("x > 3", Compare(t("x"), CompareOp.GT, 3, 0)),
    ("x >= 3", Compare(t("x"), CompareOp.GE, 3, 0)),
    ("x>=-3", Compare(t("x"), CompareOp.GE, -3, 0)),
    ("x<-3", Compare(t("x"), CompareOp.LT, -3, 0)),
    ("aum >= 500000.5", Compare(t("aum"), CompareOp.GE, Decimal("500000.5"), 0)),
    ("x = -0.05", eq("x", Decimal("-0.05"))),
    ("x = 'it''s'", eq("x", "it's")),
    ("x = ''", eq("x", "")),
    ("x = '北京 上海'", eq("x", "北京 上海")),
    ("x = 'a\nb'", eq("x", "a\nb")),
    ("a = TRUE", eq("a", True)),
    ("a = false", eq("a", False)),
    ("d >= DATE '2025-06-01'", Compare(t("d"), CompareOp.GE, date(2025, 6, 1), 0)),
    ("d >= date '2025-06-01'", Compare(t("d"), CompareOp.GE, date(2025, 6, 1), 0)),
    ("d >= '2025-06-01'", Compare(t("d"), CompareOp.GE, "2025-06-01", 0)),
    ("age BETWEEN 25 AND 35", Between(t("age"), 25, 35, 0)),
    ("age not between 25 and 35.5", Between(t("age"), 25, Decimal("35.5"), 0, negated=True)),
    ("city_tier IN (1,2)", InList(t("city_tier"), (1, 2), 0)),
    ("city_tier IN (1)", InList(t("city_tier"), (1,), 0)),
    ("occupation NOT IN ('student', 'retired')",
     InList(t("occupation"), ("student", "retired"), 0, negated=True)),
    ("rfm_class LIKE '重要%'", Like(t("rfm_class"), "重要%", 0)),
    ("x not like '_a%'", Like(t("x"), "_a%", 0, negated=True)),
    ("churn_risk IS NULL", IsNull(t("churn_risk"), 0)),
    ("churn_risk is not null", IsNull(t("churn_risk"), 0, negated=True)),
    ("has_credit_card", bare("has_credit_card")),
    ("_x9", bare("_x9")),
    ("NOT churn_risk = 'high'", Not(eq("churn_risk", "high"), 0)),
    ("NOT NOT a", Not(Not(bare("a"), 0), 0)),
    ("NOT x BETWEEN 1 AND 2", Not(Between(t("x"), 1, 2, 0), 0)),
    ("x IN (1, 2)  \n\n", InList(t("x"), (1, 2), 0)),
    ("\u3000a", bare("a")),  # the full-width space a Chinese keyboard types
])
def test_every_construct(text: str, tree: Node) -> None:
    result = parsed(text)
    assert result == tree
    assert same_tree(result, tree)


def test_the_example_from_the_brief() -> None:
    text = ("age BETWEEN 25 AND 35 AND city_tier IN (1,2) AND has_credit_card "
            "AND NOT churn_risk = 'high'")
    assert parsed(text) == And((
        Between(t("age"), 25, 35, 0),
        InList(t("city_tier"), (1, 2), 0),
        bare("has_credit_card"),
        Not(eq("churn_risk", "high"), 0),
    ), 0)
    assert tags_used(parse(text)) == {"age", "city_tier", "has_credit_card", "churn_risk"}


def test_number_types() -> None:
    assert type(parsed("x = 3").value) is int  # type: ignore[union-attr]
    value = parsed("x = 3.10").value  # type: ignore[union-attr]
    assert type(value) is Decimal
    assert str(value) == "3.10"  # exactly as written, never through float


# -- precedence ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "tree"), [
    ("a OR b AND c", Or((bare("a"), And((bare("b"), bare("c")), 0)), 0)),
    ("a AND b OR c", Or((And((bare("a"), bare("b")), 0), bare("c")), 0)),
    ("NOT a AND b", And((Not(bare("a"), 0), bare("b")), 0)),
    ("NOT a OR b", Or((Not(bare("a"), 0), bare("b")), 0)),
    ("NOT (a OR b)", Not(Or((bare("a"), bare("b")), 0), 0)),
    ("(a OR b) AND c", And((Or((bare("a"), bare("b")), 0), bare("c")), 0)),
    ("a AND b AND c", And((bare("a"), bare("b"), bare("c")), 0)),
    ("(a AND b) AND (c AND d)", And((bare("a"), bare("b"), bare("c"), bare("d")), 0)),
    ("a OR (b OR c) OR d", Or((bare("a"), bare("b"), bare("c"), bare("d")), 0)),
    ("((a))", bare("a")),
    ("a and b or not c and d",
     Or((And((bare("a"), bare("b")), 0), And((Not(bare("c"), 0), bare("d")), 0)), 0)),
    # BETWEEN's AND belongs to BETWEEN, the next one to the conjunction
    ("x BETWEEN 1 AND 2 AND y", And((Between(t("x"), 1, 2, 0), bare("y")), 0)),
])
def test_precedence(text: str, tree: Node) -> None:
    assert parsed(text) == tree


def test_positions() -> None:
    text = "a = 1 AND (NOT b OR c IN (1))"
    tree = parse(text)
    assert isinstance(tree, And)
    assert tree.pos == 0
    first, second = tree.operands
    assert isinstance(first, Compare)
    assert (first.pos, first.tag.pos) == (0, 0)
    assert isinstance(second, Or)
    assert second.pos == text.index("NOT")
    negation, in_list = second.operands
    assert isinstance(negation, Not)
    assert negation.pos == text.index("NOT")
    assert negation.operand.pos == text.index("b")
    assert in_list.pos == text.index("c IN")


# -- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "position", "message"), [
    ("", 0, "the expression is empty"),
    ("   ", 0, "the expression is empty"),
    ("age = ", 6, "expected a value after '='"),
    ("age = AND b", 6, "expected a value after '=', found AND"),
    ("age >", 5, "expected a value after '>'"),
    ("age = b", 6, "comparing one tag with another is not supported"),
    ("age = NULL", 6, "IS NULL"),
    ("x = 'abc", 4, "unterminated text"),
    ("x = 'it''s", 4, "unterminated text"),
    ("(a AND b", 0, "this '(' is never closed"),
    ("((a) AND b", 0, "this '(' is never closed"),
    ("a AND b)", 7, "this ')' has no matching '('"),
    ("(a = 1 b)", 7, "expected AND, OR or ')', found 'b'"),
    ("(a b)", 3, "IS NULL), AND, OR or ')' after 'a', found 'b'"),
    ("()", 1, "expected a condition inside the parentheses"),
    ("a = 1 b", 6, "found 'b'"),
    ("a = 1 2", 6, "expected AND, OR or the end of the expression, found 2"),
    ("a b", 2, "IS NULL), AND, OR or the end after 'a', found 'b'"),
    ("a AND", 5, "expected a condition after AND"),
    ("a AND OR b", 6, "expected a condition after AND, found OR"),
    ("NOT", 3, "expected a condition after NOT"),
    ("1 = a", 0, "conditions start with the tag name"),
    ("x BETWEEN 1 2", 12, "expected AND between the two ends of BETWEEN, found 2"),
    ("x BETWEEN 1 AND", 15, "expected a value after BETWEEN ... AND"),
    ("x IN 1", 5, "expected '(' after IN"),
    ("x IN ()", 6, "at least one value in the IN list"),
    ("x IN (1,)", 8, "expected a value after ','"),
    ("x IN (1 2)", 8, "expected ',' or ')' in the IN list, found 2"),
    ("x IN (1", 7, "expected ',' or ')' in the IN list"),
    ("x LIKE 3", 7, "expected a quoted pattern after LIKE"),
    ("x IS 3", 5, "expected NULL or NOT NULL after IS"),
    ("x IS NOT 3", 9, "expected NOT NULL after IS NOT"),
    ("x NOT 3", 6, "expected BETWEEN, IN or LIKE after NOT"),
    ("x = DATE 3", 9, "expected a quoted date after DATE"),
    ("x = DATE '2025-02-30'", 9, "'2025-02-30' is not a valid date"),
    ("x = DATE '2025-6-1'", 9, "is not a valid date"),
    ("x = DATE '20250601'", 9, "is not a valid date"),
    ("x = 1.", 6, "expected digits after the decimal point"),
    ("x = -", 4, "expected a number after '-'"),
    ("x = 12abc", 4, "'12abc' is not a number"),
    ("x = 1.2.3", 4, "'1.2.3' is not a number"),
    ("x = 99999999999999999999", 4, "too large"),
    ("x = 0." + "1" * 39, 4, "more than 38 digits"),
    ("x == 1", 2, "'==' is not an operator"),
    ("a && b", 2, "write AND"),
    ("a || b", 2, "write OR"),
    ("x = \"a\"", 4, "single quotes"),
    ("!a", 0, "'!' is not an operator"),
    ("x = 1 ; y", 6, "unexpected character ';'"),
    ("city = 北京", 7, "text values must be in single quotes"),
    ("city_tier IN （1, 2)", 13, "full-width character '（'"),
])
def test_syntax_errors(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    error = caught.value
    assert message in error.message
    assert error.position == position
    assert error.text == text
    assert f"at position {position}" in str(error)


@pytest.mark.parametrize(("text", "suggestions"), [
    ("age BETWEN 25 AND 35", ("BETWEEN",)),
    ("a = 1 ANd b", ("AND",)),  # 'ANd' is the keyword; this is fine ...
    ("a = 1 AN b", ("AND",)),  # ... but 'AN' is a misspelling
    ("x IS NUL", ("NULL",)),
    ("x == 1", ("=",)),
    ("city_tier IN （1, 2)", ("(",)),
    ("city = 北京", ("'北京'",)),
    ("x = NULL", ("IS NULL",)),
])
def test_syntax_error_suggestions(text: str, suggestions: tuple[str, ...]) -> None:
    if text == "a = 1 ANd b":
        assert parsed(text) == And((eq("a", 1), bare("b")), 0)
        return
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.suggestions == suggestions


def test_the_first_error_in_the_text_is_reported() -> None:
    # The lexer is lazy: the unterminated string later on is not reached.
    with pytest.raises(ExpressionError, match="expected a value after '='") as caught:
        parse("a = = 'x")
    assert caught.value.position == 4


def test_error_text_has_a_caret_under_the_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("age = ")
    assert str(caught.value) == "expected a value after '=' at position 6\n  age = \n        ^"


def test_caret_counts_chinese_characters_as_two_columns() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("x = '重要' y")
    lines = str(caught.value).splitlines()
    assert lines[1] == "  x = '重要' y"
    assert lines[2] == "  " + " " * 11 + "^"  # x = ' (5) + 重要 (4) + ' and space (2)


def test_caret_in_a_multi_line_expression_is_under_the_right_line() -> None:
    text = "a = 1 AND\n    b = \n  AND c"
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    error = caught.value
    assert error.position == text.index("AND c")
    assert str(error).splitlines() == [
        f"expected a value after '=', found AND at position {error.position} "
        "(line 3, column 3)",
        "    AND c",
        "    ^",
    ]


def test_error_survives_pickling() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse("x BETWEN 1 AND 2")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.message, copy.position, copy.text, copy.suggestions) == (
        caught.value.message, caught.value.position, caught.value.text, caught.value.suggestions)
    assert str(copy) == str(caught.value)
    assert isinstance(copy, ValueError)


# -- printing --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "canonical"), [
    ("age between 25 and 35 and city_tier in (1,2) and has_credit_card and not churn_risk='high'",
     "age BETWEEN 25 AND 35 AND city_tier IN (1, 2) AND has_credit_card AND "
     "NOT churn_risk = 'high'"),
    ("x <> 3", "x != 3"),
    ("x = -0.50", "x = -0.50"),
    ("x = 'it''s 重要'", "x = 'it''s 重要'"),
    ("d >= date '2025-06-01'", "d >= DATE '2025-06-01'"),
    ("(a OR b) AND NOT (c AND d)", "(a OR b) AND NOT (c AND d)"),
    ("a OR b AND c", "a OR b AND c"),
    ("NOT (NOT a)", "NOT NOT a"),
    ("(a AND b) AND c", "a AND b AND c"),
    ("x not in ('a') or y is not null or z not like 'a%' or w not between 1 and 2",
     "x NOT IN ('a') OR y IS NOT NULL OR z NOT LIKE 'a%' OR w NOT BETWEEN 1 AND 2"),
    ("a = true", "a = TRUE"),
])
def test_to_text_is_canonical_and_parses_back(text: str, canonical: str) -> None:
    tree = parse(text)
    assert to_text(tree) == canonical
    assert same_tree(parse(canonical), tree)


def test_to_text_keeps_hand_built_trees_meaning() -> None:
    nested = And((bare("a"), And((bare("b"), bare("c")), 0)), 0)
    assert to_text(nested) == "a AND (b AND c)"
    assert same_tree(parse(to_text(nested)), And((bare("a"), bare("b"), bare("c")), 0))
    # A Decimal without a fraction stays a Decimal.
    tree = eq("x", Decimal("5"))
    assert to_text(tree) == "x = 5.0"
    assert same_tree(parse(to_text(tree)), tree)


def test_to_text_refuses_names_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        to_text(eq("and", 1))
    with pytest.raises(ValueError, match="cannot be written"):
        to_text(eq("城市", 1))


def test_same_tree_is_strict_about_literal_types() -> None:
    assert eq("x", 1) == eq("x", True)  # what dataclass equality gets wrong
    assert not same_tree(eq("x", 1), eq("x", True))
    assert not same_tree(eq("x", 1), eq("x", Decimal(1)))
    assert same_tree(eq("x", Decimal("1.0")), eq("x", Decimal("1.00")))
    assert same_tree(parse("x = 1"), parse("  x   =   1"))
