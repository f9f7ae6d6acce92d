"""docs/data-model.md is generated from the schema and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from finpersona.schema import REASON_TEXT, TABLES, ColumnType, Pii
from finpersona.schema.docs import (
    PII_DOCS,
    REGENERATE_COMMAND,
    TYPE_DOCS,
    main,
    relationships,
    render_data_model,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def test_checked_in_document_matches_the_generator() -> None:
    assert DOC.exists(), f"docs/data-model.md is missing; generate it with `{REGENERATE_COMMAND}`"
    on_disk = DOC.read_text(encoding="utf-8")
    assert on_disk == render_data_model(), (
        f"docs/data-model.md is out of date; regenerate it with `{REGENERATE_COMMAND}`"
    )


def test_module_is_runnable_and_prints_the_document() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "finpersona.schema.docs"],
        capture_output=True, check=True, timeout=120,
    )
    assert done.stdout.decode("utf-8") == render_data_model()


def test_main_writes_an_output_file(tmp_path: Path) -> None:
    target = tmp_path / "data-model.md"
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_data_model()


def test_rendering_is_deterministic() -> None:
    assert render_data_model() == render_data_model()


def test_every_pii_kind_is_documented() -> None:
    text = render_data_model()
    assert set(PII_DOCS) == set(Pii)
    for kind in Pii:
        doc = PII_DOCS[kind]
        assert doc.label and doc.what, kind
        assert f"| `{kind.value}` |" in text, f"Pii.{kind.name} has no row in the privacy table"
        if doc.masked_example:
            assert f"{doc.raw_example} → {doc.masked_example}" in text


def test_mask_examples_exist_exactly_for_masked_kinds() -> None:
    for kind in Pii:
        col_is_masked = kind not in (Pii.CUSTOMER_REF, Pii.DEVICE_ID)
        assert bool(PII_DOCS[kind].masked_example) == col_is_masked, kind
        assert bool(PII_DOCS[kind].raw_example) == col_is_masked, kind


def test_every_pii_column_shows_its_warehouse_names() -> None:
    text = render_data_model()
    for table in TABLES:
        for col in table.columns:
            if col.pii is None:
                continue
            names = ", ".join(f"`{n}`" for n in col.warehouse_names())
            assert f"`{table.name}.{col.name}` → {names}" in text


def test_every_table_column_and_reason_is_in_the_document() -> None:
    text = render_data_model()
    for table in TABLES:
        assert f"\n### {table.name}\n" in text
        assert table.description in text
        for hint in table.mapping_hints:
            assert hint in text
        for col in table.columns:
            assert f"`{col.name}`" in text
    for reason, meaning in REASON_TEXT.items():
        assert f"| `{reason.value}` | {meaning} |" in text
    assert "rows read = accepted + quarantined + duplicates" in text


def test_every_logical_type_is_documented() -> None:
    assert set(TYPE_DOCS) == set(ColumnType)
    text = render_data_model()
    assert "decimal(18,4)" in text
    for ctype in ColumnType:
        assert f"| `{ctype.value}` | {TYPE_DOCS[ctype].storage} |" in text


def test_intro_states_the_delivery_contract() -> None:
    text = render_data_model()
    for needle in ("<table>[_<suffix>]", "longest table name", "UTF-8 with BOM", "GB18030",
                   "2025/1/2", "20250102", "2025年1月2日", "HH:MM:SS", "¥1,234.50", "是",
                   "case-insensitively", "Asia/Shanghai", "UTC", "vault"):
        assert needle in text, needle


def test_er_diagram_covers_every_table_and_customer_link() -> None:
    text = render_data_model()
    assert "```mermaid\nerDiagram\n" in text
    rels = relationships()
    for table in TABLES:
        assert f"    {table.name} {{" in text
        if table.name != "customers" and "customer_id" in table.column_names:
            assert any(r.child == table.name and r.parent == "customers" for r in rels)
        for column, target in table.foreign_keys:
            parent, parent_column = target.split(".")
            assert any(r.child == table.name and r.child_column == column
                       and r.parent == parent and r.parent_column == parent_column
                       and r.kind == "declared" for r in rels)
