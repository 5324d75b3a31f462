"""Values: every string literal a query compares with a column is a value of that column.

For each ``column = 'literal'`` (also ``!=``, ``<>``, ``IN``, ``LIKE`` without wildcards) whose
column belongs to a base table, the database's value index (``xander.values``, built once per
engine and cached on disk) says what the literal is:

- a stored value: nothing to say;
- a stored value but for case or surrounding spaces: ``value-case`` names the stored spelling
  (not for a LIKE / ILIKE that ignores case already);
- not a value of its column but one of another column: ``value-elsewhere`` names where (the
  model compared a country's name with a column of codes);
- none of these: ``value-missing`` names the nearest value, if any.

They are warnings, not errors: a question may name a value that is not in the data, and then an
empty answer is right; the search ranks and the ``values`` repair offers the stored spelling or
the column that holds the literal.  A literal compared with a non-text column is looked for in
other columns only (``'United Airlines'`` against an integer key), never reported missing.
"""

from __future__ import annotations

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.values import (
    caseless_op,
    comparisons,
    holders,
    index_for,
    looks_numeric,
    resolve,
    sql_string,
    texts,
)

MAX_REPORTED = 6  # comparisons reported per query


class ValueChecker:
    """Complete stage: string literals against the value index."""

    name = "values"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        comps = [c for c in comparisons(tree, ctx.schema) if c.table and c.text.strip()]
        if not comps:
            return []
        index = index_for(ctx.engine, ctx.schema)
        found: list[Diagnostic] = []
        seen: set[tuple[str, str, str]] = set()
        for c in comps:
            table = ctx.schema.table(c.table)
            column = table.column(c.column.name) if table is not None else None
            if table is None or column is None or (c.table.lower(), column.name.lower(),
                                                   c.text) in seen:
                continue
            seen.add((c.table.lower(), column.name.lower(), c.text))
            where = f"{table.name}.{column.name}"
            indexed = index.column(table.name, column.name) is not None
            m = resolve(index, ctx.engine, table.name, column.name, c.text) if indexed else None
            if m is not None and m.kind in ("exact", "unknown"):
                continue
            if m is not None and m.kind == "caseless":
                if not caseless_op(c.op, ctx.schema.dialect):
                    found.append(Diagnostic(
                        self.name, "value-case",
                        f"{c.render()}: {where} stores it as {sql_string(m.value or '')}",
                        "warning"))
                continue
            if not indexed and looks_numeric(c.text):
                continue
            other = holders(index, ctx.engine, c.text, skip=[(table.name, column.name)])
            if other:
                found.append(Diagnostic(
                    self.name, "value-elsewhere",
                    f"{c.render()}: {sql_string(c.text)} is not a value of {where}; "
                    f"it is in {texts(other[:3])}", "warning"))
            elif m is not None:
                near = f"; nearest {sql_string(m.value)}" if m.value is not None else ""
                found.append(Diagnostic(
                    self.name, "value-missing",
                    f"{c.render()}: {sql_string(c.text)} is not a value of {where}{near}",
                    "warning"))
            if len(found) >= MAX_REPORTED:
                break
        return found
