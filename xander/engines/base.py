"""The Engine protocol: what xander needs from a database, and the data it returns.

Engines are the ground floor: they import nothing of xander's but ``errors``.  Each engine module
declares its ``EngineProfile`` (``profile.py``), the facts the rooms above read.  Every engine opens
its database read-only (the second wall behind ``safety``), bounds every execution by a timeout
and a row cap, and reports failures as ``QueryError`` / ``QueryTimeoutError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from xander.engines.profile import EngineProfile

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column as the engine reports it."""

    name: str
    type: str = ""
    comment: str = ""
    """The database's comment on the column (PostgreSQL's ``COMMENT ON``); empty if none."""


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """``table(columns) REFERENCES ref_table(ref_columns)``."""

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table (or view) with its columns and keys."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str = ""
    """The database's comment on the table or view; empty if none."""
    stored: bool = True
    """Its rows are stored where the profile's ``row_order`` column finds them (a table or a
    materialized view); False for a view or a foreign table."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one execution.  ``truncated`` is True when the row cap cut the result."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    seconds: float = 0.0
    truncated: bool = False
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@runtime_checkable
class Engine(Protocol):
    """A read-only database connection."""

    #: What xander knows of this engine: dialect, names, error texts, its own parser.
    profile: EngineProfile
    #: sqlglot dialect name used to parse and render SQL for this engine (``profile.dialect``).
    dialect: str
    #: The path the engine was opened on.
    path: str
    #: Files a query may read by path: the data files a DuckDB engine exposes as tables (the
    #: safety gate lets queries name these and no others); empty for a database file.
    allowed_files: tuple[Path, ...]

    def tables(self) -> tuple[TableInfo, ...]:
        """All user tables and views with columns, primary and foreign keys."""
        ...

    def sample_values(self, table: str, column: str, limit: int = 3) -> tuple[Any, ...]:
        """Up to ``limit`` distinct non-null values of one column (short ones first)."""
        ...

    def explain(self, sql: str) -> None:
        """Dry-run ``sql`` (plan it without running it); raise ``QueryError`` if it cannot run."""
        ...

    def execute(
        self, sql: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS
    ) -> QueryResult:
        """Run ``sql`` with a time limit and a row cap."""
        ...

    def data_stamp(self) -> str | None:
        """What identifies the data served as it is now (files and their sizes and times, or
        the server's counters of changed rows): a cache of what was read from it (the value
        index) is used while the stamp is the same.  None when the engine cannot tell: then
        nothing read from it is cached."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def files_stamp(files: Sequence[Path | str], *extra: str) -> str | None:
    """A ``data_stamp`` of database files: each one's real path, size and modification time
    (ns), and ``extra`` (what else decides what is served); None when one cannot be read."""
    parts = list(extra)
    for f in files:
        try:
            real = Path(f).resolve()
            st = real.stat()
        except (OSError, ValueError):
            return None
        if not real.is_file():
            return None
        parts.append(f"{real}|{st.st_size}|{st.st_mtime_ns}")
    return "\n".join(parts)
