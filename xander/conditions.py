"""What a WHERE clause's conjunction says about each column: conditions that can never all hold,
and exclusions that say nothing.

"Countries with both a singer above 40 and a singer below 30" is set logic: the rows of one
condition intersected with the rows of the other.  The 0.5B model flattens it into one row that
must satisfy both, ``WHERE age > 40 AND age < 30``, which no row can; "stadiums with concerts in
both 2014 and 2015" becomes ``year = 2014 AND year = 2015``.  Such a query runs and returns
nothing (or a count of 0), and nothing about it looks wrong to the engine.  Likewise "students
with a dog but not a cat" flattened to ``pettype = 'dog' AND pettype <> 'cat'``: the exclusion
can never remove a row the equality kept, so the "not" of the question is lost.

``conflicts`` reads the top-level AND of one SELECT's WHERE (an OR, a subquery or a function
is opaque: nothing is inferred through it) and reports, per column as written (``T2.city``), a
``Conflict``: ``never-true`` when its comparisons with literals cannot all hold (two different
values, an empty range, a value outside the range, ``x = v AND x <> v``), or
``redundant-exclusion`` when it is equal to one value and "not equal" to another.  Literals that
read as numbers compare as numbers (``year = '2014'`` is ``year = 2014``, as SQLite's affinity
reads it); strings compare exactly.

Measured on Spider train (all 7,000 gold queries, ``benchmarks/fit_cues.py``): none has either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

__all__ = ["Bound", "Conflict", "conflicts", "conjuncts"]

_OPS: dict[type[exp.Expression], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
}
_MIRROR = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "=": "=", "<>": "<>"}


@dataclass(frozen=True, slots=True)
class Bound:
    """One conjunct comparing a column with a literal: ``column op value``."""

    op: str
    value: float | str
    #: the conjunct in the tree (an ``exp.EQ``, ``exp.Between``, ...)
    node: exp.Expression


@dataclass(frozen=True, slots=True)
class Conflict:
    """The comparisons of one column in one conjunction that cannot all hold, or that exclude
    nothing."""

    #: ``never-true`` or ``redundant-exclusion``
    kind: str
    #: the column as written, lower case (``t2.city``)
    column: str
    #: every comparison of that column with a literal in the conjunction, in order
    bounds: tuple[Bound, ...]

    def describe(self) -> str:
        shown = " AND ".join(f"{self.column} {b.op} {_shown(b.value)}" for b in self.bounds)
        if self.kind == "never-true":
            return f"no row can satisfy {shown}"
        return f"{shown}: the exclusion removes nothing the equality kept"


def _shown(value: float | str) -> str:
    return f"'{value}'" if isinstance(value, str) else f"{value:g}"


def conjuncts(condition: exp.Expression) -> Iterator[exp.Expression]:
    """The operands of a top-level AND chain (parentheses around an AND are looked through)."""
    if isinstance(condition, exp.And):
        yield from conjuncts(condition.left)
        yield from conjuncts(condition.right)
    elif isinstance(condition, exp.Paren) and isinstance(condition.this, exp.And):
        yield from conjuncts(condition.this)
    else:
        yield condition


def _value(node: exp.Expression | None) -> float | str | None:
    """A literal's value (numbers as floats, numeric strings too); None for anything else."""
    negative = False
    if isinstance(node, exp.Neg):
        node, negative = node.this, True
    if not isinstance(node, exp.Literal):
        return None
    text = node.this
    try:
        number = float(text)
    except ValueError:
        return None if negative else text
    return -number if negative else number


def _bounds(condition: exp.Expression) -> dict[str, list[Bound]]:
    found: dict[str, list[Bound]] = {}
    for c in conjuncts(condition):
        if isinstance(c, exp.Between):
            low, high = _value(c.args.get("low")), _value(c.args.get("high"))
            if isinstance(c.this, exp.Column) and low is not None and high is not None:
                key = c.this.sql().lower()
                found.setdefault(key, []).extend([Bound(">=", low, c), Bound("<=", high, c)])
            continue
        op = _OPS.get(type(c))
        if op is None:
            continue
        left, right = c.args.get("this"), c.args.get("expression")
        if isinstance(left, exp.Column) and (v := _value(right)) is not None:
            found.setdefault(left.sql().lower(), []).append(Bound(op, v, c))
        elif isinstance(right, exp.Column) and (v := _value(left)) is not None:
            found.setdefault(right.sql().lower(), []).append(Bound(_MIRROR[op], v, c))
    return found


def _holds(op: str, a: float | str, b: float | str) -> bool:
    """``a op b`` for two values of one kind."""
    return {"=": a == b, "<>": a != b, ">": a > b, ">=": a >= b,  # type: ignore[operator]
            "<": a < b, "<=": a <= b}[op]  # type: ignore[operator]


def _never_true(bounds: list[Bound]) -> bool:
    equal = [b for b in bounds if b.op == "="]
    if len({(type(b.value), b.value) for b in equal}) > 1:
        return True
    for e in equal:  # the one value must pass every other comparison of its kind
        if any(type(b.value) is type(e.value) and not _holds(b.op, e.value, b.value)
               for b in bounds if b is not e):
            return True
    lows = [b for b in bounds if b.op in (">", ">=")]
    highs = [b for b in bounds if b.op in ("<", "<=")]
    for lo in lows:
        for hi in highs:
            if type(lo.value) is not type(hi.value):
                continue
            if lo.value > hi.value or (  # type: ignore[operator]
                    lo.value == hi.value and (lo.op == ">" or hi.op == "<")):
                return True
    return False


def conflicts(select: exp.Select) -> list[Conflict]:
    """The columns whose comparisons in ``select``'s WHERE cannot all hold or exclude nothing."""
    where = select.args.get("where")
    if where is None:
        return []
    out = []
    for column, bounds in _bounds(where.this).items():
        if _never_true(bounds):
            out.append(Conflict("never-true", column, tuple(bounds)))
        elif any(b.op == "=" for b in bounds) and any(b.op == "<>" for b in bounds):
            out.append(Conflict("redundant-exclusion", column, tuple(bounds)))
    return out
