"""Small sqlglot helpers: pull one SQL query out of an LM reply, parse it, list what it names.

This is the ground floor: it imports only sqlglot and ``xander.errors``.

>>> tree = parse_one_select(extract_sql("Here you go:\\n```sql\\nselect name from singer;\\n```"))
>>> table_names(tree)
('singer',)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from xander.errors import QueryError

# an opening fence (any info string), its body, and the closing fence or the end of the text
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_SQL_LANGS = {"", "sql", "sqlite", "sqlite3", "duckdb", "mysql", "postgres", "postgresql", "pgsql"}
_START = re.compile(r"\b(?:SELECT|WITH)\b", re.IGNORECASE)
# a query starts at the beginning of a line, maybe after a quote mark, a bullet or "SQL:"
_LINE_START = re.compile(
    r"^[ \t>*-]*(?:(?:SQL|Query|Answer)[ \t]*:[ \t]*)?`?(?=\(*[ \t]*(?:SELECT|WITH)\b)",
    re.IGNORECASE | re.MULTILINE,
)
_SPECIAL_TOKEN = re.compile(r"<\|[^|>]*\|>|</s>|<eos>|<end_of_turn>")
_SQL_WORDS = frozenset(
    "SELECT FROM WHERE GROUP ORDER HAVING LIMIT OFFSET JOIN INNER LEFT RIGHT FULL CROSS NATURAL "
    "OUTER ON USING AND OR NOT UNION INTERSECT EXCEPT ALL WITH AS CASE WHEN THEN ELSE END IN "
    "BETWEEN LIKE GLOB IS NULL EXISTS DISTINCT ASC DESC BY WINDOW OVER PARTITION VALUES".split()
)
# a line of prose after the query: "This query ...", "**Explanation**", "1. It joins ..."
_PROSE_LINE = re.compile(r"^(?:\*\*|#+\s|\d+[.)]\s|(?:[-*]\s+)?[A-Z][a-z']*,?(?:\s+[a-z][a-z'-]*){2})")


def extract_sql(text: str) -> str:
    """One SQL query from an LM reply: fenced or bare, prose and trailing semicolons removed.

    The query is taken from the first fenced block that holds one, otherwise from the text
    itself; a text that starts with ``SELECT``/``WITH`` is the query up to its end.  Prose
    before it, a second statement, and explanations after it are dropped.  The query's own
    spelling is kept as it is; ``''`` when there is no query.

    >>> extract_sql("Here is the query:\\n```sql\\nSELECT 1;\\n```\\nIt counts.")
    'SELECT 1'
    >>> extract_sql("```\\nSELECT a FROM t\\n```")
    'SELECT a FROM t'
    >>> extract_sql("SELECT a FROM t; SELECT b FROM t")
    'SELECT a FROM t'
    >>> extract_sql("  select name from singer\\n")
    'select name from singer'
    >>> extract_sql("To select the names, run:\\nSELECT name FROM singer WHERE x = 'a;b'")
    "SELECT name FROM singer WHERE x = 'a;b'"
    >>> extract_sql("SELECT name\\nFROM singer\\nThis query lists every singer.")
    'SELECT name\\nFROM singer'
    >>> extract_sql("SELECT count(*) FROM t\\n```\\n\\nThe count.")
    'SELECT count(*) FROM t'
    >>> extract_sql("Sorry, I cannot help.")
    ''
    """
    text = _SPECIAL_TOKEN.split(text, maxsplit=1)[0]
    for fence in _FENCE.finditer(text):
        if fence.group(1).lower() in _SQL_LANGS and _START.search(fence.group(2)):
            found = _from_body(fence.group(2))
            if found:
                return found
    return _from_body(text.split("```", 1)[0] if not _starts_with_query(text) else text)


def _starts_with_query(text: str) -> bool:
    return re.match(r"\s*\(*\s*(?:SELECT|WITH)\b", text, re.IGNORECASE) is not None


def _from_body(body: str) -> str:
    """The query in ``body``: from its start when it starts with one, else the best candidate."""
    if _starts_with_query(body):
        return _statement(body.lstrip())
    starts = [m.end() for m in _LINE_START.finditer(body)]
    starts += [m.start() for m in _START.finditer(body) if m.group().isupper()]
    starts += [m.start() for m in _START.finditer(body)]
    candidates = [_statement(body[i:]) for i in dict.fromkeys(starts)]
    for sql in candidates:
        if sql and _parses(sql):
            return sql
    return next((sql for sql in candidates if sql), "")


def _parses(sql: str) -> bool:
    try:
        return any(t is not None for t in sqlglot.parse(sql))
    except (ParseError, TokenError):
        return False


def _statement(sql: str) -> str:
    """``sql`` up to the end of its first statement, with trailing prose and ``;`` removed."""
    end = _statement_end(sql)
    lines = sql[:end].splitlines()
    kept = lines[:1]
    for line in lines[1:]:
        stripped = line.strip()
        word = stripped.split(" ", 1)[0].upper().strip(",(")
        if _PROSE_LINE.match(stripped) and word not in _SQL_WORDS:
            break
        kept.append(line)
    out = "\n".join(kept).strip()
    if out.endswith("`") and out.count("`") % 2:
        out = out[:-1]  # the closing mark of inline code: `SELECT 1`
    return out.rstrip("; \t\n")


def _statement_end(sql: str) -> int:
    """Index of the first ``;`` or closing fence outside quotes and comments, or of a blank line
    followed by text that does not continue the query."""
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "`":
            if sql.startswith("```", i):
                return i
            quote = "`"
        elif ch == "[":
            quote = "]"
        elif sql.startswith("--", i):
            nl = sql.find("\n", i)
            i = len(sql) if nl < 0 else nl
            continue
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = len(sql) if close < 0 else close + 2
            continue
        elif ch == ";":
            return i
        elif sql.startswith("\n\n", i):
            rest = sql[i:].lstrip()
            word = re.split(r"[\s,(]", rest, maxsplit=1)[0].upper()
            if rest and word not in _SQL_WORDS and not rest.startswith(("(", ")", "--")):
                return i  # a blank line followed by prose ends the query
        i += 1
    return len(sql)


def parse_one_select(sql: str, dialect: str = "sqlite") -> exp.Expr:
    """Parse exactly one query (``SELECT``, set operation, ``WITH``) of ``dialect``.

    Raises ``QueryError`` with a one-line message for text that is not one query.

    >>> parse_one_select("select 1;").sql()
    'SELECT 1'
    >>> parse_one_select("SELECT FROM WHERE")
    Traceback (most recent call last):
    ...
    xander.errors.QueryError: cannot parse the SQL: line 1, col 17: Expected table name ...
    >>> parse_one_select("DELETE FROM t")
    Traceback (most recent call last):
    ...
    xander.errors.QueryError: not a query: the statement is a Delete
    """
    if not sql.strip():
        raise QueryError("cannot parse the SQL: it is empty")
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except ParseError as err:
        raise QueryError(f"cannot parse the SQL: {_parse_error_line(err)}") from err
    except TokenError as err:
        raise QueryError(f"cannot parse the SQL: {str(err).splitlines()[0]}") from err
    if len(trees) != 1:
        raise QueryError(f"expected one statement, got {len(trees)}")
    tree = trees[0]
    if not isinstance(tree, exp.Query):
        raise QueryError(f"not a query: the statement is a {type(tree).__name__}")
    return tree


def _parse_error_line(err: ParseError) -> str:
    first = err.errors[0] if err.errors else {}
    description = str(first.get("description") or str(err).splitlines()[0])
    description = re.sub(r"<Token token_type: [\w.]+, text: ([^,]*),.*?>", r"\1", description)
    if first.get("line"):
        return f"line {first['line']}, col {first['col']}: {description} ..."
    return description


def table_names(tree: exp.Expr) -> tuple[str, ...]:
    """The base tables a query reads, in reading order, each once (CTE names left out).

    >>> table_names(parse_one_select(
    ...     "WITH c AS (SELECT * FROM a) SELECT * FROM c JOIN b ON c.x = b.x JOIN a ON 1"))
    ('a', 'b')
    """
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    names = (
        n.name
        for n in reading_order(tree)
        if isinstance(n, exp.Table) and isinstance(n.this, exp.Identifier)
    )
    return tuple(dict.fromkeys(n for n in names if n.lower() not in ctes))


def reading_order(tree: exp.Expr) -> Iterator[exp.Expr]:
    """Every node of ``tree``, depth first, children in the order SQL spells them.

    (``Expr.walk`` follows the order the arguments were set in, which puts a ``WITH`` last.)

    >>> [n.sql() for n in reading_order(parse_one_select("WITH c AS (SELECT 1) SELECT 2"))
    ...  if isinstance(n, exp.Literal)]
    ['1', '2']
    """
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        children: list[exp.Expr] = []
        for key in sorted(node.args, key=_arg_rank(type(node))):
            value = node.args[key]
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expr):
                    children.append(child)
        stack.extend(reversed(children))


@functools.cache
def _arg_rank(kind: type[exp.Expr]) -> Callable[[str], int]:
    order = {key: i for i, key in enumerate(kind.arg_types)}
    return lambda key: order.get(key, len(order))
