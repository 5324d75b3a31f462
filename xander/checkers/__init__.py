"""Checkers by name, in the order they run (cheapest first), and the complete-query pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from xander.checkers.base import CheckContext, Checker, Diagnostic, has_error, run_checkers
from xander.checkers.conditions import ConditionChecker
from xander.checkers.examples import ExampleChecker
from xander.checkers.execution import DryRunChecker, ExecutionChecker, SafetyChecker
from xander.checkers.grammar import GrammarChecker
from xander.checkers.identifiers import IdentifierChecker, PartialIdentifierChecker
from xander.checkers.joins import JoinChecker
from xander.checkers.scalar import ScalarSubqueryChecker
from xander.checkers.stated import StatedLiteralChecker
from xander.checkers.syntax import SyntaxChecker
from xander.checkers.values import ValueChecker

__all__ = [
    "CHECKER_NAMES", "CheckContext", "Checker", "Diagnostic", "complete_checkers",
    "has_error", "partial_checkers", "run_checkers",
]

#: complete-stage checkers in running order; "safety" cannot be switched off.
COMPLETE: dict[str, Callable[[], Checker]] = {
    "syntax": SyntaxChecker,
    "identifiers": IdentifierChecker,
    "joins": JoinChecker,
    "safety": SafetyChecker,
    "scalar": ScalarSubqueryChecker,
    "dry-run": DryRunChecker,
    "execution": ExecutionChecker,
    "values": ValueChecker,
    "stated": StatedLiteralChecker,
    "conditions": ConditionChecker,
    "examples": ExampleChecker,
}
#: partial-stage checkers (run on prefixes while the LM writes), cheapest first.
PARTIAL: dict[str, Callable[[], Checker]] = {
    "grammar": GrammarChecker,
    "identifiers": PartialIdentifierChecker,
}
ALWAYS_ON = frozenset({"safety", "execution"})
CHECKER_NAMES = tuple(dict.fromkeys([*PARTIAL, *COMPLETE]))


def _validate(disabled: Iterable[str]) -> frozenset[str]:
    from xander.errors import InputError

    off = frozenset(disabled)
    unknown = off - set(CHECKER_NAMES)
    if unknown:
        raise InputError(
            f"unknown checker {min(unknown)!r}", f"choose from {', '.join(CHECKER_NAMES)}"
        )
    return off - ALWAYS_ON


def complete_checkers(disabled: Iterable[str] = ()) -> list[Checker]:
    off = _validate(disabled)
    return [make() for name, make in COMPLETE.items() if name not in off]


def partial_checkers(disabled: Iterable[str] = ()) -> list[Checker]:
    off = _validate(disabled)
    return [make() for name, make in PARTIAL.items() if name not in off]
