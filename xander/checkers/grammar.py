"""Grammar viability: can this prefix still be completed into a query of xander's SQL grammar?

Uses ``xander.grammar.PrefixChecker`` (Lark's LALR tables driven incrementally, a few
microseconds per call with its memo).  The base grammar is used, not the schema-specialised one:
names are judged by the identifiers checker, which knows about aliases, CTEs and derived tables.

The grammar's table names have one part.  With several schemas (``sales.orders``), the
qualifiers that name a served schema (``sales.``, ``"sales".``) are dropped from the prefix
before it is judged: ``FROM sales.orders`` is then ``FROM orders``, and ``sales.orders.amount``
``orders.amount``, of the same syntax; whether the names exist is the identifiers checker's.
"""

from __future__ import annotations

import re
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
        if ctx.schema.qualified:
            text = without_schemas(text, ctx.schema.schemas)
        if not text or _checker().viable(text):
            return []
        tail = " ".join(text.split())[-40:]
        return [Diagnostic(self.name, "not-viable", f"no SQL query starts with ...{tail!r}")]


@lru_cache(maxsize=32)
def _qualifiers(schemas: tuple[str, ...]) -> re.Pattern[str]:
    names = "|".join(sorted((re.escape(s) for s in schemas), key=len, reverse=True))
    quoted = "|".join(re.escape('"' + s.replace('"', '""') + '"') for s in schemas)
    return re.compile(rf'(?<![\w."])(?:(?i:{names})|{quoted})\s*\.\s*')


def without_schemas(text: str, schemas: tuple[str, ...]) -> str:
    """``text`` without the qualifiers that name one of ``schemas``.

    >>> without_schemas('SELECT sales.orders.amount FROM Sales.orders JOIN "hr".staff',
    ...                 ("sales", "hr"))
    'SELECT orders.amount FROM orders JOIN staff'
    >>> without_schemas("SELECT o.id FROM hr.", ("hr",)), without_schemas("FROM shr.x", ("hr",))
    ('SELECT o.id FROM ', 'FROM shr.x')
    """
    return _qualifiers(schemas).sub("", text) if schemas else text
