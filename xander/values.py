"""The value index: the distinct text values of a database, to check and mend string literals and
to tell the model which values the question names.

``ValueIndex.for_engine(engine, schema)`` reads, once per database, the distinct values of every
text column (one bounded ``SELECT DISTINCT`` each, at most ``MAX_VALUES_PER_COLUMN`` values of at
most ``MAX_VALUE_CHARS`` characters, ``MAX_TOTAL_VALUES`` in all) and keeps them on disk as JSON,
keyed by the database file's path, size and modification time (``cache_dir``), so the next load
reads a file instead of the database.  A column with more values than the cap is *incomplete*:
a miss there is not conclusive, and ``resolve`` / ``holders`` then ask the engine directly.

What the index answers:

- ``lookup(table, column, literal)``: is the literal a value of that column (``exact``), one that
  differs only in case or surrounding spaces (``caseless``), close to one (``fuzzy``, rapidfuzz),
  or none of them;
- ``where(literal)``: which columns hold the literal, exactly or caselessly;
- ``mentions(question)``: the values the question's phrases name (``value_hints`` renders them as
  ``table.column = 'value'`` lines for the prompt).

``comparisons(tree, schema)`` finds the string literals a query compares with columns (``=``,
``!=``, ``IN``, ``LIKE`` without wildcards) and the table each column belongs to; the ``values``
checker and repair work from it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import fuzz, process
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander import cue_words, paths
from xander.engines import Engine
from xander.errors import QueryError
from xander.schema import Schema, qualified_names, table_expr

FORMAT_VERSION = 1  # bump when the JSON layout or what is indexed changes
MAX_VALUES_PER_COLUMN = 2_000  # distinct values kept per column; more makes it incomplete
MAX_VALUE_CHARS = 80  # longer values (descriptions, addresses) are not literals the model writes
MAX_TOTAL_VALUES = 200_000  # over all columns; later columns are left incomplete and empty
QUERY_TIMEOUT_S = 2.0  # each distinct-values query; a slow column is left incomplete and empty
BUILD_BUDGET_S = 30.0  # the whole build; columns after it are left incomplete and empty
PROBE_TIMEOUT_S = 0.5  # each live look-up in an incomplete column
PROBE_BUDGET_S = 2.0  # all live look-ups of one ``holders`` call
MAX_PROBES = 8  # incomplete columns asked per ``holders`` call
FUZZY_CUTOFF = 85.0  # rapidfuzz token_sort_ratio for a ``fuzzy`` lookup match
MENTION_CUTOFF = 88.0  # rapidfuzz ratio for a fuzzy mention of a value in the question
MAX_NGRAM = 4  # words per question phrase

MatchKind = Literal["exact", "caseless", "fuzzy", "none", "unknown"]
Hit = tuple[str, str, str]  # (table, column, stored value)

#: words that never name a value on their own, nor start or end a phrase that does
STOP_WORDS = cue_words.STOP_WORDS | frozenset("""
name names number count many much total average value values
""".split())
_TEXT_TYPE = re.compile(r"CHAR|CLOB|TEXT|STRING|ENUM", re.IGNORECASE)
_WORD = re.compile(r"\w+")


# -- pure helpers --------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """The caseless key of a value: case-folded, surrounding and repeated spaces dropped.

    >>> normalize("  New   York "), normalize("STRASSE") == normalize("straße")
    ('new york', True)
    """
    return " ".join(text.casefold().split())


def padded_only(stored: str, literal: str) -> bool:
    """The stored value is the literal with spaces around it (``'Aberdeen '``, ``' AHD'``).

    Such padding is taken as no difference: the literal as written stays.  Spider's flight_2
    stores its names and codes padded, and its gold queries compare them unpadded, so the
    official answer is what the unpadded literal returns; mending the literal to the stored
    spelling (a truer answer about the data) would be scored wrong against every one of them.

    >>> padded_only("Aberdeen ", "Aberdeen"), padded_only("aberdeen ", "Aberdeen")
    (True, False)
    """
    return stored != literal and stored.strip() == literal.strip()


def word_key(text: str) -> str:
    """The words of ``text``, case-folded, joined by single spaces (punctuation dropped).

    >>> word_key("amc hornet sportabout (sw)"), word_key("O'Brien")
    ('amc hornet sportabout sw', 'o brien')
    """
    return " ".join(_WORD.findall(text.casefold()))


def is_text_type(declared: str) -> bool:
    """Whether a declared column type holds text (an undeclared SQLite type may too).

    >>> [is_text_type(t) for t in ("VARCHAR(20)", "char(3)", "", "INTEGER", "FLOAT(10,2)")]
    [True, True, True, False, False]
    """
    return not declared.strip() or bool(_TEXT_TYPE.search(declared))


def phrases(question: str, max_words: int = MAX_NGRAM) -> list[tuple[int, int, str]]:
    """The question's phrases worth looking up: ``(start, end, text)`` word spans, longest first.

    A phrase has 1 to ``max_words`` words and neither starts nor ends with a stop word; a single
    word is at least 3 characters (2 when written in capitals) and not only digits.

    >>> [p[2] for p in phrases("Which city is the Alton airport in?", 2)]
    ['Alton airport', 'city', 'Alton', 'airport']
    """
    words = _WORD.findall(question)
    out = []
    for n in range(min(max_words, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            span = words[i:i + n]
            first, last = span[0].lower(), span[-1].lower()
            if first in STOP_WORDS or last in STOP_WORDS:
                continue
            if all(w.isdigit() for w in span):
                continue
            if n == 1 and len(span[0]) < (2 if span[0].isupper() else 3):
                continue
            out.append((i, i + n, " ".join(span)))
    return out


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal.

    >>> sql_string("O'Brien")
    "'O''Brien'"
    """
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else '"' + name.replace(
        '"', '""') + '"'


