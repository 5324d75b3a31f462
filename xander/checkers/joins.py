"""Joins: every ``JOIN ... ON`` links the table it joins to the tables before it.

``JOIN car_makers ON car_names.MakeId = car_names.MakeId`` compares a table with itself: the
condition is true for every row, so the join is a cross join that multiplies rows and answers
something else.  The 0.5B model writes such conditions, and the name repair made them from
``car_names.MakeId = car_makers.MakeId`` (a column the joined table lacks, requalified to the one
table that has it): 12 answers of Spider dev on PostgreSQL, all wrong
(``benchmarks/results/pg_keepcase_dev_full_search``).  In Spider's gold SQL the pattern occurs
only as annotation slips (``ON T2.actid = T2.actid`` in 12 train queries of one database).

An ``ON`` whose columns are all qualified is an error (``join-unlinked``) when it names no
column of the joined table, or no column of any other table.  Conditions with an unqualified
column, constant conditions (``ON 1 = 1``) and ``USING`` are not judged.  Measured on Spider's
train gold before it was made an error: 3,800 join equalities, 3,551 along a declared foreign
key, 165 between same-named columns and 72 otherwise, so joins along other columns are left to
the other checkers, and so is a joined table used only in its ``ON`` (618 of 3,793 train joins:
a join that keeps the rows that have a match).
"""

from __future__ import annotations

from sqlglot import exp

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed


def unlinked_joins(tree: exp.Expression) -> list[tuple[str, str]]:
    """``(joined table, ON condition)`` for each join whose condition does not link it.

    >>> from xander.linking import parse
    >>> sql = ("SELECT COUNT(*) FROM car_names AS n JOIN car_makers AS m "
    ...        "ON n.MakeId = n.MakeId")
    >>> unlinked_joins(parse(sql, "sqlite"))
    [('m', 'n.MakeId = n.MakeId')]
    >>> unlinked_joins(parse("SELECT * FROM a JOIN b ON a.id = b.a_id JOIN c ON c.x = c.y",
    ...                      "sqlite"))
    [('c', 'c.x = c.y')]
    >>> unlinked_joins(parse("SELECT * FROM a JOIN b ON id = b.a_id", "sqlite"))
    []
    """
    found = []
    for join in tree.find_all(exp.Join):
        on = join.args.get("on")
        if on is None:
            continue
        columns = list(on.find_all(exp.Column))
        if not columns or not all(c.table for c in columns):
            continue
        joined = join.this.alias_or_name.lower()
        named = {c.table.lower() for c in columns}
        if joined not in named or len(named) < 2:
            found.append((join.this.alias_or_name, on.sql()))
    return found


class JoinChecker:
    """Complete stage: each join's ON links the joined table to another."""

    name = "joins"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        return [Diagnostic(self.name, "join-unlinked",
                           f"the join of {table} is linked to no other table: ON {on}")
                for table, on in unlinked_joins(tree)]
