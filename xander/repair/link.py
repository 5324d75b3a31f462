"""The linking repair: fix every identifier of a query that does not resolve, one at a time.

Each problem ``xander.linking.link`` reports goes to the first step of ``LINK_STEPS`` that
answers its kind and can fix it:

- ``Rejoin``: a column in a join's ON clause that its tables lack: the join is replaced by the
  shortest foreign-key path from an earlier table to the joined one;
- ``Requalify``: a column qualified with an alias whose table lacks it (the small models'
  commonest error) gets the alias of the in-scope table that has it;
- ``JoinForColumn``: a column no table in scope has is reached by joining the table that has
  it along the shortest foreign-key path (networkx) from a table in scope;
- ``ClosestColumn`` / ``ClosestTable``: an unknown column or table becomes the closest
  existing name (difflib).  With several schemas, a table name is compared with the tables'
  names without their schemas too, and becomes the qualified name: ``FROM orders`` that
  several schemas have becomes the one whose table has the most of the columns the query uses
  (none when that is a tie), and
  ``FROM hr.customers`` (a schema without that table) the schema that has it.

Tables are told apart by their full names (``Schema.table_of``: ``sales.orders``), so two
schemas' tables of one name stay apart in join paths.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from xander.linking import LinkProblem, link
from xander.repair.base import Fix, join_along, scope_of, tables_in_scope
from xander.schema import Schema, Table

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

MAX_LINK_FIXES = 8  # problems fixed in one query before the repair gives up

_COLUMN_KINDS = frozenset({"unknown-column", "unknown-alias"})


class LinkStep(Protocol):
    """One way to fix one linking problem, in place in ``tree`` (a copy the caller owns)."""

    kinds: frozenset[str]  # the ``LinkProblem.kind`` values it answers

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        """What it did, or None when it cannot fix ``problem`` (``tree`` is then unchanged)."""
        ...


def _full(schema: Schema, node: exp.Table) -> str:
    """The lower-case name of the schema table ``node`` names (as written when it names none)."""
    found = schema.table_of(node)
    return found.name.lower() if found is not None else node.name.lower()


def _site(tree: exp.Expression, problem: LinkProblem
          ) -> tuple[exp.Column, Scope, list[tuple[str, exp.Table]]] | None:
    """The unresolved column, its scope and the tables that scope sees."""
    col = problem.node
    if not isinstance(col, exp.Column):
        return None
    scope = scope_of(tree, col)
    if scope is None:
        return None
    return col, scope, tables_in_scope(scope)


class Rejoin:
    """A join whose ON clause uses columns its tables lack becomes the foreign-key path."""

    kinds = _COLUMN_KINDS

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        site = _site(tree, problem)
        if site is None:
            return None
        join = site[0].find_ancestor(exp.Join)
        if join is None or join.args.get("on") is None:
            return None
        select, target = join.parent, join.this
        if not isinstance(select, exp.Select) or not isinstance(target, exp.Table):
            return None
        joins = select.args.get("joins") or []
        idx = next((i for i, j in enumerate(joins) if j is join), None)
        first = select.args.get("from_") or select.args.get("from")
        if idx is None or first is None or not isinstance(first.this, exp.Table):
            return None
        earlier = [first.this] + [j.this for j in joins[:idx] if isinstance(j.this, exp.Table)]
        paths = [(t, schema.join_path(_full(schema, t), _full(schema, target))) for t in earlier]
        paths = [(t, p) for t, p in paths if p]
        if not paths:
            return None
        start, path = min(paths, key=lambda tp: len(tp[1]))
        taken = {t.alias_or_name.lower() for t in select.find_all(exp.Table)}
        joined = {_full(schema, start): start.alias_or_name}
        for t in earlier:
            joined.setdefault(_full(schema, t), t.alias_or_name)
        new_joins = join_along(path, joined, taken, last=target.alias_or_name)
        select.set("joins", joins[:idx] + new_joins + joins[idx + 1:])
        return f"rejoin {target.name} along foreign keys"


def _tautology(col: exp.Column) -> bool:
    """``T1.a = T1.a``: a requalified join condition that compares a column with itself."""
    parent = col.parent
    return isinstance(parent, exp.EQ) and parent.this == parent.expression


class Requalify:
    """A column gets the alias of the first in-scope table that has it."""

    kinds = _COLUMN_KINDS

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        site = _site(tree, problem)
        if site is None:
            return None
        col, _, in_scope = site
        name = col.name
        for alias, t in in_scope:
            if not ((st := schema.table_of(t)) and st.column(name)):
                continue
            old = col.table
            col.set("table", exp.to_identifier(alias) if len(in_scope) > 1 or old else None)
            if _tautology(col):
                col.set("table", exp.to_identifier(old) if old else None)
                continue
            return f"requalify {old + '.' if old else ''}{name} -> {alias}.{name}"
        return None


class JoinForColumn:
    """A column no table in scope has: join its table along the shortest foreign-key path."""

    kinds = _COLUMN_KINDS

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        site = _site(tree, problem)
        if site is None:
            return None
        col, scope, in_scope = site
        name = col.name
        select = scope.expression
        owners = schema.tables_with_column(name)
        if not (isinstance(select, exp.Select) and owners and in_scope):
            return None
        best_path = None
        for _, t in in_scope:
            for owner in owners:
                path = schema.join_path(_full(schema, t), owner.name)
                if path and (best_path is None or len(path) < len(best_path[1])):
                    best_path = (t, path, owner)
        if best_path is None:
            return None
        start, path, owner = best_path
        joined = {_full(schema, start): start.alias_or_name}
        for join in join_along(path, joined, {a.lower() for a, _ in in_scope}):
            select.join(join, copy=False)
        col.set("table", exp.to_identifier(joined[owner.name.lower()]))
        return f"join {owner.name} for {name}"


class ClosestColumn:
    """An unknown column becomes the closest column name of the tables in scope."""

    kinds = _COLUMN_KINDS

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        site = _site(tree, problem)
        if site is None:
            return None
        col, _, in_scope = site
        name = col.name
        names = {c.name: a for a, t in in_scope if (st := schema.table_of(t)) for c in st.columns}
        lower = {n.lower(): n for n in names}
        close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.75)
        if not close:
            return None
        real = lower[close[0]]
        col.set("this", exp.to_identifier(real))
        if col.table or len(in_scope) > 1:
            col.set("table", exp.to_identifier(names[real]))
        return f"closest column {name} -> {real}"


class ClosestTable:
    """An unknown table becomes the closest table name of the schema."""

    kinds = frozenset({"unknown-table"})

    def fix(self, tree: exp.Expression, problem: LinkProblem, schema: Schema) -> str | None:
        table = problem.node
        if not isinstance(table, exp.Table):
            return None
        if schema.qualified:
            return self._qualified(tree, table, problem, schema)
        close = difflib.get_close_matches(table.name.lower(),
                                          [t.lower() for t in schema.table_names], n=1,
                                          cutoff=0.7)
        if not close:
            return None
        real = schema.table(close[0])
        assert real is not None
        table.set("this", exp.to_identifier(real.name))
        return f"closest table {problem.name} -> {real.name}"

    @staticmethod
    def _qualified(tree: exp.Expression, table: exp.Table, problem: LinkProblem,
                   schema: Schema) -> str | None:
        """Several schemas: the closest name, written or without its schema, and of the
        tables that have it, the one with the most of the query's column names."""
        written = f"{table.db}.{table.name}".lower() if table.db else table.name.lower()
        full = {t.name.lower(): [t] for t in schema.tables}
        bare: dict[str, list[Table]] = {}
        for t in schema.tables:
            bare.setdefault(t.bare_name.lower(), []).append(t)
        name = table.name.lower()
        close = [] if name in bare or not table.db else difflib.get_close_matches(
            written, list(full), n=1, cutoff=0.7)
        if close:
            options = full[close[0]]
        else:
            near = [name] if name in bare else difflib.get_close_matches(
                name, list(bare), n=1, cutoff=0.7)
            if not near:
                return None
            options = bare[near[0]]
            if table.db:  # a schema the user named: its table first, when it has one
                options = [t for t in options if t.db.lower() == table.db.lower()] or options
        used = {c.name.lower() for c in tree.find_all(exp.Column)}
        fit = [len(used & {c.name.lower() for c in t.columns}) for t in options]
        if fit.count(max(fit)) > 1:  # nothing in the query tells them apart: no guess
            return None
        real = options[fit.index(max(fit))]
        node = schema.table_node(real)
        table.set("this", node.this)
        table.set("db", node.args.get("db"))
        return f"closest table {problem.name} -> {real.name}"


