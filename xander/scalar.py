"""Scalar subqueries that return more than one row.

``WHERE resolution > (SELECT resolution FROM song WHERE rating < 8)`` compares with *one*
value, but the subquery returns many.  PostgreSQL and DuckDB refuse it ("more than one row
returned by a subquery used as an expression"); SQLite silently takes the first row, an
arbitrary one, and answers something else.  The 0.5B model writes it where the question says
"higher than any song rated under 8" (``MAX``) or "the student named Smith" when there are two
(``IN``).

``many_row_subqueries`` finds the subqueries a comparison (``=``, ``<>``, ``<``, ``<=``, ``>``,
``>=``) reads as one value and runs each on its own (at most ``SAMPLE_ROWS`` rows, a short time
limit): the ones whose rows hold more than one distinct value are reported (many rows of one
value compare as that value, whichever is first).  A correlated subquery (it names the outer
query's columns) cannot run on its own and is not judged.

Measured on Spider train (the gold queries that run on the train databases we hold, 5,707 of
7,000): none has one (``tests/test_scalar.py``).
"""

from __future__ import annotations

from sqlglot import exp

from xander.engines import Engine
from xander.errors import EngineError

__all__ = ["COMPARISONS", "LOOKUP_TIMEOUT_S", "SAMPLE_ROWS", "many_row_subqueries",
           "scalar_subqueries"]

#: comparisons that read a subquery as one value
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
LOOKUP_TIMEOUT_S = 2.0  # each subquery run on its own; a slower one is not judged
SAMPLE_ROWS = 50  # rows of each subquery read to tell one value from several


def scalar_subqueries(tree: exp.Expression) -> list[exp.Subquery]:
    """The subqueries of ``tree`` that a comparison reads as one value, outermost first."""
    return [sq for sq in tree.find_all(exp.Subquery)
            if isinstance(sq.parent, COMPARISONS) and isinstance(sq.this, exp.Select)]


def many_row_subqueries(tree: exp.Expression, engine: Engine, dialect: str,
                        timeout: float = LOOKUP_TIMEOUT_S) -> list[exp.Subquery]:
    """The scalar subqueries of ``tree`` that return rows of more than one value when run
    alone, each given ``timeout`` seconds and never more than ``LOOKUP_TIMEOUT_S``."""
    timeout = min(timeout, LOOKUP_TIMEOUT_S)
    found = []
    for sq in scalar_subqueries(tree):
        try:
            rows = engine.execute(sq.this.sql(dialect=dialect), timeout=timeout,
                                  max_rows=SAMPLE_ROWS).rows
        except EngineError:  # correlated, or too slow: not judged
            continue
        if len(set(rows)) > 1:
            found.append(sq)
    return found
