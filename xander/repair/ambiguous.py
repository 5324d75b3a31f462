"""The ambiguous-column repair: the engine refused an unqualified column several tables have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from xander.repair.base import Fix, engine_errors, tables_in_scope
from xander.schema import Schema

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


def qualify(tree: exp.Expression, name: str, schema: Schema) -> Fix:
    """A copy of ``tree`` whose unqualified columns ``name`` name the first table that has it.

    >>> from xander.linking import parse
    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("a", (Column("id"), Column("x"))), Table("b", (Column("id"),))))
    >>> fix = qualify(parse("SELECT id FROM a JOIN b ON x = 1", "sqlite"), "id", s)
    >>> fix.tree.sql("sqlite"), fix.what
    ('SELECT a.id FROM a JOIN b ON x = 1', 'qualify ambiguous id')
    """
    tree = tree.copy()
    for scope in traverse_scope(tree):
        for col in scope.columns:
            if col.name.lower() == name.lower() and not col.table:
                tables = tables_in_scope(scope)
                having = [a for a, t in tables if (st := schema.table_of(t)) and st.column(name)]
                if having:
                    col.set("table", exp.to_identifier(having[0]))
    return Fix(tree, f"qualify ambiguous {name}")


class QualifyAmbiguous:
    """An engine error naming an ambiguous column: qualify that column (``qualify``).

    The error text is read with the engine profile's ``ambiguous-column`` pattern (its ``name``
    group); an engine without one gets no such repair.
    """

    name = "ambiguous"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for m in engine_errors(cand, ctx, "ambiguous-column", self.answers):
            yield qualify(tree, m.group("name").split(".")[-1], ctx.schema)
