"""Exports: every consent and contact rule, reconciled counts, formats, re-identification,
and the append-only export log."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from finpersona.appdb import export_log, open_app_database
from finpersona.audiences import (
    REASONS,
    AudienceError,
    ExportResult,
    ReidentificationError,
    export,
    save_audience,
)
from finpersona.audiences.policy import REIDENTIFY_ENV
from finpersona.tags.expression import compile_expression, evaluate

from ._bank import SCENARIOS, SIGNATURES, Bank, build_bank, reference_export, tuned

AUDIENCE = "age >= 18"
SPARK_SOCKETS = pytest.mark.filterwarnings("ignore::ResourceWarning")  # py4j, not ours


def selected(bank: Bank, expression: str = AUDIENCE) -> set[str]:
    node = compile_expression(expression, SIGNATURES)
    return {r["customer_key"] for r in bank.rows() if evaluate(node, r) is True}


def saved_bank(root: Path, engine: str = "duckdb", **kwargs: object) -> Bank:
    bank = build_bank(root, engine, **kwargs)  # type: ignore[arg-type]
    save_audience(bank.workspace, "adults", AUDIENCE, signatures=SIGNATURES)
    return bank


def run(bank: Bank, out: Path, purpose: str, channel: str | None = None,
        file_format: str = "csv", **kwargs: object) -> ExportResult:
    return export(bank.workspace, "adults", purpose, channel, format=file_format, out=out,
                  actor="alice", signatures=SIGNATURES, **kwargs)  # type: ignore[arg-type]


def keys_in(path: Path) -> list[str]:
    return pacsv.read_csv(path).column("customer_key").to_pylist()


def check_against_reference(bank: Bank, result: ExportResult, path: Path, purpose: str,
                            channel: str | None, cap: int = 4) -> dict[str, str | None]:
    expected = reference_export(bank, selected(bank), purpose, channel, cap)
    kept = sorted(k for k, reason in expected.items() if reason is None)
    assert keys_in(path) == kept
    assert result.selected == len(expected)
    assert result.exported == len(kept)
    reasons = Counter(r for r in expected.values() if r is not None)
    assert result.excluded == {r: reasons.get(r, 0) for r in REASONS}
    assert list(result.excluded) == list(REASONS)  # every reason, in the documented order
    assert result.selected == result.exported + sum(result.excluded.values())
    return expected


@SPARK_SOCKETS
def test_export_rules_on_every_engine(engine_name: str, tmp_path: Path) -> None:
    bank = saved_bank(tmp_path / "ws", engine_name)
    marketing = run(bank, tmp_path / "sms.csv", "marketing", "sms")
    expected = check_against_reference(bank, marketing, tmp_path / "sms.csv", "marketing", "sms")
    # The hand-written scenarios, one rule each.
    assert {k: expected[k] for k in SCENARIOS} == SCENARIOS
    service = run(bank, tmp_path / "service.csv", "service")
    check_against_reference(bank, service, tmp_path / "service.csv", "service", None)
    assert service.excluded["closed"] > 0 and service.excluded["do_not_disturb"] > 0
    risk = run(bank, tmp_path / "risk.csv", "risk")
    check_against_reference(bank, risk, tmp_path / "risk.csv", "risk", None)
    assert risk.exported == risk.selected == len(selected(bank))
    assert set(risk.excluded.values()) == {0}


@pytest.mark.parametrize("channel", ["phone", "email", "app_push", "wechat"])
def test_every_channel_follows_the_rules(tmp_path: Path, channel: str) -> None:
    bank = saved_bank(tmp_path / "ws")
    result = run(bank, tmp_path / "out.csv", "marketing", channel)
    check_against_reference(bank, result, tmp_path / "out.csv", "marketing", channel)
    # Scenario c001 granted sms only: no consent on any other channel.
    assert "c001" not in keys_in(tmp_path / "out.csv")


def test_the_contact_cap_is_a_setting(tmp_path: Path) -> None:
    bank = saved_bank(tmp_path / "ws")
    bank.workspace = tuned(bank.workspace, contact_cap_30d=3)
    result = run(bank, tmp_path / "out.csv", "marketing", "sms")
    expected = check_against_reference(bank, result, tmp_path / "out.csv", "marketing", "sms",
                                       cap=3)
    assert expected["c008"] == "contact_cap"  # three sent, now at the cap
    assert expected["c009"] == "contact_cap"  # three inside the window
    assert expected["c001"] is None


def test_without_touches_nobody_is_capped_and_without_consents_nobody_is_marketed(
        tmp_path: Path) -> None:
    bank = saved_bank(tmp_path / "ws", tables=("customers", "consents"))
    bank.touches = []
    result = run(bank, tmp_path / "out.csv", "marketing", "sms")
    check_against_reference(bank, result, tmp_path / "out.csv", "marketing", "sms")
    assert result.excluded["contact_cap"] == 0
    no_consents = saved_bank(tmp_path / "ws2", tables=("customers", "marketing_touches"))
    with pytest.raises(AudienceError, match="no consents table"):
        run(no_consents, tmp_path / "x.csv", "marketing", "sms")
    assert run(no_consents, tmp_path / "risk.csv", "risk").exported == len(
        selected(no_consents))


# -- formats and re-identification -------------------------------------------------------
def test_csv_parquet_and_xlsx_hold_the_same_keys(tmp_path: Path) -> None:
    import openpyxl

    bank = saved_bank(tmp_path / "ws")
    csv = run(bank, tmp_path / "a.csv", "marketing", "wechat")
    parquet = run(bank, tmp_path / "a.parquet", "marketing", "wechat", "parquet")
    xlsx = run(bank, tmp_path / "a.xlsx", "marketing", "wechat", "xlsx")
    keys = keys_in(tmp_path / "a.csv")
    assert keys and keys == sorted(keys)
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column_names == ["customer_key"]
    assert table.column("customer_key").to_pylist() == keys
    book = openpyxl.load_workbook(tmp_path / "a.xlsx", read_only=True)
    try:  # a read-only workbook keeps its file open until closed
        rows = [r[0] for r in book.active.iter_rows(values_only=True)]
    finally:
        book.close()
    assert rows == ["customer_key", *keys]
    assert csv.exported == parquet.exported == xlsx.exported == len(keys)
    # No temporary files are left beside the exports.
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "a.csv", "a.parquet", "a.xlsx"]


def test_xlsx_without_openpyxl_names_the_package(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bank = saved_bank(tmp_path / "ws")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes the import fail
    with pytest.raises(AudienceError, match="openpyxl"):
        run(bank, tmp_path / "a.xlsx", "risk", file_format="xlsx")
    assert not (tmp_path / "a.xlsx").exists()


def test_reidentification_needs_the_right(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bank = saved_bank(tmp_path / "ws")
    monkeypatch.delenv(REIDENTIFY_ENV, raising=False)
    with pytest.raises(ReidentificationError, match="alice does not hold") as refused:
        run(bank, tmp_path / "who.csv", "service", reidentify=True)
    assert isinstance(refused.value, PermissionError)
    bank.workspace = tuned(bank.workspace, reidentify_users="bob, carol")
    with pytest.raises(ReidentificationError):
        run(bank, tmp_path / "who.csv", "service", reidentify=True)
    assert not (tmp_path / "who.csv").exists()

    bank.workspace = tuned(bank.workspace, reidentify_users="bob,alice")
    result = run(bank, tmp_path / "who.parquet", "service", file_format="parquet",
                 reidentify=True)
    assert result.reidentified
    table = pq.read_table(tmp_path / "who.parquet")
    assert table.column_names == ["customer_key", "name_masked", "phone_masked"]
    forms = {c["customer_key"]: (c["name_masked"], c["phone_masked"]) for c in bank.customers}
    for row in table.to_pylist():
        assert (row["name_masked"], row["phone_masked"]) == forms[row["customer_key"]]
    with open_app_database(bank.workspace) as db, db.begin() as con:
        logged = con.execute(select(export_log.c.reidentified)).scalars().all()
    assert logged == [True]  # refused attempts wrote nothing


@pytest.mark.parametrize(("purpose", "channel", "file_format", "message"), [
    ("marketing", None, "csv", "needs a channel"),
    ("marketing", "any", "csv", "unknown channel 'any'"),
    ("marketing", "fax", "csv", "unknown channel"),
    ("risk", "sms", "csv", "marketing exports only"),
    ("sales", None, "csv", "unknown purpose"),
    ("risk", None, "json", "unknown format"),
])
def test_bad_requests_are_refused_before_reading(tmp_path: Path, purpose: str,
                                                 channel: str | None, file_format: str,
                                                 message: str) -> None:
    bank = saved_bank(tmp_path / "ws")
    with pytest.raises(AudienceError, match=message):
        run(bank, tmp_path / "x.csv", purpose, channel, file_format)


def test_an_existing_file_is_kept_unless_overwritten(tmp_path: Path) -> None:
    bank = saved_bank(tmp_path / "ws")
    out = tmp_path / "x.csv"
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(AudienceError, match="exists"):
        run(bank, out, "risk")
    assert out.read_text(encoding="utf-8") == "keep me"
    run(bank, out, "risk", overwrite=True)
    assert len(keys_in(out)) == len(selected(bank))
    with pytest.raises(AudienceError, match="no saved audience"):
        export(bank.workspace, "nobody", "risk", format="csv", out=tmp_path / "y.csv",
               actor="alice", signatures=SIGNATURES)


# -- the export log ------------------------------------------------------------------------
def test_every_export_is_logged_and_the_log_cannot_be_changed(tmp_path: Path) -> None:
    bank = saved_bank(tmp_path / "ws")
    first = run(bank, tmp_path / "a.csv", "marketing", "sms")
    second = run(bank, tmp_path / "b.parquet", "risk", file_format="parquet")
    with open_app_database(bank.workspace) as db:
        with db.begin() as con:
            rows = con.execute(select(export_log).order_by(export_log.c.id)).mappings().all()
        assert [r["id"] for r in rows] == [first.log_id, second.log_id]
        a = rows[0]
        assert (a["actor"], a["audience"], a["expression"], a["purpose"], a["channel"],
                a["format"], a["as_of"], a["path"], a["reidentified"]) == (
            "alice", "adults", AUDIENCE, "marketing", "sms", "csv", first.as_of,
            str(tmp_path / "a.csv"), False)
        assert (a["selected"], a["exported"], a["excluded"]) == (
            first.selected, first.exported, first.excluded)
        assert rows[1]["channel"] is None and rows[1]["excluded"] == dict.fromkeys(REASONS, 0)
        with pytest.raises(IntegrityError, match="append-only"), db.begin() as con:
            con.execute(update(export_log).values(actor="mallory"))