# -- the index -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Match:
    """What ``lookup`` found for one literal in one column.

    ``kind``: ``exact`` (the literal is a value), ``caseless`` (a value equal to it ignoring case
    and surrounding spaces: ``value`` is the stored spelling), ``fuzzy`` (``value`` is the nearest
    value, ``score`` at least ``FUZZY_CUTOFF``), ``none`` (``value`` is the nearest value, if any,
    below the cutoff), ``unknown`` (the column is not indexed, or incomplete and the literal is
    not among the values read).
    """

    kind: MatchKind
    value: str | None = None
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class ColumnValues:
    """The distinct text values read from one column; ``complete`` when none were left out."""

    table: str
    column: str
    values: tuple[str, ...]
    complete: bool = True


@dataclass(frozen=True, slots=True)
class ValueIndex:
    """Distinct text values of every text column of one database."""

    columns: tuple[ColumnValues, ...]
    source: str = ""
    seconds: float = 0.0  # what building it took (as recorded, when read from the disk cache)
    from_cache: bool = False
    _by_column: dict[tuple[str, str], ColumnValues] = field(
        init=False, repr=False, compare=False)
    _exact: dict[tuple[str, str], frozenset[str]] = field(init=False, repr=False, compare=False)
    _caseless: dict[str, list[Hit]] = field(init=False, repr=False, compare=False)
    _words: dict[str, list[Hit]] = field(init=False, repr=False, compare=False)
    _by_length: dict[int, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_column, exact = {}, {}
        caseless: dict[str, list[Hit]] = {}
        words: dict[str, list[Hit]] = {}
        for cv in self.columns:
            key = (cv.table.lower(), cv.column.lower())
            by_column[key] = cv
            exact[key] = frozenset(cv.values)
            for v in cv.values:
                hit = (cv.table, cv.column, v)
                caseless.setdefault(normalize(v), []).append(hit)
                if wk := word_key(v):
                    words.setdefault(wk, []).append(hit)
        by_length: dict[int, list[str]] = {}
        for wk in words:
            by_length.setdefault(len(wk), []).append(wk)
        object.__setattr__(self, "_by_column", by_column)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_caseless", caseless)
        object.__setattr__(self, "_words", words)
        object.__setattr__(self, "_by_length", by_length)

    # -- building and the disk cache -------------------------------------------------------------
    @classmethod
    def for_engine(cls, engine: Engine, schema: Schema | None = None, *,
                   cache: bool = True) -> ValueIndex:
        """The index of ``engine``'s database: read from the disk cache when its stamp matches,
        else built (``build``) and written there.  ``cache=False`` always builds, writes nothing."""
        path = cache_path(engine) if cache else None
        if path is not None:
            loaded = _load(path)
            if loaded is not None:
                return loaded
        index = cls.build(engine, schema)
        if path is not None:
            _save(path, index)
        return index

    @classmethod
    def build(cls, engine: Engine, schema: Schema | None = None) -> ValueIndex:
        """Read the distinct values of every text column of ``engine`` (bounded, see the module)."""
        start = time.perf_counter()
        if schema is not None:
            targets = [(t.name, c.name) for t in schema.tables for c in t.columns
                       if is_text_type(c.type)]
        else:
            targets = [(t.name, c.name) for t in engine.tables() for c in t.columns
                       if is_text_type(c.type)]
        columns = []
        total = 0
        qualified = qualified_names(engine)
        for table, column in targets:
            if total >= MAX_TOTAL_VALUES or time.perf_counter() - start > BUILD_BUDGET_S:
                columns.append(ColumnValues(table, column, (), False))
                continue
            cap = min(MAX_VALUES_PER_COLUMN, MAX_TOTAL_VALUES - total)
            sql = _distinct_sql(table, column, cap + 1, engine.dialect, qualified)
            try:
                rows = engine.execute(sql, timeout=QUERY_TIMEOUT_S, max_rows=cap + 1).rows
            except QueryError:
                columns.append(ColumnValues(table, column, (), False))
                continue
            values = tuple(dict.fromkeys(
                r[0] for r in rows if isinstance(r[0], str) and r[0].strip()))
            complete = len(rows) <= cap
            columns.append(ColumnValues(table, column, values[:cap], complete))
            total += min(len(values), cap)
        return cls(tuple(columns), engine.path, time.perf_counter() - start)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION, "source": self.source, "seconds": self.seconds,
            "columns": [{"table": c.table, "column": c.column, "complete": c.complete,
                         "values": list(c.values)} for c in self.columns],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueIndex:
        """The index ``to_json`` wrote; ``ValueError`` when ``data`` is not one."""
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not a value index of this format version")
        cols = []
        for c in data["columns"]:
            values = c["values"]
            if not (isinstance(c["table"], str) and isinstance(c["column"], str)
                    and isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise ValueError("malformed column entry")
            cols.append(ColumnValues(c["table"], c["column"], tuple(values), bool(c["complete"])))
        return cls(tuple(cols), str(data.get("source", "")), float(data.get("seconds", 0.0)),
                   from_cache=True)

    # -- questions -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Values held, over all columns."""
        return sum(len(c.values) for c in self.columns)

    def column(self, table: str, column: str) -> ColumnValues | None:
        """The values read from ``table.column`` (case-insensitive names), or None if not indexed."""
        return self._by_column.get((table.lower(), column.lower()))

    def lookup(self, table: str, column: str, literal: str) -> Match:
        """Whether ``literal`` is a value of ``table.column``: exact, caseless, fuzzy or none
        (``unknown`` when the column is not indexed, or incomplete and the literal not seen)."""
        key = (table.lower(), column.lower())
        cv = self._by_column.get(key)
        if cv is None:
            return Match("unknown")
        if literal in self._exact[key]:
            return Match("exact", literal, 100.0)
        norm = normalize(literal)
        same = [v for t, c, v in self._caseless.get(norm, ())
                if (t.lower(), c.lower()) == key]
        if any(padded_only(v, literal) for v in same):
            return Match("exact", literal, 100.0)
        if same:
            return Match("caseless", same[0], 100.0)
        best = process.extractOne(norm, cv.values, scorer=fuzz.token_sort_ratio,
                                  processor=normalize) if cv.values and norm else None
        if not cv.complete:
            return Match("unknown", best[0], best[1]) if best else Match("unknown")
        if best is not None and best[1] >= FUZZY_CUTOFF:
            return Match("fuzzy", best[0], best[1])
        return Match("none", best[0], best[1]) if best else Match("none")

    def where(self, literal: str) -> list[Hit]:
        """``(table, column, stored value)`` of every column holding ``literal``, exactly or
        ignoring case and surrounding spaces; exact ones first."""
        hits = self._caseless.get(normalize(literal), [])
        return sorted(hits, key=lambda h: h[2] != literal)

    @property
    def incomplete(self) -> tuple[tuple[str, str], ...]:
        """``(table, column)`` of the columns whose values were not all read."""
        return tuple((c.table, c.column) for c in self.columns if not c.complete)

    def mentions(self, question: str, limit: int = 8) -> list[Hit]:
        """Values the question names: ``(table, column, stored value)``, at most ``limit``.

        The question's phrases (``phrases``) are matched against the values' words ignoring
        case and punctuation: exact phrase matches first (longer phrases first, and words they
        cover are not matched again), then fuzzy matches (rapidfuzz ratio at least
        ``MENTION_CUTOFF``, phrases of 4 characters or more), best first.
        """
        found: dict[Hit, None] = {}
        covered: set[int] = set()
        rest = []
        for start, end, text in phrases(question):
            span = set(range(start, end))
            if span & covered:
                continue
            hits = self._words.get(word_key(text))
            if hits:
                covered |= span
                for h in hits:
                    found.setdefault(h, None)
            else:
                rest.append((start, end, text))
        fuzzy: list[tuple[float, int, Hit]] = []
        for start, end, text in rest:
            if set(range(start, end)) & covered or len(text) < 4:
                continue
            key = word_key(text)
            for choice, score, _ in self._near(key):
                for h in self._words[choice]:
                    fuzzy.append((score, start, h))
        for _, _, h in sorted(fuzzy, key=lambda f: (-f[0], f[1])):
            found.setdefault(h, None)
        return list(found)[:limit]

    def _near(self, key: str) -> list[tuple[str, float, int]]:
        """Value word keys within ``MENTION_CUTOFF`` of ``key`` (only similar lengths compared)."""
        n = len(key)
        lo, hi = int(n * 0.78), int(n * 1.28) + 1
        choices = [k for length in range(lo, hi + 1) for k in self._by_length.get(length, ())]
        if not choices:
            return []
        return process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=MENTION_CUTOFF,
                               limit=3)


def value_hints(index: ValueIndex, question: str, limit: int = 8) -> list[str]:
    """Prompt lines for the values ``question`` names: ``table.column = 'value'``.

    >>> idx = ValueIndex((ColumnValues("singer", "Country", ("France", "Netherlands")),))
    >>> value_hints(idx, "How many singers are from france?")
    ["singer.Country = 'France'"]
    """
    return [f"{_ident(t)}.{_ident(c)} = {sql_string(v)}"
            for t, c, v in index.mentions(question, limit)]


def _distinct_sql(table: str, column: str, limit: int, dialect: str,
                  qualified: bool = False) -> str:
    """The bounded distinct-values query of one column, identifiers quoted (``qualified``: the
    engine names tables ``schema.table``).

    >>> _distinct_sql("city", "Name", 3, "sqlite")
    'SELECT DISTINCT "Name" FROM "city" WHERE NOT "Name" IS NULL AND LENGTH("Name") <= 80 LIMIT 3'
    >>> _distinct_sql("world.city", "Name", 3, "duckdb", True).split(" WHERE")[0]
    'SELECT DISTINCT "Name" FROM "world"."city"'
    """
    col = exp.column(column, quoted=True)
    return (exp.select(col).distinct().from_(table_expr(table, qualified))
            .where(exp.and_(col.copy().is_(exp.null()).not_(),
                            exp.LTE(this=exp.Length(this=col.copy()),
                                    expression=exp.Literal.number(MAX_VALUE_CHARS))))
            .limit(limit).sql(dialect=dialect))


# -- the disk cache ------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``values/`` under xander's cache root (``xander.paths``)."""
    return paths.cache_dir("values")


def stamp(engine: Engine) -> str | None:
    """What identifies the index of ``engine``'s data: the index's format and caps, the
    dialect, and the engine's own ``data_stamp``; None when the engine has none."""
    data = engine.data_stamp()
    if data is None:
        return None
    return "\n".join([f"v{FORMAT_VERSION}", str(MAX_VALUES_PER_COLUMN), str(MAX_VALUE_CHARS),
                      engine.dialect, data])


def cache_path(engine: Engine) -> Path | None:
    """The cache file for ``engine``'s current data, or None when it has no readable stamp.

    Named ``<database>-<what is served>-<stamp>.json``: the middle part hashes the engine's
    path, dialect and tables (the schemas served), so that when the data changes, the new
    index replaces the old one of the same database (``_save``) instead of piling up."""
    s = stamp(engine)
    if s is None:
        return None
    name = Path(engine.path).name or "db"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40]
    served = "\n".join([engine.path, engine.dialect, *(t.name for t in engine.tables())])
    ident = hashlib.sha256(served.encode()).hexdigest()[:10]
    return cache_dir() / f"{safe}-{ident}-{hashlib.sha256(s.encode()).hexdigest()[:24]}.json"


