"""PostgreSQL engine on psycopg 3, with a ``psycopg_pool`` pool shared by threads.

Targets: a libpq URL, ``postgresql://user:pass@host:port/db?sslmode=...`` (or ``postgres://``),
or the bare target ``postgresql:``, which takes everything from libpq's ``PG*`` environment
variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``, ``PGSERVICE``) and
``~/.pgpass``.  The engine is named by a URL without its password (``path``).

Walls that keep the database unchanged, each holding without the others:

1. ``xander.safety`` refuses anything but one read query before it reaches the engine;
2. every query runs in a ``READ ONLY`` transaction that is always rolled back (a session
   setting a query changes with ``set_config`` goes with it), declared as a server-side cursor
   (PostgreSQL runs only one ``SELECT`` / ``VALUES`` there, sent alone with the extended
   protocol), with ``statement_timeout``, ``lock_timeout`` and
   ``idle_in_transaction_session_timeout`` set for that transaction; the sessions themselves
   default to read-only transactions;
3. the role the URL names, which should be a read-only role (``docs/postgres.md``).

Rows come through the cursor, at most ``max_rows + 1`` of them (``truncated``), so a huge result
never reaches this process.  ``NUMERIC`` values arrive as floats (as SQLite and DuckDB give
averages).  With one schema served (default: the connection's current schema, ``public``),
tables have bare names; with several, ``schema.table``.

>>> recognizes("postgresql://u@localhost/shop"), recognizes("postgresql:"), recognizes("a.db")
(True, True, False)
>>> redact("postgresql://ada:s3cret@db.example:5433/shop?sslmode=require")
'postgresql://ada@db.example:5433/shop?sslmode=require'
>>> statement_types("SELECT 1"), statement_types("WITH x AS (SELECT 1) SELECT * FROM x")
(('SELECT',), ('SELECT',))
>>> statement_types("SELECT 1; COPY t TO STDOUT")
('SELECT', 'COPY')
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from xander.engines.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ColumnInfo,
    ForeignKey,
    QueryResult,
    TableInfo,
)
from xander.engines.profile import EngineProfile, register
from xander.errors import (
    DatabaseNotFoundError,
    EngineError,
    InputError,
    QueryError,
    QueryTimeoutError,
)

#: the bare target that means "libpq's PG* environment variables and nothing else".
ENV_TARGET = "postgresql:"
_SCHEMES = ("postgresql://", "postgres://")
#: seconds to wait for a login (unless the URL or PGCONNECT_TIMEOUT says otherwise)
CONNECT_TIMEOUT_S = 5
#: connections the pool keeps at most (the HTTP server and the runner share one engine)
POOL_MAX = 4
#: seconds a query may wait for a free (or re-made) pooled connection
POOL_WAIT_S = 15.0
#: seconds to wait for a pooled session before asking the server whether it is there at all
_QUICK_WAIT_S = 2.0
#: seconds the client waits past ``statement_timeout`` before it cancels the query itself
_CANCEL_GRACE_S = 2.0
#: SQLSTATEs of a session the server ended (admin shutdown, crash, idle timeout) or lost
_LOST = re.compile(r"^(08|57P0[123]|25P03)")
_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")
#: format_type's long type names and the short forms a CREATE TABLE writes
_SHORT_TYPES = {"character varying": "varchar", "character": "char", "bit varying": "varbit",
                "timestamp without time zone": "timestamp",
                "timestamp with time zone": "timestamptz", "time without time zone": "time",
                "time with time zone": "timetz"}
_LONG_TYPE = re.compile(
    r"\b(?:" + "|".join(sorted(map(re.escape, _SHORT_TYPES), key=len, reverse=True)) + r")\b",
    re.IGNORECASE)


def recognizes(target: str) -> bool:
    """A ``postgresql://`` / ``postgres://`` URL, or the bare ``postgresql:``."""
    t = _unflatten(target).lower()
    return t.startswith(_SCHEMES) or t == ENV_TARGET


