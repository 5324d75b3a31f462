"""The grouping repair: a column neither grouped nor aggregated.

SQLite answers ``SELECT name, COUNT(*) FROM t GROUP BY id`` with a name from each group;
PostgreSQL and DuckDB refuse it (``column "t.name" must appear in the GROUP BY clause ...``).
Spider's gold queries and the model both write such queries.  The error names one column, but
the search repairs a candidate once, so the rule mends every *bare* column of every grouped
SELECT at once: a column in the select list, HAVING or ORDER BY, outside any aggregate, that is
neither grouped nor (in ORDER BY) an output name.

A bare column the grouped ones *determine* is added to GROUP BY: the groups stay, and so do
SQLite's rows.  Determined means: grouped itself, equal to a grouped or constant column through
an inner join's or the WHERE's ``a = b`` (or ``a = 'x'``), or in a table whose whole primary key
is determined so (which reaches along foreign-key joins).  Any other bare column is wrapped in an
aggregate: with exactly one MIN or MAX in the SELECT, SQLite takes bare columns from the row
that holds it, and so does the wrap (``(ARRAY_AGG(x ORDER BY m DESC NULLS LAST))[1]``, which
PostgreSQL and DuckDB both have); otherwise the engine's ``ANY_VALUE`` (DuckDB, PostgreSQL 16
and later), else ``MIN`` (PostgreSQL 15).  The engine itself says which (``any_value``).

The first fix adds what it may to GROUP BY (and wraps the rest), the second wraps every bare
column.  The error text is read with the profile's ``not-grouped`` pattern; an engine without
one (SQLite) gets no such repair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.errors import XanderError
from xander.repair.base import Fix, engine_errors
from xander.schema import Schema, Table

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

Key = tuple[str, str]  # (lower-case source alias, lower-case column name)

#: run once per question (its result is kept in ``ctx.results``): does the engine have ANY_VALUE?
ANY_VALUE_PROBE = "SELECT ANY_VALUE(1)"
#: SQLite's value of a bare column at the row holding the one MIN/MAX; X, M are placeholders
_AT_ROW = "(ARRAY_AGG(X ORDER BY M {order} NULLS LAST))[1]"


@dataclass(frozen=True, slots=True)
class _Bare:
    node: exp.Column
    key: Key
    determined: bool


def group_columns(tree: exp.Expression, schema: Schema, aggregate: str = "ANY_VALUE",
                  named: str = "", dialect: str = "postgres") -> list[Fix]:
    """Copies of ``tree`` with every bare column of a grouped SELECT grouped or aggregated.

    ``aggregate`` (``ANY_VALUE`` or ``MIN``) wraps a bare column the grouped ones do not
    determine, unless the SELECT has exactly one MIN or MAX; ``named`` (the column the engine
    named, ``t.x`` or ``x``) is wrapped even where this module cannot resolve it.  The fix that
    adds to GROUP BY comes first when there is one.

    >>> from xander.linking import parse
    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("t", (Column("id"), Column("name"), Column("kind")), ("id",)),))
    >>> tree = parse("SELECT name, COUNT(*) FROM t GROUP BY id", "postgres")
    >>> [(f.tree.sql("postgres"), f.what) for f in group_columns(tree, s, "MIN")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('SELECT name, COUNT(*) FROM t GROUP BY id, name', 'add name to GROUP BY'),
     ('SELECT MIN(name) AS name, COUNT(*) FROM t GROUP BY id', 'wrap ungrouped name in MIN')]
    >>> s = Schema((Table("u", (Column("k"), Column("n"), Column("v"))),))  # DuckDB: NULLS LAST
    >>> tree = parse("SELECT k, n, MAX(v) FROM u GROUP BY k", "duckdb")
    >>> [(f.tree.sql("duckdb"), f.what) for f in group_columns(tree, s, dialect="duckdb")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('SELECT k, (ARRAY_AGG(n ORDER BY v DESC))[1] AS n, MAX(v) FROM u GROUP BY k',
      'wrap ungrouped n in its value at the MAX(v) row')]
    """
    fixes = []
    for add in (True, False):
        fix = _mend(tree.copy(), schema, aggregate, named.lower(), dialect, add)
        if fix is not None and all(fix.tree != f.tree for f in fixes):
            fixes.append(fix)
    return fixes


def any_value(ctx: CheckContext) -> str:
    """``ANY_VALUE`` when the engine runs it (``ANY_VALUE_PROBE``, once per question), else
    ``MIN``."""
    if ANY_VALUE_PROBE not in ctx.results:
        try:
            ctx.results[ANY_VALUE_PROBE] = ctx.engine.execute(
                ANY_VALUE_PROBE, timeout=ctx.timeout, max_rows=1)
        except XanderError as exc:
            ctx.results[ANY_VALUE_PROBE] = str(exc)
    return "MIN" if isinstance(ctx.results[ANY_VALUE_PROBE], str) else "ANY_VALUE"


class GroupColumns:
    """An engine error naming a column that must be grouped: group or aggregate every bare
    column (``group_columns``)."""

    name = "grouping"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for m in engine_errors(cand, ctx, "not-grouped", self.answers):
            yield from group_columns(tree, ctx.schema, any_value(ctx), m.group("name"),
                                     ctx.schema.dialect)
            return


# -- one copy's repair ---------------------------------------------------------------------------
def _mend(tree: exp.Expression, schema: Schema, aggregate: str, named: str, dialect: str,
          add: bool) -> Fix | None:
    grouped: list[str] = []
    wrapped: dict[str, list[str]] = {}  # how -> the columns wrapped so
    for scope in traverse_scope(tree):
        select = scope.expression
        if not isinstance(select, exp.Select) or not _is_grouped(select):
            continue
        bare = _bare_columns(select, scope, schema, named)
        has_group = select.args.get("group") is not None
        to_group = {b.key: b for b in bare if add and has_group and b.determined}
        for b in to_group.values():
            select.group_by(b.node.copy(), copy=False)
            grouped.append(b.node.sql(dialect))
        wrap, how = _wrapper(select, aggregate, dialect)
        for b in bare:
            if b.key not in to_group:
                wrapped.setdefault(how, []).append(b.node.sql(dialect))
                _replace(b.node, wrap(b.node.copy()))
    if (add and not grouped) or not (grouped or wrapped):
        return None
    what = [f"add {', '.join(dict.fromkeys(grouped))} to GROUP BY"] if grouped else []
    what += [f"wrap ungrouped {', '.join(dict.fromkeys(cols))} in {how}"
             for how, cols in wrapped.items()]
    return Fix(tree, "; ".join(what))


def _replace(node: exp.Column, new: exp.Expression) -> None:
    """Put ``new`` where ``node`` is, keeping a select-list column's output name."""
    if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
        new = exp.Alias(this=new, alias=node.this.copy())
    node.replace(new)


