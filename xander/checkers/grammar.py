"""Grammar viability: can this prefix still be completed into a query of xander's SQL grammar?

Uses ``xander.grammar.PrefixChecker`` (Lark's LALR tables driven incrementally, a few
microseconds per call with its memo).  The base grammar is used, not the schema-specialised one:
names are judged by the identifiers checker, which knows about aliases, CTEs and derived tables.
"""

from __future__ import annotations

from functools import lru_cache

from xander.checkers.base import CheckContext, Diagnostic
from xander.grammar import PrefixChecker


@lru_cache(maxsize=1)
def _checker() -> PrefixChecker:
    return PrefixChecker()


class GrammarChecker:
    """Partial stage: prune a child whose prefix no query of the grammar starts with."""

    name = "grammar"
    stage = "partial"
    trigger = "every-child"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        text = sql.lstrip()
        if not text or _checker().viable(text):
            return []
        tail = " ".join(text.split())[-40:]
        return [Diagnostic(self.name, "not-viable", f"no SQL query starts with ...{tail!r}")]
