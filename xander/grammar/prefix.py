"""Stages 2 and 3, the prefix checker: a grammar compiled once into Lark's LALR(1) table and a
lexer that behaves exactly like Lark's basic lexer, then asked per prefix.

``PrefixChecker(grammar)`` compiles; ``PrefixChecker.for_schema(tables)`` caches one checker per
schema.  ``viable(prefix)`` answers "can this text still be completed into a query the grammar
accepts?", handling an unfinished last token (``"SELECT na"``, an unterminated string);
``complete(sql)`` answers "is this a whole query?".  ``start()`` and ``extend(state, text)`` do
the same incrementally (``PrefixState``) for a search that grows a parent prefix one LM token at
a time.
"""

from __future__ import annotations

import hashlib
import os
import re
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from xander.errors import SchemaError
from xander.grammar.text import load_grammar, specialize
from xander.paths import cache_dir

if TYPE_CHECKING:
    from lark import Lark
    from lark.lexer import TerminalDef

ANCHOR_CACHE_SIZE = 16_384  # stable-prefix parser states kept per checker (a few MB at most)
ANCHOR_LOOKBACK = 8  # whitespace boundaries tried, right to left, when looking a prefix up
TAIL_TOKENS = 3  # an unfinished lexeme can span this many lexed tokens ("1e+" = 1, e, +)

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
_END = "$END"


@lru_cache(maxsize=32)
def _compile(grammar: str) -> Lark:
    """Lark's LALR(1) parser with the basic lexer (so every keyword is reserved everywhere).

    Building the table takes about half a second, which a fresh ``xander ask`` would pay every
    time: the base grammar's table (the one the search checks with) is saved under the cache
    root (``grammars/``, keyed by the grammar text and Lark's version, written atomically) and
    loaded from there; a file that does not load is rebuilt.  Schema-specialised grammars
    (constrained greedy decoding) are built in memory only, so the folder does not grow."""
    import lark

    if grammar != load_grammar():
        return lark.Lark(grammar, parser="lalr", lexer="basic")
    key = hashlib.sha256(f"{lark.__version__}\0{grammar}".encode()).hexdigest()[:24]
    path = cache_dir("grammars") / f"{key}.lalr"
    try:
        with path.open("rb") as f:
            return lark.Lark.load(f)
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - truncated, corrupt or from another Lark: rebuild it
        path.unlink(missing_ok=True)
    parser = lark.Lark(grammar, parser="lalr", lexer="basic")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            parser.save(f)
        os.replace(tmp, path)
    except OSError:  # a read-only cache: build it every time
        pass
    return parser


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
        self._lexer = _Lexer(self.parser.lexer_conf.terminals, set(self.parser.lexer_conf.ignore))
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
                                      hint="add it to _PARTIAL in xander/grammar/prefix.py")
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
