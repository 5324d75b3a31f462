"""Small sqlglot helpers: pulling one SQL query out of an LM reply, parsing it in a dialect."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from xander.errors import QueryError

_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite|duckdb|postgres(?:ql)?)?[ \t]*\n?(.*?)(?:```|$)",
                    re.IGNORECASE | re.DOTALL)
_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)


def extract_sql(text: str) -> str:
    """One SQL query from an LM reply: fenced or bare, prose and trailing semicolons removed.

    >>> extract_sql("Here is the query:\\n```sql\\nSELECT 1;\\n```\\nIt counts.")
    'SELECT 1'
    >>> extract_sql("SELECT a FROM t; SELECT b FROM t")
    'SELECT a FROM t'
    >>> extract_sql("  select name from singer\\n")
    'select name from singer'
    >>> extract_sql("Sorry, I cannot help.")
    ''
    """
    body = text
    fence = _FENCE.search(text)
    if fence and _START.search(fence.group(1) or ""):
        body = fence.group(1)
    else:
        body = text.split("```", 1)[0]
    m = _START.search(body)
    if m is None:
        return ""
    body = body[m.start():]
    statement = _first_statement(body)
    return statement.strip().rstrip(";").strip()


def _first_statement(sql: str) -> str:
    """Text up to the first semicolon outside quotes (and outside comments)."""
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            return sql[:i]
        elif sql.startswith("\n\n", i) and not sql[i:].strip()[:6].upper().startswith(
                ("SELECT", "WITH", "FROM", "WHERE", "JOIN", "GROUP", "ORDER", "HAVING", "LIMIT",
                 "UNION", "AND", "OR", "ON", "INNER", "LEFT", "(", ")")):
            return sql[:i]  # a blank line followed by prose ends the query
        i += 1
    return sql


def parse_one_select(sql: str, dialect: str) -> exp.Expression:
    """Parse exactly one statement of ``dialect``; ``QueryError`` with one line otherwise.

    >>> parse_one_select("SELECT 1", "sqlite").sql()
    'SELECT 1'
    """
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise QueryError(f"cannot parse the SQL: {str(exc).splitlines()[0]}") from exc
    if len(trees) != 1:
        raise QueryError(f"expected one statement, got {len(trees)}")
    return trees[0]
