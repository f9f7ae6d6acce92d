"""Finding source files and the canonical table each one feeds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from finpersona.schema import TABLES_BY_NAME

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet"}


class SourceError(Exception):
    """A source folder or file cannot be used."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    table: str
    format: str
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def table_for(stem: str) -> str | None:
    """The longest table name that the file stem starts with, followed by a separator."""
    best: str | None = None
    for name in TABLES_BY_NAME:
        if (stem == name or stem.startswith((name + "_", name + "-", name + "."))) and (
            best is None or len(name) > len(best)
        ):
            best = name
    return best


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def discover(directory: Path) -> tuple[list[SourceFile], list[str]]:
    """Source files in a folder, and the names of files that match no table."""
    if not directory.is_dir():
        raise SourceError(f"{directory} is not a folder of source files")
    found: list[SourceFile] = []
    skipped: list[str] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        fmt = FORMATS.get(path.suffix.lower())
        table = table_for(path.stem) if fmt else None
        if fmt is None or table is None:
            skipped.append(str(path.relative_to(directory)))
            continue
        found.append(SourceFile(path, table, fmt, file_sha256(path), path.stat().st_size))
    return found, skipped