LINK_STEPS: tuple[LinkStep, ...] = (
    Rejoin(), Requalify(), JoinForColumn(), ClosestColumn(), ClosestTable(),
)


def link_repairs(tree: exp.Expression, schema: Schema) -> tuple[exp.Expression, list[str]] | None:
    """Fix every linking problem of ``tree`` (a copy), one at a time; None if one is unfixable.

    >>> from xander.linking import parse
    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("singer", (Column("Name"), Column("Age"))),))
    >>> fixed, done = link_repairs(parse("SELECT nme FROM singers", "sqlite"), s)
    >>> fixed.sql("sqlite"), done
    ('SELECT Name FROM singer', ['closest table singers -> singer', 'closest column nme -> Name'])
    """
    tree = tree.copy()
    done: list[str] = []
    for _ in range(MAX_LINK_FIXES):
        problems = link(tree, schema)
        if not problems:
            return tree, done
        p = problems[0]
        what = next((w for step in LINK_STEPS if p.kind in step.kinds
                     and (w := step.fix(tree, p, schema)) is not None), None)
        if what is None:
            return None
        done.append(what)
    return None


class LinkRepair:
    """Every unknown table, column or alias fixed (``link_repairs``): one repaired query."""

    name = "link"
    answers = frozenset({"unknown-column", "unknown-table", "unknown-alias"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        fixed = link_repairs(tree, ctx.schema)
        if fixed is not None:
            yield Fix(fixed[0], "; ".join(fixed[1]))
