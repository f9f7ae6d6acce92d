"""The HTML overview: one self-contained file with every section, in both languages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finpersona.cli import app
from finpersona.report import write_report
from finpersona.report.overview import ReportContext, Section, build_sections
from tests.conftest import Ingested

SECTIONS = ["base", "tags", "rfm", "funnel", "retention", "paths", "heatmap", "vintage",
            "sessions", "lifecycle", "stickiness", "rules", "trend", "credit"]


class _Scan(HTMLParser):
    """Collects what would make a browser reach the network, and the section ids."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.sections: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" and values.get("id"):
            self.sections.append(str(values["id"]))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = values.get(name) or ""
            if tag in ("script", "link", "img", "iframe") and re.match(r"(https?:)?//", value):
                self.external.append(f"{tag} {name}={value}")


@pytest.fixture(scope="module")
def duckdb_bank(ingest_with: Callable[[str], Ingested]) -> Ingested:
    return ingest_with("duckdb")


def test_the_report_is_one_offline_file_with_every_section(duckdb_bank: Ingested,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "nested" / "report.html"
    summary = write_report(duckdb_bank.workspace, out)
    assert summary.missing == {}
    assert summary.sections == SECTIONS
    text = out.read_text(encoding="utf-8")
    scan = _Scan()
    scan.feed(text)
    assert scan.external == []  # no CDN, no fonts, no images fetched
    assert scan.sections == SECTIONS
    assert "Plotly.newPlot" in text and scan.scripts > len(SECTIONS)
    for words in ("客户基础", "Customer base", "留存矩阵", "Retention matrix", "账龄分析",
                  "Vintage curves", "操作路径", "Operation paths"):
        assert words in text
    # Pseudonymous analytics only: no raw phone numbers or ID numbers reach the page.
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text.replace("plotly", ""))
    assert summary.bytes == out.stat().st_size


def test_a_section_that_cannot_be_drawn_says_why(duckdb_bank: Ingested) -> None:
    from finpersona.analytics import AnalysisError, open_analytics
    from finpersona.tags.catalogue import load_catalogue

    def broken(ctx: ReportContext) -> Section:
        raise AnalysisError("the warehouse has no loans table yet")

    ws = duckdb_bank.workspace
    with open_analytics(ws) as data:
        ctx = ReportContext(data, load_catalogue(ws.tags_dir), data.snapshot_dates()[-1], 10)
        [section] = build_sections(ctx, [broken])
    assert section.missing == "the warehouse has no loans table yet"


def test_report_command(duckdb_bank: Ingested, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "--out", str(out), "--workspace",
                                      str(duckdb_bank.workspace.root), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["sections"] == SECTIONS and body["missing"] == {} and out.exists()
    bad = CliRunner().invoke(app, ["report", "--out", str(out), "--as-of", "2031-01-01",
                                   "--workspace", str(duckdb_bank.workspace.root)])
    assert bad.exit_code == 1 and "no tag snapshot for 2031-01-01" in bad.output
