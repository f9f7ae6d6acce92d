"""Write source files (CSV, JSON lines, Parquet) with their mess, and log every corruption.

Lines are built as Arrow string arrays and written straight from Arrow's
buffers, so tens of millions of rows never become Python strings. Only the
damaged rows are handled one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finpersona.schema import ColumnType, Table, get_table
from finpersona.synth import formatting as fmt
from finpersona.synth.mess import DUPLICATE, MessPlan, apply_cells, plan_mess, resend_spelling

FORMATS = {"events": "jsonl", "service_tickets": "jsonl", "social_mentions": "jsonl",
           "holdings": "parquet"}
UTF8_BOM = b"\xef\xbb\xbf"
CORRUPTION_SCHEMA = pa.schema([
    ("table", pa.string()), ("file", pa.string()), ("line", pa.int64()),
    ("family", pa.string()), ("kind", pa.string()), ("column", pa.string()),
    ("reason", pa.string()), ("key", pa.string())])
_NEEDS_QUOTES = r'[,"\r\n]|^\s|\s$'


def file_format(table: str) -> str:
    return FORMATS.get(table, "csv")


def _csv_field(value: str | None) -> str:
    if value is None:
        return ""
    if any(c in value for c in ',"\r\n') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_lines(table: Table, cols: fmt.Columns) -> pa.Array:
    fields = []
    for name in table.column_names:
        v = pc.fill_null(cols[name], "")
        quoted = fmt.concat('"', pc.replace_substring(v, '"', '""'), '"')
        fields.append(pc.if_else(pc.match_substring_regex(v, _NEEDS_QUOTES), quoted, v))
    return pc.binary_join_element_wise(*fields, ",")


def jsonl_lines(table: Table, cols: fmt.Columns) -> pa.Array:
    fields = []
    for col in table.columns:
        v = cols[col.name]
        if col.type is ColumnType.JSON:
            value = pc.fill_null(v, "null")
        else:
            escaped = pc.replace_substring(pc.replace_substring(v, "\\", "\\\\"), '"', '\\"')
            value = pc.fill_null(fmt.concat('"', escaped, '"'), "null")
        fields.append(fmt.concat(f'"{col.name}":', value))
    return fmt.concat("{", pc.binary_join_element_wise(*fields, ","), "}")


def lines_to_bytes(lines: pa.Array) -> bytes | memoryview:
    """Newline-terminated lines as one byte block, straight from Arrow's buffers."""
    if len(lines) == 0:
        return b""
    arr = fmt.concat(lines, "\n").cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets_buf, data = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(arr) + 1,
                            offset=arr.offset * 8)
    return memoryview(data)[int(offsets[0]):int(offsets[-1])]


@dataclass
class _Resend:
    cols: list[fmt.Columns] = field(default_factory=list)
    keys: list[pa.Array] = field(default_factory=list)


