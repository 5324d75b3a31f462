"""The literal repair: on an empty result, a string literal compared with a column becomes the
column's value that equals it ignoring case and surrounding spaces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander.errors import QueryError
from xander.repair.base import Fix, scope_of, tables_in_scope

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

LOOKUP_TIMEOUT_S = 2.0  # each value look-up; a slow one is skipped


class LiteralCase:
    """``WHERE country = 'france'`` → ``'France'`` when that is the one stored spelling."""

    name = "literal"
    answers = frozenset({"empty-result"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        tree = tree.copy()
        changed = []
        for cmp in tree.find_all(exp.EQ, exp.NEQ):
            col, lit = cmp.this, cmp.expression
            if isinstance(lit, exp.Column) and isinstance(col, exp.Literal):
                col, lit = lit, col
            if not (isinstance(col, exp.Column) and isinstance(lit, exp.Literal)
                    and lit.is_string):
                continue
            scope = scope_of(tree, col)
            tables = tables_in_scope(scope) if scope else []
            for alias, t in tables:
                if col.table and col.table.lower() != alias.lower():
                    continue
                st = ctx.schema.table_of(t)
                column = st.column(col.name) if st is not None else None
                if st is None or column is None:
                    continue
                value = lit.this.replace("'", "''")
                sql = (f'SELECT DISTINCT "{column.name}" FROM {st.sql_name} WHERE '
                       f'lower(trim("{column.name}")) = lower(trim(\'{value}\')) LIMIT 2')
                try:
                    rows = ctx.engine.execute(sql, timeout=LOOKUP_TIMEOUT_S, max_rows=2).rows
                except QueryError:
                    continue
                if len(rows) == 1 and isinstance(rows[0][0], str) and rows[0][0] != lit.this:
                    changed.append(f"literal '{lit.this}' -> '{rows[0][0]}'")
                    lit.replace(exp.Literal.string(rows[0][0]))
                    break
        if changed:
            yield Fix(tree, "; ".join(changed))
