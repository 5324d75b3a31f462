"""Repairs from example rows: the result ran but misses a row the user said it must contain
(or has the wrong number of columns), so a direction or an operator is likely backwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander.engines import QueryResult
from xander.repair.base import Fix

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

_EXAMPLE_CODES = frozenset({"missing-example", "arity"})
SWAPS: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.Min: exp.Max, exp.Max: exp.Min, exp.Count: exp.Sum, exp.Sum: exp.Count,
    exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE,
}


def _has_examples(cand: Candidate, ctx: CheckContext) -> bool:
    return bool(ctx.task.examples) and isinstance(cand.result, QueryResult)


class FlipOrder:
    """One ORDER BY key's direction flipped (ASC ↔ DESC), one candidate per key."""

    name = "order"
    answers = _EXAMPLE_CODES

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        if not _has_examples(cand, ctx):
            return
        for i, _ in enumerate(tree.find_all(exp.Ordered)):
            t = tree.copy()
            o = list(t.find_all(exp.Ordered))[i]
            desc = not o.args.get("desc")
            o.set("desc", desc)
            o.set("nulls_first", not desc)  # the engines' default NULL order for the new direction
            yield Fix(t, "flip ORDER BY direction")


class SwapOperator:
    """One of MIN/MAX, COUNT/SUM, < / >, <= / >= swapped for its partner, one per occurrence."""

    name = "swap"
    answers = _EXAMPLE_CODES

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        if not _has_examples(cand, ctx):
            return
        nodes = [n for n in tree.walk() if type(n) in SWAPS]
        for i, n in enumerate(nodes):
            t = tree.copy()
            m = [x for x in t.walk() if type(x) in SWAPS][i]
            new = SWAPS[type(m)](**m.args)
            m.replace(new)
            yield Fix(t, f"swap {type(n).__name__} -> {type(new).__name__}")
