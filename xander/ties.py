"""Ties in ORDER BY broken the same way on every engine: the rows come back in one order.

``ORDER BY age`` leaves the order of two rows of the same age to the engine.  SQLite's ties come
out in an order fixed by how it scans and groups (the same rows every time, also under
``LIMIT``); PostgreSQL sorts ties in whatever order its sort leaves them, so "the year with the
most concerts" can name another of the years that tie (18 answers of Spider dev were lost so,
``benchmarks/results/pg_keepcase_dev_full_search``).  On an engine whose profile names a
``row_order`` column (PostgreSQL's ``ctid``: where a row is stored, the order rows were loaded
in until the table is updated), every SELECT with an ORDER BY gets SQLite's tie-breakers:

- grouped: the GROUP BY keys (NULL first, as SQLite sorts it), descending when the ORDER BY
  has one term, descending, and there is one key (``GROUP BY year ORDER BY COUNT(*) DESC`` puts
  the later of two tied years first), else ascending;
- not grouped, over stored tables only (no subquery, view or CTE in FROM, no DISTINCT, no
  aggregate without GROUP BY): each table's ``row_order`` column, in FROM order.

The rules were read off SQLite with Spider's train gold queries whose rows depend on the
tie-breaker, and checked on dev: grouped 89 of 96 train (16 of 19 dev), one table 76 of 76 (7
of 7), joins 26 of 34 (5 of 5) give SQLite's own rows.  Set operations and DISTINCT are left as
they are; so is every query on an engine without a ``row_order`` (SQLite, whose order this is,
and DuckDB).  The rewrite is on sqlglot's tree, printed in the schema's dialect; the answer shows
the SQL that ran, tie-breakers included.
"""

from __future__ import annotations

from sqlglot import exp

from xander.engines.profile import dialect_profile
from xander.linking import parse
from xander.schema import Schema


def _keys(order: exp.Order) -> set[str]:
    return {o.this.sql() for o in order.expressions if isinstance(o, exp.Ordered)}


def _own_aggregate(select: exp.Select) -> bool:
    """An aggregate in ``select``'s own scope (not in a subquery of it)."""
    return any(a.parent_select is select for a in select.find_all(exp.AggFunc))


def _tie_breakers(select: exp.Select, schema: Schema, row_order: str) -> list[exp.Ordered]:
    order = select.args.get("order")
    if select.args.get("distinct") or order is None:
        return []
    group = select.args.get("group")
    if group is not None:
        if any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
            return []
        keys = [g for g in group.expressions if not isinstance(g, exp.Literal)]
        terms = order.expressions
        desc = len(terms) == 1 and len(keys) == 1 and bool(terms[0].args.get("desc"))
        # NULL sorts first, as SQLite sorts it (PostgreSQL's default puts it last)
        return [exp.Ordered(this=k.copy(), desc=True, nulls_first=False) if desc else
                exp.Ordered(this=k.copy(), nulls_first=True) for k in keys]
    if _own_aggregate(select):
        return []
    source = select.args.get("from_")
    tables = [source.this if source is not None else None,
              *(j.this for j in select.args.get("joins") or [])]
    ctes = {c.alias_or_name.lower() for c in _ctes(select)}
    out = []
    for table in tables:
        if not isinstance(table, exp.Table) or not table.name or table.name.lower() in ctes:
            return []
        found = schema.table(table.name, table.db)
        if found is None or not found.stored:
            return []
        alias = table.args.get("alias")
        qualifier = alias.this if alias is not None and alias.this else table.this
        out.append(exp.Ordered(this=exp.column(row_order, table=qualifier.copy()),
                               nulls_first=False))
    return out


def _ctes(select: exp.Select) -> list[exp.CTE]:
    out: list[exp.CTE] = []
    node: exp.Expression | None = select
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None:
            out.extend(with_.expressions)
        node = node.parent
    return out


def stable_ties(sql: str, schema: Schema) -> str:
    """``sql`` with SQLite's tie-breakers appended to every ORDER BY it can take them (see the
    module docstring); ``sql`` itself, the same text, where nothing changes.

    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("singer", (Column("name"), Column("age"))),), "postgres")
    >>> stable_ties("SELECT name FROM singer ORDER BY age DESC LIMIT 1", s)
    'SELECT name FROM singer ORDER BY age DESC, singer.ctid LIMIT 1'
    >>> stable_ties("SELECT age FROM singer AS s GROUP BY age ORDER BY COUNT(*) DESC LIMIT 1", s)
    'SELECT age FROM singer AS s GROUP BY age ORDER BY COUNT(*) DESC, age DESC NULLS LAST LIMIT 1'
    >>> stable_ties("SELECT name FROM singer ORDER BY age", Schema(s.tables, "sqlite"))
    'SELECT name FROM singer ORDER BY age'
    """
    row_order = dialect_profile(schema.dialect).row_order
    if not sql or row_order is None:
        return sql
    tree = parse(sql, schema.dialect)
    if tree is None:
        return sql
    changed = False
    for select in list(tree.find_all(exp.Select)):
        breakers = _tie_breakers(select, schema, row_order)
        if breakers:
            order = select.args["order"]
            keys = _keys(order)
            breakers = [b for b in breakers if b.this.sql() not in keys]
        if breakers:
            order.set("expressions", [*order.expressions, *breakers])
            changed = True
    return tree.sql(dialect=schema.dialect) if changed else sql