def _wrapper(select: exp.Select, aggregate: str, dialect: str
             ) -> tuple[Callable[[exp.Expression], exp.Expression], str]:
    """How this SELECT's undetermined bare columns are wrapped (see the module docstring), and
    what to call it."""
    extremes = [a for a in _aggregates(select) if isinstance(a, (exp.Min, exp.Max))]
    if (len(extremes) == 1 and not extremes[0].expressions
            and isinstance(extremes[0].this, exp.Expression)
            and not isinstance(extremes[0].this, exp.Distinct)):
        extreme = extremes[0]
        order = "DESC" if isinstance(extreme, exp.Max) else "ASC"
        template = sqlglot.parse_one(_AT_ROW.format(order=order), read=dialect)
        measure = extreme.this

        def at_row(col: exp.Expression) -> exp.Expression:
            out = template.copy()
            for c in list(out.find_all(exp.Column)):
                c.replace(col.copy() if c.name == "X" else measure.copy())
            return out

        return at_row, f"its value at the {extreme.sql(dialect)} row"
    if aggregate.upper() == "ANY_VALUE":
        return (lambda col: exp.AnyValue(this=col)), "ANY_VALUE"
    return (lambda col: exp.Min(this=col)), "MIN"


# -- reading a SELECT ----------------------------------------------------------------------------
def _parts(select: exp.Select) -> Iterator[tuple[str, exp.Expression]]:
    """(clause, expression) of the select list, HAVING and ORDER BY."""
    for e in select.expressions:
        yield "select", e
    having = select.args.get("having")
    if having is not None:
        yield "having", having.this
    order = select.args.get("order")
    if order is not None:
        for o in order.expressions:
            yield "order", o


def _walk(node: exp.Expression, skip: Callable[[exp.Expression], bool]
          ) -> Iterator[exp.Expression]:
    """``node`` and its descendants in this SELECT (not in subqueries), pruned where ``skip``."""
    if skip(node):
        return
    yield node
    for child in node.iter_expressions():
        if not isinstance(child, (exp.Query, exp.Subquery)):
            yield from _walk(child, skip)


def _is_agg(node: exp.Expression) -> bool:
    return isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window)


def _aggregates(select: exp.Select) -> list[exp.Expression]:
    """The aggregates (not window functions) of the select list, HAVING and ORDER BY."""
    return [node for _, part in _parts(select) for node in _walk(part, lambda n: False)
            if _is_agg(node)]


def _is_grouped(select: exp.Select) -> bool:
    return select.args.get("group") is not None or bool(_aggregates(select))


