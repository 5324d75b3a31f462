"""DuckDB engine: ``.duckdb`` files opened ``read_only=True``, or CSV/Parquet/JSON files (or a
folder of them) exposed as views in an in-memory database.

For file sources, the views are created in a private temporary DuckDB file, which is then
reopened ``read_only=True`` with external access limited to exactly those files
(``allowed_paths``) and the configuration locked, so a query can read the user's files through
the views and nothing else on disk, and the catalog cannot change.  Whatever the caller checked
before, ``execute`` and ``explain`` run a string only when DuckDB's own parser sees exactly one
``SELECT`` statement in it (``statement_types``, which the safety gate asks too; a second wall
behind :mod:`xander.safety`).  Timeouts interrupt the connection from a timer thread.

Two profiles open a ``DuckDBEngine``: ``duckdb-files`` takes data files and folders (offered
targets first, by suffix), ``duckdb`` takes database files (after SQLite's header check).

A database file has named schemas: ``schemas=("sales", "hr")`` serves those (default: ``main``).
With more than one, every table is named ``schema.table`` (foreign keys too: DuckDB keeps them
within one schema), and the connection's ``search_path`` lists the served schemas, so a bare
name that one served schema has runs as well.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from dataclasses import replace
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
from xander.errors import DatabaseNotFoundError, InputError, QueryError, QueryTimeoutError

FILE_READERS = {
    ".csv": "read_csv_auto",
    ".tsv": "read_csv_auto",
    ".parquet": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}
DUCKDB_SUFFIXES = (".duckdb", ".ddb")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_name(path: Path) -> str:
    name = re.sub(r"\W+", "_", path.stem).strip("_") or "t"
    return name if not name[0].isdigit() else "t_" + name


# -- DuckDB's own parser -----------------------------------------------------------------------
_PARSER_LOCK = threading.Lock()
_PARSER: list[Any] = []  # one in-memory connection, made on first use


def statement_types(sql: str) -> tuple[str, ...]:
    """The types DuckDB's parser gives the statements in ``sql``, in order.

    DuckDB runs every statement of a string it is given, so its own view of where statements
    end is the one that counts.  Raises ``QueryError`` when DuckDB cannot parse ``sql``.
    (``PIVOT`` without ``IN`` values is a CREATE TYPE and a SELECT.)

    >>> statement_types("FROM t SELECT a"), statement_types("SELECT 1; CALL pragma_version()")
    (('SELECT',), ('SELECT', 'CALL'))
    """
    import duckdb

    with _PARSER_LOCK:
        if not _PARSER:
            _PARSER.append(duckdb.connect(":memory:"))
        try:
            statements = _PARSER[0].extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc
    return tuple(st.type.name for st in statements)


# -- target recognition ------------------------------------------------------------------------
def _is_data_target(target: str) -> bool:
    """A folder, or a file named like CSV / Parquet / JSON (that it exists is enough)."""
    p = Path(target).expanduser()
    return p.exists() and (p.is_dir() or p.suffix.lower() in FILE_READERS)


def _is_duckdb_file(target: str) -> bool:
    """A readable regular file named ``.duckdb`` / ``.ddb``, empty, or with DuckDB's magic."""
    p = Path(target).expanduser()
    try:
        if not p.is_file():
            return False
        with p.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return p.suffix.lower() in DUCKDB_SUFFIXES or not head or head[8:12] == b"DUCK"


def _open(target: str, *, schemas: tuple[str, ...] = ()) -> DuckDBEngine:
    return DuckDBEngine(Path(target).expanduser(), schemas=schemas)


DUCKDB = register(EngineProfile(
    name="duckdb",
    dialect="duckdb",
    display_name="DuckDB",
    recognizes=_is_duckdb_file,
    opener=_open,
    caseless_names=True,
    named_schemas=True,
    read_starts=frozenset({"FROM"}),
    statement_types=statement_types,
    text_number="CAST(NULLIF(REGEXP_EXTRACT(X, '{p}'), '') AS DOUBLE)",
    error_patterns={
        "ambiguous-column":
            r'Ambiguous reference to column name "(?P<name>[^\n]+?)" \(use: ',
        "no-such-column":
            r'(?:Referenced column|Table "(?P<table>[^\n]+?)" does not have a column named) '
            r'"(?P<name>[^\n]+?)"(?: not found in FROM clause|(?=\n|$))',
        "no-such-table":
            r"Table with name (?P<name>[^\n]+?) does not exist(?:!| because schema )",
        "not-grouped":  # quoted or not (HAVING), and with either wording
            r'column "?(?P<name>[^"\n]+?)"? must appear in the GROUP BY clause or '
            r"(?:must be part of|be used in) an aggregate function",
        "text-aggregate":
            r"No function matches the given name and argument types '(?P<name>\w+)\(VARCHAR\)'",
        # text compared with a number, which SQLite answers by affinity: DuckDB refuses an order,
        # BETWEEN, and a VARCHAR against a BIGINT column; it casts the text for = and IN, failing
        # on text that is no number.  The name is the types, or the type the text failed to be
        "text-compare":
            r"(?:Cannot compare values of type (?=VARCHAR and type |\w+ and type VARCHAR\b)"
            r"|Cannot mix values of type (?=VARCHAR and |\w+ and VARCHAR\b)"
            r"|Could not convert string (?:'[^'\n]*'|\"[^\"\n]*\") to (?=[\w(), ]+ when casting "
            r"from source column))(?P<name>[\w(), ]+?)"
            r"(?: - an explicit cast| in BETWEEN clause| when casting)",
    },
))
DUCKDB_FILES = register(replace(
    DUCKDB, name="duckdb-files", recognizes=_is_data_target, priority=10
))
#: DuckDB's own schemas, never served as the user's.
SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


