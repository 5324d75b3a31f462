"""The text-as-number repair: the engine has no aggregate of a text column that holds numbers.

SQLite averages the digits of a ``TEXT`` column; PostgreSQL (``function avg(text) does not
exist``) and DuckDB (``No function matches ... 'avg(VARCHAR)'``) refuse.  Databases loaded from
CSV files or from SQLite keep such columns, so the repair casts the aggregate's argument to a
number.  The error text is read with the profile's ``text-aggregate`` pattern (its ``name``
group is the function); an engine without one (SQLite) gets no such repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander.repair.base import Fix, engine_errors

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


def cast_arguments(tree: exp.Expression, function: str) -> Fix | None:
    """A copy of ``tree`` whose aggregates called ``function`` take their argument as a number.

    >>> from xander.linking import parse
    >>> fix = cast_arguments(parse("SELECT AVG(age), MAX(age) FROM dogs", "postgres"), "avg")
    >>> fix.tree.sql("postgres"), fix.what
    ('SELECT AVG(CAST(age AS DOUBLE PRECISION)), MAX(age) FROM dogs', 'avg of age as a number')
    """
    tree = tree.copy()
    cast = []
    for node in tree.find_all(exp.AggFunc):
        arg = node.this
        if node.sql_name().lower() != function.lower() or not isinstance(arg, exp.Expression):
            continue
        if isinstance(arg, (exp.Cast, exp.Star, exp.Distinct)):
            continue
        node.set("this", exp.Cast(this=arg.copy(), to=exp.DataType.build("DOUBLE")))
        cast.append(arg.sql())
    if not cast:
        return None
    return Fix(tree, f"{function.lower()} of {', '.join(dict.fromkeys(cast))} as a number")


class TextAsNumber:
    """An engine error saying an aggregate has no text form: cast its argument
    (``cast_arguments``)."""

    name = "numeric"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for m in engine_errors(cand, ctx, "text-aggregate", self.answers):
            fix = cast_arguments(tree, m.group("name"))
            if fix is not None:
                yield fix