def _unflatten(target: str) -> str:
    """A URL that went through ``pathlib.Path`` (which writes ``postgresql://h/db`` as
    ``postgresql:/h/db``) with its ``//`` back; a host-less URL cannot be told apart there.

    >>> _unflatten("postgresql:/ada@db.example/shop"), _unflatten("postgres://h/d")
    ('postgresql://ada@db.example/shop', 'postgres://h/d')
    """
    t = target.strip()
    m = re.match(r"^(postgresql|postgres):/(?!/)", t, re.IGNORECASE)
    return f"{m.group(1)}://{t[m.end():]}" if m else t


def redact(target: str) -> str:
    """``target`` without a password (URL user info or a ``password=`` parameter)."""
    t = _unflatten(target)
    if not t.lower().startswith(_SCHEMES):
        return t
    parts = urlsplit(t)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = user.split(":", 1)[0] + "@" + host
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _conninfo(target: str) -> str:
    t = _unflatten(target)
    return "" if t.lower() == ENV_TARGET else t


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_name(name: str) -> str:
    """A name as SQL text: bare when PostgreSQL would fold it to itself, else quoted."""
    return name if _IDENT.match(name) else _quote(name)


# -- the statement types, by sqlglot's PostgreSQL parser ----------------------------------------
def shown_type(catalog_type: str) -> str:
    """A column's type as a ``CREATE TABLE`` writes it, from ``format_type``'s catalog name:
    in capitals, with the SQL standard's long names in their short forms (``VARCHAR(12)`` for
    ``character varying(12)``), so the prompt reads as SQLite's and DuckDB's declared types do.

    >>> [shown_type(t) for t in ("integer", "character varying(12)", "character(3)",
    ...                          "double precision", "timestamp without time zone",
    ...                          "time with time zone", "numeric(10,2)", "bit varying(4)")]
    ['INTEGER', 'VARCHAR(12)', 'CHAR(3)', 'DOUBLE PRECISION', 'TIMESTAMP', 'TIMETZ', 'NUMERIC(10,2)', 'VARBIT(4)']
    """
    return _LONG_TYPE.sub(lambda m: _SHORT_TYPES[m.group(0).lower()], catalog_type).upper()


