"""Checkers: symbolic judges of partial and complete SQL.

A checker is a small object with a ``name``, a ``stage`` ("partial" for prefixes the LM is still
writing, "complete" for whole queries), a ``trigger`` (when the search runs it) and
``check(sql, ctx) -> list[Diagnostic]``.  Diagnostics
are data: an ``error`` prunes the node (partial) or rejects the candidate (complete), a
``warning`` lowers its score, ``info`` is kept for the trace.  Checkers run cheapest first and
share work through ``CheckContext`` (parsed trees, results), so no query is parsed or executed
twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["CheckContext", "Checker", "Diagnostic", "Severity", "has_error", "run_checkers"]

from xander.diagnostic import Diagnostic, Severity
from xander.engines import DEFAULT_MAX_ROWS, Engine, QueryResult
from xander.schema import Schema
from xander.task import Task

Stage = Literal["partial", "complete"]
#: When the search runs a checker: ``every-child`` on each child's prefix (partial), ``word-end``
#: on the parent's prefix when a child starts a new word, so the word is finished (partial),
#: ``query`` on each finished query (complete).
Trigger = Literal["every-child", "word-end", "query"]


@dataclass
class CheckContext:
    """What checkers may look at, plus per-question caches shared between them."""

    schema: Schema
    engine: Engine
    task: Task
    timeout: float = 10.0
    max_rows: int = DEFAULT_MAX_ROWS
    allowed_files: tuple[Path, ...] = ()
    #: parsed expression per SQL text (None when it did not parse)
    parsed: dict[str, Any] = field(default_factory=dict)
    #: execution result per SQL text (an error message string when it failed)
    results: dict[str, QueryResult | str] = field(default_factory=dict)
    #: seconds spent per checker name
    seconds: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Checker(Protocol):
    """A symbolic check on SQL text."""

    name: str
    stage: Stage
    trigger: Trigger

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        """Findings about ``sql`` (a prefix for partial checkers, a whole query otherwise)."""
        ...


def run_checkers(
    checkers: Sequence[Checker], sql: str, ctx: CheckContext, *, stop_on_error: bool = True
) -> list[Diagnostic]:
    """Run ``checkers`` in order on ``sql``, timing each; stop at the first error if asked."""
    found: list[Diagnostic] = []
    for checker in checkers:
        start = time.perf_counter()
        try:
            diags = checker.check(sql, ctx)
        except Exception as exc:  # noqa: BLE001 - a checker bug must not end the search
            diags = [Diagnostic(checker.name, "internal-error",
                                f"{type(exc).__name__}: {str(exc)[:200]}")]
        finally:
            ctx.seconds[checker.name] = ctx.seconds.get(checker.name, 0.0) + (
                time.perf_counter() - start
            )
        found.extend(diags)
        if stop_on_error and any(d.severity == "error" for d in diags):
            break
    return found


def has_error(diags: Sequence[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)
