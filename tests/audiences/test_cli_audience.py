"""``finpersona audience``, driven in-process through Typer's test runner."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner, Result

from finpersona.audiences import selection
from finpersona.audiences.policy import REIDENTIFY_ENV
from finpersona.cli_audience import app
from finpersona.config import ENV_PREFIX

from ._bank import SIGNATURES, Bank, build_bank

runner = CliRunner()


@pytest.fixture
def bank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bank]:
    """A built workspace; the catalogue is the test bank's tags, not the packaged one."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setattr(selection, "catalogue_signatures", lambda _ws: SIGNATURES)
    yield build_bank(tmp_path / "ws")


def invoke(bank: Bank, *args: str) -> Result:
    return runner.invoke(app, [*args, "-w", str(bank.workspace.root)])


def json_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_user_error(result: Result, *fragments: str) -> list[str]:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error:")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr.splitlines()


def test_count_prints_the_number_and_json(bank: Bank) -> None:
    data = json_of(invoke(bank, "count", "age >= 30 AND segment = 'mass'", "--json"))
    assert set(data) >= {"count", "elapsed_ms", "as_of", "method", "expression"}
    assert data["method"] == "scan" and data["as_of"] == "2025-12-31"
    earlier = json_of(invoke(bank, "count", "age >= 30", "--as-of", "2025-11-30", "--json"))
    assert earlier["as_of"] == "2025-11-30"
    text = invoke(bank, "count", "age >= 30 AND segment = 'mass'")
    assert text.exit_code == 0 and f"{data['count']:,} customers" in text.stdout


def test_an_expression_error_is_one_message_with_a_caret(bank: Bank) -> None:
    lines = assert_user_error(invoke(bank, "count", "age >= 30 AND segmnt = 'mass'"),
                              "segmnt", "did you mean")
    assert len(lines) == 3
    assert lines[1].strip() == "age >= 30 AND segmnt = 'mass'"
    assert lines[2].index("^") == lines[1].index("segmnt")


def test_save_list_show_refresh_delete(bank: Bank) -> None:
    saved = json_of(invoke(bank, "save", "older", "age>50", "--description", "50+",
                           "--actor", "alice", "--json"))
    assert saved["expression"] == "age > 50" and saved["created_by"] == "alice"
    assert invoke(bank, "save", "高净值", "aum >= 100000").exit_code == 0
    assert_user_error(invoke(bank, "save", "older", "age > 60"), "--replace")
    assert_user_error(invoke(bank, "save", "Bad Name", "age > 60"), "invalid audience name")
    refreshed = json_of(invoke(bank, "refresh", "--json"))
    assert [(r["name"], r["as_of"]) for r in refreshed] == [("older", "2025-12-31"),
                                                           ("高净值", "2025-12-31")]
    listed = json_of(invoke(bank, "list", "--json"))
    assert [(a["name"], a["size"]) for a in listed] == [(r["name"], r["count"])
                                                       for r in refreshed]
    shown = json_of(invoke(bank, "show", "older", "--json"))
    assert [(s["as_of"], s["count"]) for s in shown["sizes"]] == [
        ("2025-12-31", refreshed[0]["count"])]
    human = invoke(bank, "show", "older")
    assert human.exit_code == 0 and "age > 50" in human.stdout
    assert invoke(bank, "list").exit_code == 0
    assert json_of(invoke(bank, "delete", "older", "--json")) == {"deleted": "older"}
    assert_user_error(invoke(bank, "show", "older"), "no saved audience 'older'")
    assert_user_error(invoke(bank, "refresh", "nobody"), "no saved audience")


def test_profile_and_overlap(bank: Bank) -> None:
    invoke(bank, "save", "rich", "aum > 30000")
    invoke(bank, "save", "cards", "has_credit_card")
    data = json_of(invoke(bank, "profile", "rich", "--top", "3", "--json"))
    assert data["audience"] == "rich" and len(data["tags"]) == 3
    adhoc = json_of(invoke(bank, "profile", "--expr", "has_credit_card", "--json"))
    assert adhoc["audience"] is None and adhoc["audience_size"] > 0
    text = invoke(bank, "profile", "rich")
    assert text.exit_code == 0 and "TGI" in text.stdout and "suppressed" in text.stdout
    assert_user_error(invoke(bank, "profile"), "NAME or --expr")
    regions = json_of(invoke(bank, "overlap", "rich", "cards", "--json"))["regions"]
    assert [r["members"] for r in regions] == [["rich"], ["cards"], ["rich", "cards"]]
    assert invoke(bank, "overlap", "rich", "cards").exit_code == 0
    assert_user_error(invoke(bank, "overlap", "rich"), "two or three")


def test_export_writes_logs_and_refuses_reidentification(bank: Bank, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    invoke(bank, "save", "adults", "age >= 18")
    out = tmp_path / "sms.csv"
    data = json_of(invoke(bank, "export", "adults", "--purpose", "marketing", "--channel",
                          "sms", "--format", "csv", "--out", str(out), "--actor", "alice",
                          "--json"))
    assert data["exported"] == len(pacsv.read_csv(out))
    assert data["selected"] == data["exported"] + sum(data["excluded"].values())
    assert data["actor"] == "alice" and data["log_id"] == 1
    text = invoke(bank, "export", "adults", "--purpose", "risk", "--out",
                  str(tmp_path / "risk.csv"))
    assert text.exit_code == 0 and "export log #2" in text.stdout
    lines = assert_user_error(
        invoke(bank, "export", "adults", "--purpose", "service", "--out",
               str(tmp_path / "who.csv"), "--reidentify", "--actor", "mallory"),
        "mallory does not hold the re-identification right")
    assert len(lines) == 1
    assert not (tmp_path / "who.csv").exists()
    assert_user_error(invoke(bank, "export", "adults", "--purpose", "marketing", "--out",
                             str(tmp_path / "x.csv")), "needs a channel")
    monkeypatch.setenv(REIDENTIFY_ENV, "alice")
    who = json_of(invoke(bank, "export", "adults", "--purpose", "service", "--out",
                         str(tmp_path / "who.csv"), "--reidentify", "--actor", "alice",
                         "--json"))
    assert who["reidentified"] is True
    assert pacsv.read_csv(tmp_path / "who.csv").column_names == [
        "customer_key", "name_masked", "phone_masked"]


def test_a_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["list", "-w", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no workspace" in result.stderr