def statement_types(sql: str) -> tuple[str, ...]:
    """The kinds of the statements in ``sql`` as sqlglot's PostgreSQL parser reads them
    (``SELECT`` for a query or set operation).  ``QueryError`` when it cannot parse them.

    The engine does not trust this: PostgreSQL itself runs only one ``SELECT`` or ``VALUES``
    in the cursor a query is declared as.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        trees = [t for t in sqlglot.parse(sql, read="postgres") if t is not None]
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise QueryError(str(exc).strip().splitlines()[0][:200]) from exc
    kinds = []
    for tree in trees:
        if isinstance(tree, exp.Query):
            kinds.append("SELECT")
        elif isinstance(tree, exp.Command):
            kinds.append(str(tree.this).upper())
        else:
            kinds.append(tree.key.upper())
    return tuple(kinds)


def _open(target: str, schemas: Sequence[str] = ()) -> PostgresEngine:
    return PostgresEngine(target, schemas=schemas)


POSTGRES = register(EngineProfile(
    name="postgres",
    dialect="postgres",
    display_name="PostgreSQL",
    recognizes=recognizes,
    opener=_open,
    # unquoted names fold to lower case, quoted ones keep theirs: "Name" is not name
    caseless_names=False,
    statement_types=statement_types,
    # ties in ORDER BY are broken by the stored order, as SQLite's stable sort leaves them
    row_order="ctid",
    # the 0.5B model writes SQLite better than PostgreSQL: asked for SQLite on Spider train
    # and dev (benchmarks/results/pg_prompt_dialect.md), its SQL is transpiled to PostgreSQL
    prompt_dialect="sqlite",
    text_number="CAST(SUBSTRING(X FROM '{p}') AS DOUBLE PRECISION)",  # any PostgreSQL
    error_patterns={
        "ambiguous-column": r'column reference "(?P<name>[^"\n]+)" is ambiguous',
        "no-such-column": r'column "?(?P<name>[^"\n]+?)"? does not exist',
        "no-such-table": r'relation "(?P<name>[^"\n]+)" does not exist',
        "not-grouped":
            r'column "(?P<name>[^"\n]+)" must appear in the GROUP BY clause or be used in an '
            r"aggregate function",
        # avg/sum of a text column (SQLite would read its digits): the name is the function
        "text-aggregate":
            r"function (?P<name>\w+)\((?:text|character varying|character)\) does not exist",
        # text compared with a number (SQLite answers by affinity): the name is the operator
        "text-compare":
            r"operator does not exist: (?=(?:text|character varying|character) [<>=!]+ "
            r"(?:smallint|integer|bigint|numeric|real|double precision)\b|(?:smallint|integer|"
            r"bigint|numeric|real|double precision) [<>=!]+ (?:text|character varying|"
            r"character)\b)[a-z ]+? (?P<name>[<>=!]+) ",
    },
    named_schemas=True,
    priority=5,  # a URL is never a file: ask before anything touches the file system
))


# -- errors ------------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _connect_error(exc: Exception, where: str) -> EngineError:
    """What a failed login means, with what to do about it (never the password)."""
    text = str(exc)
    detail = re.sub(r"^(connection failed: |connection is bad: )+", "", _first_line(exc))
    detail = re.sub(r"^connection to server (at|on) .+? failed: ", "", detail)
    detail = detail.replace("FATAL:  ", "").strip()
    socket = re.search(r'on socket "([^"]+)" failed: No such file or directory', text)
    if socket:
        detail = f"no server socket at {socket.group(1)}"
    if "password authentication failed" in text or "no password supplied" in text:
        return EngineError(f"PostgreSQL at {where} refused the login: {detail}",
                           "check the user and password in the URL, PGPASSWORD or ~/.pgpass")
    m = re.search(r'database "([^"]+)" does not exist', text)
    if m:
        return DatabaseNotFoundError(f"PostgreSQL at {where} has no database {m.group(1)!r}",
                                     "check the database name at the end of the URL "
                                     "(psql -l lists them)")
    m = re.search(r'role "([^"]+)" does not exist', text)
    if m:
        return EngineError(f"PostgreSQL at {where} has no user {m.group(1)!r}",
                           "check the user name in the URL or PGUSER")
    if re.search(r"Connection refused|No such file or directory|could not connect|"
                 r"timeout expired|could not translate host name|Network is unreachable|"
                 r"server closed the connection", text):
        return EngineError(f"cannot reach PostgreSQL at {where}: {detail}",
                           "is the server running? check the host and port in the URL or "
                           "PGHOST/PGPORT")
    return EngineError(f"cannot connect to PostgreSQL at {where}: {detail}",
                       "check the URL (postgresql://user@host:port/database) or the PG* "
                       "environment variables")


class _Lost(Exception):
    """The pooled session died under a query (it may be retried once on a fresh one)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class PostgresEngine:
    """A PostgreSQL database, read through a pool of read-only sessions."""

    profile = POSTGRES
    dialect = POSTGRES.dialect
    allowed_files: tuple[Path, ...] = ()

    def __init__(self, target: str, *, schemas: Sequence[str] = (),
                 pool_size: int = POOL_MAX) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError as exc:  # a core dependency; only a broken install lacks it
            raise EngineError("psycopg is not installed",
                              "pip install 'psycopg[binary]' psycopg-pool") from exc
        self._psycopg = psycopg
        # the pool logs its reconnection attempts; the errors users see say it once, plainly
        logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
        self._pool_timeout = PoolTimeout
        self._conninfo = _conninfo(target)
        where = redact(self._conninfo) if self._conninfo else "the PG* environment's server"
        params = psycopg.conninfo.conninfo_to_dict(self._conninfo)
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params and not os.environ.get("PGCONNECT_TIMEOUT"):
            self._kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in params:
            self._kwargs["application_name"] = "xander"
        try:
            first = psycopg.connect(self._conninfo, **self._kwargs)
        except psycopg.Error as exc:
            raise _connect_error(exc, where) from exc
        try:
            info = first.info
            self.path = (f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
                         if not info.host.startswith("/") else
                         f"postgresql://{info.user}@/{info.dbname}?host={info.host}")
            self.schemas = self._choose_schemas(first, tuple(schemas))
        finally:
            first.close()
        self._search_path = ", ".join(_quote(s) for s in self.schemas)
        self._tables: tuple[TableInfo, ...] | None = None
        self._names: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._cursor_ids = itertools.count(1)
        self._pool = ConnectionPool(
            self._conninfo, kwargs=self._kwargs, min_size=1, max_size=max(1, pool_size),
            configure=self._configure, check=ConnectionPool.check_connection, open=False,
            name="xander", timeout=POOL_WAIT_S, reconnect_timeout=60.0,
        )
        try:
            self._pool.open(wait=True, timeout=POOL_WAIT_S)
        except (PoolTimeout, psycopg.Error) as exc:  # the login just worked: what went wrong?
            self._pool.close()
            raise EngineError(f"cannot open a connection pool to {self.path}: {exc}",
                              "is the server accepting more connections?") from exc

    # -- sessions ------------------------------------------------------------------------------
    def _choose_schemas(self, conn: Any, wanted: tuple[str, ...]) -> tuple[str, ...]:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
            "AND nspname <> 'information_schema' "
            "AND has_schema_privilege(oid, 'USAGE') ORDER BY nspname").fetchall()
        known = [r[0] for r in rows]
        if not wanted:
            current = conn.execute("SELECT current_schema()").fetchone()[0]
            return (current or "public",)
        missing = [s for s in wanted if s not in known]
        if missing:
            raise InputError(
                f"no schema {missing[0]!r} in {self.path} (or no USAGE on it)",
                "choose from " + (", ".join(known) or "(none readable)"))
        return tuple(dict.fromkeys(wanted))

    def _configure(self, conn: Any) -> None:
        """A new pooled session: read-only by default, the served schemas first, and NUMERIC
        values as floats."""
        from psycopg.types.numeric import FloatLoader

        conn.execute("SELECT set_config('search_path', %s, false), "
                     "set_config('default_transaction_read_only', 'on', false)",
                     [self._search_path])
        conn.adapters.register_loader("numeric", FloatLoader)

    # -- introspection -------------------------------------------------------------------------
    def tables(self) -> tuple[TableInfo, ...]:
        with self._lock:
            if self._tables is None:
                self._tables = tuple(self._introspect())
                self._names = {}
                for t in self._tables:
                    self._names.setdefault(t.name.lower(), self._split(t.name))
            return self._tables

    def _split(self, name: str) -> tuple[str, str]:
        if len(self.schemas) == 1:
            return self.schemas[0], name
        schema, _, rel = name.partition(".")
        return schema, rel

    def _label(self, schema: str, rel: str) -> str:
        return rel if len(self.schemas) == 1 else f"{schema}.{rel}"

    def _catalog(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._read(sql, params, timeout=30.0, max_rows=1_000_000).rows]

    def _introspect(self) -> list[TableInfo]:
        schemas = list(self.schemas)
        rels = self._catalog(
            "SELECT c.oid, n.nspname, c.relname, obj_description(c.oid, 'pg_class'), "
            "c.relkind IN ('r', 'm') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "AND NOT c.relispartition AND has_table_privilege(c.oid, 'SELECT') "
            # creation order, as SQLite and DuckDB list their tables (the prompt's order)
            "ORDER BY array_position(%s, n.nspname::text), c.oid",
            [schemas, schemas])
        if not rels:
            return []
        oids = [r[0] for r in rels]
        cols: dict[int, list[ColumnInfo]] = {}
        for oid, name, typ, comment in self._catalog(
            "SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), "
            "col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attrelid, a.attnum", [oids]):
            cols.setdefault(oid, []).append(
                ColumnInfo(name, shown_type(str(typ)), comment or ""))
        label = {r[0]: self._label(r[1], r[2]) for r in rels}
        pks: dict[int, tuple[str, ...]] = {}
        fks: dict[int, list[ForeignKey]] = {}
        for oid, kind, keys, ref, ref_keys in self._catalog(
            "SELECT con.conrelid, con.contype, "
            "ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i) "
            "      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n "
            "      ORDER BY k.i)::text[], con.confrelid, "
            "ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i) "
            "      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n "
            "      ORDER BY k.i)::text[] "
            "FROM pg_constraint con WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'f') "
            "ORDER BY con.conrelid, con.conname", [oids]):
            if kind == "p":
                pks[oid] = tuple(keys)
            elif ref in label:  # a reference to a table outside the served schemas is dropped
                fks.setdefault(oid, []).append(
                    ForeignKey(label[oid], tuple(keys), label[ref], tuple(ref_keys)))
        return [
            TableInfo(label[oid], tuple(cols.get(oid, ())), pks.get(oid, ()),
                      tuple(fks.get(oid, ())), comment or "", bool(stored))
            for oid, _, _, comment, stored in rels
        ]

    def sample_values(self, table: str, column: str, limit: int = 3) -> tuple[Any, ...]:
        self.tables()
        found = self._names.get(table.lower())
        info = next((t for t in self.tables() if t.name.lower() == table.lower()), None)
        col = next((c.name for c in info.columns if c.name.lower() == column.lower()), None) \
            if info is not None else None
        if found is None or col is None:
            return ()
        rel = f"{_quote(found[0])}.{_quote(found[1])}"
        sql = (f"SELECT DISTINCT {_quote(col)} FROM {rel} WHERE {_quote(col)} IS NOT NULL "
               f"LIMIT {int(limit)}")
        try:
            return tuple(r[0] for r in self.execute(sql, timeout=2.0, max_rows=limit).rows)
        except QueryError:
            return ()

    def data_stamp(self) -> str | None:
        """The server and database, the served schemas and tables, and the database's counters
        of rows inserted, updated and deleted since its statistics were last reset, with each
        table's storage file (which ``TRUNCATE`` replaces).  PostgreSQL publishes a session's
        counts within seconds of its commit (at most about 10 s later), so a cache keyed by
        this stamp may lag a concurrent write by as much.  None when the server keeps no
        counts (``track_counts`` off) or they cannot be read."""
        try:
            row = self._catalog(
                "SELECT current_setting('track_counts'), d.datid, d.tup_inserted, "
                "d.tup_updated, d.tup_deleted, d.stats_reset, "
                "(SELECT md5(string_agg(c.oid || ':' || c.relfilenode, ',' ORDER BY c.oid)) "
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                " WHERE c.relkind IN ('r', 'm') AND n.nspname NOT LIKE 'pg\\_%%' "
                " AND n.nspname <> 'information_schema') "
                "FROM pg_stat_database d WHERE d.datname = current_database()", ())
        except QueryError:
            return None
        if not row or row[0][0] != "on":
            return None
        tables = hashlib.sha256(repr(self.tables()).encode()).hexdigest()
        return "\n".join([self.path, ",".join(self.schemas), tables,
                          "|".join(str(v) for v in row[0][1:])])

    # -- execution -----------------------------------------------------------------------------
    def explain(self, sql: str) -> None:
        kinds = statement_types(sql)
        if kinds != ("SELECT",):
            got = ", ".join(kinds) or "no statement"
            raise QueryError(f"the engine plans one SELECT statement only, got: {got}")
        self._read("EXPLAIN " + sql, None, timeout=5.0, max_rows=0, cursor=False)

    def execute(
        self, sql: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS
    ) -> QueryResult:
        return self._read(sql, None, timeout=timeout, max_rows=max_rows)

    def _read(self, sql: str, params: Sequence[Any] | None, *, timeout: float, max_rows: int,
              cursor: bool = True) -> QueryResult:
        """Run one query in a rolled-back read-only transaction; once more on a fresh session
        when the pooled one died under it (a terminated backend, a restarted server)."""
        psycopg = self._psycopg
        start = time.perf_counter()
        for attempt in (1, 2):
            try:
                conn = self._getconn()
                try:
                    columns, rows = self._transaction(conn, sql, params, timeout, max_rows,
                                                      cursor)
                except psycopg.Error as exc:
                    if conn.broken or (exc.sqlstate and _LOST.match(exc.sqlstate)):
                        raise _Lost(exc) from exc
                    raise
                finally:
                    self._pool.putconn(conn)  # a broken one is dropped and replaced
            except _Lost as lost:
                if attempt == 1:
                    continue
                raise EngineError(f"lost the connection to {self.path}: "
                                  f"{_first_line(lost.cause)}",
                                  "is the server running? ask again when it is back") from lost
            except self._pool_timeout as exc:
                raise EngineError(f"no connection to {self.path} within {POOL_WAIT_S:g} s",
                                  "is the server running? is it out of connections?") from exc
            except psycopg.errors.QueryCanceled as exc:
                raise QueryTimeoutError(f"query ran past its {timeout:g} s limit "
                                        f"({_first_line(exc)})") from exc
            except psycopg.errors.LockNotAvailable as exc:
                raise QueryTimeoutError(f"query waited past its {timeout:g} s limit for a lock "
                                        "another session holds") from exc
            except psycopg.Error as exc:
                raise QueryError(_first_line(exc)) from exc
            except (OverflowError, ValueError, UnicodeError) as exc:  # a value Python can't hold
                raise QueryError(f"a value could not be read: {exc}") from exc
            truncated = len(rows) > max_rows
            return QueryResult(columns, tuple(rows[:max_rows]), time.perf_counter() - start,
                               truncated)
        raise AssertionError("unreachable")

    def _getconn(self) -> Any:
        """A pooled session; when none comes soon, ask the server directly why (it is down:
        say so now), else wait for the pool."""
        try:
            return self._pool.getconn(timeout=_QUICK_WAIT_S)
        except self._pool_timeout:
            pass
        try:
            self._psycopg.connect(self._conninfo, **self._kwargs).close()
        except self._psycopg.Error as exc:
            raise _connect_error(exc, self.path) from exc
        return self._pool.getconn(timeout=POOL_WAIT_S)

    def _transaction(self, conn: Any, sql: str, params: Sequence[Any] | None, timeout: float,
                     max_rows: int, cursor: bool
                     ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        ms = str(max(1, int(timeout * 1000)))
        idle = str(max(5_000, int(timeout * 2000)))
        fired = threading.Event()

        def cancel() -> None:
            fired.set()
            conn.cancel_safe(timeout=2.0)

        timer = threading.Timer(timeout + _CANCEL_GRACE_S, cancel)
        timer.daemon = True
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true), "
                "set_config('idle_in_transaction_session_timeout', %s, true)", [ms, ms, idle])
            timer.start()
            try:
                if cursor:
                    with conn.cursor(name=f"xander_{next(self._cursor_ids)}") as cur:
                        cur.execute(sql, params)
                        rows = cur.fetchmany(max_rows + 1)
                        columns = tuple(d.name for d in cur.description or ())
                else:  # EXPLAIN cannot be a cursor; binary forces the extended protocol,
                    # which takes one statement only
                    cur = conn.execute(sql, params, binary=True)
                    rows = cur.fetchmany(max_rows + 1) if cur.description else []
                    columns = tuple(d.name for d in cur.description or ())
            except self._psycopg.Error as exc:
                if fired.is_set() and not conn.broken:
                    raise self._psycopg.errors.QueryCanceled(str(exc)) from exc
                raise
            finally:
                timer.cancel()
        return columns, [tuple(r) for r in rows]

    def close(self) -> None:
        self._pool.close()