class DuckDBEngine:
    """A read-only DuckDB database, or data files exposed as tables."""

    dialect = DUCKDB.dialect

    def __init__(self, path: str | Path, *, schemas: tuple[str, ...] = ()) -> None:
        import duckdb

        self._duckdb = duckdb
        p = Path(path)
        if not p.exists():
            raise DatabaseNotFoundError(f"database not found: {p}", "check the --db path")
        self.path = str(p)
        self.allowed_files: tuple[Path, ...] = ()
        self._tmpdir: str | None = None
        try:
            if p.is_dir() or p.suffix.lower() in FILE_READERS:
                self.profile = DUCKDB_FILES
                self._conn = self._open_files(p)
            else:
                self.profile = DUCKDB
                # settings given at connect, not SET afterwards: a second engine on the same
                # file shares DuckDB's database instance, whose configuration is then locked
                self._conn = duckdb.connect(str(p), read_only=True, config={
                    "enable_external_access": False, "lock_configuration": True})
        except duckdb.Error as exc:
            raise DatabaseNotFoundError(
                f"cannot open {p} with DuckDB: {str(exc).splitlines()[0]}",
                "give a .duckdb file, CSV/Parquet/JSON files, or a SQLite file",
            ) from exc
        self._tables: tuple[TableInfo, ...] | None = None
        #: the schemas served, in the order given (``main`` unless asked otherwise)
        self.schemas: tuple[str, ...] = self._serve(tuple(schemas)) if schemas else ("main",)
        self._where: dict[str, tuple[str, str]] = {}  # lower table name -> (schema, table)

    def _serve(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        """The schemas of ``wanted`` as the file spells them, set as the ``search_path``;
        ``InputError`` naming the file's schemas when one is not there."""
        if self.profile is not DUCKDB:
            self.close()
            raise InputError("data files have no named schemas", "drop --schema")
        have = [r[0] for r in self._conn.execute(
            "SELECT DISTINCT schema_name FROM duckdb_schemas() "
            "WHERE database_name = current_database() ORDER BY schema_name").fetchall()
            if r[0] not in SYSTEM_SCHEMAS]
        spelled = {h.lower(): h for h in have}
        missing = [w for w in wanted if w.lower() not in spelled]
        if missing:
            self.close()
            raise InputError(
                f"{self.path} has no schema {', '.join(repr(m) for m in missing)}",
                f"choose from {', '.join(have)}")
        served = tuple(dict.fromkeys(spelled[w.lower()] for w in wanted))
        path = ",".join(_quote(s) for s in served)
        self._conn.execute("SET search_path = " + "'" + path.replace("'", "''") + "'")
        return served

    @property
    def qualified(self) -> bool:
        """True when tables are named ``schema.table`` (more than one schema served)."""
        return len(self.schemas) > 1

    def _open_files(self, p: Path) -> Any:
        files = (
            sorted(f for f in p.iterdir() if f.suffix.lower() in FILE_READERS)
            if p.is_dir()
            else [p]
        )
        if not files:
            raise DatabaseNotFoundError(
                f"no CSV, Parquet or JSON files in {p}", "point --db at a folder of data files"
            )
        self._tmpdir = tempfile.mkdtemp(prefix="xander-duckdb-")
        catalog = str(Path(self._tmpdir) / "views.duckdb")
        build = self._duckdb.connect(catalog)
        seen: set[str] = set()
        try:
            for f in files:
                name = _table_name(f)
                while name.lower() in seen:
                    name += "_"
                seen.add(name.lower())
                reader = FILE_READERS[f.suffix.lower()]
                literal = "'" + str(f.resolve()).replace("'", "''") + "'"
                build.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM {reader}({literal})")
        finally:
            build.close()
        self.allowed_files = tuple(f.resolve() for f in files)
        allowed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in self.allowed_files)
        conn = self._duckdb.connect(catalog, read_only=True)
        conn.execute(f"SET allowed_paths=[{allowed}]")
        conn.execute("SET enable_external_access=false")
        conn.execute("SET lock_configuration=true")
        return conn

    @staticmethod
    def _only_select(sql: str) -> None:
        """Refuse a string unless DuckDB parses it as exactly one SELECT statement."""
        kinds = statement_types(sql)
        if kinds != ("SELECT",):
            got = ", ".join(kinds) or "no statement"
            raise QueryError(f"the engine runs one SELECT statement only, got: {got}")

    # -- introspection ---------------------------------------------------------------------------
    def tables(self) -> tuple[TableInfo, ...]:
        if self._tables is None:
            self._tables = tuple(self._introspect())
        return self._tables

    def _name(self, schema: str, table: str) -> str:
        name = f"{schema}.{table}" if self.qualified else table
        self._where.setdefault(name.lower(), (schema, table))
        return name

    def _introspect(self) -> list[TableInfo]:
        served = list(self.schemas)
        marks = ", ".join("?" for _ in served)
        rows = self._conn.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            f"WHERE table_catalog = current_database() AND table_schema IN ({marks}) "
            "ORDER BY table_name, ordinal_position", served,
        ).fetchall()
        order = {s: i for i, s in enumerate(served)}
        rows.sort(key=lambda r: order[r[0]])  # stable: by schema as served, then as DuckDB lists
        cols: dict[str, list[ColumnInfo]] = {}
        for schema, table, column, dtype in rows:
            cols.setdefault(self._name(schema, table), []).append(
                ColumnInfo(column, str(dtype).upper()))
        pks: dict[str, tuple[str, ...]] = {}
        fks: dict[str, list[ForeignKey]] = {}
        for schema, table, ctype, columns, ref_table, ref_columns in self._conn.execute(
            "SELECT schema_name, table_name, constraint_type, constraint_column_names, "
            "referenced_table, referenced_column_names FROM duckdb_constraints() "
            f"WHERE database_name = current_database() AND schema_name IN ({marks}) "
            "ORDER BY constraint_index", served,
        ).fetchall():
            name = self._name(schema, table)
            if ctype == "PRIMARY KEY":
                pks[name] = tuple(columns)
            elif ctype == "FOREIGN KEY" and ref_table:  # DuckDB keeps a key within its schema
                fks.setdefault(name, []).append(ForeignKey(
                    name, tuple(columns), self._name(schema, ref_table),
                    tuple(ref_columns or ())))
        return [
            TableInfo(t, tuple(c), pks.get(t, ()), tuple(fks.get(t, ()))) for t, c in cols.items()
        ]

    def table_sql(self, table: str) -> str:
        """``table`` (a name ``tables()`` gave) quoted for SQL: ``"sales"."orders"``."""
        self.tables()
        where = self._where.get(table.lower())
        if where is None or not self.qualified:
            return _quote(table)
        return f"{_quote(where[0])}.{_quote(where[1])}"

    def sample_values(self, table: str, column: str, limit: int = 3) -> tuple[Any, ...]:
        sql = (
            f"SELECT DISTINCT {_quote(column)} FROM {self.table_sql(table)} "
            f"WHERE {_quote(column)} IS NOT NULL LIMIT {int(limit)}"
        )
        try:
            return tuple(r[0] for r in self.execute(sql, timeout=2.0, max_rows=limit).rows)
        except QueryError:
            return ()

    # -- execution -------------------------------------------------------------------------------
    def explain(self, sql: str) -> None:
        self._only_select(sql)
        try:
            self._conn.execute("EXPLAIN " + sql).fetchall()
        except self._duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc

    def execute(
        self, sql: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS
    ) -> QueryResult:
        self._only_select(sql)
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            self._conn.interrupt()

        timer = threading.Timer(timeout, interrupt)
        start = time.perf_counter()
        timer.start()
        try:
            cur = self._conn.execute(sql)
            rows = cur.fetchmany(max_rows + 1)
            columns = tuple(d[0] for d in cur.description or ())
        except self._duckdb.Error as exc:
            if fired.is_set():
                raise QueryTimeoutError(f"query ran past its {timeout:g} s limit") from exc
            raise QueryError(str(exc).splitlines()[0]) from exc
        finally:
            timer.cancel()
        truncated = len(rows) > max_rows
        return QueryResult(
            columns, tuple(tuple(r) for r in rows[:max_rows]), time.perf_counter() - start,
            truncated,
        )

    def data_stamp(self) -> str | None:
        """The database file (or each data file) as ``files_stamp`` reads it, and the schemas
        served (a catalog opened with other ``--schema`` serves other tables)."""
        return files_stamp(list(self.allowed_files) or [self.path], ",".join(self.schemas))

    def close(self) -> None:
        self._conn.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
