"""Reading source files into Arrow without losing a row.

Every physical record comes out either as a row of text columns tagged with its
file and line, or as a :class:`Reject` (a row that could not even be split into
fields). Typing, cleaning and validation happen later, in the engine.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finpersona.ingest.encoding import GB18030, UTF8_BOM, detect_encoding
from finpersona.ingest.sources import SourceFile
from finpersona.schema import Reason, Table

FILE, LINE, JSON = "_file", "_line", "_json"
REPLACEMENT = "\ufffd"
# JSON text never contains a raw control character, so this splits lines and nothing else.
_LINE_SPLIT = pacsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False,
                                 double_quote=False, ignore_empty_lines=False)


@dataclass(frozen=True)
class Reject:
    """A record rejected before it had fields: kept with its raw text (encrypted later)."""

    file: str
    line: int
    reason: Reason
    raw: str


@dataclass
class FileRead:
    source: SourceFile
    data: pa.Table  # _file, _line, then text columns (or _json for JSON lines)
    rejects: list[Reject]
    encoding: str
    unknown_columns: list[str]
    missing_columns: list[str]
    data_rows: int = -1  # set when ``data`` is handed to the engine and freed here

    def take_data(self) -> pa.Table:
        """Hand the rows over (to the engine) and keep only their count."""
        data = self.data
        self.data_rows = int(data.num_rows)
        self.data = data.schema.empty_table()  # a zero-length slice would pin the buffers
        return data

    @property
    def records(self) -> int:
        rows = self.data_rows if self.data_rows >= 0 else int(self.data.num_rows)
        return rows + len(self.rejects)


def staged_schema(table: Table, fmt: str) -> pa.Schema:
    head = [pa.field(FILE, pa.string()), pa.field(LINE, pa.int64())]
    if fmt == "jsonl":
        return pa.schema([*head, pa.field(JSON, pa.string())])
    return pa.schema(head + [pa.field(c, pa.string()) for c in table.column_names])


def _header(first_line: str) -> list[str]:
    first_line = first_line.lstrip("\ufeff").rstrip("\r\n")
    if not first_line.strip():
        return []
    return [name.strip().lower() for name in next(csv.reader([first_line]))]


def _first_line(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        return fh.readline()


def _read_csv(source: SourceFile, table: Table, encoding: str,
              payload: pa.BufferReader | None = None) -> FileRead:
    if payload is None:
        header = _header(_first_line(source.path, encoding))
    else:
        header = _header(payload.read_buffer().to_pybytes().split(b"\n", 1)[0].decode())
        payload.seek(0)
    known = set(table.column_names)
    rejects: list[Reject] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        rejects.append(Reject(source.name, int(row.number), Reason.RAGGED_ROW, row.text))
        return "skip"

    data = pacsv.read_csv(
        payload if payload is not None else source.path,
        read_options=pacsv.ReadOptions(
            use_threads=False,  # keeps exact line numbers for rejected rows
            block_size=1 << 26,
            column_names=header,
            skip_rows=1,
            encoding="utf8" if encoding != GB18030 else GB18030,
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    # Lines of accepted rows: every data line (from 2, after the header) not rejected.
    total = data.num_rows + len(rejects)
    lines = np.arange(2, total + 2, dtype=np.int64)
    if rejects:
        lines = np.setdiff1d(lines, np.array([r.line for r in rejects], dtype=np.int64),
                             assume_unique=True)
    columns = {FILE: pa.array(np.full(data.num_rows, source.name, dtype=object), pa.string()),
               LINE: pa.array(lines)}
    for name in table.column_names:
        columns[name] = (data.column(name).combine_chunks() if name in data.column_names
                         else pa.nulls(data.num_rows, pa.string()))
    out = pa.table(columns)
    return FileRead(source, out, rejects, encoding,
                    unknown_columns=sorted(set(header) - known),
                    missing_columns=[c for c in table.column_names if c not in header])


def _read_jsonl(source: SourceFile, encoding: str,
                payload: pa.BufferReader | None = None) -> FileRead:
    data = pacsv.read_csv(
        payload if payload is not None else source.path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 26,
                                       column_names=[JSON],
                                       encoding="utf8" if encoding != GB18030 else GB18030),
        parse_options=_LINE_SPLIT,
        convert_options=pacsv.ConvertOptions(column_types={JSON: pa.string()},
                                             strings_can_be_null=False),
    )
    col = data.column(JSON).combine_chunks()
    if encoding == UTF8_BOM and len(col):
        first = col[0].as_py() or ""
        col = pa.concat_arrays([pa.array([first.lstrip("\ufeff")], pa.string()), col[1:]])
    n = len(col)
    out = pa.table({FILE: pa.array(np.full(n, source.name, dtype=object), pa.string()),
                    LINE: pa.array(np.arange(1, n + 1, dtype=np.int64)), JSON: col})
    return FileRead(source, out, [], encoding, [], [])


def _read_parquet(source: SourceFile, table: Table) -> FileRead:
    data = pq.read_table(source.path)
    n = data.num_rows
    columns = {FILE: pa.array(np.full(n, source.name, dtype=object), pa.string()),
               LINE: pa.array(np.arange(1, n + 1, dtype=np.int64))}
    present = {name.lower(): name for name in data.column_names}
    for name in table.column_names:
        if name in present:
            columns[name] = pc.cast(data.column(present[name]), pa.string()).combine_chunks()
        else:
            columns[name] = pa.nulls(n, pa.string())
    return FileRead(source, pa.table(columns), [], "parquet",
                    unknown_columns=sorted(set(present) - set(table.column_names)),
                    missing_columns=[c for c in table.column_names if c not in present])


def _split_undecodable(read: FileRead) -> FileRead:
    """Rows holding U+FFFD came from bytes the file's encoding could not decode."""
    text_cols = [c for c in read.data.column_names if c not in (FILE, LINE)]
    if not text_cols:
        return read
    bad = None
    for col in text_cols:
        hit = pc.fill_null(pc.match_substring(read.data.column(col), REPLACEMENT), False)
        bad = hit if bad is None else pc.or_(bad, hit)
    if bad is None or not pc.any(bad).as_py():
        return read
    bad_rows = read.data.filter(bad)
    rejects = list(read.rejects)
    for row in bad_rows.to_pylist():
        raw = ",".join("" if row[c] is None else str(row[c]) for c in text_cols)
        rejects.append(Reject(read.source.name, int(row[LINE]), Reason.BAD_ENCODING, raw))
    read.data = read.data.filter(pc.invert(bad))
    read.rejects = rejects
    return read


def read_source(source: SourceFile, table: Table) -> FileRead:
    """Read one file in full; every record is returned as data or as a reject."""
    if source.format == "parquet":
        return _read_parquet(source, table)
    encoding = detect_encoding(source.path)
    if encoding is None:
        # Neither UTF-8 nor GB18030 decodes every byte: read as UTF-8 with replacement
        # characters (in memory) and reject the rows that contain them.
        data = source.path.read_bytes()
        # Decode with whichever encoding damages fewer characters, so one bad byte in a
        # GBK export costs one row, not every row with Chinese text.
        text = min((data.decode(enc, errors="replace") for enc in ("utf-8", GB18030)),
                   key=lambda decoded: decoded.count(REPLACEMENT)).encode("utf-8")
        payload = pa.BufferReader(text)
        read = (_read_jsonl(source, "utf-8", payload) if source.format == "jsonl"
                else _read_csv(source, table, "utf-8", payload))
        return _split_undecodable(read)
    if source.format == "jsonl":
        return _read_jsonl(source, encoding)
    return _read_csv(source, table, encoding)
