"""Complete-query checks on the engine: the safety gate, a dry run, and a bounded execution.

Execution results are kept in ``ctx.results`` so the search returns them without running the
query again.  An empty result is a warning (it may be right, but is often a wrong literal or
join); errors and timeouts reject the candidate.
"""

from __future__ import annotations

from xander.checkers.base import CheckContext, Diagnostic
from xander.engines import QueryResult
from xander.errors import QueryError, QueryTimeoutError, UnsafeQueryError
from xander.safety import ensure_read_only


class SafetyChecker:
    """Only one read-only SELECT may reach the engine."""

    name = "safety"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        try:
            ensure_read_only(sql, ctx.schema.dialect, ctx.allowed_files)
        except UnsafeQueryError as exc:
            ctx.results[sql] = str(exc)
            return [Diagnostic(self.name, "unsafe", exc.message)]
        return []


class DryRunChecker:
    """The engine can plan the query (``EXPLAIN``) without running it."""

    name = "dry-run"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        try:
            ctx.engine.explain(sql)
        except QueryError as exc:
            ctx.results[sql] = str(exc)
            return [Diagnostic(self.name, "engine-error", str(exc))]
        return []


class ExecutionChecker:
    """The query runs within the time limit; an empty result is a warning."""

    name = "execution"
    stage = "complete"
    trigger = "query"

    def check(self, sql: str, ctx: CheckContext) -> list[Diagnostic]:
        result = ctx.results.get(sql)
        if result is None:
            try:
                result = ctx.engine.execute(sql, timeout=ctx.timeout, max_rows=ctx.max_rows)
            except QueryTimeoutError as exc:
                ctx.results[sql] = str(exc)
                return [Diagnostic(self.name, "timeout", str(exc))]
            except QueryError as exc:
                ctx.results[sql] = str(exc)
                return [Diagnostic(self.name, "engine-error", str(exc))]
            ctx.results[sql] = result
        if isinstance(result, str):
            return [Diagnostic(self.name, "engine-error", result)]
        return result_diagnostics(self.name, result)


def result_diagnostics(name: str, result: QueryResult) -> list[Diagnostic]:
    """Warnings about a result that ran: empty, all NULL, truncated."""
    if not result.rows:
        return [Diagnostic(name, "empty-result", "the query returned no rows", "warning")]
    if all(v is None for row in result.rows for v in row):
        return [Diagnostic(name, "null-result", "the query returned only NULLs", "warning")]
    if result.truncated:
        return [Diagnostic(name, "truncated", f"more than {len(result.rows)} rows", "info")]
    return []
