"""Reading source files: every physical record becomes a row or a reject, with its line."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finpersona.ingest.encoding import GB18030, UTF8, UTF8_BOM, detect_encoding
from finpersona.ingest.readers import FileRead, Reject, read_source
from finpersona.ingest.sources import SourceError, SourceFile, discover, file_sha256, table_for
from finpersona.schema import Reason, get_table

PRODUCTS = get_table("products")
HEADER = "product_id,product_name,currency"


def _source(path: Path, table: str = "products", fmt: str | None = None) -> SourceFile:
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}[path.suffix]
    return SourceFile(path, table, fmt, file_sha256(path), path.stat().st_size)


def _read(tmp_path: Path, payload: bytes, name: str = "products.csv") -> FileRead:
    path = tmp_path / name
    path.write_bytes(payload)
    return read_source(_source(path), PRODUCTS)


def _rows(read: FileRead, *cols: str) -> list[tuple[object, ...]]:
    data = read.data.to_pylist()
    return [tuple(r[c] for c in ("_line", *cols)) for r in data]


def _rejects(read: FileRead) -> list[tuple[int, Reason]]:
    return [(r.line, r.reason) for r in read.rejects]


# -- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "expected_encoding"),
    [
        (lambda s: s.encode("utf-8"), UTF8),
        (lambda s: s.encode("utf-8-sig"), UTF8_BOM),
        (lambda s: s.encode("gbk"), GB18030),
    ],
    ids=["utf8", "utf8-bom", "gbk"],
)
def test_csv_text_encodings_are_decoded(tmp_path: Path, encode, expected_encoding) -> None:
    text = f"{HEADER}\nP1,稳健理财一号,CNY\nP2,基金「成长」,USD\n"
    read = _read(tmp_path, encode(text))
    assert read.encoding == expected_encoding
    assert _rows(read, "product_id", "product_name", "currency") == [
        (2, "P1", "稳健理财一号", "CNY"),
        (3, "P2", "基金「成长」", "USD"),
    ]
    assert read.rejects == []
    assert read.unknown_columns == []
    # The BOM must not leak into the first column name.
    assert "product_id" not in read.missing_columns


def test_undecodable_bytes_reject_only_their_line(tmp_path: Path) -> None:
    payload = (f"{HEADER}\nP1,ok,CNY\n".encode() + b"P2,\xff\xfe broken,CNY\n"
               + "P3,理财,CNY\n".encode())
    read = _read(tmp_path, payload)
    assert _rejects(read) == [(3, Reason.BAD_ENCODING)]
    assert read.rejects[0].file == "products.csv"
    assert "P2" in read.rejects[0].raw
    assert _rows(read, "product_id", "product_name") == [(2, "P1", "ok"), (4, "P3", "理财")]
    assert read.records == 3


def test_gbk_file_with_one_bad_byte_rejects_only_that_line(tmp_path: Path) -> None:
    payload = f"{HEADER}\nP1,理财,CNY\nP2,XX,CNY\nP3,基金,CNY\n".encode("gbk").replace(
        b"XX", b"\xff\xff")
    read = _read(tmp_path, payload)
    assert _rejects(read) == [(3, Reason.BAD_ENCODING)]
    assert _rows(read, "product_id", "product_name") == [(2, "P1", "理财"), (4, "P3", "基金")]


def test_detect_encoding(tmp_path: Path) -> None:
    cases = {
        "ascii": (b"a,b\n1,2\n", UTF8),
        "utf8": ("客户,金额\n".encode(), UTF8),
        "bom": ("客户,金额\n".encode("utf-8-sig"), UTF8_BOM),
        "gbk": ("客户,金额\n张三,1\n".encode("gbk"), GB18030),
        "empty": (b"", UTF8),
        "garbage": (b"\xff\xff\xff\n", None),
        "bom-then-garbage": (b"\xef\xbb\xbfok\xff\n", None),
    }
    for name, (payload, expected) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(payload)
        assert detect_encoding(path) == expected, name


def test_detect_encoding_reads_past_the_first_chunk(tmp_path: Path) -> None:
    # A multi-byte character split across the 4 MiB read boundary is still UTF-8.
    path = tmp_path / "big.csv"
    path.write_bytes(b"a" * ((1 << 22) - 1) + "理".encode())
    assert detect_encoding(path) == UTF8
    # A bad byte after the first chunk is still found (0xFF is invalid in GB18030 too).
    path.write_bytes(b"a" * (1 << 22) + b"\xff")
    assert detect_encoding(path) is None


# -- CSV structure --------------------------------------------------------------------


def test_ragged_rows_are_rejected_with_their_physical_line(tmp_path: Path) -> None:
    text = (f"{HEADER}\n"
            "P1,one,CNY\n"          # line 2
            "P2,too few\n"          # line 3
            "P3,too,many,CNY\n"     # line 4
            "P4,four,USD\n"         # line 5
            "P5\n"                  # line 6
            "P6,six,HKD\n")         # line 7
    read = _read(tmp_path, text.encode())
    assert _rejects(read) == [(3, Reason.RAGGED_ROW), (4, Reason.RAGGED_ROW),
                              (6, Reason.RAGGED_ROW)]
    assert [r.raw for r in read.rejects] == ["P2,too few", "P3,too,many,CNY", "P5"]
    assert _rows(read, "product_id") == [(2, "P1"), (5, "P4"), (7, "P6")]
    assert read.records == 6


def test_ragged_first_data_row_and_last_row_without_newline(tmp_path: Path) -> None:
    read = _read(tmp_path, f"{HEADER}\nP1,x\nP2,two,CNY\nP3,a,b,c".encode())
    assert _rejects(read) == [(2, Reason.RAGGED_ROW), (4, Reason.RAGGED_ROW)]
    assert _rows(read, "product_id") == [(3, "P2")]


def test_quoted_commas_and_quotes_stay_in_one_field(tmp_path: Path) -> None:
    text = f'{HEADER}\nP1,"Fund, growth",CNY\nP2,"say ""hi""",USD\n'
    read = _read(tmp_path, text.encode())
    assert read.rejects == []
    assert _rows(read, "product_name") == [(2, "Fund, growth"), (3, 'say "hi"')]


