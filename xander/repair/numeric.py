"""The text-as-number repair: the engine has no aggregate of a text column that holds numbers.

SQLite averages the digits of a ``TEXT`` column; PostgreSQL (``function avg(text) does not
exist``) and DuckDB (``No function matches ... 'avg(VARCHAR)'``) refuse.  Databases loaded from
CSV files or from SQLite keep such columns, so the repair casts the aggregate's argument to a
number; a second repair, for columns where a plain cast fails on text that is no number
(PostgreSQL: ``invalid input syntax for type double precision``), reads each value as SQLite
reads text in arithmetic: the number it starts with (``'1988-04-30'`` is 1988), else 0
(``'null'``, ``'n/a'``), NULL staying NULL.  The engine's profile says how to take the number
a text starts with (``EngineProfile.text_number``); an engine without that skips the text that
is no number instead.  The error text is read with the profile's ``text-aggregate`` pattern (its
``name`` group is the function); an engine without one (SQLite) gets no such repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from xander.engines.profile import dialect_profile
from xander.repair.base import Fix, engine_errors

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


#: text that reads as a number (what a cast to a float accepts, blanks around it allowed)
NUMBER_PATTERN = r"^\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?\s*$"
#: the number text starts with, as SQLite reads it (``EngineProfile.text_number``'s ``{p}``)
NUMBER_PREFIX = r"^\s*[-+]?(?:[0-9]+[.]?[0-9]*|[.][0-9]+)(?:[eE][-+]?[0-9]+)?"


def _as_number(arg: exp.Expression, as_sqlite: bool, dialect: str) -> exp.Expression:
    cast = exp.Cast(this=arg.copy(), to=exp.DataType.build("DOUBLE"))
    if not as_sqlite:
        return cast
    template = dialect_profile(dialect).text_number
    if not template:  # no way to take the number a text starts with: skip text that is none
        test = exp.RegexpLike(this=arg.copy(), expression=exp.Literal.string(NUMBER_PATTERN))
        return exp.Case(ifs=[exp.If(this=test, true=cast)])
    prefix = sqlglot.parse_one(template.replace("{p}", NUMBER_PREFIX), read=dialect)
    for x in list(prefix.find_all(exp.Column)):
        if x.name == "X":
            x.replace(arg.copy())
    zero = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=arg.copy(), expression=exp.Null())),
                                true=exp.Literal.number(0))])
    return exp.Coalesce(this=prefix, expressions=[zero])


def cast_arguments(tree: exp.Expression, function: str, as_sqlite: bool = False,
                   dialect: str = "postgres") -> Fix | None:
    """A copy of ``tree`` whose aggregates called ``function`` take their argument as a number;
    ``as_sqlite``: each value as SQLite reads text (the number it starts with, else 0), where
    ``dialect``'s profile can say it, else only the values that read as numbers.

    >>> from xander.linking import parse
    >>> fix = cast_arguments(parse("SELECT AVG(age), MAX(age) FROM dogs", "postgres"), "avg")
    >>> fix.tree.sql("postgres"), fix.what
    ('SELECT AVG(CAST(age AS DOUBLE PRECISION)), MAX(age) FROM dogs', 'avg of age as a number')
    >>> fix = cast_arguments(parse("SELECT AVG(hp) FROM cars", "duckdb"), "avg", True, "duckdb")
    >>> fix.tree.sql("duckdb").replace(NUMBER_PREFIX, "<number>"), fix.what
    ("SELECT AVG(COALESCE(CAST(NULLIF(REGEXP_EXTRACT(hp, '<number>'), '') AS DOUBLE), CASE WHEN NOT hp IS NULL THEN 0 END)) FROM cars", 'avg of hp as SQLite reads text (the number it starts with, else 0)')
    """
    tree = tree.copy()
    cast = []
    for node in tree.find_all(exp.AggFunc):
        arg = node.this
        if node.sql_name().lower() != function.lower() or not isinstance(arg, exp.Expression):
            continue
        if isinstance(arg, (exp.Cast, exp.Star, exp.Distinct, exp.Coalesce, exp.Case)):
            continue
        node.set("this", _as_number(arg, as_sqlite, dialect))
        cast.append(arg.sql())
    if not cast:
        return None
    read = ""
    if as_sqlite:
        read = (" as SQLite reads text (the number it starts with, else 0)"
                if dialect_profile(dialect).text_number else
                " as a number, text that is no number skipped")
    return Fix(tree, f"{function.lower()} of {', '.join(dict.fromkeys(cast))}"
                     f"{read or ' as a number'}")


class TextAsNumber:
    """An engine error saying an aggregate has no text form: cast its argument
    (``cast_arguments``), then, second, read its values as SQLite reads text (the first fails
    where the column holds text such as ``'null'``)."""

    name = "numeric"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for m in engine_errors(cand, ctx, "text-aggregate", self.answers):
            for as_sqlite in (False, True):
                fix = cast_arguments(tree, m.group("name"), as_sqlite, ctx.schema.dialect)
                if fix is not None:
                    yield fix
