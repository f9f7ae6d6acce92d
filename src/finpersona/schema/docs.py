"""Render ``docs/data-model.md`` from the schema objects.

The document is the contract a data engineer maps bank source systems onto, so
it is generated from the same :mod:`finpersona.schema` objects that ingestion
reads, and a test fails when the checked-in file drifts from the code.
Regenerate it with::

    python -m finpersona.schema.docs > docs/data-model.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from finpersona.schema.model import Column, ColumnType, Pii, Table
from finpersona.schema.reasons import REASON_TEXT, Reason
from finpersona.schema.tables import TABLES, TABLES_BY_NAME

REGENERATE_COMMAND = "python -m finpersona.schema.docs > docs/data-model.md"
DEFAULT_TIMEZONE = "Asia/Shanghai"
FILE_FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class PiiDoc:
    """How one kind of personal identifier is described to the data engineer."""

    label: str
    what: str
    raw_example: str  # an illustrative source value ("" when the kind is not masked)
    masked_example: str  # its masked display form ("" when the kind is not masked)


PII_DOCS: dict[Pii, PiiDoc] = {
    Pii.CUSTOMER_REF: PiiDoc(
        "customer number",
        "The source system's customer number (核心客户号). Every table joins on its "
        "pseudonym, so the same number must be delivered identically in every file.",
        "", ""),
    Pii.NAME: PiiDoc(
        "personal name",
        "A person's full name (姓名). Only the first character survives in the display form; "
        "no pseudonym is kept, so names cannot be joined on.",
        "张三", "张*"),
    Pii.PHONE: PiiDoc(
        "mobile number",
        "An 11-digit mainland mobile number.",
        "13812345678", "138****5678"),
    Pii.ID_NUMBER: PiiDoc(
        "resident ID number",
        "The 18-character resident identity card number (身份证号); its check digit is verified.",
        "11010119900307123X", "110101********123X"),
    Pii.EMAIL: PiiDoc(
        "e-mail address",
        "An e-mail address; the domain stays readable.",
        "alice@example.com", "a***@example.com"),
    Pii.CARD_NUMBER: PiiDoc(
        "card number",
        "A payment card number (PAN, 16-19 digits); only the last four digits stay readable.",
        "6222021234561234", "************1234"),
    Pii.DEVICE_ID: PiiDoc(
        "device id",
        "A device or cookie id (设备号) used to stitch anonymous behaviour to customers.",
        "", ""),
    Pii.HANDLE: PiiDoc(
        "social-media handle",
        "A public social-media account name; the display form keeps only its first character.",
        "理财小王子", "理****"),
}


@dataclass(frozen=True)
class TypeDoc:
    """How one logical type is written in sources and stored in the warehouse."""

    storage: str
    accepted: str
    reasons: tuple[Reason, ...]


TYPE_DOCS: dict[ColumnType, TypeDoc] = {
    ColumnType.STRING: TypeDoc(
        "string (UTF-8 text)",
        "any text; codes are matched case-insensitively and "
        "stored in the canonical spelling listed for the column",
        (Reason.BAD_FORMAT, Reason.UNKNOWN_CODE)),
    ColumnType.INT: TypeDoc(
        "int64",
        "whole numbers such as `42` or `１２`, full-width digits included",
        (Reason.BAD_NUMBER, Reason.OUT_OF_RANGE)),
    ColumnType.DECIMAL: TypeDoc(
        "decimal(18,4)",
        "money and rates such as `1234.5`, `1,234.50`, `¥1,234.50` or `１２３.４５`; "
        "rates are fractions (3.5% is `0.035`)",
        (Reason.BAD_NUMBER, Reason.OUT_OF_RANGE)),
    ColumnType.BOOL: TypeDoc(
        "bool",
        "`true`/`false`, `1`/`0`, `Y`/`N`, `是`/`否`",
        (Reason.BAD_BOOL,)),
    ColumnType.DATE: TypeDoc(
        "date",
        "`2025-01-02`, `2025/1/2`, `20250102`, `2025年1月2日`, full-width digits included",
        (Reason.BAD_DATE, Reason.OUT_OF_RANGE)),
    ColumnType.TIMESTAMP: TypeDoc(
        "timestamp in UTC, without zone",
        "any accepted date followed by ` HH:MM:SS`, e.g. `2025-01-02 09:30:00` or "
        "`2025年1月2日 09:30:00`, in the workspace's local time",
        (Reason.BAD_DATE, Reason.OUT_OF_RANGE)),
    ColumnType.JSON: TypeDoc(
        "string holding the JSON object as text",
        "a JSON object: nested in JSON lines, JSON text in a CSV cell or Parquet string",
        ()),
}


# --------------------------------------------------------------------------- helpers


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`"


def _codes(values: Iterable[str]) -> str:
    return ", ".join(_code(v) for v in values)


def _num(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


def _date_bound(value: str) -> str:
    return "the run's date" if value == "today" else value


def _pk(table: Table) -> str:
    return ", ".join(_code(c) for c in table.primary_key)


def _warehouse_pk(table: Table) -> list[str]:
    names: list[str] = []
    for key in table.primary_key:
        names.extend(table.column(key).warehouse_names())
    return names


def _source_file_names(table: Table) -> str:
    return " or ".join(_code(f"{table.name}[_<suffix>].{ext}") for ext in FILE_FORMATS)


def column_rules(col: Column) -> list[str]:
    """The validation rules of one column, in words, with the reason code each raises."""
    rules: list[str] = []
    if col.required:
        rules.append(f"must not be empty ({_code(Reason.MISSING_REQUIRED)})")
    if col.allowed is not None:
        rules.append(f"one of {_codes(col.allowed)} ({_code(Reason.UNKNOWN_CODE)})")
    if col.minimum is not None and col.maximum is not None:
        rules.append(f"between {_num(col.minimum)} and {_num(col.maximum)} "
                     f"({_code(Reason.OUT_OF_RANGE)})")
    elif col.minimum is not None:
        rules.append(f"at least {_num(col.minimum)} ({_code(Reason.OUT_OF_RANGE)})")
    elif col.maximum is not None:
        rules.append(f"at most {_num(col.maximum)} ({_code(Reason.OUT_OF_RANGE)})")
    if col.pattern is not None:
        rules.append(f"matches {_code(col.pattern)} ({_code(Reason.BAD_FORMAT)})")
    if col.pii is Pii.ID_NUMBER:
        rules.append(f"valid check digit ({_code(Reason.BAD_ID_NUMBER)})")
    if col.earliest is not None:
        rules.append(f"not before {_date_bound(col.earliest)} ({_code(Reason.OUT_OF_RANGE)})")
    if col.latest is not None:
        rules.append(f"not after {_date_bound(col.latest)} ({_code(Reason.OUT_OF_RANGE)})")
    if col.null_tokens:
        rules.append(f"treated as empty: {_codes(col.null_tokens)}")
    return rules


def pii_handling(col: Column) -> str:
    """What a personal identifier becomes in the warehouse, in words."""
    if col.pii is None:
        return ""
    doc = PII_DOCS[col.pii]
    parts: list[str] = []
    for name in col.warehouse_names():
        if name.endswith("_masked"):
            example = f", e.g. {doc.masked_example}" if doc.masked_example else ""
            parts.append(f"{_code(name)} (masked{example})")
        else:
            parts.append(f"{_code(name)} (keyed pseudonym)")
    return f"{doc.label} → " + " + ".join(parts) + "; raw value to the vault only"


# --------------------------------------------------------------------------- relationships


@dataclass(frozen=True)
class Relationship:
    """A join from a child table's column to a parent table's key column."""

    parent: str
    parent_column: str
    child: str
    child_column: str
    kind: str  # "declared", "customer" or "implied"
    child_required: bool


def relationships(tables: Sequence[Table] = TABLES) -> list[Relationship]:
    """Declared foreign keys, every ``customer_id`` link, and same-name joins to other keys.

    A column named exactly like another table's single-column primary key is listed as an
    *implied* join when no foreign key declares it.
    """
    by_name = {t.name: t for t in tables}
    single_keys = {t.primary_key[0]: t.name for t in tables if len(t.primary_key) == 1}
    result: list[Relationship] = []
    for table in tables:
        linked: set[str] = set()
        for column, target in table.foreign_keys:
            parent, parent_column = target.split(".", 1)
            result.append(Relationship(parent, parent_column, table.name, column, "declared",
                                       table.column(column).required))
            linked.add(column)
        for col in table.columns:
            if col.name in linked:
                continue
            parent_name = single_keys.get(col.name)
            if parent_name is None or parent_name == table.name or parent_name not in by_name:
                continue
            kind = "customer" if col.name == "customer_id" else "implied"
            result.append(Relationship(parent_name, col.name, table.name, col.name, kind,
                                       col.required))
    return result


def render_er_diagram(tables: Sequence[Table] = TABLES) -> str:
    """A Mermaid ``erDiagram`` with key columns and every relationship."""
    rels = relationships(tables)
    fk_columns: dict[str, set[str]] = {}
    for rel in rels:
        fk_columns.setdefault(rel.child, set()).add(rel.child_column)
    lines = ["```mermaid", "erDiagram"]
    for table in tables:
        lines.append(f"    {table.name} {{")
        for col in table.columns:
            marks = []
            if col.name in table.primary_key:
                marks.append("PK")
            if col.name in fk_columns.get(table.name, set()):
                marks.append("FK")
            if marks:
                lines.append(f"        {col.type.value} {col.name} {', '.join(marks)}")
        lines.append("    }")
    for rel in rels:
        parent_card = "||" if rel.child_required else "|o"
        line = ".." if rel.kind == "implied" else "--"
        label = rel.child_column + (" (by name)" if rel.kind == "implied" else "")
        lines.append(f'    {rel.parent} {parent_card}{line}o{{ {rel.child} : "{label}"')
    lines.append("```")
    return "\n".join(lines)


# --------------------------------------------------------------------------- sections


def _intro() -> list[str]:
    first, second = TABLES_BY_NAME["loans"], TABLES_BY_NAME["loan_applications"]
    return [
        "# FinPersona canonical data model",
        "",
        f"<!-- Generated by finpersona.schema.docs; do not edit. Regenerate with: "
        f"{REGENERATE_COMMAND} -->",
        "",
        f"FinPersona works on one canonical data model of {len(TABLES)} tables: what a bank or "
        "consumer-finance company knows about its customers, their products, money, "
        "behaviour, credit, service contacts and marketing. Every source system is mapped "
        "onto these tables once; everything downstream (tags, portraits, behaviour analysis, "
        "segments, models, campaigns) reads only the canonical tables. This document is "
        "generated from `finpersona.schema`, the same objects ingestion validates against, "
        "so it is the complete contract for a source extract.",
        "",
        "## Delivering source files",
        "",
        "- **One folder, one file or more per table.** Files are named "
        "`<table>[_<suffix>].csv`, `.jsonl` or `.parquet`, for example "
        f"`{first.name}.csv`, `{first.name}_202501.parquet` or `{second.name}_part2.jsonl`. "
        "The table is chosen by the longest table name the file name starts with, so "
        f"`{second.name}_x.csv` is `{second.name}`, never `{first.name}`. "
        "Several files of one table are read as one.",
        "- **CSV**: the first row is a header of canonical column names (as listed below). "
        "The encoding is detected: UTF-8, UTF-8 with BOM, GBK or GB18030. A row with a "
        f"different number of fields than the header is quarantined as `{Reason.RAGGED_ROW}`; "
        f"bytes that cannot be decoded as `{Reason.BAD_ENCODING}`.",
        "- **JSON lines** (`.jsonl`): one JSON object per line, keys are canonical column "
        f"names. A line that is not a JSON object is quarantined as `{Reason.BAD_JSON}`.",
        "- **Parquet**: columns named with canonical column names.",
        "",
        "### Accepted value formats",
        "",
        "Sources rarely agree on formats, so ingestion cleans values before validating them:",
        "",
        "- **Empty values**: an empty string is a missing value; some columns list further "
        "tokens that mean \"no value\" (see *Rules*).",
        "- **Dates**: `2025-01-02`, `2025/1/2`, `20250102`, `2025年1月2日`. "
        "**Timestamps**: any of these followed by ` HH:MM:SS`, e.g. `2025-01-02 09:30:00`.",
        "- **Numbers**: full-width digits (`１２３`) are read as ASCII digits; amounts may carry "
        "thousands separators and a currency sign, e.g. `¥1,234.50`.",
        "- **Booleans**: `true`/`false`, `1`/`0`, `Y`/`N`, `是`/`否`.",
        "- **Codes** (columns with a list of allowed values) are matched case-insensitively and "
        "stored in the canonical spelling listed here.",
        "- **Time zone**: source timestamps are local time in the workspace zone (the "
        f"`timezone` setting, default `{DEFAULT_TIMEZONE}`) and are converted to UTC on ingest. "
        "Dates are calendar dates and are not converted.",
        "",
    ]


def _privacy() -> list[str]:
    lines = [
        "## Privacy at the door",
        "",
        "Columns marked with a personal-identifier kind (`pii`) are replaced while the file "
        "is read, before anything is written to the warehouse. Raw values never reach an "
        "analytical table: they are kept only encrypted in a separate vault (for lawful "
        "access and erasure requests). In their place the warehouse keeps:",
        "",
        "- a **keyed pseudonym** `<stem>_key` (`customer_id` → `customer_key`, "
        "`phone` → `phone_key`): a keyed hash of the cleaned value. The same value always "
        "gives the same pseudonym within a workspace, so tables still join, but it cannot be "
        "reversed without the workspace secret;",
        "- and/or a **masked display form** `<name>_masked` for people to read.",
        "",
        "Primary keys, foreign keys and duplicate detection therefore work on the "
        "pseudonyms (e.g. `customer_key`), never on raw identifiers.",
        "",
        "| kind | identifier | becomes | example | source columns → warehouse columns |",
        "|---|---|---|---|---|",
    ]
    for kind in Pii:
        doc = PII_DOCS[kind]
        sample = Column("x", ColumnType.STRING, "", pii=kind)
        forms = []
        if sample.is_key_pseudonym:
            forms.append("keyed pseudonym")
        if sample.is_masked:
            forms.append("masked display form")
        example = (f"{doc.raw_example} → {doc.masked_example}" if doc.masked_example
                   else "no display form")
        where = [f"`{t.name}.{c.name}` → {_codes(c.warehouse_names())}"
                 for t in TABLES for c in t.columns if c.pii is kind]
        lines.append("| " + " | ".join(_cell(x) for x in (
            _code(kind.value), f"{doc.label}: {doc.what}", " + ".join(forms), example,
            "; ".join(where) or "not used yet")) + " |")
    lines.append("")
    return lines


def _overview() -> list[str]:
    lines = [
        "## Tables at a glance",
        "",
        "| table | grain | primary key | time column | description |",
        "|---|---|---|---|---|",
    ]
    for table in TABLES:
        lines.append("| " + " | ".join(_cell(x) for x in (
            f"[{_code(table.name)}](#{table.name})", table.grain, _pk(table),
            _code(table.time_column) if table.time_column else "—", table.description)) + " |")
    lines.append("")
    return lines


def _relationships_section() -> list[str]:
    lines = [
        "## Entity relationships",
        "",
        "Generated from declared foreign keys and `customer_id` columns. Solid lines are "
        "declared foreign keys and customer links; dotted lines (*by name*) join a column "
        "to another table's key of the same name without a declared foreign key. "
        "`|o` on the parent side means the child's column may be empty. In the warehouse "
        "`customer_id` joins become `customer_key` joins.",
        "",
        render_er_diagram(),
        "",
        "| from | to | kind |",
        "|---|---|---|",
    ]
    kinds = {"declared": "foreign key", "customer": "customer link", "implied": "by name"}
    for rel in relationships():
        optional = " (optional)" if not rel.child_required else ""
        lines.append(f"| `{rel.child}.{rel.child_column}`{optional} | "
                     f"`{rel.parent}.{rel.parent_column}` | {kinds[rel.kind]} |")
    lines.append("")
    return lines


def _table_section(table: Table) -> list[str]:
    time_column = _code(table.time_column) if table.time_column else "none (not dated)"
    warehouse_pk = _warehouse_pk(table)
    pk_note = ""
    if warehouse_pk != list(table.primary_key):
        pk_note = f" (in the warehouse: {', '.join(_code(n) for n in warehouse_pk)})"
    lines = [
        f"### {table.name}",
        "",
        table.description,
        "",
        f"- **Grain**: {table.grain}",
        f"- **Primary key**: {_pk(table)}{pk_note}",
        f"- **Time column** (as-of cut): {time_column}",
        f"- **Where banks usually find it**: {'; '.join(table.mapping_hints) or '—'}",
        f"- **Source files**: {_source_file_names(table)}",
    ]
    warehouse = [n for c in table.columns for n in c.warehouse_names()]
    if warehouse != table.column_names:
        lines.append(f"- **Warehouse columns**: {_codes(warehouse)}")
    refs = [r for r in relationships() if r.child == table.name]
    if refs:
        lines.append("- **References**: " + ", ".join(
            f"`{r.child_column}` → `{r.parent}.{r.parent_column}`"
            + (" (by name)" if r.kind == "implied" else "") for r in refs))
    lines += [
        "",
        "| column | type | required | rules | PII handling | description |",
        "|---|---|---|---|---|---|",
    ]
    for col in table.columns:
        name = _code(col.name) + (" (PK)" if col.name in table.primary_key else "")
        lines.append("| " + " | ".join(_cell(x) for x in (
            name, col.type.value, "yes" if col.required else "", "; ".join(column_rules(col)),
            pii_handling(col), col.description)) + " |")
    lines.append("")
    return lines


def _quarantine() -> list[str]:
    lines = [
        "## Quarantine and reconciliation",
        "",
        "Nothing is lost: every row read is accepted, quarantined with a reason, or counted "
        "as a duplicate. Quarantined rows are kept with their reason so they can be fixed at "
        "the source and re-delivered. The reason codes are stable:",
        "",
        "| reason | meaning |",
        "|---|---|",
    ]
    for reason in Reason:
        lines.append(f"| `{reason.value}` | {_cell(REASON_TEXT[reason])} |")
    lines += [
        "",
        "For every table and every run:",
        "",
        "```text",
        "rows read = accepted + quarantined + duplicates",
        "```",
        "",
        "A **duplicate** is a row whose primary key, after cleaning and pseudonymisation, was "
        "already accepted with the same content; it is dropped and counted, not quarantined. "
        "A row with an already accepted key but different content is quarantined as "
        f"`{Reason.KEY_CONFLICT}`. Re-delivering the same extract is therefore harmless.",
        "",
    ]
    return lines


def _types() -> list[str]:
    lines = [
        "## Logical types and storage",
        "",
        "Each engine maps the logical types to its own physical types as follows.",
        "",
        "| type | stored as | accepted source values | reason when invalid |",
        "|---|---|---|---|",
    ]
    for ctype in ColumnType:
        doc = TYPE_DOCS[ctype]
        lines.append("| " + " | ".join(_cell(x) for x in (
            _code(ctype.value), doc.storage, doc.accepted,
            _codes(doc.reasons) or "—")) + " |")
    lines.append("")
    return lines


def render_data_model() -> str:
    """The full text of ``docs/data-model.md``."""
    lines = [*_intro(), *_privacy(), *_overview(), *_relationships_section(), "## Tables", ""]
    for table in TABLES:
        lines += _table_section(table)
    lines += [*_quarantine(), *_types()]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m finpersona.schema.docs",
        description="Print docs/data-model.md, generated from the canonical schema.")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = render_data_model()
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