def test_empty_lines_keep_later_line_numbers_exact(tmp_path: Path) -> None:
    text = f"{HEADER}\nP1,a,CNY\n\nP2,b,CNY\n\n\nP3,c,CNY\n"
    read = _read(tmp_path, text.encode())
    by_line = {r["_line"]: r["product_id"] for r in read.data.to_pylist()}
    assert by_line[2] == "P1"
    assert by_line[4] == "P2"
    assert by_line[7] == "P3"
    # Nothing is lost: every physical line after the header is a row or a reject.
    assert read.records == 6


def test_accepted_rows_keep_exact_lines_after_many_rejects(tmp_path: Path) -> None:
    lines = [HEADER]
    expected_rows, expected_rejects = [], []
    for i in range(2, 302):
        if i % 7 == 0 or i % 11 == 0:
            lines.append(f"R{i},bad")
            expected_rejects.append((i, Reason.RAGGED_ROW))
        else:
            lines.append(f"R{i},name{i},CNY")
            expected_rows.append((i, f"R{i}"))
    read = _read(tmp_path, ("\n".join(lines) + "\n").encode())
    assert _rejects(read) == expected_rejects
    assert _rows(read, "product_id") == expected_rows


def test_crlf_line_endings(tmp_path: Path) -> None:
    read = _read(tmp_path, f"{HEADER}\r\nP1,a,CNY\r\nP2,b\r\nP3,c,USD\r\n".encode())
    assert _rejects(read) == [(3, Reason.RAGGED_ROW)]
    assert _rows(read, "product_id", "currency") == [(2, "P1", "CNY"), (4, "P3", "USD")]


@pytest.mark.xfail(strict=True, reason="BUG: lines are counted per record, not per physical "
                   "line, so a quoted field holding a newline shifts every later line number")
def test_quoted_newline_does_not_shift_later_line_numbers(tmp_path: Path) -> None:
    text = f'{HEADER}\nP1,"two\nlines",CNY\nP2,ragged\nP3,c,USD\n'
    read = _read(tmp_path, text.encode())
    assert _rejects(read) == [(4, Reason.RAGGED_ROW)]
    assert _rows(read, "product_id") == [(2, "P1"), (5, "P3")]


def test_header_columns_missing_unknown_and_case(tmp_path: Path) -> None:
    text = " Product_ID ,PRODUCT_NAME,colour,Risk_Level\nP1,a,red,R2\n"
    read = _read(tmp_path, text.encode())
    assert read.unknown_columns == ["colour"]
    assert read.missing_columns == [c for c in PRODUCTS.column_names
                                    if c not in ("product_id", "product_name", "risk_level")]
    row = read.data.to_pylist()[0]
    assert (row["product_id"], row["product_name"], row["risk_level"]) == ("P1", "a", "R2")
    assert row["currency"] is None  # missing column: null, not ""
    assert "colour" not in read.data.column_names
    assert read.data.column_names[:2] == ["_file", "_line"]


def test_empty_fields_are_empty_strings_not_nulls(tmp_path: Path) -> None:
    read = _read(tmp_path, f'{HEADER}\nP1,,""\n'.encode())
    row = read.data.to_pylist()[0]
    assert (row["product_name"], row["currency"]) == ("", "")


# -- JSON lines -----------------------------------------------------------------------


