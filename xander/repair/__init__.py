"""AST-level repairs with sqlglot: a tuple of rules, each a failed candidate's tree in and
repaired trees out.

Rules work on the parsed tree and render it back in the engine's dialect, so string literals
keep their exact case.  ``RULES`` runs in order; each declares the diagnostic codes it answers
(``Rule.answers``) and is asked only when the candidate has one:

- ``link`` (unknown column, table or alias): every identifier fixed by requalifying, joining
  along foreign keys or taking the closest name (``xander.repair.link``);
- ``ambiguous`` (engine error): an unqualified column several tables have is qualified with the
  first one, read from the error text through the engine profile;
- ``numeric`` (engine error): an aggregate of a text column holding numbers, which PostgreSQL
  and DuckDB refuse, gets its argument cast to a number;
- ``grouping`` (engine error): every column of a grouped SELECT that is neither grouped nor
  aggregated is added to GROUP BY where the grouped columns determine it (same groups, SQLite's
  rows), else wrapped in an aggregate (the value at the one MIN/MAX row, ``ANY_VALUE``, or
  ``MIN`` where the engine has no ``ANY_VALUE``);
- ``compare`` (engine error): a text column compared with a number, which PostgreSQL refuses,
  is compared as SQLite's affinity does (``year = 2014`` -> ``year = '2014'``);
- ``literal`` (empty result): a string literal compared to a column is replaced by the column's
  value that equals it ignoring case;
- ``scalar`` (``scalar-many-rows``): a comparison with a subquery of many rows reads every
  row: ``IN`` / ``NOT IN`` for ``=`` / ``<>``, the subquery's MAX or MIN for ``>`` / ``<``
  (``xander.repair.scalar``);
- ``split`` (``never-true``): "both" flattened into one WHERE (``age > 40 AND age < 30``)
  written as INTERSECT of the two conditions (``xander.repair.split``);
- with example rows only (they say what the answer must contain): ``order`` flips ASC/DESC,
  ``swap`` swaps MIN/MAX, COUNT/SUM, < and >.

A new repair is a module with one rule class and one entry in ``RULES``.  ``repairs_for``
returns ``(sql, description)`` pairs, at most a few, best first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xander.linking import parse, string_literals_for_unknown_quoted
from xander.repair.ambiguous import QualifyAmbiguous
from xander.repair.base import Fix, Rule, join_along
from xander.repair.compare import TextCompare
from xander.repair.examples import FlipOrder, SwapOperator
from xander.repair.grouping import GroupColumns
from xander.repair.link import LinkRepair, link_repairs
from xander.repair.literal import LiteralCase
from xander.repair.numeric import TextAsNumber
from xander.repair.scalar import ScalarSubquery
from xander.repair.split import SplitConjunction
from xander.repair.values import ValueRepair

if TYPE_CHECKING:  # only for annotations: repair sits below the checkers
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

__all__ = ["MAX_REPAIRS", "RULES", "Fix", "Rule", "join_along", "link_repairs", "repairs_for"]

MAX_REPAIRS = 4  # repairs_for returns at most twice this many

RULES: tuple[Rule, ...] = (
    LinkRepair(), QualifyAmbiguous(), TextAsNumber(), GroupColumns(), TextCompare(),
    LiteralCase(), ValueRepair(), SplitConjunction(), ScalarSubquery(), FlipOrder(),
    SwapOperator(),
)


def repairs_for(cand: Candidate, ctx: CheckContext) -> list[tuple[str, str]]:
    """Repaired versions of a failed (or empty-result) candidate: ``(sql, description)``.

    Every rule of ``RULES`` that answers one of ``cand``'s diagnostics runs, in order; repairs
    that repeat the candidate or an earlier repair are dropped.
    """
    dialect = ctx.schema.dialect
    tree = ctx.parsed.get(cand.sql) or parse(cand.sql, dialect)
    if tree is None:
        return []
    tree = string_literals_for_unknown_quoted(tree, ctx.schema)
    codes = {d.code for d in cand.diagnostics}
    seen = {cand.sql}
    out: list[tuple[str, str]] = []
    for rule in RULES:
        if rule.answers.isdisjoint(codes):
            continue
        for fix in rule.apply(tree, cand, ctx):
            sql = fix.tree.sql(dialect=dialect)
            if sql not in seen:
                seen.add(sql)
                out.append((sql, fix.what))
                if len(out) == MAX_REPAIRS * 2:
                    return out
    return out
