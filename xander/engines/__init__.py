"""Database engines behind one read-only ``Engine`` protocol; ``open_engine`` picks one by file."""

from __future__ import annotations

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
from xander.engines.duckdb import DUCKDB_SUFFIXES, FILE_READERS, DuckDBEngine
from xander.engines.sqlite import SQLiteEngine, is_sqlite_file
from xander.errors import DatabaseNotFoundError

__all__ = [
    "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "ColumnInfo", "DuckDBEngine", "Engine", "ForeignKey",
    "QueryResult", "SQLiteEngine", "TableInfo", "open_engine",
]


def open_engine(path: str | Path) -> Engine:
    """Open ``path`` read-only with the engine its content calls for.

    SQLite files (by header) use sqlite3; ``.duckdb`` files, data files and folders use DuckDB.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DatabaseNotFoundError(f"database not found: {p}", "check the --db path")
    if p.is_dir() or p.suffix.lower() in FILE_READERS:
        return DuckDBEngine(p)
    if not p.is_file():
        raise DatabaseNotFoundError(f"not a regular file: {p}", "give a database file")
    try:
        p.open("rb").close()
    except OSError as exc:
        raise DatabaseNotFoundError(f"cannot read {p}: {exc.strerror}", "check its permissions")
    if is_sqlite_file(p):
        return SQLiteEngine(p)
    if p.suffix.lower() in DUCKDB_SUFFIXES or p.stat().st_size == 0 or _is_duckdb_file(p):
        return DuckDBEngine(p)
    raise DatabaseNotFoundError(
        f"not a database xander can read: {p}",
        "give a SQLite file, a .duckdb file, or CSV/Parquet/JSON files",
    )


def _is_duckdb_file(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(12)[8:12] == b"DUCK"
