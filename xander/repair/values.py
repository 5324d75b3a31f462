"""The values repair: a string literal that is not a value of its column becomes one.

For each literal a query compares with a column (``xander.values.comparisons``) that the value
index does not hold as written, the options, best first:

- the stored spelling, when it differs only in case or surrounding spaces;
- the column that does hold the literal (``value-elsewhere``): in the same table, or in a table
  the query already has, the comparison just moves there; otherwise that table is joined along
  the shortest foreign-key path from the column's table (``join_along``) and the comparison
  moves to the joined table: ``countrylanguage.CountryCode = 'Aruba'`` becomes a join to
  ``country`` and ``country.Name = 'Aruba'``;
- a value of the same column that the question names (``ValueIndex.mentions``);
- the nearest value of the column (rapidfuzz), when it is close.

The first fix applies every problem's first option; the next ones swap in one other option
each.  The rule answers the ``values`` checker's codes and an empty result, so it also works with
that checker switched off; on an empty result it finds what the ``literal`` rule finds (case and
spaces) and more, and ``repairs_for`` drops the fixes that repeat one.  It answers an engine
error too, for the one value mistake an engine refuses: a name compared with a number column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from xander.repair.base import Fix, join_along
from xander.schema import Schema
from xander.values import (
    Comparison,
    ValueIndex,
    caseless_op,
    comparisons,
    holders,
    index_for,
    looks_numeric,
    owner,
    padded_only,
    resolve,
    sql_string,
)

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

VALUE_CODES = frozenset({"value-case", "value-missing", "value-elsewhere"})
MAX_OPTIONS = 3  # options per literal
MAX_FIXES = 4  # fixes per candidate


@dataclass(frozen=True, slots=True)
class Option:
    """One way to mend one comparison: a new literal, and maybe a new column (``table.column``)."""

    value: str
    table: str = ""  # set when the comparison moves to another column
    column: str = ""
    what: str = ""


def _full(schema: Schema, name: str) -> str:
    """The lower-case name of the table ``name`` looks up (``sales.orders`` for a bare
    ``orders`` one schema has); as given when it names none."""
    found = schema.table(name)
    return (found.name if found is not None else name).lower()


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}


def _overlap(column: str, question: str) -> int:
    """How many words a column's name shares with the question (stems ignore a final s).

    >>> _overlap("AirportName", "Which city is the Alton airport in?"), _overlap("City", "towns")
    (1, 0)
    """
    q = {w.rstrip("s") for w in _words(question)}
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).replace("_", " ")
    return len({w.rstrip("s") for w in _words(spaced)} & q)


def options(c: Comparison, index: ValueIndex, ctx: CheckContext) -> list[Option]:
    """The ways to mend ``c``, best first; [] when its literal is a value of its column."""
    schema = ctx.schema
    table = schema.table(c.table)
    column = table.column(c.column.name) if table is not None else None
    if table is None or column is None:
        return []
    literal = c.text
    indexed = index.column(table.name, column.name) is not None
    m = resolve(index, ctx.engine, table.name, column.name, literal) if indexed else None
    if m is not None and m.kind in ("exact", "unknown"):
        return []
    if m is not None and m.kind == "caseless":
        if caseless_op(c.op, schema.dialect) or m.value is None:
            return []
        return [Option(m.value, what=f"literal {sql_string(literal)} -> {sql_string(m.value)}")]
    if not indexed and looks_numeric(literal):
        return []
    out: list[Option] = []
    in_scope = {_full(schema, t) for _, t in c.sources}
    ranked = []
    for t, col, value in holders(index, ctx.engine, literal, skip=[(table.name, column.name)]):
        if t.lower() == table.name.lower() or _full(schema, t) in in_scope:
            hops = 0
        else:
            path = schema.join_path(table.name, t)
            if not path:
                continue
            hops = len(path)
        ranked.append((hops, -_overlap(col, ctx.task.question), t, col, value))
    if any(r[0] == 0 for r in ranked):  # a column the query has explains it: no joins
        ranked = [r for r in ranked if r[0] == 0]
    for hops, _, t, col, value in sorted(ranked, key=lambda r: r[:2]):
        how = "" if hops == 0 else f", joining {t}"
        value = literal if padded_only(value, literal) else value  # padding: no difference
        out.append(Option(value, t, col, f"compare {sql_string(literal)} with {t}.{col}{how}"))
    if indexed:
        for t, col, value in index.mentions(ctx.task.question, limit=12):
            if (t.lower(), col.lower()) == (table.name.lower(), column.name.lower()) and (
                    value != literal):
                out.append(Option(value, what=f"literal {sql_string(literal)} -> "
                                              f"{sql_string(value)} (named in the question)"))
        if m is not None and m.kind == "fuzzy" and m.value is not None:
            out.append(Option(m.value, what=f"literal {sql_string(literal)} -> "
                                            f"{sql_string(m.value)} (nearest value)"))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for o in out:
        if (o.value, o.table.lower(), o.column.lower()) not in seen:
            seen.add((o.value, o.table.lower(), o.column.lower()))
            unique.append(o)
    return unique[:MAX_OPTIONS]


def _qualify_scope(root: exp.Expression, select: exp.Expression, schema: Schema) -> None:
    """Qualify the unqualified columns of ``select``'s own scope (and spell ``*`` per table),
    so that a table joined into it cannot make them ambiguous."""
    scope = next((s for s in traverse_scope(root) if s.expression is select), None)
    if scope is None or not isinstance(select, exp.Select):
        return
    own = {a.lower() for a in scope.selected_sources}
    names = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
    for col in scope.columns:
        if col.table or isinstance(col.this, exp.Star) or col.name.lower() in names:
            continue
        alias, _ = owner(col, scope, schema)
        if alias and alias.lower() in own:
            col.set("table", exp.to_identifier(alias))
    if any(isinstance(e, exp.Star) for e in select.expressions):
        stars = [exp.Column(this=exp.Star(), table=exp.to_identifier(a))
                 for a in scope.selected_sources]
        new = []
        for e in select.expressions:
            new.extend(s.copy() for s in stars) if isinstance(e, exp.Star) else new.append(e)
        select.set("expressions", new)


def _apply(c: Comparison, o: Option, root: exp.Expression, schema: Schema) -> bool:
    """Mend ``c`` (a comparison of ``root``) with ``o``, in place; False when it cannot."""
    if o.table:
        alias = None
        if o.table.lower() == c.table.lower():
            alias = c.alias
        else:
            alias = next((a for a, t in c.sources
                          if _full(schema, t) == _full(schema, o.table)), None)
        if alias is None:
            select = c.select
            if not isinstance(select, exp.Select):
                return False
            path = schema.join_path(c.table, o.table)
            if not path:
                return False
            _qualify_scope(root, select, schema)
            taken = {a.lower() for a, _ in c.sources} | {
                t.alias_or_name.lower() for t in root.find_all(exp.Table)}
            joined = {c.table.lower(): c.alias}
            for join in join_along(path, joined, taken):
                select.join(join, copy=False)
            alias = joined[o.table.lower()]
            c.column.set("table", exp.to_identifier(alias))
        elif c.column.table or len(c.sources) > 1:
            c.column.set("table", exp.to_identifier(alias))
        c.column.set("this", exp.to_identifier(o.column))
    c.literal.replace(exp.Literal.string(o.value))
    return True


class ValueRepair:
    """A literal that is not a value of its column: its stored spelling, the column that holds
    it (joined along foreign keys), a value the question names, or the nearest value."""

    name = "values"
    answers = frozenset({*VALUE_CODES, "empty-result", "engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        comps = comparisons(tree, ctx.schema)
        if not comps:
            return
        index = index_for(ctx.engine, ctx.schema)
        codes = {d.code for d in cand.diagnostics}
        # an engine error alone (the checkers stopped before ``values``): only a name compared
        # with a non-text column (DuckDB: "Could not convert string 'Ada' to INT32") is mended
        typed_only = not codes & (VALUE_CODES | {"empty-result"})
        plans = [(i, options(c, index, ctx)) for i, c in enumerate(comps) if c.table and not (
            typed_only and index.column(c.table, c.column.name) is not None)]
        plans = [(i, opts) for i, opts in plans if opts]
        if not plans:
            return
        choices = [dict.fromkeys([i for i, _ in plans], 0)]
        for i, opts in plans:
            for j in range(1, len(opts)):
                choices.append({**choices[0], i: j})
        made = 0
        for choice in choices:
            fixed = tree.copy()
            again = comparisons(fixed, ctx.schema)
            if len(again) != len(comps):
                continue
            done = []
            ok = True
            # joins change the tree's scopes: mend in place, last comparison first
            for i in sorted(choice, reverse=True):
                o = dict(plans)[i][choice[i]]
                if not _apply(again[i], o, fixed, ctx.schema):
                    ok = False
                    break
                done.append(o.what)
            if ok:
                yield Fix(fixed, "; ".join(reversed(done)))
                made += 1
                if made == MAX_FIXES:
                    return
