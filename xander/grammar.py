"""The SQL grammar: load it, specialise it to one schema, export it, check prefixes against it.

Three stages are kept apart, as in xgrammar and llguidance:

1. **Grammar text** (Lark syntax, package data ``grammars/sql.lark``): ``load_grammar()``, and
   ``specialize(tables)``, which makes table-name and column-name positions accept only one
   database's names (bare and quoted, case-insensitive) while aliases stay free identifiers.
2. **Compiled grammar**: ``PrefixChecker(grammar)`` builds Lark's LALR(1) table and a lexer
   that behaves exactly like Lark's basic lexer, once; ``PrefixChecker.for_schema(tables)``
   caches one checker per schema.
3. **Per prefix**: ``viable(prefix)`` answers "can this text still be completed into a query the
   grammar accepts?", handling an unfinished last token (``"SELECT na"``, an unterminated
   string); ``complete(sql)`` answers "is this a whole query?".  ``start()`` and
   ``extend(state, text)`` do the same incrementally for a search that grows a parent prefix
   one LM token at a time.

For a black-box server the grammar travels in the request: ``to_llguidance(grammar)`` gives the
Lark dialect llguidance compiles (vLLM's ``guidance`` backend), ``to_gbnf(grammar)`` a GBNF /
EBNF version for xgrammar and llama.cpp.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xander.errors import SchemaError
from xander.lm.base import Grammar

if TYPE_CHECKING:
    from lark import Lark
    from lark.lexer import TerminalDef

GRAMMAR_FILE = "sql.lark"
SCHEMA_BEGIN = "// ---------------------------------------------------------------- SCHEMA"
SCHEMA_END = "// ---------------------------------------------------------------- END SCHEMA"
ANCHOR_CACHE_SIZE = 16_384  # stable-prefix parser states kept per checker (a few MB at most)
ANCHOR_LOOKBACK = 8  # whitespace boundaries tried, right to left, when looking a prefix up
TAIL_TOKENS = 3  # an unfinished lexeme can span this many lexed tokens ("1e+" = 1, e, +)

_KEYWORD_LINE = re.compile(r'^([A-Z]+): "([a-z]+)"i$', re.MULTILINE)
_PRIORITY = re.compile(r"^(\s*[?!]?[a-z_][a-z0-9_]*)\.-?\d+:", re.MULTILINE)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Every regex terminal of sql.lark, as a regex whose full matches are exactly the prefixes of
# its lexemes (Python's ``re`` has no partial matching).  Strings need no entry.
_PARTIAL = {
    "IDENT": r"[A-Za-z_][A-Za-z0-9_]*",
    "NUMBER": r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?|\.(?:[0-9]+(?:[eE][+-]?[0-9]*)?)?",
    "SQSTRING": r"'(?:[^']|'')*'?",
    "DQSTRING": r'"(?:[^"]|"")*"?',
    "BQIDENT": r"`(?:[^`]|``)*`?",
    "BRIDENT": r"\[[^\]]*\]?",
}
# The same terminals in GBNF (xgrammar / llama.cpp): their bodies, rules not regexes.
_GBNF_REGEX = {
    "IDENT": "[A-Za-z_] [A-Za-z0-9_]*",
    "NUMBER": '([0-9]+ ("." [0-9]*)? | "." [0-9]+) ([eE] [+-]? [0-9]+)?',
    "SQSTRING": "\"'\" ([^'] | \"''\")* \"'\"",
    "DQSTRING": '"\\"" ([^"] | "\\"\\"")* "\\""',
    "BQIDENT": '"`" ([^`] | "``")* "`"',
    "BRIDENT": '"[" [^\\]]* "]"',
}
_GBNF_ATOM = re.compile(r'(?:[a-z0-9-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])[?*+]?')
_END = "$END"


# ---------------------------------------------------------------- stage 1: grammar text


def load_grammar(name: str = GRAMMAR_FILE) -> str:
    """The text of a grammar shipped in ``grammars/`` (package ``xander.grammars``).

    >>> load_grammar().count("select_core:")
    1
    """
    try:
        return (resources.files("xander.grammars") / name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # a source checkout, not installed
        path = Path(__file__).resolve().parents[1] / "grammars" / name
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


# ---------------------------------------------------------------- exports for servers


def to_llguidance(grammar: str | None = None) -> str:
    """``grammar`` in the Lark dialect llguidance compiles (vLLM ``guidance`` backend).

    llguidance has no rule priorities (they are dropped: they only pick a parse tree) and
    matches every lexeme a position allows, so ``IDENT`` is redefined to exclude keywords.
    Its lexer is contextual, so it also accepts a keyword glued to the next word
    (``SELECTname``), which the Lark grammar rejects.

    >>> text = to_llguidance()
    >>> "& ~/(?i)(" in text and ".1:" not in text
    True
    """
    text = _collapse_names(_PRIORITY.sub(r"\1:", grammar or load_grammar()))
    words = "|".join(sorted(keywords(text)))
    ident = f"IDENT: /[A-Za-z_][A-Za-z0-9_]*/ & ~/(?i)({words})/"
    return re.sub(r"(?m)^IDENT: .*$", lambda _: ident, text, count=1)


def _collapse_names(text: str) -> str:
    """A specialised grammar's name rules, each made one lexeme (llguidance).

    Earley items grow with the alternatives a position allows: one terminal per spelling of
    each name (4 per name) overflows llguidance's item limit after ``SELECT`` on a schema of a
    few tables.  One terminal ``TABLE_NAMES`` (every table spelling) and one ``COLUMN_NAMES``
    keep a position at one item; ``ident`` and ``string`` drop the name spellings, which
    ``IDENT`` and the quoted terminals already match (llguidance lexes overlapping lexemes
    side by side, unlike Lark's basic lexer, which needed them).
    """
    begin, end = text.find(SCHEMA_BEGIN), text.find(SCHEMA_END)
    if begin < 0 or end < begin or not re.search(r"(?m)^NAME\d+", text[begin:end]):
        return text  # the base grammar: nothing specialised
    block = text[begin:end]
    rules = dict(re.findall(r"(?m)^([a-z_][a-z0-9_]*): ((?:.*\n    \| )*.*)$", block))
    named = re.compile(r"^NAME\d+")

    def symbols(rule: str) -> list[str]:
        return [s.strip() for s in rules[rule].split("|")]

    def generic(rule: str) -> str:
        return f"{rule}: " + " | ".join(s for s in symbols(rule) if not named.match(s))

    lines = [
        generic("string"), generic("ident"),
        "table_name: TABLE_NAMES", "column_name: COLUMN_NAMES",
        "TABLE_NAMES: " + " | ".join(symbols("table_name")),
        "COLUMN_NAMES: " + " | ".join(symbols("column_name")),
    ]
    kept = [line for line in block.splitlines()[1:]
            if not re.match(r"^(?:string|ident|table_name|column_name):|^    \| ", line)]
    return text[:begin] + "\n".join([SCHEMA_BEGIN, *lines, *kept, ""]) + text[end:]


def to_gbnf(grammar: str | None = None) -> str:
    """``grammar`` as GBNF (llama.cpp, and the EBNF xgrammar reads), root rule ``root``.

    GBNF has no lexer: optional whitespace goes between all lexemes, keywords become
    per-letter case classes, and identifiers may equal keywords (an over-approximation).
    The Lark start rule is called ``sql``.

    >>> gbnf = to_gbnf()
    >>> gbnf.splitlines()[0]
    'root ::= ws sql ws'
    >>> "t-select ::= [sS] [eE] [lL] [eE] [cC] [tT]" in gbnf
    True
    """
    from lark import Lark

    meta = Lark.open_from_package("lark", "lark.lark", ("grammars",), parser="lalr")
    items: list[Any] = list(meta.parse(grammar or load_grammar()).children)
    defined = [str(it.children[0]).lstrip("?!") for it in items if it.data in ("rule", "token")]
    names = _gbnf_names(defined)

    def group(text: str) -> str:
        return text if _gbnf_atomic(text) else f"({text})"

    def emit(node: Any, owner: str, lexeme: bool) -> str:  # a lark.Tree of Lark's own grammar
        kids: list[Any] = node.children
        sep = " " if lexeme else " ws "
        if node.data == "expansions":
            return " | ".join(emit(k, owner, lexeme) for k in kids)
        if node.data == "alias":  # `-> name` only names the tree node
            return emit(kids[0], owner, lexeme)
        if node.data == "expansion":
            parts = [emit(k, owner, lexeme) for k in kids]
            return sep.join(map(group, parts)) if len(parts) > 1 else "".join(parts) or '""'
        if node.data == "maybe":
            return group(emit(kids[0], owner, lexeme)) + "?"
        if node.data == "expr":
            if kids[1] is None:
                return emit(kids[0], owner, lexeme)
            inner, op = group(emit(kids[0], owner, lexeme)), kids[1]
            many = f"{inner} ({sep.strip()} {inner})*".replace("( ", "(")
            return {"?": f"{inner}?", "+": many, "*": f"({many})?"}[op]
        if node.data == "name":
            return names[str(kids[0])]
        if node.data == "literal" and kids[0].type == "STRING":
            raw = str(kids[0])
            body = ast.literal_eval(raw.removesuffix("i"))
            return _gbnf_string(body, raw.endswith("i"))
        if node.data == "literal" and owner in _GBNF_REGEX:
            return _GBNF_REGEX[owner]
        raise SchemaError(f"no GBNF form for {node.data} in {owner}",
                          hint="add the terminal to _GBNF_REGEX in xander/grammar.py")

    lines = ["root ::= ws sql ws", "ws ::= [ \\t\\n\\r]*"]
    for it in items:
        if it.data in ("rule", "token"):
            name = str(it.children[0]).lstrip("?!")
            body = emit(it.children[-1], name, it.data == "token")
            lines.append(f"{names[name]} ::= {body}")
    return "\n".join(lines) + "\n"


def constraint(grammar: str, end: str) -> Grammar:
    """``grammar`` (xander Lark text) followed by ``end`` (see ``with_end``), in the forms LM
    backends decode with, and the exact prefix test (``PrefixChecker.viable`` of the text
    before ``end``) for the in-process backends.

    >>> g = constraint(load_grammar(), "```")
    >>> g.gbnf.splitlines()[2].endswith('"```"'), "& ~/(?i)(" in g.lark
    (True, True)
    >>> g.viable("SELECT a FROM t WHERE"), g.viable("SELECTa FROM"), g.viable("SELECT 1 ```x")
    (True, False, True)
    """
    return _constraint(grammar, end)


@lru_cache(maxsize=32)
def _constraint(grammar: str, end: str) -> Grammar:
    ended = with_end(grammar, end)
    checker = PrefixChecker(grammar)

    def viable(text: str) -> bool:
        return checker.viable(text.split(end, 1)[0].lstrip())

    return Grammar(lark=to_llguidance(ended), gbnf=to_gbnf(ended), viable=viable)


def _gbnf_names(symbols: Iterable[str]) -> dict[str, str]:
    """GBNF rule names (letters, digits, '-') for Lark rules and terminals, all distinct."""
    out: dict[str, str] = {"start": "sql"}
    taken = {"root", "ws", "sql"}
    for sym in symbols:
        if sym in out:
            continue
        base = ("t-" if sym.lstrip("_")[:1].isupper() else "") + sym.strip("_").lower()
        base = re.sub(r"[^a-z0-9-]+", "-", base.replace("_", "-")).strip("-") or "r"
        name, n = base, 1
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        out[sym] = name
    return out


def _gbnf_atomic(text: str) -> bool:
    """Is ``text`` one GBNF item (a name, string, class or one parenthesised group)?

    >>> _gbnf_atomic('(a b)?'), _gbnf_atomic('(a) (b)'), _gbnf_atomic('"x y"')
    (True, False, True)
    """
    if _GBNF_ATOM.fullmatch(text):
        return True
    if not text.startswith("("):
        return False
    depth, quoted, in_class, escaped = 0, False, False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"' and not in_class:
            quoted = not quoted
        elif ch in "[]" and not quoted:
            in_class = ch == "["
        elif not quoted and not in_class and ch in "()":
            depth += 1 if ch == "(" else -1
            if depth == 0:
                return text[i + 1 :] in ("", "?", "*", "+")
    return False


def _gbnf_string(value: str, insensitive: bool) -> str:
    """A GBNF sequence matching ``value`` (every letter in both cases if ``insensitive``)."""
    def lit(s: str) -> str:
        escaped = s.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped + '"'

    parts: list[str] = []
    run = ""
    for ch in value:
        if insensitive and ch.lower() != ch.upper() and len(ch.upper()) == len(ch.lower()) == 1:
            if run:
                parts.append(lit(run))
                run = ""
            parts.append(f"[{ch.lower()}{ch.upper()}]")
        else:
            run += ch
    if run:
        parts.append(lit(run))
    return " ".join(parts) or '""'


# ---------------------------------------------------------------- stage 2: compiled grammar


@lru_cache(maxsize=32)
def _compile(grammar: str) -> Lark:
    """Lark's LALR(1) parser with the basic lexer (so every keyword is reserved everywhere)."""
    from lark import Lark

    return Lark(grammar, parser="lalr", lexer="basic")


@dataclass(frozen=True, slots=True)
class PrefixState:
    """Where the check of one prefix stands; feed it to ``PrefixChecker.extend``.

    ``stable`` is the offset up to which the text is final (complete tokens followed by
    whitespace, which no later text can change), ``stack`` the LALR state stack there.
    ``head`` is the stack after every token of ``text``, or None if the text does not end on
    a finished token the parser accepts.
    """

    text: str
    stable: int
    stack: tuple[int, ...]
    head: tuple[int, ...] | None
    viable: bool


class PrefixChecker:
    """Answers "can this prefix still become a query of the grammar?" in microseconds.

    The table is Lark's LALR(1) table; the checker drives it itself with immutable state
    stacks (Lark's interactive parser deep-copies its value stack on every copy, which costs
    more than the whole check), and lexes like Lark's basic lexer.  An unfinished last
    lexeme is viable when some terminal the parser accepts there has a lexeme starting with
    it.  Stacks at stable points are remembered, so a child prefix (parent + one LM token)
    only re-reads the text after the parent's last whitespace.

    A last word may still grow: ``"SELECT FROM"`` is viable (``SELECT FROMAGE FROM t``), while
    ``"SELECT FROM "`` is not; ask about ``prefix + " "`` to treat the last word as finished.

    >>> checker = PrefixChecker()
    >>> [checker.viable(p) for p in ("SELEC", "SELECT na", "SELECT FROM ", "SELECT a FROM t WHERE")]
    [True, True, False, True]
    >>> checker.complete("SELECT a FROM t WHERE"), checker.complete("select a from t where b")
    (False, True)
    """

    def __init__(self, grammar: str | None = None) -> None:
        from lark.parsers.lalr_analysis import Shift

        self.grammar = grammar or load_grammar()
        self.parser = _compile(self.grammar)
        conf = self.parser.parse_interactive().parser_state.parse_conf
        table = conf.parse_table
        rule_index: dict[Any, int] = {}
        self._rules: list[tuple[int, str]] = []
        self._actions: dict[int, dict[str, int]] = {}
        self._gotos: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            acts: dict[str, int] = {}
            gotos: dict[str, int] = {}
            for sym, (action, arg) in row.items():
                if not sym.isupper() and sym != _END:
                    gotos[sym] = arg
                elif action is Shift:
                    acts[sym] = arg
                else:
                    if arg not in rule_index:
                        rule_index[arg] = len(self._rules)
                        self._rules.append((len(arg.expansion), arg.origin.name))
                    acts[sym] = ~rule_index[arg]
            self._actions[state], self._gotos[state] = acts, gotos
        self._start: tuple[int, ...] = (conf.start_state,)
        self._end_state = conf.end_state
        self._lexer = _Lexer(self.parser.terminals, set(self.parser.ignore_tokens))
        self._anchors: dict[str, tuple[int, ...]] = {"": self._start}

    @classmethod
    def for_schema(cls, tables: Mapping[str, Sequence[str]]) -> PrefixChecker:
        """The checker of ``specialize(tables)``, built once per schema and cached."""
        key = tuple((t, tuple(cols)) for t, cols in tables.items())
        return _schema_checker(key)

    # ------------------------------------------------------------ stage 3: per prefix

    def start(self) -> PrefixState:
        """The state of the empty prefix."""
        return PrefixState("", 0, self._start, self._start, True)

    def extend(self, state: PrefixState, new_text: str) -> PrefixState:
        """The state of ``state.text + new_text``; a non-viable state stays non-viable."""
        text = state.text + new_text
        if not state.viable:
            return PrefixState(text, state.stable, state.stack, None, False)
        return self._advance(text, state.stable, state.stack)

    def viable_extension(self, state: PrefixState, new_text: str) -> tuple[bool, PrefixState]:
        """``extend`` with its verdict first: ``(viable, new_state)``."""
        new = self.extend(state, new_text)
        return new.viable, new

    def state(self, prefix: str) -> PrefixState:
        """The state of ``prefix``, resumed from the longest remembered stable prefix."""
        pos, stack = self._lookup(prefix)
        return self._advance(prefix, pos, stack)

    def viable(self, prefix: str) -> bool:
        """Can ``prefix`` be completed into a query the grammar accepts?"""
        return self.state(prefix).viable

    def complete(self, sql: str) -> bool:
        """Is ``sql`` a whole query of the grammar (an optional ``;`` at the end)?"""
        head = self.state(sql).head
        return head is not None and self._feed(head, _END) is not None

    def expected(self, prefix: str) -> list[str]:
        """The terminals that may come next after ``prefix`` (empty if it is not viable).

        >>> PrefixChecker().expected("SELECT a FROM t ORDER")
        ['BY']
        """
        head = self.state(prefix).head
        if head is None:
            return []
        return sorted(t for t in self._actions[head[-1]] if self._feed(head, t) is not None)

    # ------------------------------------------------------------ internals

    def _feed(self, stack: tuple[int, ...], term: str) -> tuple[int, ...] | None:
        """The stack after shifting ``term`` (for ``$END``: after accepting), or None."""
        actions, gotos, rules = self._actions, self._gotos, self._rules
        while True:
            act = actions[stack[-1]].get(term)
            if act is None:
                return None
            if act >= 0:  # a shift (Lark never shifts $END: it accepts on the reduction)
                return None if term == _END else stack + (act,)
            size, origin = rules[~act]
            if size:
                stack = stack[:-size]
            stack = stack + (gotos[stack[-1]][origin],)
            if term == _END and stack[-1] == self._end_state:
                return stack

    def _lookup(self, text: str) -> tuple[int, tuple[int, ...]]:
        """The longest remembered stable prefix of ``text``: (offset, stack)."""
        end = len(text)
        for _ in range(ANCHOR_LOOKBACK):
            i = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end), text.rfind("\t", 0, end))
            if i < 0:
                break
            stack = self._anchors.get(text[: i + 1])
            if stack is not None:
                return i + 1, stack
            end = i
            while end and text[end - 1].isspace():
                end -= 1
        return 0, self._start

    def _remember(self, key: str, stack: tuple[int, ...]) -> None:
        if key not in self._anchors:
            if len(self._anchors) >= ANCHOR_CACHE_SIZE:
                for old in list(self._anchors)[1 : ANCHOR_CACHE_SIZE // 2]:
                    self._anchors.pop(old, None)
            self._anchors[key] = stack

    def _advance(self, text: str, pos: int, stack: tuple[int, ...]) -> PrefixState:
        """Lex and parse ``text[pos:]`` from ``stack`` (the stable state at ``pos``)."""
        tokens, error = self._lexer.lex(text, pos)
        stable, stable_stack = pos, stack
        stacks = [stack]  # stacks[i]: the stack before tokens[i]
        n = len(text)
        for i, (kind, start, end) in enumerate(tokens):
            fed = self._feed(stack, kind)
            if fed is None:
                break
            stack = fed
            stacks.append(stack)
            if end < n and text[end].isspace() and self._lexer.closed(text, start, end):
                stable = tokens[i + 1][1] if i + 1 < len(tokens) else (
                    n if error is None else error)
                stable_stack = stack
        if stable > pos:
            self._remember(text[:stable], stable_stack)
        if len(stacks) > len(tokens) and error is None:
            return PrefixState(text, stable, stable_stack, stack, True)
        ok = self._tail_viable(text, tokens, stacks, error)
        return PrefixState(text, stable, stable_stack, None, ok)

    def _tail_viable(self, text: str, tokens: list[tuple[str, int, int]],
                     stacks: list[tuple[int, ...]], error: int | None) -> bool:
        """Is some suffix of ``text`` (from one of its last token starts, or from where the
        lexer stopped) the beginning of one lexeme the parser accepts there?"""
        first = max(0, len(tokens) - TAIL_TOKENS)
        starts = [(tokens[i][1], i) for i in range(first, len(tokens))]
        if error is not None:
            starts.append((error, len(tokens)))
        for start, i in reversed(starts):
            if i >= len(stacks):
                continue  # a token before this one was already refused
            tail, stack = text[start:], stacks[i]
            for term in self._actions[stack[-1]]:
                if self._lexer.starts(term, tail) and self._feed(stack, term) is not None:
                    return True
        return False


@lru_cache(maxsize=16)
def _schema_checker(key: tuple[tuple[str, tuple[str, ...]], ...]) -> PrefixChecker:
    return PrefixChecker(specialize(dict(key)))


class _Lexer:
    """Lark's basic lexer, re-implemented to report token offsets and unfinished lexemes.

    Terminals are tried in Lark's order; a string terminal that a regex terminal fully
    matches (keywords and schema names in IDENT, quoted names in DQSTRING...) is found by a
    dictionary look-up after the regex matched, as Lark's ``UnlessCallback`` does.
    """

    def __init__(self, terminals: Collection[TerminalDef], ignore: set[str]) -> None:
        from lark.lexer import PatternStr

        strings = [t for t in terminals if isinstance(t.pattern, PatternStr)]
        regexes = [t for t in terminals if not isinstance(t.pattern, PatternStr)]
        self.unless: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
        embedded = set()
        for rt in regexes:
            exact: dict[str, str] = {}
            folded: dict[str, str] = {}
            compiled = re.compile(rt.pattern.to_regexp())
            for st in strings:
                if st.priority != rt.priority:
                    continue
                value = st.pattern.value
                if compiled.fullmatch(value):
                    if "i" in st.pattern.flags:
                        folded.setdefault(value.lower(), st.name)
                    else:
                        exact.setdefault(value, st.name)
                    if set(st.pattern.flags) <= set(rt.pattern.flags):
                        embedded.add(st.name)
            if exact or folded:
                self.unless[rt.name] = (exact, folded)
        scanned = [t for t in terminals if t.name not in embedded]
        scanned.sort(key=lambda t: (-t.priority, -t.pattern.max_width,
                                    -len(t.pattern.value), t.name))
        self.master = re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})"
                                          for t in scanned))
        self.ignore = ignore
        self.partial: dict[str, re.Pattern[str]] = {}
        self.literal: dict[str, tuple[str, bool]] = {}
        for t in terminals:
            if isinstance(t.pattern, PatternStr):
                folded_flag = "i" in t.pattern.flags
                value = t.pattern.value
                self.literal[t.name] = (value.lower() if folded_flag else value, folded_flag)
            elif t.name not in ignore:
                if t.name not in _PARTIAL:
                    raise SchemaError(f"no partial-match pattern for terminal {t.name}",
                                      hint="add it to _PARTIAL in xander/grammar.py")
                self.partial[t.name] = re.compile(_PARTIAL[t.name])
        # Opening characters of lexemes that may hold whitespace (quotes): only a token that
        # starts with one could still grow past the whitespace that follows it.
        self.spacey = {ch for ch in string.printable
                       if any(p.fullmatch(ch + " ") for p in self.partial.values())}
        self.spacey |= {v[0] for v, _ in self.literal.values() if re.search(r"\s", v)}
        self.spacey |= {v[0].upper() for v, folded in self.literal.values()
                        if folded and re.search(r"\s", v)}

    def lex(self, text: str, pos: int) -> tuple[list[tuple[str, int, int]], int | None]:
        """Tokens (terminal, start, end) of ``text[pos:]``, and where lexing failed (or None)."""
        tokens: list[tuple[str, int, int]] = []
        match, n, ignore, unless = self.master.match, len(text), self.ignore, self.unless
        while pos < n:
            m = match(text, pos)
            if m is None or m.end() == pos or m.lastgroup is None:
                return tokens, pos
            kind, end = m.lastgroup, m.end()
            if kind not in ignore:
                if kind in unless:
                    exact, folded = unless[kind]
                    value = m.group()
                    kind = exact.get(value) or folded.get(value.lower()) or kind
                tokens.append((kind, pos, end))
            pos = end
        return tokens, None

    def starts(self, term: str, tail: str) -> bool:
        """Is ``tail`` the beginning (or the whole) of some lexeme of ``term``?"""
        if term in self.literal:
            value, folded = self.literal[term]
            return value.startswith(tail.lower() if folded else tail)
        pattern = self.partial.get(term)
        return pattern is not None and pattern.fullmatch(tail) is not None

    def closed(self, text: str, start: int, end: int) -> bool:
        """Can no lexeme starting at ``start`` run past ``end`` (where whitespace follows)?"""
        if text[start] not in self.spacey:
            return True
        grown = text[start : end + 1]
        return not any(self.starts(term, grown)
                       for term in (*self.partial, *self.literal) if term not in self.ignore)
