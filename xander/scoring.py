"""Candidates and how they are ranked: pure functions of a candidate and a weights dataclass.

A candidate's score is its LM log-probability (length-normalised so long queries are not
punished for being long) minus penalties for what the checkers found and for each repair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from xander.diagnostic import Diagnostic
from xander.engines import QueryResult


@dataclass(frozen=True, slots=True)
class Weights:
    """Penalties in nats (log-probability units)."""

    #: per checker error (the candidate failed a hard check)
    error: float = 100.0
    #: per warning (empty result, all-NULL result)
    warning: float = 2.0
    #: per repair step applied to reach this candidate
    repair: float = 0.5
    #: weight of the mean token log-probability
    logprob: float = 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A complete query with what the checkers found and, when it ran, its result."""

    sql: str
    logprob: float = 0.0
    n_tokens: int = 0
    diagnostics: tuple[Diagnostic, ...] = ()
    result: QueryResult | None = None
    repairs: tuple[str, ...] = ()
    node_id: int = -1
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """It ran and no checker reported an error."""
        return self.result is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )

    @property
    def error(self) -> str | None:
        errs = [d for d in self.diagnostics if d.severity == "error"]
        return str(errs[0]) if errs else None


def mean_logprob(logprob: float, n_tokens: int) -> float:
    """Mean log-probability per token.

    >>> mean_logprob(-2.0, 4)
    -0.5
    """
    return logprob / max(1, n_tokens)


def score(c: Candidate, w: Weights = Weights()) -> float:
    """Higher is better.

    >>> score(Candidate("SELECT 1", logprob=-1.0, n_tokens=2))
    -0.5
    >>> from xander.diagnostic import Diagnostic
    >>> score(Candidate("x", diagnostics=(Diagnostic("c", "e", "m", "warning"),)))
    -2.0
    """
    errors = sum(d.severity == "error" for d in c.diagnostics)
    warnings = sum(d.severity == "warning" for d in c.diagnostics)
    return (
        w.logprob * mean_logprob(c.logprob, c.n_tokens)
        - w.error * errors
        - w.warning * warnings
        - w.repair * len(c.repairs)
    )


def best(candidates: Sequence[Candidate], w: Weights = Weights()) -> Candidate | None:
    """The highest-scoring candidate (the earliest on ties), or None."""
    return max(candidates, key=lambda c: score(c, w), default=None)
