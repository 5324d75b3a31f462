"""The grammar for decoders that do not run our prefix checker: a black-box server gets it in
the request, an in-process backend compiles it into token masks.

``to_llguidance(grammar)`` gives the Lark dialect llguidance compiles (vLLM's ``guidance``
backend, the llguidance token masks), ``to_gbnf(grammar)`` a GBNF / EBNF version for xgrammar
and llama.cpp, and ``constraint(grammar, end)`` both at once with the exact prefix test, as the
``Grammar`` the LM backends take.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from xander.errors import SchemaError
from xander.grammar.prefix import PrefixChecker
from xander.grammar.text import SCHEMA_BEGIN, SCHEMA_END, keywords, load_grammar, with_end
from xander.lm.base import Grammar

_PRIORITY = re.compile(r"^(\s*[?!]?[a-z_][a-z0-9_]*)\.-?\d+:", re.MULTILINE)

# The regex terminals of sql.lark (see ``prefix._PARTIAL``) in GBNF (xgrammar / llama.cpp):
# their bodies, rules not regexes.
_GBNF_REGEX = {
    "IDENT": "[A-Za-z_] [A-Za-z0-9_]*",
    "NUMBER": '([0-9]+ ("." [0-9]*)? | "." [0-9]+) ([eE] [+-]? [0-9]+)?',
    "SQSTRING": "\"'\" ([^'] | \"''\")* \"'\"",
    "DQSTRING": '"\\"" ([^"] | "\\"\\"")* "\\""',
    "BQIDENT": '"`" ([^`] | "``")* "`"',
    "BRIDENT": '"[" [^\\]]* "]"',
}
_GBNF_ATOM = re.compile(r'(?:[a-z0-9-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])[?*+]?')


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
                          hint="add the terminal to _GBNF_REGEX in xander/grammar/exports.py")

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

