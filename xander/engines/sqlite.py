"""SQLite engine on the stdlib ``sqlite3``, opened read-only (``mode=ro`` URI).

Two walls keep the file unchanged: the connection is read-only, and an authorizer denies every
action but reading (so even a ``PRAGMA`` or ``ATTACH`` that slipped past ``safety`` fails).
Timeouts use the progress handler, which SQLite calls every N virtual-machine steps.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

from xander.engines.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ColumnInfo,
    ForeignKey,
    QueryResult,
    TableInfo,
    files_stamp,
)
from xander.engines.profile import EngineProfile, register
from xander.errors import DatabaseNotFoundError, QueryError, QueryTimeoutError

SQLITE_MAGIC = b"SQLite format 3\x00"

# Actions a read-only query needs; everything else is denied by the authorizer.
_ALLOWED_ACTIONS = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
_PROGRESS_STEPS = 10_000


def is_sqlite_file(path: Path) -> bool:
    """True when ``path`` is a regular file that starts with the SQLite header."""
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            return False
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open(target: str) -> SQLiteEngine:
    return SQLiteEngine(Path(target).expanduser())


SQLITE = register(EngineProfile(
    name="sqlite",
    dialect="sqlite",
    display_name="SQLite",
    recognizes=lambda target: is_sqlite_file(Path(target).expanduser()),
    opener=_open,
    caseless_names=True,
    double_quoted_strings=True,
    caseless_like=True,  # for ASCII letters, as PRAGMA case_sensitive_like leaves it
    function_spellings={"Substring": "SUBSTR"},
    error_patterns={
        "ambiguous-column": r"ambiguous column name: (?P<name>[^\n]+)",
        "no-such-column": r"no such column: (?P<name>[^\n]+)",  # as written: may be t.c
        "no-such-table": r"no such table: (?P<name>[^\n]+)",  # as written: may be main.t
    },
    priority=50,
))


class SQLiteEngine:
    """A read-only SQLite database file."""

    profile = SQLITE
    dialect = SQLITE.dialect
    allowed_files: tuple[Path, ...] = ()

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.exists():
            raise DatabaseNotFoundError(f"database not found: {p}", "check the --db path")
        if not is_sqlite_file(p):
            raise DatabaseNotFoundError(
                f"not a SQLite database: {p}",
                "give a .sqlite/.db SQLite file, a .duckdb file, or CSV/Parquet/JSON files",
            )
        self.path = str(p)
        uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseNotFoundError(
                f"cannot open SQLite database {p}: {exc}", "the file may be corrupt"
            ) from exc
        self._tables: tuple[TableInfo, ...] | None = None
        self._conn.set_authorizer(self._authorize)

    @staticmethod
    def _authorize(action: int, *_: Any) -> int:
        return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY

    # -- introspection (authorizer off: PRAGMA is needed to read the schema) --------------------
    def tables(self) -> tuple[TableInfo, ...]:
        if self._tables is None:
            self._conn.set_authorizer(None)
            try:
                self._tables = tuple(self._introspect())
            except sqlite3.DatabaseError as exc:
                raise DatabaseNotFoundError(
                    f"cannot read the schema of {self.path}: {exc}", "the file may be corrupt"
                ) from exc
            finally:
                self._conn.set_authorizer(self._authorize)
        return self._tables

    def _introspect(self) -> list[TableInfo]:
        names = [
            r[0]
            for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table','view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        lower = {n.lower(): n for n in names}
        out = []
        for name in names:
            cols = self._conn.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            columns = tuple(ColumnInfo(c[1], (c[2] or "").upper()) for c in cols)
            pk = tuple(c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5])
            fks: dict[int, list[Any]] = {}
            for row in self._conn.execute(f"PRAGMA foreign_key_list({_quote(name)})"):
                fks.setdefault(row[0], []).append(row)
            foreign = []
            for rows in fks.values():
                ref = lower.get(str(rows[0][2]).lower())
                if ref is None:
                    continue  # dangling reference to a table that does not exist
                ref_cols = tuple(r[4] for r in rows)
                if any(c is None for c in ref_cols):  # REFERENCES t without columns: its PK
                    ref_pk = [c[1] for c in self._conn.execute(
                        f"PRAGMA table_info({_quote(ref)})") if c[5]]
                    ref_cols = tuple(ref_pk)
                foreign.append(ForeignKey(name, tuple(r[3] for r in rows), ref, ref_cols))
            out.append(TableInfo(name, columns, pk, tuple(foreign)))
        return out

    def sample_values(self, table: str, column: str, limit: int = 3) -> tuple[Any, ...]:
        known = {t.name.lower(): {c.name.lower() for c in t.columns} for t in self.tables()}
        if column.lower() not in known.get(table.lower(), ()):
            return ()  # a double-quoted unknown name would read as a string literal
        sql = (
            f"SELECT DISTINCT {_quote(column)} FROM {_quote(table)} "
            f"WHERE {_quote(column)} IS NOT NULL LIMIT {int(limit)}"
        )
        try:
            return tuple(r[0] for r in self.execute(sql, timeout=2.0, max_rows=limit).rows)
        except QueryError:
            return ()

    # -- execution -------------------------------------------------------------------------------
    def explain(self, sql: str) -> None:
        try:
            self._conn.execute("EXPLAIN " + sql).fetchall()
        except sqlite3.Error as exc:
            raise QueryError(str(exc)) from exc

    def execute(
        self, sql: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS
    ) -> QueryResult:
        deadline = time.monotonic() + timeout
        timed_out = False

        def progress() -> int:
            nonlocal timed_out
            if time.monotonic() > deadline:
                timed_out = True
                return 1
            return 0

        start = time.perf_counter()
        self._conn.set_progress_handler(progress, _PROGRESS_STEPS)
        try:
            cur = self._conn.execute(sql)
            rows = cur.fetchmany(max_rows + 1)
            columns = tuple(d[0] for d in cur.description or ())
            cur.close()
        except sqlite3.Error as exc:
            if timed_out:
                raise QueryTimeoutError(f"query ran past its {timeout:g} s limit") from exc
            raise QueryError(str(exc)) from exc
        except (OverflowError, ValueError) as exc:  # e.g. integers too large for Python
            raise QueryError(str(exc)) from exc
        finally:
            self._conn.set_progress_handler(None, 0)
        truncated = len(rows) > max_rows
        return QueryResult(
            columns, tuple(tuple(r) for r in rows[:max_rows]), time.perf_counter() - start,
            truncated,
        )

    def data_stamp(self) -> str | None:
        return files_stamp([self.path])

    def close(self) -> None:
        self._conn.close()
