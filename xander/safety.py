"""The safety gate: only one read-only query may reach an engine.

``ensure_read_only`` accepts exactly one SELECT, WITH ... SELECT, or set operation of those
(subqueries included) and raises ``UnsafeQueryError`` for anything else: DDL, DML (also inside a
CTE), PRAGMA, ATTACH, COPY, INSTALL/LOAD, SET, CALL, transactions, several statements,
SELECT ... INTO, and functions that read or write files or the environment unless the file is
one the user opened.  It is the first wall; the read-only connections are the second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from xander.errors import UnsafeQueryError

#: statements whose first keyword alone is enough to refuse them
_REFUSED_KEYWORDS = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP", "ALTER",
    "TRUNCATE", "RENAME", "PRAGMA", "ATTACH", "DETACH", "COPY", "INSTALL", "LOAD", "FORCE",
    "SET", "RESET", "CALL", "EXECUTE", "EXEC", "EXPORT", "IMPORT", "VACUUM", "ANALYZE",
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "CHECKPOINT", "USE", "GRANT",
    "REVOKE", "DESCRIBE", "SHOW", "SUMMARIZE", "PREPARE", "DEALLOCATE", "REINDEX", "UNLOAD",
    "LOCK", "COMMENT", "DETACH", "OPTIMIZE", "EXPLAIN", "PIVOT", "UNPIVOT",
}
_READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_WRITE_NODES = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
    exp.Command, exp.Pragma, exp.Copy, exp.Set, exp.Transaction, exp.Commit, exp.Rollback,
    exp.Use, exp.LoadData, exp.Into, exp.Describe, exp.Attach, exp.Detach, exp.Install,
    exp.Refresh, exp.Cache, exp.Uncache, exp.TruncateTable, exp.Analyze,
) if hasattr(exp, "Analyze") else ()
#: functions that touch files, the network, the environment or the engine's state
_FILE_FUNCTIONS = re.compile(
    r"^(read_\w+|glob|sniff_csv|parquet_\w+|sqlite_scan|sqlite_attach|postgres_\w+|mysql_\w+|"
    r"iceberg_\w+|delta_scan|load_extension|readfile|writefile|edit|fts\d?\w*|getenv|"
    r"current_setting|set_config|pg_\w+|query|query_table|http\w*|s3\w*|system|shell|"
    r"duckdb_\w+|pragma_\w+|checkpoint|force_checkpoint|which_secret|import_database|"
    r"export_database|json_execute_serialized_sql|lo_\w+|dblink\w*)$",
    re.IGNORECASE,
)


def _names(tree: exp.Expression) -> Iterable[str]:
    for fn in tree.find_all(exp.Func):
        if isinstance(fn, exp.Anonymous):
            yield str(fn.this)
        else:
            yield fn.sql_name()
        for cls_name in getattr(type(fn), "_sql_names", ()) or ():
            yield cls_name


def _refuse(what: str) -> UnsafeQueryError:
    return UnsafeQueryError(f"refused: {what}", "only one read-only SELECT query may run")


def ensure_read_only(
    sql: str, dialect: str = "sqlite", allowed_files: Iterable[Path | str] = ()
) -> exp.Expression:
    """The parsed query if it is exactly one read-only SELECT; ``UnsafeQueryError`` otherwise.

    >>> ensure_read_only("SELECT name FROM singer").sql()
    'SELECT name FROM singer'
    >>> ensure_read_only("DROP TABLE singer")
    Traceback (most recent call last):
    xander.errors.UnsafeQueryError: refused: DROP statement (only one read-only SELECT query may run)
    """
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("empty query")
    if "\x00" in sql:
        raise _refuse("NUL character in the query")
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except (sqlglot.errors.TokenError, ValueError) as exc:
        raise _refuse(f"the query could not be tokenized ({str(exc).splitlines()[0]})") from exc
    if not tokens:
        raise _refuse("empty query")
    semis = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
    if any(i != len(tokens) - 1 for i in semis):
        raise _refuse("several statements")
    first = tokens[0].text.upper()
    if first not in {"SELECT", "WITH", "(", "VALUES", "FROM"} and first in _REFUSED_KEYWORDS:
        raise _refuse(f"{first} statement")
    if first not in {"SELECT", "WITH", "("}:
        raise _refuse(f"a statement starting with {tokens[0].text!r}")
    for t in tokens:
        word = t.text.upper()
        if t.token_type in (TokenType.STRING, TokenType.IDENTIFIER) or t.token_type.name in (
                "NATIONAL_STRING", "RAW_STRING", "BYTE_STRING", "HEX_STRING"):
            continue
        if word in {"INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "ATTACH", "DETACH",
                    "PRAGMA", "COPY", "INSTALL", "TRUNCATE", "VACUUM", "MERGE", "GRANT"}:
            if t.token_type != TokenType.VAR or word in {"INSERT", "DELETE", "DROP", "ATTACH"}:
                raise _refuse(f"{word} inside the query")
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError,
            ValueError) as exc:
        raise _refuse(f"the query could not be parsed ({str(exc).splitlines()[0][:120]})") from exc
    if len(trees) != 1:
        raise _refuse("several statements" if trees else "empty query")
    tree = trees[0]
    if not isinstance(tree, _READ_ROOTS):
        raise _refuse(f"{tree.key.upper()} statement")
    for node in tree.walk():
        if _WRITE_NODES and isinstance(node, _WRITE_NODES):
            raise _refuse(f"{node.key.upper()} inside the query")
    allowed = {str(Path(p).resolve()) for p in allowed_files}
    for name in _names(tree):
        if _FILE_FUNCTIONS.match(name or ""):
            raise _refuse(f"function {name}() reads or changes state outside the database")
    for table in tree.find_all(exp.Table):
        ident = table.this
        if isinstance(ident, exp.Literal) or (
            isinstance(ident, exp.Identifier) and ident.quoted
            and re.search(r"[/\\:]|\.(csv|tsv|parquet|json|jsonl|ndjson|gz|zst|db|sqlite|duckdb)$",
                          ident.name, re.IGNORECASE)
        ):
            path = ident.name if isinstance(ident, exp.Identifier) else ident.this
            if str(Path(str(path)).resolve()) not in allowed:
                raise _refuse(f"reading the file {path!r}")
        if isinstance(ident, (exp.Func, exp.Anonymous)):
            raise _refuse("a table function")
    return tree
