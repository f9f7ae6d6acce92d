"""The audience / rule expression language: parse, check, compile, evaluate, print.

    tree = compile_expression("age BETWEEN 25 AND 35 AND has_credit_card", signatures)
    table.filter(to_ibis(tree, table.__getitem__))

See ``ast.py`` for the tree and its three-valued semantics.
"""

from finpersona.tags.expression.ast import Node, tags_used
from finpersona.tags.expression.errors import ExpressionError
from finpersona.tags.expression.ibis_compiler import to_ibis
from finpersona.tags.expression.parser import parse
from finpersona.tags.expression.printer import to_text
from finpersona.tags.expression.reference import evaluate
from finpersona.tags.expression.tree import same_tree, strip_positions
from finpersona.tags.expression.typecheck import check, compile_expression

__all__ = [
    "ExpressionError",
    "Node",
    "check",
    "compile_expression",
    "evaluate",
    "parse",
    "same_tree",
    "strip_positions",
    "tags_used",
    "to_ibis",
    "to_text",
]
