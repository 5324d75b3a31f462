"""Identifiers: every table, alias and column exists, and columns are in scope of their tables.

The complete-stage checker links the whole parsed query (``xander.linking``).  The partial-stage
checker runs while the LM writes: each time a word is finished and the prefix parses at the top
level, the prefix is linked with ``final=False`` (a later JOIN may still add tables), so a column
qualified with the wrong alias is caught as soon as the alias is defined, and a made-up table as
soon as its name is written.  Results are cached per prefix: all children of a node share them.

Where unquoted names fold to lower case (PostgreSQL), the search has spelled a complete query's
names as the schema has them (``xander.linking.spelled``) before this checker sees it, so
``SELECT Name FROM Singer`` on a table ``"Singer"("Name")`` is no unknown name; an unquoted name
that could be several (``"Code"`` and ``"CODE"``) is an ``ambiguous-case`` error.
"""

from __future__ import annotations

import re

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.linking import link, parse, string_literals_for_unknown_quoted

_WORD_END = re.compile(r"[A-Za-z0-9_\"`\]]$")
# keywords after which the FROM clause is over: unknown aliases are then final errors
_FROM_OVER = re.compile(r"\b(WHERE|GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT)\b", re.IGNORECASE)


class IdentifierChecker:
    """Complete stage: link the parsed query against the schema."""

    name = "identifiers"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        return [Diagnostic(self.name, p.kind, p.message()) for p in link(tree, ctx.schema)]


def _balanced(text: str) -> bool:
    depth = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
    return depth == 0 and not quote


class PartialIdentifierChecker:
    """Partial stage: link the finished part of a prefix as soon as it parses."""

    name = "identifiers"
    stage = "partial"
    trigger = "word-end"  # given the prefix up to a finished word, not every child

    def __init__(self) -> None:
        self._cache: dict[str, list[Diagnostic]] = {}

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        """``sql`` is the prefix up to (not including) the token that starts the next word."""
        text = sql.rstrip()
        if not text or not _WORD_END.search(text):
            return []
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        found: list[Diagnostic] = []
        if _balanced(text):
            tree = parse(text, ctx.schema.dialect)
            if tree is not None:
                tree = string_literals_for_unknown_quoted(tree, ctx.schema)
                tail = re.split(r"\bFROM\b", text, flags=re.IGNORECASE)[-1]
                final = len(re.findall(r"\bFROM\b", text, re.IGNORECASE)) > 0 and bool(
                    _FROM_OVER.search(tail)
                )
                found = [
                    Diagnostic(self.name, p.kind, p.message())
                    for p in link(tree, ctx.schema, final=final)
                ]
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[text] = found
        return found