def test_json_lines_are_numbered_from_one_and_keep_raw_text(tmp_path: Path) -> None:
    lines = ['{"product_id": "P1", "product_name": "理财"}', "", "not json",
             '{"product_id": "P2",  "extra": [1, 2]}']
    path = tmp_path / "products.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read = read_source(_source(path), PRODUCTS)
    assert read.data.column_names == ["_file", "_line", "_json"]
    assert [(r["_line"], r["_json"]) for r in read.data.to_pylist()] == list(
        enumerate(lines, start=1))
    assert read.rejects == []
    assert read.records == 4


def test_json_lines_with_bom_and_gbk(tmp_path: Path) -> None:
    obj = json.dumps({"product_name": "稳健"}, ensure_ascii=False)
    path = tmp_path / "products.jsonl"
    path.write_bytes(f"{obj}\n{obj}\n".encode("utf-8-sig"))
    read = read_source(_source(path), PRODUCTS)
    assert read.data["_json"].to_pylist() == [obj, obj]
    path.write_bytes(f"{obj}\n".encode("gbk"))
    read = read_source(_source(path), PRODUCTS)
    assert (read.encoding, read.data["_json"].to_pylist()) == (GB18030, [obj])


def test_json_line_with_undecodable_bytes_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "products.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n{"a": 3}\n')
    read = read_source(_source(path), PRODUCTS)
    assert _rejects(read) == [(2, Reason.BAD_ENCODING)]
    assert read.data["_line"].to_pylist() == [1, 3]


# -- Parquet --------------------------------------------------------------------------


def test_parquet_non_string_columns_are_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "products.parquet"
    pq.write_table(pa.table({
        "PRODUCT_ID": ["P1", "P2"],
        "term_months": pa.array([12, None], pa.int32()),
        "annual_rate": pa.array([decimal.Decimal("0.0350"), decimal.Decimal("1.5")],
                                pa.decimal128(9, 4)),
        "min_amount": [1000.5, 2.25],
        "launch_date": [dt.date(2025, 1, 2), dt.date(1999, 12, 31)],
        "status": [True, False],
        "extra": [1, 2],
    }), path)
    read = read_source(_source(path), PRODUCTS)
    assert read.encoding == "parquet"
    assert all(read.data.schema.field(c).type == pa.string() for c in PRODUCTS.column_names)
    got = [{k: r[k] for k in ("_line", "product_id", "term_months", "annual_rate",
                              "min_amount", "launch_date", "status")}
           for r in read.data.to_pylist()]
    assert got == [
        {"_line": 1, "product_id": "P1", "term_months": "12", "annual_rate": "0.0350",
         "min_amount": "1000.5", "launch_date": "2025-01-02", "status": "true"},
        {"_line": 2, "product_id": "P2", "term_months": None, "annual_rate": "1.5000",
         "min_amount": "2.25", "launch_date": "1999-12-31", "status": "false"},
    ]
    assert read.unknown_columns == ["extra"]
    assert "product_name" in read.missing_columns
    assert "product_id" not in read.missing_columns


# -- file discovery -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "table"),
    [
        ("loan_applications_x", "loan_applications"),
        ("loan_applications", "loan_applications"),
        ("loans_2025", "loans"),
        ("loans-2025", "loans"),
        ("loans.part1", "loans"),
        ("loans", "loans"),
        ("customers_20250101", "customers"),
        ("marketing_touches_1", "marketing_touches"),
        ("other", None),
        ("loansx", None),
        ("loan", None),
        ("xcustomers", None),
        ("", None),
    ],
)
def test_table_for_picks_the_longest_prefix(stem: str, table: str | None) -> None:
    assert table_for(stem) == table


def test_discover_skips_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("customers.csv", "loans_2025.CSV", "sub/events_1.jsonl", "other.csv",
                 "customers.txt", "transactions.parquet", "README"):
        (tmp_path / name).write_bytes(b"x\n")
    found, skipped = discover(tmp_path)
    assert [(f.path.relative_to(tmp_path).as_posix(), f.table, f.format) for f in found] == [
        ("customers.csv", "customers", "csv"),
        ("loans_2025.CSV", "loans", "csv"),
        ("sub/events_1.jsonl", "events", "jsonl"),
        ("transactions.parquet", "transactions", "parquet"),
    ]
    assert sorted(skipped) == ["README", "customers.txt", "other.csv"]
    first = found[0]
    assert first.size == 2
    assert first.sha256 == file_sha256(first.path)
    assert first.name == "customers.csv"


def test_discover_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a folder"):
        discover(tmp_path / "nope")


def test_reject_is_a_frozen_value() -> None:
    rej = Reject("f.csv", 3, Reason.RAGGED_ROW, "a,b")
    assert rej == Reject("f.csv", 3, Reason.RAGGED_ROW, "a,b")
    with pytest.raises(AttributeError):
        rej.line = 4  # type: ignore[misc]
