"""AST-level repairs with sqlglot: each takes a failed candidate and proposes fixed queries.

Repairs work on the parsed tree and render it back in the engine's dialect, so string literals
keep their exact case.  What each repair fixes:

- ``requalify``: a column qualified with an alias whose table lacks it (the small models'
  commonest error) gets the alias of the in-scope table that has it;
- ``join``: a column no table in scope has is reached by joining the table that has it along the
  shortest foreign-key path (networkx) from a table in scope;
- ``closest``: an unknown column or table becomes the closest existing name (difflib);
- ``ambiguous``: an unqualified column several tables have is qualified with the first one;
- ``literal``: on an empty result, a string literal compared to a column is replaced by the
  column's value that equals it ignoring case;
- with example rows only (they say what the answer must contain): ``order`` flips ASC/DESC,
  ``aggregate`` swaps MIN/MAX and COUNT/SUM, ``compare`` swaps < and >.

``repairs_for`` returns ``(sql, description)`` pairs, at most a few, best first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.engines import QueryResult
from xander.errors import QueryError
from xander.linking import LinkProblem, link, parse, string_literals_for_unknown_quoted
from xander.schema import Schema
from xander.scoring import Candidate

if TYPE_CHECKING:  # only for annotations: repair sits below the checkers
    from xander.checkers.base import CheckContext

MAX_REPAIRS = 4


def _sql(tree: exp.Expression, dialect: str) -> str:
    return tree.sql(dialect=dialect)


def _scope_of(tree: exp.Expression, node: exp.Expression) -> Scope | None:
    for scope in traverse_scope(tree):
        if any(c is node for c in scope.columns):
            return scope
    return None


def _tables_in_scope(scope: Scope) -> list[tuple[str, exp.Table]]:
    out = []
    s: Scope | None = scope
    while s is not None:
        for alias, src in s.selected_sources.items():
            node = src[1] if isinstance(src, tuple) else src
            if isinstance(node, exp.Table):
                out.append((alias, node))
        s = s.parent
    return out


def _tautology(col: exp.Column) -> bool:
    """``T1.a = T1.a``: a requalified join condition that compares a column with itself."""
    parent = col.parent
    return isinstance(parent, exp.EQ) and parent.this == parent.expression


def _fix_column(
    tree: exp.Expression, problem: LinkProblem, schema: Schema
) -> tuple[exp.Expression, str] | None:
    """Fix one unknown column / alias in a copy of ``tree``."""
    col = problem.node
    if not isinstance(col, exp.Column):
        return None
    scope = _scope_of(tree, col)
    if scope is None:
        return None
    in_scope = _tables_in_scope(scope)
    name = col.name
    having = [(a, t) for a, t in in_scope if (st := schema.table(t.name)) and st.column(name)]
    join = col.find_ancestor(exp.Join)
    if join is not None and join.args.get("on") is not None and (fixed := _rejoin(
            tree, join, schema)):
        return fixed
    for alias, _ in having:
        old = col.table
        col.set("table", exp.to_identifier(alias) if len(in_scope) > 1 or old else None)
        if _tautology(col):
            col.set("table", exp.to_identifier(old) if old else None)
            continue
        return tree, f"requalify {old + '.' if old else ''}{name} -> {alias}.{name}"
    # join the table that has the column along a foreign-key path
    select = scope.expression
    owners = schema.tables_with_column(name)
    if isinstance(select, exp.Select) and owners and in_scope:
        best_path = None
        for _, t in in_scope:
            for owner in owners:
                path = schema.join_path(t.name, owner.name)
                if path and (best_path is None or len(path) < len(best_path[1])):
                    best_path = (t, path, owner)
        if best_path is not None:
            start, path, owner = best_path
            aliases = {a.lower() for a, _ in in_scope}
            current = {start.name.lower(): start.alias_or_name}
            for fk in path:
                here, there = (fk.table, fk.ref_table) if fk.table.lower() in current else (
                    fk.ref_table, fk.table)
                here_cols, there_cols = (fk.columns, fk.ref_columns) if here == fk.table else (
                    fk.ref_columns, fk.columns)
                n = len(aliases) + 1
                while f"t{n}" in aliases:
                    n += 1
                alias = f"T{n}"
                aliases.add(alias.lower())
                on = exp.and_(*[
                    exp.EQ(this=exp.column(hc, current[here.lower()]), expression=exp.column(tc, alias))
                    for hc, tc in zip(here_cols, there_cols)
                ])
                select.join(exp.alias_(exp.to_table(there), alias, table=True), on=on, copy=False)
                current[there.lower()] = alias
            col.set("table", exp.to_identifier(current[owner.name.lower()]))
            return tree, f"join {owner.name} for {name}"
    # closest existing column among the tables in scope
    names = {c.name: a for a, t in in_scope if (st := schema.table(t.name)) for c in st.columns}
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.75)
    if close:
        real = lower[close[0]]
        col.set("this", exp.to_identifier(real))
        if col.table or len(in_scope) > 1:
            col.set("table", exp.to_identifier(names[real]))
        return tree, f"closest column {name} -> {real}"
    return None


def _rejoin(tree: exp.Expression, join: exp.Join, schema: Schema) -> tuple | None:
    """Replace a join whose ON clause uses columns its tables lack by the foreign-key path."""
    select = join.parent
    target = join.this
    if not isinstance(select, exp.Select) or not isinstance(target, exp.Table):
        return None
    joins = select.args.get("joins") or []
    idx = next((i for i, j in enumerate(joins) if j is join), None)
    first = select.args.get("from_") or select.args.get("from")
    if idx is None or first is None or not isinstance(first.this, exp.Table):
        return None
    earlier = [first.this] + [j.this for j in joins[:idx] if isinstance(j.this, exp.Table)]
    paths = [(t, schema.join_path(t.name, target.name)) for t in earlier]
    paths = [(t, p) for t, p in paths if p]
    if not paths:
        return None
    start, path = min(paths, key=lambda tp: len(tp[1]))
    used = {t.alias_or_name.lower() for t in select.find_all(exp.Table)}
    current = {start.name.lower(): start.alias_or_name}
    for t in earlier:
        current.setdefault(t.name.lower(), t.alias_or_name)
    new_joins = []
    for k, fk in enumerate(path):
        here, there = (fk.table, fk.ref_table) if fk.table.lower() in current else (
            fk.ref_table, fk.table)
        here_cols, there_cols = (fk.columns, fk.ref_columns) if here == fk.table else (
            fk.ref_columns, fk.columns)
        if k == len(path) - 1:
            alias = target.alias_or_name
        else:
            n = len(used) + 1
            while f"t{n}" in used:
                n += 1
            alias = f"T{n}"
            used.add(alias.lower())
        on = exp.and_(*[
            exp.EQ(this=exp.column(hc, current[here.lower()]), expression=exp.column(tc, alias))
            for hc, tc in zip(here_cols, there_cols)
        ])
        table = exp.alias_(exp.to_table(there), alias, table=True) if alias != there else \
            exp.to_table(there)
        new_joins.append(exp.Join(this=table, on=on))
        current[there.lower()] = alias
    select.set("joins", joins[:idx] + new_joins + joins[idx + 1:])
    return tree, f"rejoin {target.name} along foreign keys"


def _fix_table(tree: exp.Expression, problem: LinkProblem, schema: Schema) -> tuple | None:
    table = problem.node
    if not isinstance(table, exp.Table):
        return None
    close = difflib.get_close_matches(table.name.lower(), [t.lower() for t in schema.table_names],
                                      n=1, cutoff=0.7)
    if not close:
        return None
    real = schema.table(close[0])
    assert real is not None
    table.set("this", exp.to_identifier(real.name))
    return tree, f"closest table {problem.name} -> {real.name}"


def link_repairs(tree: exp.Expression, schema: Schema) -> tuple[exp.Expression, list[str]] | None:
    """Fix every linking problem of ``tree`` (a copy), one at a time; None if one is unfixable."""
    tree = tree.copy()
    done: list[str] = []
    for _ in range(8):
        problems = link(tree, schema)
        if not problems:
            return tree, done
        p = problems[0]
        fixed = _fix_table(tree, p, schema) if p.kind == "unknown-table" else _fix_column(
            tree, p, schema)
        if fixed is None:
            return None
        tree, what = fixed
        done.append(what)
    return None


def _ambiguous(tree: exp.Expression, message: str, schema: Schema) -> tuple | None:
    m = re.search(r"ambiguous column name: (\S+)", message)
    if not m:
        return None
    name = m.group(1).split(".")[-1]
    tree = tree.copy()
    for scope in traverse_scope(tree):
        for col in scope.columns:
            if col.name.lower() == name.lower() and not col.table:
                tables = _tables_in_scope(scope)
                having = [a for a, t in tables if (st := schema.table(t.name)) and st.column(name)]
                if having:
                    col.set("table", exp.to_identifier(having[0]))
    return tree, f"qualify ambiguous {name}"


def _literal_case(tree: exp.Expression, ctx: CheckContext) -> tuple | None:
    tree = tree.copy()
    changed = []
    for cmp in tree.find_all(exp.EQ, exp.NEQ):
        col, lit = cmp.this, cmp.expression
        if isinstance(lit, exp.Column) and isinstance(col, exp.Literal):
            col, lit = lit, col
        if not (isinstance(col, exp.Column) and isinstance(lit, exp.Literal) and lit.is_string):
            continue
        scope = _scope_of(tree, col)
        tables = _tables_in_scope(scope) if scope else []
        for alias, t in tables:
            if col.table and col.table.lower() != alias.lower():
                continue
            st = ctx.schema.table(t.name)
            if st is None or st.column(col.name) is None:
                continue
            value = lit.this.replace("'", "''")
            sql = (f'SELECT DISTINCT "{st.column(col.name).name}" FROM "{st.name}" WHERE '
                   f'lower(trim("{st.column(col.name).name}")) = lower(trim(\'{value}\')) LIMIT 2')
            try:
                rows = ctx.engine.execute(sql, timeout=2.0, max_rows=2).rows
            except QueryError:
                continue
            if len(rows) == 1 and isinstance(rows[0][0], str) and rows[0][0] != lit.this:
                changed.append(f"literal '{lit.this}' -> '{rows[0][0]}'")
                lit.replace(exp.Literal.string(rows[0][0]))
                break
    return (tree, "; ".join(changed)) if changed else None


def _example_mutations(tree: exp.Expression) -> Iterator[tuple[exp.Expression, str]]:
    for i, order in enumerate(tree.find_all(exp.Ordered)):
        t = tree.copy()
        o = list(t.find_all(exp.Ordered))[i]
        desc = not o.args.get("desc")
        o.set("desc", desc)
        o.set("nulls_first", not desc)  # the engines' default NULL order for the new direction
        yield t, "flip ORDER BY direction"
    swaps = {exp.Min: exp.Max, exp.Max: exp.Min, exp.Count: exp.Sum, exp.Sum: exp.Count,
             exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}
    nodes = [n for n in tree.walk() if type(n) in swaps]
    for i, n in enumerate(nodes):
        t = tree.copy()
        m = [x for x in t.walk() if type(x) in swaps][i]
        new = swaps[type(m)](**m.args)
        m.replace(new)
        yield t, f"swap {type(n).__name__} -> {type(new).__name__}"


def repairs_for(cand: Candidate, ctx: CheckContext) -> list[tuple[str, str]]:
    """Repaired versions of a failed (or empty-result) candidate: ``(sql, description)``."""
    tree = ctx.parsed.get(cand.sql) or parse(cand.sql, ctx.schema.dialect)
    if tree is None:
        return []
    tree = string_literals_for_unknown_quoted(tree, ctx.schema)
    dialect = ctx.schema.dialect
    out: list[tuple[str, str]] = []
    codes = {d.code for d in cand.diagnostics}
    if codes & {"unknown-column", "unknown-table", "unknown-alias"}:
        fixed = link_repairs(tree, ctx.schema)
        if fixed is not None:
            out.append((_sql(fixed[0], dialect), "; ".join(fixed[1])))
    for d in cand.diagnostics:
        if d.code == "engine-error":
            amb = _ambiguous(tree, d.message, ctx.schema)
            if amb is not None:
                out.append((_sql(amb[0], dialect), amb[1]))
    if "empty-result" in codes:
        lit = _literal_case(tree, ctx)
        if lit is not None:
            out.append((_sql(lit[0], dialect), lit[1]))
    if ctx.task.examples and isinstance(cand.result, QueryResult) and (
        "missing-example" in codes or "arity" in codes
    ):
        out.extend((_sql(t, dialect), what) for t, what in _example_mutations(tree))
    seen = {cand.sql}
    unique = []
    for sql, what in out:
        if sql not in seen:
            seen.add(sql)
            unique.append((sql, what))
    return unique[: MAX_REPAIRS * 2]
