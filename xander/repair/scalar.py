"""The scalar repair: a comparison with a subquery that returns many rows reads every row.

``=`` becomes ``IN`` and ``<>`` ``NOT IN`` (``stuid = (SELECT stuid ... WHERE lname = 'Smith')``
with two Smiths: both); ``>``, ``>=``, ``<``, ``<=`` compare with the subquery's ``MAX`` or
``MIN`` (``resolution > (SELECT MAX(resolution) ...)``).  Which extreme: a superlative word of
the question picks it (``cue_words.SCALAR_MAX`` / ``SCALAR_MIN``: "higher than the largest"),
otherwise "greater than all" (``>`` MAX, ``<`` MIN) comes first and the other reading second.
It answers the ``scalar`` checker's ``scalar-many-rows`` (``xander.scalar``) when the subquery
selects one plain column (no aggregate, GROUP BY or LIMIT of its own).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander import cue_words as words
from xander.repair.base import Fix
from xander.scalar import many_row_subqueries

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

_ALL_READING = {exp.GT: "MAX", exp.GTE: "MAX", exp.LT: "MIN", exp.LTE: "MIN"}


def _extremes(cmp: exp.Expression, question: str) -> tuple[str, ...]:
    """MAX / MIN in the order to try for an ordering comparison ``cmp``."""
    said = set(re.findall(r"[a-z]+", question.lower()))
    wants_max, wants_min = bool(said & set(words.SCALAR_MAX)), bool(said & set(words.SCALAR_MIN))
    first = ("MAX" if wants_max and not wants_min else "MIN" if wants_min and not wants_max
             else _ALL_READING[type(cmp)])
    return (first, "MIN" if first == "MAX" else "MAX")


def _one_plain_column(select: exp.Select) -> bool:
    only = select.expressions[0] if len(select.expressions) == 1 else None
    return (only is not None and not isinstance(only, exp.Star) and not only.find(exp.AggFunc)
            and not any(select.args.get(k) for k in ("group", "having", "limit", "offset")))


class ScalarSubquery:
    """``x > (SELECT y ...)`` of many rows -> ``x > (SELECT MAX(y) ...)``; ``=`` -> ``IN``."""

    name = "scalar"
    answers = frozenset({"scalar-many-rows"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        # one at a time: a second is judged again once this one is fixed (repair_rounds)
        found = many_row_subqueries(tree, ctx.engine, ctx.schema.dialect, ctx.timeout)[:1]
        if not found:
            return
        sq = found[0]
        cmp, inner = sq.parent, sq.this
        path = next(i for i, node in enumerate(tree.find_all(exp.Subquery)) if node is sq)
        if isinstance(cmp, (exp.EQ, exp.NEQ)):
            fixed = tree.copy()
            target = list(fixed.find_all(exp.Subquery))[path]
            other = target.parent.left if target.parent.right is target else target.parent.right
            member = exp.In(this=other.copy(), query=target.copy())
            target.parent.replace(exp.Not(this=member) if isinstance(cmp, exp.NEQ) else member)
            yield Fix(fixed, f"{'NOT IN' if isinstance(cmp, exp.NEQ) else 'IN'} for a subquery "
                             "of many rows")
            return
        if not isinstance(inner, exp.Select) or not _one_plain_column(inner):
            return
        for extreme in _extremes(cmp, ctx.task.question):
            fixed = tree.copy()
            target = list(fixed.find_all(exp.Subquery))[path]
            column = target.this.expressions[0]
            value = column.unalias() if isinstance(column, exp.Alias) else column
            target.this.set("expressions", [exp.func(extreme, value.copy())])
            yield Fix(fixed, f"{extreme} of a subquery of many rows")
