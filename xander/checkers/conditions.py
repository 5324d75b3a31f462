"""Conditions that cannot all hold: set logic the LM flattened into one row's WHERE.

"Stadiums that had concerts in both 2014 and 2015" is not ``WHERE year = 2014 AND year = 2015``
(no row has two years: the answer is always empty), and "students with a dog but not a cat" is
not ``WHERE pettype = 'dog' AND pettype <> 'cat'`` (the exclusion removes nothing).  The engine
runs both happily, so the search used to stop at them.  A SELECT whose WHERE holds such a
conjunction (``xander.conditions.conflicts``) gets a warning, ``never-true`` or
``redundant-exclusion``: it is not clean, so the search goes on looking, and the ``split``
repair (``xander.repair.split``) rewrites a ``never-true`` one as INTERSECT of the two
conditions.

No Spider train gold query has either (7,000 queries, ``benchmarks/fit_cues.py``); they are
warnings, not errors, because a user may ask for an empty answer on purpose.
"""

from __future__ import annotations

from sqlglot import exp

from xander.checkers.base import CheckContext, Diagnostic
from xander.checkers.syntax import parsed
from xander.conditions import conflicts


class ConditionChecker:
    """Complete stage: every SELECT's WHERE can hold, and its exclusions exclude something."""

    name = "conditions"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        tree = parsed(sql, ctx)
        if tree is None:
            return []
        return [Diagnostic(self.name, c.kind, c.describe(), "warning")
                for select in tree.find_all(exp.Select) for c in conflicts(select)]
