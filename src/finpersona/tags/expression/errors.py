"""The one error type of the expression language, shown to analysts as-is.

Analysts type these expressions into tag YAML files and audience screens, so an
error must say where (a caret under the text) and what to write instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any


class ExpressionError(ValueError):
    """An expression that does not parse or does not type-check.

    ``message`` is the bare explanation; ``position`` the 0-based character
    offset it refers to; ``text`` the source (may be empty when only a tree was
    checked); ``suggestions`` the nearest valid names or values, best first.
    """

    def __init__(self, message: str, position: int, text: str = "",
                 suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.text = text
        self.suggestions: tuple[str, ...] = tuple(suggestions)

    def with_text(self, text: str) -> ExpressionError:
        """The same error, now able to show the source line (check() may not have it)."""
        return ExpressionError(self.message, self.position, text, self.suggestions)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle through ``args``, which holds only the message; keep every field
        # so errors survive process pools (xdist, Spark drivers).
        return (ExpressionError, (self.message, self.position, self.text, self.suggestions))

    def __str__(self) -> str:
        head = f"{self.message} at position {self.position}"
        line, column, line_no = _locate(self.text, self.position)
        if self.text and "\n" in self.text.rstrip("\n"):
            head += f" (line {line_no}, column {column + 1})"
        if self.suggestions:
            head += f"; did you mean {_one_of(self.suggestions)}?"
        if not self.text:
            return head
        return f"{head}\n  {line}\n  {_caret_padding(line[:column])}^"


def _one_of(options: Sequence[str]) -> str:
    # A suggestion that is already a quoted text value ('北京') is shown as written.
    quoted = [option if len(option) > 1 and option[0] == option[-1] == "'" else f"'{option}'"
              for option in options]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _locate(text: str, position: int) -> tuple[str, int, int]:
    """The source line holding ``position``, the column in it, and its 1-based number.

    A rule in YAML may span several lines; the caret line only makes sense under one.
    """
    position = max(0, min(position, len(text)))
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    if end == -1:
        end = len(text)
    return text[start:end], position - start, text.count("\n", 0, position) + 1


def _caret_padding(prefix: str) -> str:
    # Chinese characters take two terminal columns; tabs are copied so the caret lines up.
    out = []
    for char in prefix:
        if char == "\t":
            out.append("\t")
        elif unicodedata.east_asian_width(char) in ("W", "F"):
            out.append("  ")
        elif unicodedata.combining(char):
            continue
        else:
            out.append(" ")
    return "".join(out)
