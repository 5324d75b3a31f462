"""Normalized SQL: one canonical spelling of a query, used in prompts and as the output style.

Rules (each keeps the query's result on the engine):

- keywords and function names in upper case, canonical spacing, explicit ``AS`` for aliases;
- base tables get the aliases ``T1``, ``T2``, ... in the order they appear (FROM, then JOINs,
  scope by scope) when a scope reads more than one table, and every column is qualified with
  its table's alias; a scope that reads one table has no alias and unqualified columns;
- ``!=`` instead of ``<>``; SQLite's double-quoted strings become single-quoted literals;
- identifiers are quoted only when they need it; string literals keep their exact case.

>>> normalize("select t.name from singer t where t.age <> 3")
'SELECT name FROM singer WHERE age != 3'
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.errors import QueryError
from xander.linking import string_literals_for_unknown_quoted
from xander.schema import Schema

_SAFE_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _NormalizedSQLite(SQLite):
    class Generator(SQLite.Generator):
        TRANSFORMS = {
            **SQLite.Generator.TRANSFORMS,
            exp.NEQ: lambda self, e: self.binary(e, "!="),
        }


def _reserved(dialect: str) -> set[str]:
    from sqlglot.tokens import Tokenizer

    return {k.upper() for k in Tokenizer.KEYWORDS if k.isalpha()}


_RESERVED = _reserved("sqlite")


def _base_tables(scope: Scope) -> list[exp.Table]:
    select = scope.expression
    if not isinstance(select, exp.Select):
        return []
    out = []
    from_ = select.args.get("from_") or select.args.get("from")
    items = ([from_.this] if from_ is not None else []) + [
        j.this for j in select.args.get("joins") or []]
    for item in items:
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            if item.name.lower() not in {c.lower() for c in scope.cte_sources}:
                out.append(item)
    return out


def normalize_expr(tree: exp.Expression, schema: Schema | None = None) -> exp.Expression:
    """Normalize a parsed query in place (see the module docstring) and return it.

    All decisions are taken on the original names first and applied afterwards, so renaming
    an outer alias never confuses the resolution of an inner (correlated) reference.
    """
    if schema is not None:
        tree = string_literals_for_unknown_quoted(tree, schema)
    scopes = traverse_scope(tree)
    plans: dict[int, tuple[dict[str, str], bool, list[exp.Table]]] = {}
    counter = 0
    uses = Counter(t.name.lower() for t in tree.find_all(exp.Table))
    for scope in reversed(scopes):  # outer scopes first: T1, T2 ... in reading order
        tables = _base_tables(scope)
        if not tables or len(scope.selected_sources) != len(tables) or len(
                {t.alias_or_name.lower() for t in tables}) != len(tables):
            continue  # derived tables, CTE references or self-joins without aliases: keep
        single = len(tables) == 1
        if single and tables[0].alias and uses[tables[0].name.lower()] > 1:
            continue  # its alias tells it apart from another scope's use of the same table
        mapping = {}
        for t in tables:
            if single:
                mapping[t.alias_or_name.lower()] = t.name
            else:
                counter += 1
                mapping[t.alias_or_name.lower()] = f"T{counter}"
        plans[id(scope.expression)] = (mapping, single, tables)
    changes: list[tuple[exp.Column, str | None]] = []
    for scope in scopes:
        own = [c for c in scope.columns if c.find_ancestor(exp.Select) is scope.expression]
        for col in own:
            q = col.table
            if q:
                s: Scope | None = scope
                while s is not None:
                    plan = plans.get(id(s.expression))
                    if plan is not None and q.lower() in plan[0]:
                        mapping, single, _ = plan
                        changes.append((col, None if single and s is scope
                                        else mapping[q.lower()]))
                        break
                    if q.lower() in {k.lower() for k in s.selected_sources}:
                        break  # a source this pass does not rename
                    s = s.parent
            elif schema is not None and id(scope.expression) in plans:
                mapping, single, tables = plans[id(scope.expression)]
                owners = [t for t in tables
                          if (st := schema.table(t.name)) is not None and st.column(col.name)]
                if not single and len(owners) == 1:
                    changes.append((col, mapping[owners[0].alias_or_name.lower()]))
    for col, table in changes:
        col.set("table", exp.to_identifier(table) if table else None)
    for mapping, single, tables in plans.values():
        for t in tables:
            new = mapping[t.alias_or_name.lower()]
            t.set("alias", None if single else exp.TableAlias(this=exp.to_identifier(new)))
    for ident in tree.find_all(exp.Identifier):
        if ident.quoted and _SAFE_IDENT.match(ident.name) and ident.name.upper() not in _RESERVED:
            ident.set("quoted", False)
    return tree


def normalize(sql: str, dialect: str = "sqlite", schema: Schema | None = None) -> str:
    """The Normalized SQL spelling of ``sql`` (one statement).

    >>> normalize('SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.sid = T2.id')
    'SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.sid = T2.id'
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise QueryError(f"cannot parse the SQL: {str(exc).splitlines()[0]}") from exc
    tree = normalize_expr(tree, schema)
    out: Any = _NormalizedSQLite if dialect == "sqlite" else dialect
    return tree.sql(dialect=out, normalize_functions="upper")
