"""Errors of the audience package: each says what is wrong and how to fix it."""

from __future__ import annotations

from finpersona.tags.expression import ExpressionError


class AudienceError(Exception):
    """An audience request cannot be served (bad name, unknown audience, refused export)."""


class ReidentificationError(AudienceError, PermissionError):
    """The actor asked for display forms without holding the re-identification right."""


class AudienceExpressionError(AudienceError):
    """An expression does not parse or does not type-check against the tag catalogue.

    ``str()`` is the expression language's own message: what is wrong, the nearest
    valid names, then the expression with a caret under the position.
    """

    def __init__(self, expression: str, error: ExpressionError) -> None:
        self.expression = expression
        self.message = error.message
        self.position = error.position
        self.suggestions = error.suggestions
        super().__init__(str(error if error.text else error.with_text(expression)))
