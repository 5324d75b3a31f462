"""Database engines behind one read-only ``Engine`` protocol, each described by a profile;
``open_engine`` opens a target with the first profile that recognizes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xander.engines.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ColumnInfo,
    Engine,
    ForeignKey,
    QueryResult,
    TableInfo,
)
from xander.engines.duckdb import DuckDBEngine
from xander.engines.profile import EngineProfile, dialect_profile, profile, profiles, register
from xander.engines.sqlite import SQLiteEngine
from xander.errors import DatabaseNotFoundError, InputError

__all__ = [
    "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "ColumnInfo", "DuckDBEngine", "Engine",
    "EngineProfile", "ForeignKey", "QueryResult", "SQLiteEngine", "TableInfo", "dialect_profile",
    "open_engine", "profile", "profiles", "register",
]


def open_engine(path: str | Path, *, schemas: Sequence[str] = ()) -> Engine:
    """Open ``path`` read-only with the first profile (in priority order) that recognizes it.

    Data files and folders go to DuckDB, files with the SQLite header to sqlite3, ``.duckdb``
    files (and empty ones) to DuckDB.  A target no profile takes gets a ``DatabaseNotFoundError``
    that says why.  ``schemas`` names the schemas to serve, for engines that have them.
    """
    target = str(path)
    wanted = tuple(s for s in schemas if s)
    for p in profiles():
        if p.recognizes(target):
            if not wanted:
                return p.opener(target)
            if not p.named_schemas:
                raise InputError(f"{p.display_name} databases have no named schemas",
                                 "drop --schema (or [engine] schemas)")
            return p.opener(target, schemas=wanted)
    raise _unrecognized(Path(target).expanduser())


def _unrecognized(p: Path) -> DatabaseNotFoundError:
    """Why no engine took ``p``."""
    if not p.exists():
        return DatabaseNotFoundError(f"database not found: {p}", "check the --db path")
    if not p.is_file():
        return DatabaseNotFoundError(f"not a regular file: {p}", "give a database file")
    try:
        p.open("rb").close()
    except OSError as exc:
        return DatabaseNotFoundError(f"cannot read {p}: {exc.strerror}", "check its permissions")
    return DatabaseNotFoundError(
        f"not a database xander can read: {p}",
        "give a SQLite file, a .duckdb file, or CSV/Parquet/JSON files",
    )
