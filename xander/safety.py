"""The safety gate: only one read-only query may reach an engine.

``ensure_read_only`` accepts exactly one SELECT, WITH ... SELECT, or set operation of those
(subqueries included) and raises ``UnsafeQueryError`` for anything else: DDL, DML (also inside a
CTE), PRAGMA, ATTACH/DETACH, COPY, INSTALL/LOAD, SET/RESET, CALL, EXPORT/IMPORT, VACUUM,
transactions, several statements, SELECT ... INTO, ... FOR UPDATE, functions or table sources
that read files, the network, the environment or the engine's state (PostgreSQL's
``pg_read_file``, ``lo_import``, ``dblink``, ``set_config``, ``pg_sleep``, ``query_to_xml``...),
unless the file is one the user opened (``allowed_files``), and the system catalogs
(``pg_catalog``, ``information_schema``, ``pg_*``).  It is the first wall; the read-only
connections are the second.

Five independent looks at the text, each of which can only refuse:

1. the raw text: no ``;`` before the end, no control or invisible characters;
2. sqlglot's tokens: the first word, statement keywords anywhere (sqlglot may parse statements
   it does not know as ``exp.Command`` or, worse, as a harmless-looking table), calls of
   functions that reach outside the database;
3. the engine's own parser, where its profile has one (DuckDB's): one statement, a SELECT;
4. sqlglot's tree: a SELECT / set operation root, no write or command node anywhere, table
   functions from a short allowlist, no file paths or URLs as table names, no system catalogs;
5. the raw text once more: no PostgreSQL ``U&`` escapes, which spell names the other looks
   cannot read (``U&"\0070g_read_file"`` is ``pg_read_file``).

When in doubt it refuses: a query the gate cannot parse is refused, and a column named like a
statement keyword (``Delete``, ``Drop``) must be quoted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from xander.engines.profile import dialect_profile
from xander.errors import QueryError, UnsafeQueryError

#: longer queries are refused outright: no question needs them, and they cost parse time.
MAX_SQL_CHARS = 50_000

#: words that begin a statement which writes, or changes the session or the files; refused
#: anywhere outside a string literal or a quoted identifier.
STATEMENT_KEYWORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "CREATE", "DROP", "ALTER", "TRUNCATE",
    "PRAGMA", "ATTACH", "DETACH", "INSTALL", "VACUUM", "GRANT", "REVOKE", "REINDEX",
    "SAVEPOINT", "ROLLBACK", "COMMIT", "CHECKPOINT", "INTO", "RETURNING",
})
#: statement words that are also plausible column or table names (``Comment``, ``End``,
#: ``show``): refused where a statement can start (first word, or just after ``(``) when a
#: name or a statement word follows them.
SOFT_STATEMENT_KEYWORDS = frozenset({
    "REPLACE", "SET", "RESET", "LOAD", "CALL", "USE", "SHOW", "DESCRIBE", "DESC", "SUMMARIZE",
    "EXPLAIN", "ANALYZE", "EXECUTE", "EXEC", "PREPARE", "DEALLOCATE", "COPY", "EXPORT",
    "IMPORT", "BEGIN", "END", "START", "TRANSACTION", "ABORT", "RELEASE", "LOCK", "UNLOCK",
    "COMMENT", "RENAME", "OPTIMIZE", "FORCE", "KILL", "DECLARE", "FETCH", "LISTEN", "NOTIFY",
    "UNLISTEN", "REFRESH", "CACHE", "UNCACHE", "UNLOAD",
})
#: words after which a soft keyword is a statement, not a column name.
_STATEMENT_FOLLOWERS = frozenset({
    "TABLE", "TABLES", "DATABASE", "DATABASES", "SCHEMA", "SCHEMAS", "TRANSACTION", "WORK",
    "TO", "INTO", "VARIABLE", "SESSION", "GLOBAL", "LOCAL", "ALL", "EXTENSION", "EXTENSIONS",
    "SECRET", "PERSISTENT", "TEMP", "TEMPORARY", "FUNCTION", "FUNCTIONS", "MACRO", "VIEW",
    "SEQUENCE", "INDEX", "TYPE", "ON", "SELECT", "WITH", "FROM",
})
_NAME_TOKENS = (TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER)
_STRING_TOKENS = frozenset(
    getattr(TokenType, n) for n in (
        "STRING", "NATIONAL_STRING", "RAW_STRING", "BYTE_STRING", "HEX_STRING", "BIT_STRING",
        "HEREDOC_STRING", "UNICODE_STRING",
    ) if hasattr(TokenType, n)
)
#: first words of a read query; an engine's profile may add some (DuckDB's ``FROM t SELECT``).
_READ_STARTS = frozenset({"SELECT", "WITH", "("})

#: functions that reach outside the database: files, network, environment, settings,
#: sequences, extensions, other databases, or SQL given as a string.
OUTSIDE_FUNCTIONS = re.compile(
    r"^(read_\w+|glob|sniff_csv|parquet_\w+|\w+_scan|sqlite_(attach|query)|postgres_\w+|"
    r"mysql_\w+|iceberg_\w+|delta_\w+|ducklake_\w+|st_read\w*|load_extension|readfile|"
    r"writefile|edit|fts\d_tokenizer|getenv|current_setting|set_config|pg_\w+|query|"
    r"query_table|http\w*|s3\w*|system|shell|exec\w*|duckdb_\w+|pragma_\w+|checkpoint|"
    r"force_checkpoint|which_secret|import_database|export_database|copy_database|"
    r"json_execute_serialized_sql|lo_\w+|dblink\w*|nextval|setval|currval|setseed|write_\w+|"
    r"enable_\w+|disable_\w+|truncate_duckdb_logs|python_\w+|getvariable|summary|"
    r"database_size|storage_info|metadata_info|table_info|show\w*|functions|user_agent|"
    r"add_parquet_key|txid_\w+|\w*_to_xml(schema|_and_xmlschema)?|ts_stat|ts_rewrite|loread|"
    r"lowrite|inet_(client|server)_\w+)$",
    re.IGNORECASE,
)
#: of those, the ones that only read one data file: allowed on the files the user opened.
FILE_READERS = frozenset({
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_ndjson_auto",
})
#: table functions allowed in FROM: they make rows from their arguments and touch nothing.
TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "exploding_generate_series", "unnest", "json_each", "json_tree",
    "generate_subscripts",
})
#: a table name ending like this is a file to DuckDB (``FROM people.csv``): a replacement scan.
DATA_FILE_SUFFIXES = frozenset({
    "csv", "tsv", "txt", "tbl", "dat", "parquet", "parq", "pq", "json", "jsonl", "ndjson",
    "geojson", "gz", "gzip", "zst", "zstd", "bz2", "xz", "lz4", "snappy", "zip", "tar", "xlsx",
    "xls", "avro", "arrow", "ipc", "feather", "orc", "db", "sqlite", "sqlite3", "duckdb",
    "ddb", "delta", "iceberg", "xml", "shp", "gpkg", "fgb", "osm", "pbf",
})
_PATH_CHARS = re.compile(r"[/\\:*?~]")
#: schemas of an engine's own catalogs (PostgreSQL's, DuckDB's information_schema): a question
#: is about the user's data, and the catalogs hold the server's (roles, settings, sessions).
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
#: PostgreSQL's ``U&'...'`` / ``U&"..."``: escapes that could spell a refused name
#: (``U&"\0070g_read_file"``) no other look at the text would see.
_UNICODE_ESCAPE = re.compile(r"[uU]&['\"]")
#: C0 controls but tab/newline/CR, DEL, zero-width space, LRM/RLM, bidi embeddings and
#: isolates, word joiner, BOM: nothing a query needs, and a way to hide text from a reviewer.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)

#: tree nodes that write, change the session, or are statements sqlglot could not read.
_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, n) for n in (
        "DML", "DDL", "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter",
        "Command", "Pragma", "Copy", "Set", "Transaction", "Commit", "Rollback", "Use",
        "LoadData", "Into", "Describe", "Attach", "Detach", "Install", "Refresh", "Cache",
        "Uncache", "TruncateTable", "Analyze", "Summarize", "Show", "Grant", "Revoke", "Export",
        "Lock", "Returning", "Execute", "ExecuteSql", "Kill", "Declare", "Put", "Get", "Undrop",
        "Block", "LockingStatement",
    ) if isinstance(getattr(exp, n, None), type)
)
_READ_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)


def _refuse(what: str) -> UnsafeQueryError:
    return UnsafeQueryError(f"refused: {what}", "only one read-only SELECT query may run")


def ensure_read_only(
    sql: str, dialect: str = "sqlite", allowed_files: Iterable[Path | str] = ()
) -> exp.Expr:
    """The parsed query if it is exactly one read-only SELECT; ``UnsafeQueryError`` otherwise.

    ``allowed_files`` are data files the user opened: a query may read those by path
    (``FROM 'people.csv'``, ``read_csv('people.csv')``), and no others.

    >>> ensure_read_only("SELECT name FROM singer;").sql()
    'SELECT name FROM singer'
    >>> ensure_read_only("DROP TABLE singer")
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: DROP statement (only one read-only SELECT query may run)
    >>> ensure_read_only("SELECT 1; DELETE FROM singer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: several statements (a ';' before the end) (...)
    >>> ensure_read_only("SELECT * FROM read_csv('/etc/passwd')", "duckdb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: function read_csv() reaches outside the database (...)
    """
    check_text(sql)
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except (ValueError, SqlglotError) as exc:
        raise _refuse(f"unknown SQL dialect {dialect!r}") from exc
    allowed = frozenset(_resolve(p) for p in allowed_files)
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise _refuse(f"the query could not be parsed ({_first_line(exc)})") from exc
    check_tokens(tokens, dialect, bool(allowed))
    check_engine_statement(sql, dialect)
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise _refuse(f"the query could not be parsed ({_first_line(exc)})") from exc
    if len(trees) != 1:
        raise _refuse("several statements" if trees else "empty query")
    check_tree(trees[0], allowed)
    if _UNICODE_ESCAPE.search(sql):  # last: the other looks say more about what they refuse
        raise _refuse("a Unicode-escaped name or string (U&), which could spell any name")
    return trees[0]


# -- 1. the raw text ---------------------------------------------------------------------------
def check_text(sql: Any) -> None:
    """Refuse empty or oversized text, invisible characters and any ``;`` before the end.

    A ``;`` inside a string literal is refused too: cheaper than trusting every lexer to agree
    on where strings and comments end.

    >>> check_text("SELECT 1;  ")
    >>> check_text("SELECT ';'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: several statements (a ';' before the end) (...)
    """
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("empty query")
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(f"a query of {len(sql)} characters (at most {MAX_SQL_CHARS})")
    bad = _INVISIBLE.search(sql)
    if bad:
        name = unicodedata.name(bad.group(), "control character")
        raise _refuse(f"an invisible or control character U+{ord(bad.group()):04X} ({name})")
    body = sql.rstrip()
    body = body.removesuffix(";")
    if ";" in body:
        raise _refuse("several statements (a ';' before the end)")


# -- 2. sqlglot's tokens -----------------------------------------------------------------------
def check_tokens(tokens: list[Token], dialect: str = "sqlite", may_read_files: bool = False) -> None:
    """Refuse a query whose words betray a statement other than one SELECT.

    ``may_read_files`` lets calls of ``FILE_READERS`` through to the tree check, which then
    verifies the path is an allowed file.

    >>> check_tokens(sqlglot.tokenize("SELECT Comment, (End - 1) FROM show"))
    >>> check_tokens(sqlglot.tokenize("SELECT * FROM (SHOW TABLES)", read="duckdb"), "duckdb")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: SHOW statement inside the query (...)
    """
    words = [t for t in tokens if t.token_type != TokenType.SEMICOLON]
    if not words:
        raise _refuse("empty query")
    first = words[0].text.upper()
    if words[0].token_type in _STRING_TOKENS or (
        first not in _READ_STARTS | dialect_profile(dialect).read_starts
    ):
        if first in STATEMENT_KEYWORDS | SOFT_STATEMENT_KEYWORDS:
            raise _refuse(f"{first} statement")
        raise _refuse(f"a statement starting with {words[0].text[:40]!r}")
    for i, tok in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        calls = nxt is not None and nxt.token_type == TokenType.L_PAREN
        if tok.token_type in _STRING_TOKENS:
            continue
        reader_ok = may_read_files and tok.text.lower() in FILE_READERS
        if calls and OUTSIDE_FUNCTIONS.match(tok.text) and not reader_ok:
            raise _refuse(f"function {tok.text}() reaches outside the database")
        if tok.token_type == TokenType.IDENTIFIER:  # quoted: a name, never a keyword
            continue
        word = tok.text.upper()
        if word in STATEMENT_KEYWORDS:
            raise _refuse(f"{word} inside the query")
        opens_statement = (
            word in SOFT_STATEMENT_KEYWORDS
            and i > 0
            and words[i - 1].token_type == TokenType.L_PAREN
            and nxt is not None
            and (nxt.token_type in _NAME_TOKENS
                 or nxt.text.upper() in _STATEMENT_FOLLOWERS | STATEMENT_KEYWORDS)
        )
        if opens_statement:
            raise _refuse(f"{word} statement inside the query")


# -- 3. the engine's own parser ----------------------------------------------------------------
def check_engine_statement(sql: str, dialect: str) -> None:
    """Refuse unless the engine's own parser (its profile's ``statement_types``) sees exactly one
    statement, of type SELECT; a no-op for an engine without one (SQLite).

    The engine runs every statement of a string it is given, so its own view of where
    statements end is the one that counts.  (DuckDB reads ``PIVOT`` without ``IN`` values as a
    CREATE TYPE and a SELECT, hence refused.)

    >>> check_engine_statement("FROM t SELECT a", "duckdb")
    >>> check_engine_statement("CALL pragma_version()", "duckdb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: CALL statement (DuckDB's parser) (...)
    >>> check_engine_statement("CALL pragma_version()", "sqlite")
    """
    engine = dialect_profile(dialect)
    if engine.statement_types is None:
        return
    try:
        kinds = engine.statement_types(sql)
    except QueryError as exc:
        raise _refuse(
            f"the query could not be parsed by {engine.display_name} ({_first_line(exc)})"
        ) from exc
    for kind in kinds:
        if kind != "SELECT":
            raise _refuse(f"{kind} statement ({engine.display_name}'s parser)")
    if len(kinds) != 1:
        raise _refuse("several statements" if kinds else "empty query")


# -- 4. sqlglot's tree -------------------------------------------------------------------------
def check_tree(tree: exp.Expr, allowed_files: Iterable[str] = ()) -> None:
    """Refuse a parsed statement unless it only reads the database (or the allowed files).

    >>> check_tree(sqlglot.parse_one("SELECT a FROM t UNION SELECT b FROM (SELECT b FROM u)"))
    >>> check_tree(sqlglot.parse_one("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
    ...                              read="duckdb"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: DELETE inside the query (...)
    """
    allowed = frozenset(allowed_files)
    if not isinstance(tree, _READ_ROOTS):
        raise _refuse(f"{tree.key.upper()} statement")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise _refuse(f"{type(node).__name__.upper()} inside the query")
        if isinstance(node, exp.Query) and not isinstance(node, _READ_ROOTS):
            raise _refuse(f"{type(node).__name__.upper()} inside the query")
    for fn in tree.find_all(exp.Func):
        for name in _function_names(fn):
            if OUTSIDE_FUNCTIONS.match(name) and not (
                name in FILE_READERS and _reads_allowed_files(fn, allowed)
            ):
                raise _refuse(f"function {name}() reaches outside the database")
    for lateral in tree.find_all(exp.Lateral):
        _check_row_function(lateral.this)
    for table in tree.find_all(exp.Table):
        source = table.this
        if isinstance(source, exp.Func):
            _check_row_function(source)
            continue
        name = ".".join(p.name for p in table.parts)
        if table.db.lower() in CATALOG_SCHEMAS or (
            not table.db and table.name.lower().startswith("pg_")
        ):
            raise _refuse(f"reading the system catalog {name!r}")
        is_file = isinstance(source, exp.Literal) or _looks_like_file(name)
        if is_file and _resolve(name) not in allowed:
            raise _refuse(f"reading the file {name!r}")


def _check_row_function(source: exp.Expr) -> None:
    """A function used as a row source (``FROM f(...)``, ``LATERAL f(...)``) must be allowed."""
    if isinstance(source, exp.Func):
        names = _function_names(source)
        if not (names & TABLE_FUNCTIONS or names & FILE_READERS):
            raise _refuse(f"table function {min(names)}() as a row source")


def _function_names(fn: exp.Func) -> frozenset[str]:
    """Every name a function node may have been written as, lower case."""
    if isinstance(fn, exp.Anonymous):
        return frozenset({str(fn.name).lower()})
    names = {fn.sql_name().lower()}
    names.update(n.lower() for n in getattr(type(fn), "_sql_names", ()) or ())
    return frozenset(names)


def _reads_allowed_files(fn: exp.Func, allowed: frozenset[str]) -> bool:
    """True when a file reader's path argument is a literal naming only allowed files."""
    if not allowed:
        return False
    args = [fn.this] if isinstance(fn.this, exp.Expr) else []
    args += list(fn.expressions)
    if not args:
        return False
    first = args[0]
    paths = first.expressions if isinstance(first, exp.Array) else [first]
    return bool(paths) and all(
        isinstance(p, exp.Literal) and p.is_string and _resolve(p.this) in allowed for p in paths
    )


def _looks_like_file(name: str) -> bool:
    """A table name DuckDB would read as a file or URL.

    >>> _looks_like_file("people.csv"), _looks_like_file("s3://b/x"), _looks_like_file("singer")
    (True, True, False)
    """
    if _PATH_CHARS.search(name):
        return True
    return "." in name and name.rsplit(".", 1)[1].lower() in DATA_FILE_SUFFIXES


def _resolve(path: Path | str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError, ValueError):
        return "\x00unresolvable"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]
