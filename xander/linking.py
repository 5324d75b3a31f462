"""Schema linking on sqlglot trees: which identifiers of a query do not exist where they are used.

``link(expr, schema)`` walks every scope of a query (sqlglot's scope analysis: subqueries, CTEs,
derived tables, correlated references) and returns one ``LinkProblem`` per table, alias or column
that does not resolve.  Checkers turn problems into diagnostics; ``repair`` fixes them.

``final=False`` is for prefixes whose FROM clause may still grow: a qualifier that names no table
yet, or an unqualified column no current table has, may still be introduced by a later JOIN.

With several named schemas (``Schema.qualified``), ``FROM sales.orders AS o`` resolves, and so
does a bare ``FROM orders`` when exactly one schema has ``orders`` (the engines search the
served schemas, so it runs); a bare name several schemas have, or a schema that lacks the
table, is an ``unknown-table`` whose message names the tables it could mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.engines.profile import dialect_profile
from xander.schema import Schema


@dataclass(frozen=True, slots=True)
class LinkProblem:
    """An identifier that does not resolve.  ``node`` is the offending sqlglot node."""

    kind: str  # "unknown-table" | "unknown-column" | "unknown-alias" | "duplicate-alias"
    name: str  # the table, alias or column name
    qualifier: str = ""  # the alias a column was qualified with
    table: str = ""  # the table that qualifier points to, when known
    node: exp.Expression | None = None
    hint: str = ""  # what the name may have meant (an unknown table of several schemas)

    def message(self) -> str:
        if self.kind == "unknown-table":
            return f"no table named {self.name!r}" + (f" ({self.hint})" if self.hint else "")
        if self.kind == "duplicate-alias":
            return f"the alias {self.name!r} names two tables"
        if self.kind == "unknown-alias":
            return f"{self.qualifier}.{self.name}: no table or alias {self.qualifier!r} in scope"
        if self.qualifier:
            where = f"table {self.table!r}" if self.table else f"{self.qualifier!r}"
            return f"{self.qualifier}.{self.name}: {where} has no column {self.name!r}"
        return f"no table in scope has a column {self.name!r}"


def string_literals_for_unknown_quoted(expr: exp.Expression, schema: Schema) -> exp.Expression:
    """SQLite reads ``"France"`` as a string when no column has that name: do the same.

    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("t", (Column("name"),)),))
    >>> e = sqlglot.parse_one('SELECT "name" FROM t WHERE name = "Bob"', read="sqlite")
    >>> string_literals_for_unknown_quoted(e, s).sql("sqlite")
    'SELECT "name" FROM t WHERE name = \\'Bob\\''
    """
    if not dialect_profile(schema.dialect).double_quoted_strings:
        return expr
    names = schema.all_column_names | {
        a.alias.lower() for a in expr.find_all(exp.Alias) if a.alias
    }
    for col in list(expr.find_all(exp.Column)):
        ident = col.this
        if (
            not col.table
            and isinstance(ident, exp.Identifier)
            and ident.quoted
            and ident.name.lower() not in names
        ):
            col.replace(exp.Literal.string(ident.name))
    return expr


def unknown_table(table: exp.Table, schema: Schema) -> LinkProblem:
    """The problem of a table node that names no table, with the tables it may have meant.

    >>> from xander.schema import Table
    >>> s = Schema.merged({"sales": Schema((Table("orders", ()),)),
    ...                    "hr": Schema((Table("orders", ()),))})
    >>> unknown_table(exp.to_table("orders"), s).message()
    "no table named 'orders' (several schemas have it: sales.orders, hr.orders)"
    >>> unknown_table(exp.to_table("shop.orders"), s).message()
    "no table named 'shop.orders' (no schema shop; the schemas are sales, hr)"
    """
    name = f"{table.db}.{table.name}" if table.db else table.name
    same = schema.tables_named(table.name)
    hint = ""
    if schema.qualified:
        if not table.db and same:
            hint = "several schemas have it: " + ", ".join(t.name for t in same)
        elif table.db and table.db.lower() not in {d.lower() for d in schema.schemas}:
            hint = f"no schema {table.db}; the schemas are {', '.join(schema.schemas)}"
        elif same:
            hint = "it is " + " or ".join(t.name for t in same)
    return LinkProblem("unknown-table", name, node=table, hint=hint)


def _output_names(scope: Scope) -> set[str] | None:
    """Column names a derived table / CTE exposes; None when it selects ``*``."""
    select = scope.expression
    if isinstance(select, exp.SetOperation):
        select = select.left
        while isinstance(select, exp.SetOperation):
            select = select.left
    if not isinstance(select, exp.Select):
        return None
    names = set()
    for e in select.expressions:
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            return None
        if e.alias_or_name:
            names.add(e.alias_or_name.lower())
    return names


def _select_aliases(scope: Scope) -> set[str]:
    select = scope.expression
    if isinstance(select, exp.Select):
        return {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
    return set()


def _has_column(source: object, column: str, schema: Schema) -> bool | None:
    """Does ``source`` (a Table or a Scope) have ``column``?  None when it cannot be known."""
    if isinstance(source, exp.Table):
        table = schema.table_of(source)
        return None if table is None else table.column(column) is not None
    if isinstance(source, Scope):
        names = _output_names(source)
        return None if names is None else column.lower() in names
    return None


def _sources(scope: Scope | None) -> list[tuple[str, object]]:
    out = []
    while scope is not None:
        out.extend((k.lower(), v) for k, v in scope.selected_sources.items())
        scope = scope.parent
    return out


def link(expr: exp.Expression, schema: Schema, *, final: bool = True) -> list[LinkProblem]:
    """Every table, alias and column of ``expr`` that does not resolve against ``schema``."""
    problems: list[LinkProblem] = []
    try:
        scopes = traverse_scope(expr)
    except (OptimizeError, RecursionError, ValueError):
        return problems
    cte_names = {c.alias_or_name.lower() for c in expr.find_all(exp.CTE)}
    for table in expr.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in cte_names):
            continue
        if isinstance(table.this, exp.Identifier) and schema.table_of(table) is None:
            problems.append(unknown_table(table, schema))
    seen: set[int] = set()
    for scope in scopes:
        try:
            sources = [(alias, pair[1] if isinstance(pair, tuple) else pair)
                       for alias, pair in _sources(scope)]
        except OptimizeError as exc:  # e.g. "Alias already used: s"
            name = str(exc).rsplit(":", 1)[-1].strip()
            problems.append(LinkProblem("duplicate-alias", name, name))
            continue
        by_alias: dict[str, object] = {}
        for alias, src in sources:
            by_alias.setdefault(alias, src)
        aliases = _select_aliases(scope)
        for col in scope.columns:
            if id(col) in seen or isinstance(col.this, exp.Star):
                continue
            seen.add(id(col))
            name = col.name
            if col.table:
                q = col.table
                src = by_alias.get(q.lower())
                if src is None:
                    if final:
                        problems.append(LinkProblem("unknown-alias", name, q, node=col))
                    continue
                if _has_column(src, name, schema) is False:
                    found = schema.table_of(src) if isinstance(src, exp.Table) else None
                    tname = "" if not isinstance(src, exp.Table) else (
                        found.name if found is not None and schema.qualified else src.name)
                    problems.append(LinkProblem("unknown-column", name, q, tname, node=col))
                continue
            if name.lower() in aliases:
                continue
            known = [_has_column(src, name, schema) for _, src in sources]
            if any(k is not False for k in known):
                continue
            if final:
                problems.append(LinkProblem("unknown-column", name, node=col))
    return problems


def parse(sql: str, dialect: str) -> exp.Expression | None:
    """Parse one statement, or None."""
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError, ValueError):
        return None
    return trees[0] if len(trees) == 1 else None
