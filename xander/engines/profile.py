"""Engine profiles: what the rest of xander may know about an engine, as data.

Each engine module declares one ``EngineProfile`` and registers it (one line); prompts, the
safety gate, Normalized SQL and repair read the profile of ``schema.dialect`` instead of
testing engine names.  A new engine is its module plus one ``register(...)`` line.

>>> from xander.engines import profile
>>> profile("sqlite").display_name, profile("duckdb").caseless_names
('SQLite', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xander.errors import InputError

if TYPE_CHECKING:
    from xander.engines.base import Engine


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """One engine's facts, read by every room above the engines."""

    name: str
    """Registry name (``sqlite``, ``duckdb``)."""
    dialect: str
    """sqlglot dialect name used to parse, check and print SQL for this engine."""
    display_name: str
    """How prompts and messages name the SQL dialect (``SQLite``)."""
    recognizes: Callable[[str], bool]
    """True when a ``--db`` target (a path or URL, as given) is this engine's to open."""
    opener: Callable[[str], Engine]
    """Opens a recognised target read-only."""
    caseless_names: bool = True
    """Identifiers match without regard to case, quoted or not."""
    read_starts: frozenset[str] = frozenset()
    """Statement keywords beyond SELECT / WITH / ( / VALUES that begin a read (DuckDB ``FROM``)."""
    error_patterns: Mapping[str, str] = field(default_factory=dict)
    """Regular expressions over the engine's error text, each with a ``name`` group, by kind:
    ``ambiguous-column``, ``no-such-column``, ``no-such-table``, ``not-grouped``."""
    priority: int = 100
    """Targets are offered to profiles in ascending priority (content checks before suffixes)."""


_PROFILES: dict[str, EngineProfile] = {}


def register(p: EngineProfile) -> EngineProfile:
    """Add ``p`` to the registry (by name and by dialect) and return it."""
    _PROFILES[p.name] = p
    _PROFILES.setdefault(p.dialect, p)
    return p


def profile(name: str) -> EngineProfile:
    """The profile registered under an engine or dialect name."""
    _load_builtin()
    try:
        return _PROFILES[name]
    except KeyError:
        known = ", ".join(sorted({p.name for p in _PROFILES.values()}))
        raise InputError(f"unknown engine or dialect {name!r}", f"choose from {known}") from None


def profiles() -> tuple[EngineProfile, ...]:
    """Every registered profile once, in the order targets are offered to them."""
    _load_builtin()
    unique = {id(p): p for p in _PROFILES.values()}.values()
    return tuple(sorted(unique, key=lambda p: p.priority))


def _load_builtin() -> None:
    # the built-in engines register when their modules are imported
    import xander.engines.duckdb  # noqa: F401
    import xander.engines.sqlite  # noqa: F401


def as_path(target: str) -> Path:
    return Path(target).expanduser()
