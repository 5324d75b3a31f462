"""Stage 1, the grammar text: the Lark grammar shipped as package data (``grammars/sql.lark``),
its reserved words, and the rewrites that specialise it to one schema (``specialize``) or make
it end with a marker (``with_end``).  Everything here is plain text in, Lark text out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path

from xander.errors import SchemaError

GRAMMAR_FILE = "sql.lark"
SCHEMA_BEGIN = "// ---------------------------------------------------------------- SCHEMA"
SCHEMA_END = "// ---------------------------------------------------------------- END SCHEMA"

_KEYWORD_LINE = re.compile(r'^([A-Z]+): "([a-z]+)"i$', re.MULTILINE)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load_grammar(name: str = GRAMMAR_FILE) -> str:
    """The text of a grammar shipped in ``grammars/`` (package ``xander.grammars``).

    >>> load_grammar().count("select_core:")
    1
    """
    try:
        return (resources.files("xander.grammars") / name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # a source checkout, not installed
        path = Path(__file__).resolve().parents[2] / "grammars" / name
        return path.read_text(encoding="utf-8")


def keywords(grammar: str | None = None) -> frozenset[str]:
    """The reserved words of a grammar (lower case): never identifiers, only quoted.

    >>> {"select", "from", "order"} <= keywords()
    True
    >>> "count" in keywords()
    False
    """
    return frozenset(word for _, word in _KEYWORD_LINE.findall(grammar or load_grammar()))


def specialize(tables: Mapping[str, Sequence[str]], grammar: str | None = None) -> str:
    """``grammar`` (default: ``load_grammar()``) with names restricted to one schema.

    ``tables`` maps each table to its column names.  Table-name positions then accept only
    the tables, column positions only the columns, each bare (when it is a plain identifier and
    no keyword), as ``"name"``, `` `name` `` or ``[name]``, in any letter case.  Aliases,
    qualifiers, function and type names stay free identifiers, and an ORDER BY key may be a
    bare output alias.  CTE names and derived-table columns are not schema names, so queries
    using them need the base grammar.  The result is still Lark text.

    >>> from xander.grammar import PrefixChecker
    >>> g = specialize({"singer": ["Singer_ID", "Name"]})
    >>> checker = PrefixChecker(g)
    >>> checker.complete("SELECT name FROM Singer"), checker.complete("SELECT nom FROM singer")
    (True, False)
    >>> checker.complete('SELECT T1."NAME" FROM singer AS T1 ORDER BY T1.singer_id')
    True
    """
    text = grammar or load_grammar()
    if not tables:
        raise SchemaError("cannot specialise the SQL grammar to an empty schema",
                          hint="the database has no tables")
    begin, end = text.find(SCHEMA_BEGIN), text.find(SCHEMA_END)
    if begin < 0 or end < begin:
        raise SchemaError("the grammar has no SCHEMA block to specialise",
                          hint=f"keep the {SCHEMA_BEGIN!r} markers in {GRAMMAR_FILE}")
    reserved = keywords(text)
    names: dict[str, int] = {}  # lower-case name -> index; the first spelling names it
    spelled: list[str] = []
    for name in [*tables, *(c for cols in tables.values() for c in cols)]:
        if name.lower() not in names:
            names[name.lower()] = len(spelled)
            spelled.append(name)
    forms = [_name_forms(i, name, reserved) for i, name in enumerate(spelled)]
    table_keys = list(dict.fromkeys(t.lower() for t in tables))
    columns = list(dict.fromkeys(c.lower() for cols in tables.values() for c in cols))
    if not columns:
        raise SchemaError("cannot specialise the SQL grammar to tables without columns",
                          hint="check that the schema was read from the right database")
    table_only = [k for k in table_keys if k not in set(columns)]

    def alternatives(keys: Iterable[str], kinds: tuple[str, ...] = ("bare", "dq", "bq", "br")
                     ) -> list[str]:
        return [sym for k in keys for kind, sym, _ in forms[names[k]] if kind in kinds]

    def rule(name: str, symbols: list[str]) -> str:
        return f"{name}: " + "\n    | ".join(symbols)

    lines = [
        SCHEMA_BEGIN,
        f"// specialised to {len(table_keys)} tables and {len(columns)} distinct column names.",
        '// "x" naming a column is that column; naming only a table, it may be a string literal.',
        rule("string.1", ["SQSTRING", "DQSTRING", *alternatives(table_only, ("dq",))]),
        rule("table_name", alternatives(table_keys)),
        rule("column_name", alternatives(columns)),
        rule("ident", ["IDENT", "DQSTRING", "BQIDENT", "BRIDENT", *alternatives(names)]),
        "// an ORDER BY key that is no schema name can only be an output column's alias",
        "order_key: expr | IDENT | BQIDENT | BRIDENT",
        *(f"{sym}: {literal}  // {spelled[i]}"
          for i, entry in enumerate(forms) for _, sym, literal in entry),
        SCHEMA_END,
    ]
    return text[:begin] + "\n".join(lines) + text[end + len(SCHEMA_END):]


def with_end(grammar: str, end: str) -> str:
    """``grammar`` whose queries must be followed by the text ``end``.

    A constrained decoder then writes the end marker the prompt asks for (the closing code
    fence) and stops there, instead of having to stop on an end-of-turn token the model would
    not choose after an unfinished-looking query.  Whitespace may come before ``end``.

    >>> 'start: query ";"? "```"' in with_end(load_grammar(), "```")
    True
    """
    if not end or any(ch.isspace() for ch in end):
        raise SchemaError(f"end marker {end!r} is empty or has whitespace",
                          hint="whitespace between lexemes is free: give the marker alone")
    literal = '"' + end.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text, n = re.subn(r"(?m)^start: (.*)$", lambda m: f"start: {m.group(1)} {literal}", grammar,
                      count=1)
    if n != 1:
        raise SchemaError("the grammar has no `start:` rule",
                          hint=f"keep the start rule on one line in {GRAMMAR_FILE}")
    return text


def _name_forms(index: int, name: str, reserved: frozenset[str]) -> list[tuple[str, str, str]]:
    """(kind, terminal, Lark literal) for each spelling of one schema name."""
    if not name or any(ord(ch) < 32 for ch in name):
        raise SchemaError(f"schema name {name!r} is empty or has control characters",
                          hint="such a name cannot be written in a query")
    symbol = f"NAME{index}_" + re.sub(r"[^A-Z0-9]+", "_", name.upper())[:40].strip("_")
    quoted = [("dq", '"' + name.replace('"', '""') + '"'),
              ("bq", "`" + name.replace("`", "``") + "`")]
    if "]" not in name:
        quoted.append(("br", "[" + name + "]"))
    forms = []
    if _BARE_NAME.fullmatch(name) and name.lower() not in reserved:
        forms.append(("bare", symbol, _lark_string(name)))
    forms += [(kind, f"{symbol}_{kind.upper()}", _lark_string(q)) for kind, q in quoted]
    return forms


def _lark_string(value: str) -> str:
    """A case-insensitive Lark string literal whose pattern value is exactly ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"i'
