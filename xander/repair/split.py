"""The split repair: "both" the LM flattened into one WHERE, written as INTERSECT again.

``SELECT country FROM singer WHERE age > 40 AND age < 30`` (no row is both) becomes
``SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age <
30`` (a country with one singer of each); every other condition stays in both halves.  It
answers the ``conditions`` checker's ``never-true`` (``xander.conditions``) when the conflict is
two conjuncts of the outer SELECT and that SELECT returns rows as they are (no aggregate, GROUP
BY, ORDER BY or LIMIT, which a set operation would change).

A ``redundant-exclusion`` (``pettype = 'dog' AND pettype <> 'cat'``) is not split into EXCEPT:
EXCEPT is a set operation, and where the question's answer keeps duplicates (a student with two
dogs, twice: Spider dev's gold for "students who have a dog but not a cat" is ``NOT IN``) it
would lose them, while ``NOT IN`` on the projected columns would lose the dedup of gold answers
written with EXCEPT.  The warning alone sends the search on to a query the LM writes itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander.conditions import Conflict, conflicts, conjuncts
from xander.repair.base import Fix

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


def _plain(select: exp.Select) -> bool:
    """Rows as they are: a set operation of two such SELECTs means what the question did."""
    return not any(select.args.get(k) for k in ("group", "having", "order", "limit", "offset")) \
        and not any(e.find(exp.AggFunc, exp.Window) for e in select.expressions)


def _without(select: exp.Select, drop: int) -> exp.Select:
    """A copy of ``select`` whose WHERE lacks conjunct ``drop``."""
    copy = select.copy()
    where = copy.args["where"]
    kept = [c.copy() for i, c in enumerate(list(conjuncts(where.this))) if i != drop]
    copy.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    return copy


class SplitConjunction:
    """``WHERE a AND b`` that no row satisfies -> ``... WHERE a INTERSECT ... WHERE b``."""

    name = "split"
    answers = frozenset({"never-true"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        if not isinstance(tree, exp.Select) or not _plain(tree):
            return
        found = conflicts(tree)
        if len(found) != 1 or found[0].kind != "never-true":
            return
        conflict: Conflict = found[0]
        parts = list(conjuncts(tree.args["where"].this))
        nodes = list(dict.fromkeys(id(b.node) for b in conflict.bounds))
        if len(nodes) != 2:
            return
        first, second = (next(i for i, c in enumerate(parts) if id(c) == n) for n in nodes)
        yield Fix(exp.Intersect(this=_without(tree, second), expression=_without(tree, first),
                                distinct=True),
                  f"split {conflict.column} into INTERSECT")
