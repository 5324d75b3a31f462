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

A membership test is a join too: ``Stadium_ID NOT IN (SELECT concert_ID FROM concert)`` compares
stadiums with concerts, and answers "stadiums without a concert" with every stadium.  Where the
schema declares foreign keys, ``x IN (SELECT y ...)`` with columns that are not linked (not the
same name, not a foreign key from one to the other, not two keys to the same column) gets a
warning (``in-unlinked``): not one of the 260 such tests in Spider's train gold is unlinked,
and the 6 unlinked ones among the 0.5B model's answers to dev were all wrong (874b5df).  A
warning, not an error: names are compared, not resolved tables, and a schema's keys may be
incomplete.
"""

from __future__ import annotations

from sqlglot import exp

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.schema import Schema


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


def _links(schema: Schema) -> dict[str, set[str]]:
    """Column name (lower case) -> what it stands for: itself and the columns it references,
    as ``table.column``, for every single-column foreign key of ``schema``."""
    links: dict[str, set[str]] = {}
    for table in schema.tables:
        for fk in table.foreign_keys:
            for col, ref in zip(fk.columns, fk.ref_columns, strict=False):
                target = f"{fk.ref_table.lower()}.{ref.lower()}"
                links.setdefault(col.lower(), set()).add(target)
                links.setdefault(ref.lower(), set()).add(target)
    return links


def unlinked_memberships(tree: exp.Expression, schema: Schema) -> list[str]:
    """Each ``x IN (SELECT y ...)`` whose columns are not linked (see the module docstring);
    none where the schema declares no foreign key.

    >>> from xander.engines.base import ForeignKey
    >>> from xander.linking import parse
    >>> from xander.schema import Column, Schema, Table
    >>> t = lambda name, cols, fks=(): Table(name, tuple(Column(c, "INT") for c in cols),
    ...                                      foreign_keys=fks)
    >>> s = Schema((t("stadium", ["stadium_id"]), t("concert", ["concert_id", "stadium_id"],
    ...     (ForeignKey("concert", ("stadium_id",), "stadium", ("stadium_id",)),))))
    >>> unlinked_memberships(parse("SELECT 1 FROM stadium WHERE stadium_id NOT IN "
    ...                            "(SELECT concert_id FROM concert)", "sqlite"), s)
    ['stadium_id IN (SELECT concert_id ...)']
    >>> unlinked_memberships(parse("SELECT 1 FROM stadium WHERE stadium_id NOT IN "
    ...                            "(SELECT stadium_id FROM concert)", "sqlite"), s)
    []
    """
    links = _links(schema)
    if not links:
        return []
    found = []
    for member in tree.find_all(exp.In):
        query = member.args.get("query")
        select = query.this if isinstance(query, exp.Subquery) else query
        if not isinstance(member.this, exp.Column) or not isinstance(select, exp.Select):
            continue
        if len(select.expressions) != 1:
            continue
        inner = select.expressions[0].unalias()
        if not isinstance(inner, exp.Column):
            continue
        a, b = member.this.name.lower(), inner.name.lower()
        if a == b or links.get(a, set()) & links.get(b, set()):
            continue
        found.append(f"{member.this.name} IN (SELECT {inner.name} ...)")
    return found


class JoinChecker:
    """Complete stage: each join's ON links the joined table to another; a membership test
    (``IN (SELECT ...)``) compares linked columns."""

    name = "joins"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        found = [Diagnostic(self.name, "join-unlinked",
                            f"the join of {table} is linked to no other table: ON {on}")
                 for table, on in unlinked_joins(tree)]
        if found:
            return found
        return [Diagnostic(self.name, "in-unlinked",
                           f"{test} compares columns no key links: a different thing",
                           "warning")
                for test in unlinked_memberships(tree, ctx.schema)]
