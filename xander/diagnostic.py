"""Diagnostics: what a checker (or repair, or the engine) found about one SQL text, as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding of one checker about one SQL text."""

    checker: str
    code: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.checker}/{self.code}: {self.message}"
