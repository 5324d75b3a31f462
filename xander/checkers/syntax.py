"""Complete-query syntax: the SQL parses as exactly one statement in the engine's dialect."""

from __future__ import annotations

from xander.checkers.base import CheckContext, Diagnostic
from xander.linking import parse, string_literals_for_unknown_quoted


def parsed(sql: str, ctx: CheckContext):
    """The parsed (and SQLite-string-fixed) tree of ``sql``, cached in ``ctx``."""
    if sql not in ctx.parsed:
        tree = parse(sql, ctx.schema.dialect)
        if tree is not None:
            tree = string_literals_for_unknown_quoted(tree, ctx.schema)
        ctx.parsed[sql] = tree
    return ctx.parsed[sql]


class SyntaxChecker:
    """sqlglot parses the query as one statement."""

    name = "syntax"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        if parsed(sql, ctx) is None:
            return [Diagnostic(self.name, "parse-error",
                               f"not one valid {ctx.schema.dialect} statement")]
        return []
