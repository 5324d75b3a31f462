"""A comparison with a subquery that returns many rows (``xander.scalar``).

``price > (SELECT price FROM t WHERE ...)`` needs one value; when the subquery returns several,
PostgreSQL and DuckDB refuse the query and SQLite compares with an arbitrary first row, so the
answer depends on the order rows happen to be stored in.  The query gets an error,
``scalar-many-rows``, naming the subquery, on every engine alike, and the ``scalar`` repair
(``xander.repair.scalar``) makes the comparison read every row (``IN``, ``NOT IN``, ``MAX``,
``MIN``).  An error and not a warning: as a warning, the query kept its place in the pool and
outweighed its own repair wherever a question cue ("unasked" MAX) counted against the repair.
It runs after the safety gate (it runs part of the query) and before the engine's dry run.
"""

from __future__ import annotations

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.scalar import many_row_subqueries, scalar_subqueries


class ScalarSubqueryChecker:
    """Complete stage: every subquery a comparison reads as one value returns at most one row."""

    name = "scalar"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None or not scalar_subqueries(tree):
            return []
        return [Diagnostic(self.name, "scalar-many-rows",
                           f"({sq.this.sql(dialect=ctx.schema.dialect)}) returns more than one "
                           "value where the comparison needs one", "error")
                for sq in many_row_subqueries(tree, ctx.engine, ctx.schema.dialect, ctx.timeout)]