def cached_indexes() -> list[Path]:
    """The value indexes saved under the cache root (``xander cache`` lists and clears them)."""
    root = cache_dir()
    return sorted(root.glob("*.json")) if root.is_dir() else []


def _load(path: Path) -> ValueIndex | None:
    try:
        with path.open(encoding="utf-8") as fh:
            return ValueIndex.from_json(json.load(fh))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):  # corrupt or foreign: rebuild over it
        return None


def _save(path: Path, index: ValueIndex) -> None:
    """Write atomically (a temporary file, then ``os.replace``); a failure is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".values-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(index.to_json(), fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # the same database served alike, from data as it was before: out of date now
        base = path.name.rsplit("-", 1)[0]
        for old in path.parent.glob(f"{glob.escape(base)}-*.json"):
            if old != path and old.name.rsplit("-", 1)[0] == base:
                old.unlink(missing_ok=True)
    except OSError:
        return


# -- one index per open engine -------------------------------------------------------------------
_OPEN: dict[int, tuple[Engine, ValueIndex]] = {}  # id(engine) -> (engine, index); engine kept
_MAX_OPEN = 8  # so its id is not reused while listed


def index_for(engine: Engine, schema: Schema | None = None) -> ValueIndex:
    """The index of an open engine, built or loaded once per engine object and kept in memory
    (the last ``_MAX_OPEN`` engines)."""
    entry = _OPEN.get(id(engine))
    if entry is not None and entry[0] is engine:
        return entry[1]
    index = ValueIndex.for_engine(engine, schema)
    if len(_OPEN) >= _MAX_OPEN:
        _OPEN.pop(next(iter(_OPEN)))
    _OPEN[id(engine)] = (engine, index)
    return index


# -- live look-ups (incomplete columns) ----------------------------------------------------------
_PROBED: dict[tuple[str, str, str, str], Match] = {}  # (path, table, column, literal) -> Match
_MAX_PROBED = 4096


def probe(engine: Engine, table: str, column: str, literal: str) -> Match:
    """Ask the engine whether ``literal`` is a value of ``table.column``: exact, caseless (lower
    and trimmed) or none; ``unknown`` when the look-up fails or runs out of time.  Answers are
    remembered per database path."""
    key = (engine.path, table.lower(), column.lower(), literal)
    if key not in _PROBED:
        if len(_PROBED) >= _MAX_PROBED:
            _PROBED.clear()
        _PROBED[key] = _probe(engine, table, column, literal, _qualified(engine))
    return _PROBED[key]


_QUALIFIED: dict[str, bool] = {}  # database path -> whether it names tables schema.table


def _qualified(engine: Engine) -> bool:
    if engine.path not in _QUALIFIED:
        _QUALIFIED[engine.path] = qualified_names(engine)
    return _QUALIFIED[engine.path]


def _probe(engine: Engine, table: str, column: str, literal: str, qualified: bool) -> Match:
    col = exp.column(column, quoted=True)
    lit = exp.Literal.string(literal)
    for kind, cond in (
        ("exact", exp.EQ(this=col.copy(), expression=lit.copy())),
        ("exact", exp.EQ(this=exp.Trim(this=col.copy()), expression=exp.Trim(this=lit.copy()))),
        ("caseless", exp.EQ(this=exp.Lower(this=exp.Trim(this=col.copy())),
                            expression=exp.Lower(this=exp.Trim(this=lit.copy())))),
    ):
        sql = (exp.select(col.copy()).from_(table_expr(table, qualified)).where(cond).limit(1)
               .sql(dialect=engine.dialect))
        try:
            rows = engine.execute(sql, timeout=PROBE_TIMEOUT_S, max_rows=1).rows
        except QueryError:
            return Match("unknown")
        if rows and isinstance(rows[0][0], str):
            return Match(kind, rows[0][0], 100.0)  # type: ignore[arg-type]
    return Match("none")


def resolve(index: ValueIndex, engine: Engine, table: str, column: str, literal: str) -> Match:
    """``index.lookup``, asking the engine (``probe``) when the column is incomplete."""
    m = index.lookup(table, column, literal)
    cv = index.column(table, column)
    if m.kind != "unknown" or cv is None:
        return m
    live = probe(engine, table, column, literal)
    if live.kind == "none" and m.value is not None:
        kind = "fuzzy" if m.score >= FUZZY_CUTOFF else "none"
        return Match(kind, m.value, m.score)  # nearest among the values read
    return live


def holders(index: ValueIndex, engine: Engine, literal: str,
            skip: Iterable[tuple[str, str]] = ()) -> list[Hit]:
    """``index.where(literal)`` plus the incomplete columns that hold it (asked live, at most
    ``MAX_PROBES``), without the columns in ``skip`` (``(table, column)``, any case)."""
    skipped = {(t.lower(), c.lower()) for t, c in skip}
    out = [h for h in index.where(literal) if (h[0].lower(), h[1].lower()) not in skipped]
    seen = {(t.lower(), c.lower()) for t, c, _ in out}
    deadline = time.monotonic() + PROBE_BUDGET_S
    for table, column in index.incomplete[:MAX_PROBES]:
        key = (table.lower(), column.lower())
        if key in skipped or key in seen:
            continue
        if time.monotonic() > deadline:
            break
        m = probe(engine, table, column, literal)
        if m.kind in ("exact", "caseless") and m.value is not None:
            out.append((table, column, m.value))
    return out


# -- string literals in queries ------------------------------------------------------------------
Op = Literal["=", "!=", "in", "like", "ilike"]


@dataclass(frozen=True, slots=True, eq=False)
class Comparison:
    """A string literal compared with a column: ``column <op> literal``.

    ``table`` is the real table the column belongs to ('' when it comes from a subquery or cannot
    be resolved), ``alias`` the name it is qualified with in its scope, ``select`` the SELECT of
    that scope and ``sources`` the ``(alias, table)`` of the base tables the scope sees.
    """

    column: exp.Column
    literal: exp.Literal
    op: Op
    table: str
    alias: str
    select: exp.Expression
    sources: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return str(self.literal.this)

    def render(self) -> str:
        """The comparison as written, for messages (one literal of an IN list)."""
        name = f"{self.column.table}.{self.column.name}" if self.column.table else self.column.name
        if self.op == "in":
            return f"{name} IN (.., {sql_string(self.text)}, ..)"
        op = {"like": "LIKE", "ilike": "ILIKE"}.get(self.op, self.op)
        return f"{name} {op} {sql_string(self.text)}"


def _visible(scope: Scope) -> list[tuple[str, Any]]:
    out = []
    s: Scope | None = scope
    while s is not None:
        out.extend(s.selected_sources.items())
        s = s.parent
    return out


def owner(col: exp.Column, scope: Scope, schema: Schema) -> tuple[str, str]:
    """``(alias, table)`` of the base table ``col`` belongs to, or ``("", "")``."""
    candidates = []
    for alias, src in _visible(scope):
        node = src[1] if isinstance(src, tuple) else src
        if col.table and alias.lower() != col.table.lower():
            continue
        if isinstance(node, exp.Table):
            t = schema.table_of(node)
            if t is not None and t.column(col.name) is not None:
                candidates.append((alias, t.name))
        if col.table:
            break  # the qualifier named this source, whatever it is
    return candidates[0] if candidates else ("", "")


def _pairs(node: exp.Expression) -> Iterator[tuple[exp.Column, exp.Literal, Op]]:
    if isinstance(node, (exp.EQ, exp.NEQ, exp.Like, exp.ILike)):
        a, b = node.this, node.expression
        if isinstance(a, exp.Literal) and isinstance(b, exp.Column) and not isinstance(
                node, (exp.Like, exp.ILike)):
            a, b = b, a
        if isinstance(a, exp.Column) and isinstance(b, exp.Literal) and b.is_string:
            if isinstance(node, (exp.Like, exp.ILike)) and re.search(r"[%_]", b.this):
                return
            op: Op = {exp.EQ: "=", exp.NEQ: "!=", exp.Like: "like"}.get(  # type: ignore[assignment]
                type(node), "ilike")
            yield a, b, op
    elif isinstance(node, exp.In) and isinstance(node.this, exp.Column):
        for e in node.expressions:
            if isinstance(e, exp.Literal) and e.is_string:
                yield node.this, e, "in"


def _full_name(node: exp.Table, schema: Schema) -> str:
    """The schema's name of the table ``node`` reads (``sales.orders`` where several schemas
    are served), or the name as written when the schema has no such table."""
    found = schema.table_of(node)
    return found.name if found is not None else node.name


def comparisons(tree: exp.Expression, schema: Schema) -> list[Comparison]:
    """Every string literal ``tree`` compares with a column, each with the column's table.

    >>> from xander.linking import parse
    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("singer", (Column("Name"), Column("Country"))),))
    >>> tree = parse("SELECT Name FROM singer AS s WHERE s.Country IN ('France', 'Spain')", "sqlite")
    >>> [(c.table, c.column.name, c.op, c.text) for c in comparisons(tree, s)]
    [('singer', 'Country', 'in', 'France'), ('singer', 'Country', 'in', 'Spain')]
    """
    try:
        scopes = traverse_scope(tree)
    except (OptimizeError, RecursionError, ValueError):
        return []
    where: dict[int, Scope] = {}
    for scope in scopes:
        for col in scope.columns:
            where.setdefault(id(col), scope)
    out = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In, exp.Like, exp.ILike):
        for col, lit, op in _pairs(node):
            scope = where.get(id(col))
            if scope is None:
                continue
            alias, table = owner(col, scope, schema)
            sources = tuple(
                (a, _full_name(s[1] if isinstance(s, tuple) else s, schema))
                for a, s in _visible(scope)
                if isinstance(s[1] if isinstance(s, tuple) else s, exp.Table))
            out.append(Comparison(col, lit, op, table, alias, scope.expression, sources))
    return out


def caseless_op(op: Op, dialect: str) -> bool:
    """Whether ``op`` already ignores case (SQLite's LIKE does for ASCII; ILIKE always).

    >>> caseless_op("like", "sqlite"), caseless_op("like", "duckdb"), caseless_op("=", "sqlite")
    (True, False, False)
    """
    return op == "ilike" or (op == "like" and dialect == "sqlite")


def looks_numeric(text: str) -> bool:
    """A string literal that is a number ('1970', '3.5'): compared with numbers, not names.

    >>> looks_numeric("1970"), looks_numeric(" -3.5 "), looks_numeric("AHD")
    (True, True, False)
    """
    try:
        float(text)
    except ValueError:
        return False
    return True


def texts(hits: Sequence[Hit]) -> str:
    """``table.column`` names of ``hits``, comma-separated (for messages).

    >>> texts([("country", "Name", "Aruba"), ("city", "Name", "Aruba")])
    'country.Name, city.Name'
    """
    return ", ".join(f"{t}.{c}" for t, c, _ in hits)
