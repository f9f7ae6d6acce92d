"""docs/cli.md must match the command line; every command must be documented."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from finpersona.cli import app
from finpersona.cli_reference import render_cli_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render_cli_reference(), (
        "docs/cli.md is stale: python -m finpersona.cli_reference > docs/cli.md")


def test_every_command_is_in_the_reference() -> None:
    text = render_cli_reference()
    for name in ("synth", "ingest", "build", "status", "runs", "demo", "quarantine list",
                 "quarantine show"):
        assert f"## `finpersona {name}`" in text, name


def test_runs_reports_each_ingestion(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "products.csv").write_text(
        "product_id,product_name,product_type,risk_level\nP1,活期,demand_deposit,R1\n"
        "P2,bad,teleport,R9\n", encoding="utf-8")
    ws = tmp_path / "ws"
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(app, ["ingest", str(src), "-w", str(ws), "--json"]).exit_code == 0
    result = runner.invoke(app, ["runs", "-w", str(ws), "--json"])
    assert result.exit_code == 0, result.output
    import json

    runs = json.loads(result.output)
    assert len(runs) == 2
    newest, first = runs
    assert first["tables"] == [{"table": "products", "files": 1, "read": 2, "accepted": 1,
                                "quarantined": 1, "duplicates": 0}]
    assert newest["tables"][0]["duplicates"] == 2
