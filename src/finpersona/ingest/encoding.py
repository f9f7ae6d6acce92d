"""Which text encoding a file is in: UTF-8 (with or without BOM) or GB18030 (GBK's superset)."""

from __future__ import annotations

import codecs
from pathlib import Path

UTF8, UTF8_BOM, GB18030 = "utf-8", "utf-8-sig", "gb18030"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str | None:
    """The encoding the whole file decodes in, preferring UTF-8; None if neither works."""
    with path.open("rb") as fh:
        head = fh.read(3)
    if head == codecs.BOM_UTF8:
        return UTF8_BOM if _decodes(path, UTF8_BOM) else None
    if _decodes(path, UTF8):
        return UTF8
    if _decodes(path, GB18030):
        return GB18030
    return None
