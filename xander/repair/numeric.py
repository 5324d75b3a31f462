"""The text-as-number repair: the engine has no aggregate of a text column that holds numbers.

SQLite averages the digits of a ``TEXT`` column; PostgreSQL (``function avg(text) does not
exist``) and DuckDB (``No function matches ... 'avg(VARCHAR)'``) refuse.  Databases loaded from
CSV files or from SQLite keep such columns, so the repair casts the aggregate's argument to a
number; a second repair casts only the values that read as numbers (``'null'``, ``'n/a'``
become NULL, which the aggregate skips), for columns where a plain cast fails on such text
(PostgreSQL: ``invalid input syntax for type double precision``).  The error text is read with
the profile's ``text-aggregate`` pattern (its ``name`` group is the function); an engine
without one (SQLite) gets no such repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from xander.repair.base import Fix, engine_errors

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


#: text that reads as a number (what a cast to a float accepts, blanks around it allowed)
NUMBER_PATTERN = r"^\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?\s*$"


def _as_number(arg: exp.Expression, skip_text: bool) -> exp.Expression:
    cast = exp.Cast(this=arg.copy(), to=exp.DataType.build("DOUBLE"))
    if not skip_text:
        return cast
    test = exp.RegexpLike(this=arg.copy(), expression=exp.Literal.string(NUMBER_PATTERN))
    return exp.Case(ifs=[exp.If(this=test, true=cast)])


def cast_arguments(tree: exp.Expression, function: str, skip_text: bool = False) -> Fix | None:
    """A copy of ``tree`` whose aggregates called ``function`` take their argument as a number;
    ``skip_text``: only the values that read as numbers (``NUMBER_PATTERN``), the rest NULL.

    >>> from xander.linking import parse
    >>> fix = cast_arguments(parse("SELECT AVG(age), MAX(age) FROM dogs", "postgres"), "avg")
    >>> fix.tree.sql("postgres"), fix.what
    ('SELECT AVG(CAST(age AS DOUBLE PRECISION)), MAX(age) FROM dogs', 'avg of age as a number')
    >>> fix = cast_arguments(parse("SELECT AVG(hp) FROM cars", "duckdb"), "avg", skip_text=True)
    >>> fix.tree.sql("duckdb").replace(NUMBER_PATTERN, "<number>"), fix.what
    ("SELECT AVG(CASE WHEN REGEXP_MATCHES(hp, '<number>') THEN CAST(hp AS DOUBLE) END) FROM cars", 'avg of hp as a number, text that is no number skipped')
    """
    tree = tree.copy()
    cast = []
    for node in tree.find_all(exp.AggFunc):
        arg = node.this
        if node.sql_name().lower() != function.lower() or not isinstance(arg, exp.Expression):
            continue
        if isinstance(arg, (exp.Cast, exp.Star, exp.Distinct)):
            continue
        node.set("this", _as_number(arg, skip_text))
        cast.append(arg.sql())
    if not cast:
        return None
    skipped = ", text that is no number skipped" if skip_text else ""
    return Fix(tree,
               f"{function.lower()} of {', '.join(dict.fromkeys(cast))} as a number{skipped}")


class TextAsNumber:
    """An engine error saying an aggregate has no text form: cast its argument
    (``cast_arguments``), then, second, cast only the values that read as numbers (the first
    fails where the column holds text such as ``'null'``)."""

    name = "numeric"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for m in engine_errors(cand, ctx, "text-aggregate", self.answers):
            for skip_text in (False, True):
                fix = cast_arguments(tree, m.group("name"), skip_text)
                if fix is not None:
                    yield fix
