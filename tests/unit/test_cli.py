"""The ``finpersona`` command line, driven in-process through Typer's test runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from finpersona.cli import app
from finpersona.config import ENV_PREFIX, open_workspace

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FINPERSONA_* settings from the caller's shell; the default workspace lands in tmp."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_user_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error:" in result.stderr
    text = " ".join(result.stderr.split())  # rich wraps long lines
    for fragment in fragments:
        assert fragment in text, text


# -- help and errors ------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("version", "synth", "ingest", "build", "status", "demo", "quarantine"):
        assert command in result.stdout
    sub = invoke("quarantine", "--help")
    assert sub.exit_code == 0
    assert "list" in sub.stdout
    assert "show" in sub.stdout


def test_ingest_of_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    result = invoke("ingest", str(missing), "-w", str(tmp_path / "ws"))
    assert_user_error(result, "no-such-folder", "is not a folder of source files")


def test_build_in_a_new_empty_workspace_says_to_ingest_first(tmp_path: Path) -> None:
    result = invoke("build", "-w", str(tmp_path / "new-ws"))
    assert_user_error(result, "ingest")
    assert not (tmp_path / "new-ws").exists()  # build does not create workspaces


def test_build_in_an_existing_workspace_without_data_says_to_ingest_first(tmp_path: Path) -> None:
    open_workspace(tmp_path / "ws")
    result = invoke("build", "-w", str(tmp_path / "ws"))
    assert_user_error(result, "missing tables", "ingest")


def test_build_with_an_impossible_date(tmp_path: Path) -> None:
    open_workspace(tmp_path / "ws")
    result = invoke("build", "--as-of", "2025-13-01", "-w", str(tmp_path / "ws"))
    assert_user_error(result, "--as-of must be a date like 2025-12-31", "2025-13-01")


def test_status_json_of_an_empty_workspace(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws")
    data = json_of(invoke("status", "--json", "-w", str(tmp_path / "ws")))
    assert data == {"workspace": str(ws.root), "engine": "duckdb", "tables": {},
                    "snapshots": {}}


def test_status_of_a_missing_workspace(tmp_path: Path) -> None:
    assert_user_error(invoke("status", "-w", str(tmp_path / "nope")), "no workspace at")


def test_unknown_engine_option(tmp_path: Path) -> None:
    open_workspace(tmp_path / "ws")
    result = invoke("ingest", str(tmp_path), "-w", str(tmp_path / "ws"), "--engine", "oracle")
    assert_user_error(result, "invalid engine 'oracle'")


def test_quarantine_list_json_on_an_empty_workspace(tmp_path: Path) -> None:
    open_workspace(tmp_path / "ws")
    data = json_of(invoke("quarantine", "list", "--json", "-w", str(tmp_path / "ws")))
    assert data == {"counts": [], "total": 0, "rows": []}
    result = invoke("quarantine", "list", "--table", "customers", "-w", str(tmp_path / "ws"))
    assert_user_error(result, "no quarantined rows for table 'customers'")


def test_quarantine_show_with_a_malformed_id(tmp_path: Path) -> None:
    open_workspace(tmp_path / "ws")
    result = invoke("quarantine", "show", "nonsense", "-w", str(tmp_path / "ws"))
    assert_user_error(result, "row id must look like table:file:line")


# -- end to end -----------------------------------------------------------------------

CUSTOMERS_CSV = """\
customer_id,name,gender,birth_date,id_number,phone,registration_channel,registered_at,kyc_level
C001,张三,M,1990-03-07,110105199003071239,13800138000,app,2020-01-02,2
C002,李四,F,1985-01-01,110105198501010004,13900139000,app,2020-01-02,9
"""
TRANSACTIONS_CSV = """\
txn_id,account_id,customer_id,txn_time,amount,currency,direction,txn_type,channel
T1,A1,C001,2025-01-02 10:00:00,12.50,CNY,debit,purchase,POS
T2,A1,C001,2025/1/3 9:30:00,"¥1,000.00",CNY,credit,salary,app
"""


def _check_id(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def test_the_fixture_id_numbers() -> None:
    good, bad = (line.split(",")[4] for line in CUSTOMERS_CSV.splitlines()[1:])
    assert _check_id(good[:17]) == good[17]
    assert _check_id(bad[:17]) == bad[17]  # the bad row fails only on kyc_level


def test_ingest_quarantine_and_reingest(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "customers_2025.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    (source / "transactions.csv").write_text(TRANSACTIONS_CSV, encoding="utf-8")
    (source / "notes.txt").write_text("not a table", encoding="utf-8")
    ws = str(tmp_path / "ws")

    first = json_of(invoke("ingest", str(source), "--json", "-w", ws))
    assert first["skipped_files"] == ["notes.txt"]
    assert first["engine"] == "duckdb"
    tables = first["tables"]
    assert set(tables) == {"customers", "transactions"}
    for name, counts in tables.items():
        assert counts["read"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
        assert counts["read"] == 2, name
    assert {k: tables["customers"][k] for k in ("accepted", "quarantined", "duplicates")} == {
        "accepted": 1, "quarantined": 1, "duplicates": 0}
    assert tables["customers"]["quarantined_by_reason"] == {"out_of_range": 1}
    assert {k: tables["transactions"][k] for k in ("accepted", "quarantined", "duplicates")} == {
        "accepted": 2, "quarantined": 0, "duplicates": 0}
    assert list((tmp_path / "ws" / "runs").glob("ingest-*.json"))

    status = json_of(invoke("status", "--json", "-w", ws))
    assert status["tables"]["customers"] == 1
    assert status["tables"]["transactions"] == 2

    listing = json_of(invoke("quarantine", "list", "--json", "-w", ws))
    assert listing["total"] == 1
    assert listing["counts"] == [{"table": "customers", "reason": "out_of_range", "rows": 1}]
    (row,) = listing["rows"]
    assert row["id"] == "customers:customers_2025.csv:3"
    assert (row["file"], row["line"], row["reason"], row["column"]) == (
        "customers_2025.csv", 3, "out_of_range", "kyc_level")
    assert "kyc_level=9" in row["preview"]
    assert "李四" not in json.dumps(listing, ensure_ascii=False)  # personal data only masked
    assert "110105198501010004" not in json.dumps(listing)

    shown = json_of(invoke("quarantine", "show", row["id"], "--json", "-w", ws))
    assert shown["id"] == row["id"]
    assert shown["_reason"] == "out_of_range"
    assert shown["_reason_column"] == "kyc_level"
    assert shown["_line"] == 3
    assert shown["_raw_kyc_level"] == "9"
    assert "110105198501010004" not in json.dumps(shown)
    missing = invoke("quarantine", "show", "customers:customers_2025.csv:99", "-w", ws)
    assert_user_error(missing, "no quarantined row customers:customers_2025.csv:99")

    filtered = json_of(invoke("quarantine", "list", "--json", "--reason", "bad_date", "-w", ws))
    assert (filtered["total"], filtered["rows"]) == (0, [])

    again = json_of(invoke("ingest", str(source), "--json", "-w", ws))
    for name, counts in again["tables"].items():
        assert (counts["read"], counts["accepted"], counts["quarantined"],
                counts["duplicates"]) == (2, 0, 0, 2), name
    after = json_of(invoke("status", "--json", "-w", ws))["tables"]
    assert after.pop("ingest_runs") == status["tables"].pop("ingest_runs") + 2  # one per table
    assert after == status["tables"]
    assert json_of(invoke("quarantine", "list", "--json", "-w", ws))["total"] == 1

    human = invoke("status", "-w", ws)
    assert human.exit_code == 0
    assert "customers" in human.stdout
