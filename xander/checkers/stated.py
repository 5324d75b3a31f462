"""Stated literals: the numbers and quoted values a question states are in the query.

"Show stadiums with a capacity between 5000 and 10000" is not answered by a query without 5000
and 10000, however well it runs; "airlines with flights from 'AHD'" not by one without 'AHD'.
The 0.5B model drops such conditions when it wanders into joins (Spider dev: a repaired join
chain in place of ``WHERE capacity BETWEEN 5000 AND 10000``), and the search used to stop at it
as soon as it ran.

A query that leaves out a number the question states outside quotes, or a value it quotes, gets
a warning (``number-missing``, ``value-missing-from-query``): it is not clean, so the search goes
on looking (within its budgets) and the warning's penalty ranks it below a query that states
them; it stays a candidate.  What counts as stated (``xander.cues.number_stated`` and
``value_stated``): a number as a literal (``5000`` for "5,000"), in a name (``meter_100`` for
"100 meter") or in a string (``LIKE '8/%'``); a value as a literal, inside one, or word by word
("Linda Smith": ``fname = 'Linda' AND lname = 'Smith'``).

Measured on Spider train (``benchmarks/fit_cues.py``, section "Stated literals"): the gold query
states every such number for 1,237 of the 1,249 questions with one (99.0%) and every quoted
value for 799 of 822 (97.2%); most of the rest are annotation slips ("after 2004" with
``year > 2014``).  A note that explains a code ("1 stands for yes, and 0 for no") states a
number the query need not use: so this is a warning, never an error.
"""

from __future__ import annotations

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.cues import number_stated, query_shape, question_cues, value_stated


class StatedLiteralChecker:
    """Complete stage: the question's numbers and quoted values appear in the query."""

    name = "stated"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        cues = question_cues(ctx.task.question)
        if not cues.numbers and not cues.values:
            return []
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        shape = query_shape(tree)
        found = []
        numbers = [n for n in cues.numbers if not number_stated(n, shape)]
        if numbers:
            found.append(Diagnostic(
                self.name, "number-missing",
                f"the question states {', '.join(numbers)}; the query does not", "warning"))
        values = [v for v in cues.values if not value_stated(v, shape)]
        if values:
            found.append(Diagnostic(
                self.name, "value-missing-from-query",
                f"the question quotes {', '.join(repr(v) for v in values)}; the query does not",
                "warning"))
        return found