class _Sources:
    """The tables and derived tables a SELECT reads, for resolving its columns."""

    def __init__(self, scope: Scope, schema: Schema) -> None:
        self.tables: dict[str, Table | None] = {}
        self.derived: dict[str, set[str]] = {}
        for alias, src in scope.sources.items():
            if isinstance(src, exp.Table):
                self.tables[alias.lower()] = schema.table_of(src)
            elif isinstance(src, Scope) and isinstance(src.expression, exp.Query):
                self.derived[alias.lower()] = {n.lower() for n in src.expression.named_selects}

    def key(self, col: exp.Column) -> Key | None:
        """(alias, column) of the source that ``col`` names here; None for another scope's."""
        name = col.name.lower()
        if col.table:
            alias = col.table.lower()
            if alias in self.tables or alias in self.derived:
                return alias, name
            return None
        for alias, table in self.tables.items():
            if table is not None and table.column(name) is not None:
                return alias, name
        for alias, names in self.derived.items():
            if name in names:
                return alias, name
        return None

    def keys_of(self, alias: str) -> set[Key]:
        table = self.tables.get(alias)
        return {(alias, c.name.lower()) for c in table.columns} if table is not None else set()


def _conjuncts(e: exp.Expression | None) -> Iterator[exp.Expression]:
    if isinstance(e, exp.And):
        yield from _conjuncts(e.left)
        yield from _conjuncts(e.right)
    elif isinstance(e, exp.Paren):
        yield from _conjuncts(e.this)
    elif e is not None:
        yield e


def _constant(e: exp.Expression) -> bool:
    return isinstance(e, (exp.Literal, exp.Placeholder)) or (
        isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal))


def _determined(select: exp.Select, sources: _Sources, grouped: set[Key]) -> set[Key]:
    """Every column the ``grouped`` ones determine (see the module docstring)."""
    equal: list[tuple[Key, Key]] = []
    known = set(grouped)
    conditions = [select.args.get("where")]
    conditions += [j.args.get("on") for j in select.args.get("joins") or ()
                   if j.side not in ("LEFT", "RIGHT", "FULL")]
    for cond in conditions:
        where = cond.this if isinstance(cond, exp.Where) else cond
        for c in _conjuncts(where):
            if not isinstance(c, exp.EQ):
                continue
            left, right = c.this, c.expression
            lk = sources.key(left) if isinstance(left, exp.Column) else None
            rk = sources.key(right) if isinstance(right, exp.Column) else None
            if lk and rk:
                equal.append((lk, rk))
            elif lk and _constant(right):
                known.add(lk)
            elif rk and _constant(left):
                known.add(rk)
    changed = True
    while changed:
        changed = False
        for a, b in equal:
            if (a in known) != (b in known):
                known |= {a, b}
                changed = True
        for alias, table in sources.tables.items():
            if table is None or not table.primary_key:
                continue
            if all((alias, k.lower()) in known for k in table.primary_key):
                more = sources.keys_of(alias) - known
                if more:
                    known |= more
                    changed = True
    return known


def _bare_columns(select: exp.Select, scope: Scope, schema: Schema, named: str) -> list[_Bare]:
    """The bare columns of a grouped ``select``, each with its key and whether it is determined."""
    sources = _Sources(scope, schema)
    projections = [e.unalias() for e in select.expressions]
    outputs = {n.lower() for n in select.named_selects}
    group_exprs: list[exp.Expression] = []
    group = select.args.get("group")
    for g in group.expressions if group is not None else ():
        if isinstance(g, exp.Literal) and g.is_int and 0 < int(g.name) <= len(projections):
            g = projections[int(g.name) - 1]  # GROUP BY 2
        elif (isinstance(g, exp.Column) and not g.table and sources.key(g) is None
              and g.name.lower() in outputs):  # GROUP BY an output alias
            g = next(e.unalias() for e in select.expressions if e.alias_or_name.lower()
                     == g.name.lower())
        group_exprs.append(g)
    grouped = {k for g in group_exprs if isinstance(g, exp.Column) and (k := sources.key(g))}
    known = _determined(select, sources, grouped) if group is not None else set()

    def covered(node: exp.Expression) -> bool:
        if _is_agg(node) or isinstance(node, (exp.Query, exp.Subquery)):
            return True
        return not isinstance(node, exp.Column) and any(node == g for g in group_exprs)

    bare: list[_Bare] = []
    for clause, part in _parts(select):
        top = part.this if isinstance(part, exp.Ordered) else part
        for node in _walk(part, covered):
            if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
                continue
            if clause == "order" and node is top and not node.table and (
                    node.name.lower() in outputs):
                continue  # ORDER BY an output name
            key = sources.key(node)
            if key is None:
                if not _is_named(node, named):
                    continue  # another scope's column, or an alias this module cannot read
                key = (node.table.lower(), node.name.lower())
            if key in grouped:
                continue
            bare.append(_Bare(node, key, key in known))
    return bare


def _is_named(col: exp.Column, named: str) -> bool:
    """``col`` is the column the engine named (``t.x`` or ``x``)."""
    if not named:
        return False
    table, _, name = named.rpartition(".")
    return col.name.lower() == name and (not table or not col.table
                                         or col.table.lower() == table)