@dataclass
class SourceWriter:
    """Writes every source file of a run and remembers what it did to each row."""

    source_dir: Path
    dirty_rate: float
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    corruptions: list[pa.Table] = field(default_factory=list)
    resend: dict[str, _Resend] = field(default_factory=dict)

    def write(self, name: str, suffix: str, cols: fmt.Columns, rng: np.random.Generator, *,
              encoding: str = "utf-8", bom: bool = False, mess: bool = True) -> str:
        table = get_table(name)
        ext = file_format(name)
        file = f"{name}_{suffix}.{ext}" if suffix else f"{name}.{ext}"
        key = pc.binary_join_element_wise(*[cols[k] for k in table.primary_key], "|")
        n = len(key)
        plan = plan_mess(rng, table, cols, ext, self.dirty_rate if mess else 0.0)
        dirty = apply_cells(cols, plan)
        dup = plan.rows_of("exact_duplicate")
        if ext == "parquet":
            data = pa.table({c: dirty[c] for c in table.column_names})
            data = pa.concat_tables([data, data.take(pa.array(dup))])
            pq.write_table(data, self.source_dir / file)
        else:
            lines = self._lines(table, ext, dirty, plan)
            lines = pa.concat_arrays([lines, lines.take(pa.array(dup))])
            self._write_text(file, ext, table, lines, encoding, bom)
        self.rows.setdefault(name, {})[file] = n + len(dup)
        self._log(table, file, ext, plan, key, n)
        resent = plan.rows_of("resent")
        if len(resent):
            bucket = self.resend.setdefault(name, _Resend())
            choice = plan.choice[np.searchsorted(plan.rows, resent)]
            bucket.cols.append(resend_spelling(table, cols, resent, choice))
            bucket.keys.append(key.take(pa.array(resent)))
        return file

    def _lines(self, table: Table, ext: str, cols: fmt.Columns, plan: MessPlan) -> pa.Array:
        if ext == "csv":
            lines = csv_lines(table, cols)
            bad = plan.rows_of("ragged_row")
            if len(bad):
                rows = [[cols[c][int(i)].as_py() for c in table.column_names] for i in bad]
                choice = plan.choice[np.searchsorted(plan.rows, bad)].tolist()
                # Too many fields (an unquoted comma in a name) or a row cut short.
                new = [",".join(_csv_field(v) for v in ([*r, "多余字段"] if c % 2 else r[:-1]))
                       for r, c in zip(rows, choice, strict=True)]
                lines = self._replace(lines, bad, new)
            return lines
        lines = jsonl_lines(table, cols)
        bad = plan.rows_of("bad_json")
        if len(bad):
            old = lines.take(pa.array(bad)).to_pylist()
            choice = plan.choice[np.searchsorted(plan.rows, bad)].tolist()
            new = [v[: len(v) // 2] if c % 2 else v[:-1].replace('"', "'", 2)
                   for v, c in zip(old, choice, strict=True)]
            lines = self._replace(lines, bad, new)
        return lines

    @staticmethod
    def _replace(lines: pa.Array, rows: np.ndarray, new: list[str]) -> pa.Array:
        mask = np.zeros(len(lines), dtype=bool)
        mask[rows] = True
        return pc.replace_with_mask(lines, pa.array(mask), pa.array(new, pa.string()))

    def _write_text(self, file: str, ext: str, table: Table, lines: pa.Array, encoding: str,
                    bom: bool) -> None:
        body = lines_to_bytes(lines)
        head = (",".join(table.column_names) + "\n").encode() if ext == "csv" else b""
        path = self.source_dir / file
        if encoding != "utf-8":
            text = (head + bytes(body)).decode("utf-8")
            path.write_bytes(text.encode(encoding))
            return
        with path.open("wb") as out:
            out.write((UTF8_BOM if bom else b"") + head)
            out.write(body)

    def _log(self, table: Table, file: str, ext: str, plan: MessPlan, key: pa.Array,
             n: int) -> None:
        first_line = 2 if ext == "csv" else 1
        keep = [i for i, d in enumerate(plan.damage) if d.kind != "resent"]
        if not keep:
            return
        idx = np.array(keep)
        rows = plan.rows[idx]
        damage = [plan.damage[i] for i in keep]
        line = rows + first_line
        dup = plan.rows_of("exact_duplicate")
        is_dup = np.array([d.kind == "exact_duplicate" for d in damage])
        # The copy of an exact duplicate is appended after the last original row.
        line[is_dup] = first_line + n + np.searchsorted(dup, rows[is_dup])
        self.corruptions.append(pa.table({
            "table": pa.array([table.name] * len(rows)),
            "file": pa.array([file] * len(rows)),
            "line": pa.array(line.astype(np.int64)),
            "family": pa.array([d.family for d in damage]),
            "kind": pa.array([d.kind for d in damage]),
            "column": pa.array([d.column for d in damage], pa.string()),
            "reason": pa.array([None if d.reason is None else str(d.reason) for d in damage],
                               pa.string()),
            "key": key.take(pa.array(rows)),
        }, schema=CORRUPTION_SCHEMA))

    def write_resends(self) -> list[str]:
        """One re-send file per table that had re-sent rows, written after all parts."""
        files = []
        for name in sorted(self.resend):
            bucket = self.resend[name]
            table = get_table(name)
            ext = file_format(name)
            cols = {c: pa.concat_arrays([b[c] for b in bucket.cols]) for c in table.column_names}
            keys = pa.concat_arrays(bucket.keys)
            file = f"{name}_resend_01.{ext}"
            if ext == "parquet":
                pq.write_table(pa.table(cols), self.source_dir / file)
            else:
                lines = csv_lines(table, cols) if ext == "csv" else jsonl_lines(table, cols)
                self._write_text(file, ext, table, lines, "utf-8", False)
            n = len(keys)
            first_line = 2 if ext == "csv" else 1
            self.rows.setdefault(name, {})[file] = n
            self.corruptions.append(pa.table({
                "table": pa.array([name] * n), "file": pa.array([file] * n),
                "line": pa.array(np.arange(n, dtype=np.int64) + first_line),
                "family": pa.array([DUPLICATE] * n), "kind": pa.array(["resent"] * n),
                "column": pa.nulls(n, pa.string()), "reason": pa.nulls(n, pa.string()),
                "key": keys}, schema=CORRUPTION_SCHEMA))
            files.append(file)
        return files
