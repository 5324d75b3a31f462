"""One error hierarchy for xander.

Every error a user can cause (bad file, empty question, unknown model) is a ``XanderError``;
``xander/cli.py`` alone turns them into one-line messages and exit codes.  Each carries a ``hint``: what
to do about it.
"""

from __future__ import annotations


class XanderError(Exception):
    """Root of every error xander raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(XanderError):
    """The user's input is unusable: empty question, bad option value, non-UTF-8 text."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration file or environment variable is invalid."""


class EngineError(XanderError):
    """The database could not be opened or a query failed on it."""


class DatabaseNotFoundError(EngineError):
    """The database path does not exist or is not a database xander can read."""

    exit_code = 2


class QueryError(EngineError):
    """A query failed on the engine (syntax, unknown column, ...)."""


class QueryTimeoutError(QueryError):
    """A query ran past its time limit and was interrupted."""


class SchemaError(XanderError):
    """The database schema could not be read or is unusable."""


class BackendError(XanderError):
    """A language-model backend failed (missing model, server down, garbage reply)."""


class ModelNotFoundError(BackendError):
    """The requested model does not exist or is incomplete."""

    exit_code = 2


class MissingDependencyError(BackendError):
    """An optional dependency (an extra) is not installed."""

    exit_code = 2


class LMServerError(BackendError):
    """An LM server is down, keeps failing, refuses a request or answers garbage.

    Not the question's fault: the benchmark runner stops on it (instead of recording a wrong
    answer) so that running the same command again resumes the missing questions.
    """

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        return (type(self), (self.message, self.hint))  # the hint survives process pools


class UnsafeQueryError(XanderError):
    """A query is not a single read-only SELECT and was refused before reaching the engine."""
