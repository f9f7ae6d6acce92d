"""Counting with expressions (scan and index against a brute-force Python count), names,
and saved audiences with their size history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finpersona.audiences import (
    AudienceError,
    AudienceExpressionError,
    check_name,
    count,
    delete_audience,
    list_audiences,
    refresh_audiences,
    save_audience,
    show_audience,
)
from finpersona.tags.expression import compile_expression, evaluate
from finpersona.warehouse import Warehouse

from ._bank import AS_OF, EARLIER, SIGNATURES, Bank, build_bank, publish_snapshot

EXPRESSIONS = [
    "age >= 30",
    "age BETWEEN 25 AND 35 AND has_credit_card",
    "segment IN ('affluent', 'private') OR aum > 50000",
    "NOT has_credit_card",
    "aum IS NULL OR segment IS NULL",
    "segment LIKE 'a%' AND NOT (age < 40)",
    "txn_count_30d = 0 AND gender = 'F'",
    "last_login >= '2025-10-01'",
]


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    return build_bank(tmp_path / "ws")


@pytest.fixture
def indexed(tmp_path: Path) -> Bank:
    return build_bank(tmp_path / "ws-index", index=True)


def brute_force(bank: Bank, expression: str, as_of: date = AS_OF) -> int:
    node = compile_expression(expression, SIGNATURES)
    return sum(evaluate(node, row) is True for row in bank.rows(as_of))


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_scan_count_matches_a_python_count(bank: Bank, expression: str) -> None:
    result = count(bank.workspace, expression, signatures=SIGNATURES)
    assert result.method == "scan"
    assert result.as_of == AS_OF
    assert result.count == brute_force(bank, expression)
    assert 0 < result.count < len(bank.rows())  # the expressions are selective, not trivial
    earlier = count(bank.workspace, expression, EARLIER.isoformat(), signatures=SIGNATURES)
    assert earlier.as_of == EARLIER
    assert earlier.count == brute_force(bank, expression, EARLIER)


def test_the_index_answers_when_the_build_made_one(indexed: Bank) -> None:
    for expression in EXPRESSIONS:
        result = count(indexed.workspace, expression, signatures=SIGNATURES)
        assert result.method == "index"
        assert result.count == brute_force(indexed, expression), expression
        assert result.elapsed_ms >= 0


def test_the_count_reports_the_canonical_expression(bank: Bank) -> None:
    result = count(bank.workspace, "age>=30   and  segment='mass'", signatures=SIGNATURES)
    assert result.expression == "age >= 30 AND segment = 'mass'"


def test_an_unknown_tag_is_reported_with_suggestions_and_a_caret(bank: Bank) -> None:
    with pytest.raises(AudienceExpressionError) as caught:
        count(bank.workspace, "has_credit_card AND agee > 30", signatures=SIGNATURES)
    error = caught.value
    assert error.position == 20
    assert "age" in error.suggestions
    lines = str(error).splitlines()
    assert "agee" in lines[0] and "did you mean" in lines[0]
    assert lines[1].strip() == "has_credit_card AND agee > 30"
    assert lines[2].index("^") == lines[1].index("agee")


def test_a_tag_newer_than_the_snapshot_asks_for_a_build(bank: Bank, indexed: Bank) -> None:
    for workspace in (bank.workspace, indexed.workspace):
        with pytest.raises(AudienceError, match=r"churn_risk.*finpersona build"):
            count(workspace, "churn_risk = 'high'", signatures=SIGNATURES)


def test_as_of_must_exist(bank: Bank, tmp_path: Path) -> None:
    with pytest.raises(AudienceError, match="no tag snapshot as of 2025-10-31; available: "
                                            "2025-11-30, 2025-12-31"):
        count(bank.workspace, "age > 1", "2025-10-31", signatures=SIGNATURES)
    with pytest.raises(AudienceError, match="like 2025-12-31"):
        count(bank.workspace, "age > 1", "yesterday", signatures=SIGNATURES)
    empty = build_bank(tmp_path / "empty", publish=())
    with pytest.raises(AudienceError, match="no tag snapshot yet"):
        count(empty.workspace, "age > 1", signatures=SIGNATURES)


# -- names ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["young", "young_card_2025", "高净值客户", "vip客户_2", "a"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Young", "young card", "young-card", "2025_young",
                                  "_young", "x" * 65, "高净值客户!", "ｙｏｕｎｇ", "young\n"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(AudienceError, match="invalid audience name"):
        check_name(name)


# -- saved audiences ---------------------------------------------------------------------
def test_save_list_show_refresh_and_delete_keep_a_history(tmp_path: Path) -> None:
    bank = build_bank(tmp_path / "ws", publish=(EARLIER,))
    ws = bank.workspace
    saved = save_audience(ws, "young_card", "age < 35 and has_credit_card",
                          "young card holders", actor="alice", signatures=SIGNATURES)
    assert saved.expression == "age < 35 AND has_credit_card"
    assert saved.created_by == "alice" and saved.size is None
    save_audience(ws, "高净值", "aum >= 100000", signatures=SIGNATURES)

    first = refresh_audiences(ws, signatures=SIGNATURES)
    assert [(r.name, r.as_of, r.method, r.error) for r in first] == [
        ("young_card", EARLIER, "scan", None), ("高净值", EARLIER, "scan", None)]
    assert first[0].count == brute_force(bank, "age < 35 AND has_credit_card", EARLIER)

    # The next build publishes a new snapshot; refresh adds a point to the history.
    publish_snapshot(Warehouse(ws.warehouse_dir), bank.snapshots[AS_OF], AS_OF, index=False)
    refresh_audiences(ws, ["young_card"], signatures=SIGNATURES)
    refresh_audiences(ws, ["young_card"], signatures=SIGNATURES)  # same build: replaced
    shown = show_audience(ws, "young_card")
    assert shown.description == "young card holders"
    assert [(s.as_of, s.count) for s in shown.sizes] == [
        (EARLIER, brute_force(bank, "age < 35 AND has_credit_card", EARLIER)),
        (AS_OF, brute_force(bank, "age < 35 AND has_credit_card", AS_OF))]
    assert shown.size == shown.sizes[-1].count and shown.size_as_of == AS_OF

    listed = {a.name: a for a in list_audiences(ws)}
    assert list(listed) == ["young_card", "高净值"]
    assert listed["young_card"].size_as_of == AS_OF
    assert listed["高净值"].size_as_of == EARLIER  # not refreshed since

    delete_audience(ws, "young_card")
    assert [a.name for a in list_audiences(ws)] == ["高净值"]
    with pytest.raises(AudienceError, match="no saved audience 'young_card'"):
        show_audience(ws, "young_card")


def test_saving_again_needs_replace_and_a_new_definition_clears_the_history(
        bank: Bank) -> None:
    ws = bank.workspace
    save_audience(ws, "older", "age > 50", signatures=SIGNATURES)
    refresh_audiences(ws, signatures=SIGNATURES)
    with pytest.raises(AudienceError, match="exists; pass --replace"):
        save_audience(ws, "older", "age > 60", signatures=SIGNATURES)
    # Same condition written differently: only the description changes, history stays.
    save_audience(ws, "older", "age>50", "over fifty", replace=True, signatures=SIGNATURES)
    assert len(show_audience(ws, "older").sizes) == 1
    redefined = save_audience(ws, "older", "age > 60", replace=True, signatures=SIGNATURES)
    assert redefined.expression == "age > 60"
    assert redefined.description == "over fifty"  # not given again: kept
    assert show_audience(ws, "older").sizes == []


def test_save_checks_name_and_expression_before_storing(bank: Bank) -> None:
    ws = bank.workspace
    with pytest.raises(AudienceError, match="invalid audience name"):
        save_audience(ws, "Bad Name", "age > 1", signatures=SIGNATURES)
    with pytest.raises(AudienceExpressionError, match="segment"):
        save_audience(ws, "typo", "segmnt = 'mass'", signatures=SIGNATURES)
    with pytest.raises(AudienceExpressionError):
        save_audience(ws, "wrong_value", "segment = 'platinum'", signatures=SIGNATURES)
    assert list_audiences(ws) == []


def test_refresh_reports_a_broken_audience_and_refreshes_the_rest(bank: Bank) -> None:
    ws = bank.workspace
    save_audience(ws, "churners", "churn_risk = 'high'", signatures=SIGNATURES)
    save_audience(ws, "older", "age > 50", signatures=SIGNATURES)
    results = {r.name: r for r in refresh_audiences(ws, signatures=SIGNATURES)}
    assert results["churners"].count is None
    assert "churn_risk" in (results["churners"].error or "")
    assert results["older"].count == brute_force(bank, "age > 50")
    assert show_audience(ws, "churners").sizes == []
    with pytest.raises(AudienceError, match="no saved audience 'oldr'; did you mean older"):
        refresh_audiences(ws, ["oldr"], signatures=SIGNATURES)


def test_the_workspace_catalogue_is_used_when_no_signatures_are_given(bank: Bank) -> None:
    from finpersona.audiences.selection import catalogue_signatures

    signatures = catalogue_signatures(bank.workspace)
    numeric = next(n for n, s in signatures.items() if s.type.is_numeric)
    saved = save_audience(bank.workspace, "from_catalogue", f"{numeric} > 0")
    assert saved.expression == f"{numeric} > 0"
    tags = bank.workspace.root / "tags"
    tags.mkdir()
    (tags / "broken.yaml").write_text("tags:\n  - name: Not Snake\n", encoding="utf-8")
    with pytest.raises(AudienceError, match=r"broken\.yaml"):
        save_audience(bank.workspace, "other", f"{numeric} > 0")
