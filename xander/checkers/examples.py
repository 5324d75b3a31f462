"""Example tuples (the paper's optional input): rows the answer must contain.

A cell matches a value when their text is equal ignoring case and surrounding spaces, or when
both are numbers within a relative tolerance of 1e-6.  An example row matches a result row when
its cells match distinct columns of that row, in any order (so the user does not have to know
the column order).  A cell that is a number while the matching column holds only text (or the
reverse) is reported as a type mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Any

from xander.checkers.base import CheckContext, Diagnostic


def _number(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    try:
        return float(str(x).strip().replace(",", ""))
    except ValueError:
        return None


def cell_matches(cell: str, value: Any) -> bool:
    """Whether a typed example cell matches a result value.

    >>> cell_matches("3", 3), cell_matches("france", "France"), cell_matches("3.0", 3)
    (True, True, True)
    """
    if value is None:
        return cell.strip().lower() in {"", "null", "none"}
    a, b = _number(cell), _number(value)
    if a is not None and b is not None:
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return cell.strip().lower() == str(value).strip().lower()


def row_matches(example: Sequence[str], row: Sequence[Any]) -> bool:
    """Whether an example row matches a result row (cells in any column order).

    >>> row_matches(("France", "3"), (3, "France")), row_matches(("Spain",), ("France", 1))
    (True, False)
    """
    if len(example) > len(row):
        return False
    if len(row) <= 6:
        return any(
            all(cell_matches(c, row[i]) for c, i in zip(example, cols))
            for cols in permutations(range(len(row)), len(example))
        )
    return all(any(cell_matches(c, v) for v in row) for c in example)


class ExampleChecker:
    """Every example row appears in the result."""

    name = "examples"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        if not ctx.task.examples:
            return []
        result = ctx.results.get(sql)
        if result is None or isinstance(result, str):
            return []
        diags = []
        for ex in ctx.task.examples:
            if len(ex) > len(result.columns):
                diags.append(Diagnostic(
                    self.name, "arity",
                    f"example {ex} has {len(ex)} cells but the query returns "
                    f"{len(result.columns)} columns"))
            elif not any(row_matches(ex, r) for r in result.rows):
                diags.append(Diagnostic(
                    self.name, "missing-example", f"example row {ex} is not in the result"))
        return diags
