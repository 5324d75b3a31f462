"""Schema focus: the tables and columns a question needs, when the whole schema does not fit the
prompt budget (``[lm] max_schema_chars``).

``focus(schema, question, budget)`` scores every table by what the question says about it and
returns a ``Focus``: a smaller ``Schema`` (the tables kept, in the schema's order, narrowed when
they have to be) with the scores and the reasons.  It is pure and deterministic: the same schema,
question, value index and weights give the same focus.

How a table scores (``FocusWeights``; every term weighted by its rarity in the schema, ``idf``):

- the question's terms (words split at ``snake_case`` and ``CamelCase``, lower-cased, lightly
  stemmed, stop words dropped; near spellings through rapidfuzz) found in the table's own name,
  in its qualifier (``sales`` of ``sales.orders``: table names are opaque strings that may hold a
  dot) and in its column names;
- values the question names that the table holds (``ValueIndex.mentions``: "France" pulls the
  table whose column stores 'France'), shared out among the tables holding the same value;
- optionally the cosine similarity of the question with the table's text, from an ``Embedder``
  (``xander.embed``).

The best tables are kept (at most ``max_tables``, each scoring at least ``keep_ratio`` of the
best), then the foreign-key closure: the tables along the shortest join paths that connect them,
so the joins the question needs stay possible.  What does not fit the budget goes, columns first
(the lowest-scoring non-key columns of the least relevant tables), then whole tables.  The
identifier checker and repair still see the whole schema: a column outside the prompt stays
reachable by repair.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from rapidfuzz import fuzz, process

from xander import cue_words
from xander.engines import ForeignKey
from xander.schema import Schema, Table
from xander.values import ColumnValues, ValueIndex, normalize

#: words that say nothing about which table a question needs
STOP_WORDS = cue_words.STOP_WORDS | frozenset("""
many much please order sort descending ascending least greatest also different distinct whole
respectively one two three ha
""".split())

_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_words(text: str) -> list[str]:
    """The words of a name or question: split at non-letters, ``snake_case`` and ``CamelCase``,
    lower-cased.

    >>> split_words("HomeTeam_ID2"), split_words("concert_singer.singer_in_concert")
    (['home', 'team', 'id', '2'], ['concert', 'singer', 'singer', 'in', 'concert'])
    >>> split_words("What are the names of XMLParsers?")
    ['what', 'are', 'the', 'names', 'of', 'xml', 'parsers']
    """
    return [w.lower() for w in _SPLIT.findall(text)]


def stem(word: str) -> str:
    """A light stem: plural and common verb endings off, so 'singers', 'countries' and 'hosted'
    meet 'singer', 'country' and 'host'.

    >>> [stem(w) for w in ("singers", "countries", "classes", "hosted", "running", "status")]
    ['singer', 'country', 'class', 'host', 'run', 'status']
    >>> stem("weddings") == stem("wedding")
    True
    """
    w = word.lower()
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "ches", "shes", "xes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "aeiouls":
                base = base[:-1]  # running -> run
            return base
    return w


def terms(text: str) -> list[str]:
    """The stems of ``text``'s words that are not stop words, in order (repeats kept).

    >>> terms("How many singers are from France?")
    ['singer', 'france']
    """
    return [stem(w) for w in split_words(text) if w not in STOP_WORDS]


class Embedder(Protocol):
    """Sentence embeddings: unit vectors whose dot product is the cosine similarity."""

    name: str

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of ``query`` with each of ``texts``."""
        ...


@dataclass(frozen=True, slots=True)
class FocusWeights:
    """How the evidence adds up to a table's score: fitted on Spider train questions against
    the merged train and dev databases (``benchmarks/results/focus_recall.md`` has the fit)."""

    table: float = 2.0
    """Per question term (times its idf) found in the table's own name."""
    qualifier: float = 1.0
    """Per question term found in the qualifier before the last dot (``sales`` of
    ``sales.orders``)."""
    column: float = 1.0
    """Per question term found in one of the table's column names (each term counted once)."""
    value: float = 4.0
    """Per value the question names that the table holds, shared among the tables holding it."""
    near: float = 0.7
    """Factor for a near spelling (rapidfuzz ratio at least ``near_cutoff``) of a term."""
    near_cutoff: float = 86.0
    """rapidfuzz ratio for two terms of 4 characters or more to count as near."""
    part: float = 0.0
    """Factor for a term found inside a one-word compound table name ('language' in
    'countrylanguage') or a name that abbreviates it ('indep' of 'independent'); 0: never."""
    embed: float = 32.0
    """Per unit of cosine similarity above ``embed_floor`` between the question and the table's
    text (only with an embedder)."""
    embed_floor: float = 0.2
    """Cosine similarity below which the embedding adds nothing."""
    keep_ratio: float = 0.25
    """Tables scoring less than this share of the best table's score are not kept for their
    score (they may still come as join steps)."""
    max_hops: int = 3
    """Longest join path (foreign keys) the closure follows to connect a kept table."""
    apart_ratio: float = 0.6
    """Tables outside the best group (the qualifier whose three best tables score highest:
    the database schema of ``schema.table``) need this share of the best score to be kept."""
    parents: bool = True
    """Keep the tables that kept tables reference by foreign key (their entities: ``country``
    for ``countrylanguage``) when the budget allows."""


@dataclass(frozen=True, slots=True)
class TableScore:
    """One table's score and what it came from (``"name: singer"``, ``"value: 'France'"``)."""

    table: str
    score: float
    why: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Focus:
    """What ``focus`` kept: ``schema`` holds the kept tables in the original schema's order
    (narrowed ones say how many columns are not shown); ``kept`` names them most relevant first;
    ``joins`` are the ones that came only to connect others; ``scores`` covers every table of
    the schema, best first."""

    schema: Schema
    kept: tuple[str, ...]
    joins: tuple[str, ...]
    scores: tuple[TableScore, ...]
    hidden_columns: int = 0

    def reasons(self, table: str) -> tuple[str, ...]:
        """Why ``table`` scored (empty when it did not)."""
        low = table.lower()
        return next((s.why for s in self.scores if s.table.lower() == low), ())


# -- the schema's terms (computed once per schema) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class _TableTerms:
    name: frozenset[str]
    qualifier: frozenset[str]
    columns: tuple[frozenset[str], ...]
    every: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Profile:
    tables: tuple[_TableTerms, ...]
    idf: dict[str, float]
    vocabulary: tuple[str, ...]
    compounds: tuple[str, ...]  # terms of table names that are one word of 7 letters or more
    texts: tuple[str, ...]  # a line per table for an embedder


def _name_terms(name: str) -> frozenset[str]:
    words = [w for w in split_words(name) if w not in STOP_WORDS]
    out = {stem(w) for w in words}
    if len(words) > 1:  # 'home_town' also answers 'hometown'
        out.add(stem("".join(words)))
    return frozenset(out)


def table_text(t: Table) -> str:
    """The text an embedder reads for a table: its name and its columns' names, as words.

    >>> from xander.schema import Column
    >>> table_text(Table("db.singer_in_concert", (Column("Singer_ID"), Column("concertName"))))
    'singer in concert: singer id, concert name'
    """
    own = t.name.rsplit(".", 1)[-1]
    cols = ", ".join(" ".join(split_words(c.name)) for c in t.columns)
    return f"{' '.join(split_words(own))}: {cols}"


def _profile_of(schema: Schema) -> _Profile:
    tables = []
    df: dict[str, int] = {}
    for t in schema.tables:
        qualifier, _, own = t.name.rpartition(".")
        name = _name_terms(own)
        qual = _name_terms(qualifier) if qualifier else frozenset()
        cols = tuple(_name_terms(c.name) for c in t.columns)
        every = name | qual | frozenset().union(*cols)
        tables.append(_TableTerms(name, qual, cols, every))
        for term in every:
            df[term] = df.get(term, 0) + 1
    n = len(tables)
    idf = {term: math.log(1.0 + n / count) for term, count in df.items()}
    texts = tuple(table_text(t) for t in schema.tables)
    compounds = sorted({stem(w[0]) for t in schema.tables
                        if len(w := split_words(t.name.rpartition(".")[2])) == 1
                        and len(w[0]) >= 7})
    return _Profile(tuple(tables), idf, tuple(sorted(df)), tuple(compounds), texts)


_PROFILES: dict[int, tuple[Schema, _Profile]] = {}
_MAX_PROFILES = 16


def _profile(schema: Schema) -> _Profile:
    entry = _PROFILES.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    prof = _profile_of(schema)
    if len(_PROFILES) >= _MAX_PROFILES:
        _PROFILES.pop(next(iter(_PROFILES)))
    _PROFILES[id(schema)] = (schema, prof)
    return prof


def _question_terms(question: str, prof: _Profile, w: FocusWeights) -> dict[str, float]:
    """Schema terms the question names -> how surely: 1 for the term itself (or with an ``e``
    the stem cut: 'voted' -> 'vote'), ``near`` for a near spelling, ``part`` for a compound name
    holding it ('language' in 'countrylanguage') and for an abbreviation it starts with ('indep'
    of 'independent'); two adjacent question words joined count when a name has them joined
    ('home town' -> 'hometown')."""
    words = [x for x in split_words(question) if x not in STOP_WORDS]
    found: dict[str, float] = {}

    def add(term: str, sure: float) -> None:
        found[term] = max(found.get(term, 0.0), sure)

    for a, b in itertools.pairwise(words):
        if (joined := stem(a + b)) in prof.idf:
            add(joined, 1.0)
    for term in dict.fromkeys(stem(x) for x in words):
        if len(term) >= 4 and not term.isdigit() and w.part:
            for other in prof.compounds:
                if len(other) >= len(term) + 3 and term in other:
                    add(other, w.part)
        if term in prof.idf:
            add(term, 1.0)
            continue
        if term + "e" in prof.idf:
            add(term + "e", 1.0)
            continue
        if len(term) < 4 or term.isdigit():
            continue
        for other, _, _ in process.extract(term, prof.vocabulary, scorer=fuzz.ratio,
                                           score_cutoff=w.near_cutoff, limit=3):
            if len(other) >= 4:
                add(other, w.near)
        for other in prof.vocabulary if w.part else ():
            if ((len(other) >= len(term) + 3 and term in other)
                    or (len(other) >= 4 and len(term) >= len(other) + 3
                        and term.startswith(other))):
                add(other, w.part)
    return found


# -- scoring ---------------------------------------------------------------------------------------
def score_tables(schema: Schema, question: str, *, index: ValueIndex | None = None,
                 embedder: Embedder | None = None,
                 weights: FocusWeights = FocusWeights()) -> tuple[TableScore, ...]:
    """Every table of ``schema`` with its score for ``question``, best first (ties in schema
    order).

    >>> from xander.schema import Column
    >>> s = Schema((Table("stadium", (Column("Name"), Column("Capacity"))),
    ...             Table("singer", (Column("Name"), Column("Country")))))
    >>> [(t.table, t.why) for t in score_tables(s, "How many singers are there?")]
    [('singer', ('name: singer',)), ('stadium', ())]
    """
    w = weights
    prof = _profile(schema)
    asked = _question_terms(question, prof, w)
    scores = [0.0] * len(schema.tables)
    why: list[list[str]] = [[] for _ in schema.tables]
    for i, tt in enumerate(prof.tables):
        if not asked:
            break
        for term, sure in asked.items():
            if term not in tt.every:
                continue
            weight = prof.idf[term] * sure
            if term in tt.name:
                scores[i] += w.table * weight
                why[i].append(f"name: {term}")
            elif term in tt.qualifier:
                scores[i] += w.qualifier * weight
                why[i].append(f"qualifier: {term}")
            else:
                scores[i] += w.column * weight
                why[i].append(f"column: {term}")
    if index is not None:
        for i, share in _value_shares(schema, question, index).items():
            scores[i] += w.value * share[0]
            why[i].extend(f"value: {v!r}" for v in share[1])
    if embedder is not None and w.embed:
        sims = embedder.similarities(question, prof.texts)
        for i, sim in enumerate(sims):
            if sim > w.embed_floor:
                scores[i] += w.embed * (sim - w.embed_floor)
    order = sorted(range(len(scores)), key=lambda i: (-round(scores[i], 9), i))
    return tuple(TableScore(schema.tables[i].name, round(scores[i], 6), tuple(why[i]))
                 for i in order)


_LAST_MENTIONS: list[tuple[ValueIndex, str, list[tuple[str, str, str]]]] = []


def _mentions(index: ValueIndex, question: str) -> list[tuple[str, str, str]]:
    """``index.mentions(question)`` (64 at most), kept for the last question: scoring the
    tables and then their columns asks twice."""
    for idx, q, hits in _LAST_MENTIONS:
        if idx is index and q == question:
            return hits
    hits = index.mentions(question, limit=64)
    _LAST_MENTIONS[:] = [(index, question, hits)]
    return hits


def _value_shares(schema: Schema, question: str,
                  index: ValueIndex) -> dict[int, tuple[float, list[str]]]:
    """Table position -> (its share of the values the question names, those values)."""
    position = {t.name.lower(): i for i, t in enumerate(schema.tables)}
    holders: dict[str, set[int]] = {}
    shown: dict[tuple[str, int], str] = {}
    for table, _column, value in _mentions(index, question):
        i = position.get(table.lower())
        if i is None:
            continue
        key = normalize(value)
        holders.setdefault(key, set()).add(i)
        shown.setdefault((key, i), value)
    out: dict[int, tuple[float, list[str]]] = {}
    for key, tables in sorted(holders.items()):
        for i in sorted(tables):
            got = out.setdefault(i, (0.0, []))
            out[i] = (got[0] + 1.0 / len(tables), [*got[1], shown[(key, i)]])
    return out


def _column_scores(t: Table, tt: _TableTerms, asked: dict[str, float], prof: _Profile,
                   valued: set[str]) -> list[float]:
    out = []
    for c, cterms in zip(t.columns, tt.columns, strict=True):
        s = sum(prof.idf[x] * asked[x] for x in cterms if x in asked)
        if c.name.lower() in valued:
            s += 1.0
        out.append(s)
    return out


# -- choosing and fitting --------------------------------------------------------------------------
def fits(schema: Schema, budget: int) -> bool:
    """Whether the whole schema (without example rows, as ``Schema.render`` falls back to)
    renders within ``budget`` characters."""
    return len(schema.render(max_chars=1 << 62, example_rows=False)) <= budget


def focus(schema: Schema, question: str, budget: int, *, index: ValueIndex | None = None,
          embedder: Embedder | None = None, max_tables: int = 6,
          weights: FocusWeights = FocusWeights()) -> Focus:
    """The part of ``schema`` that ``question`` needs, within ``budget`` characters of rendering.

    >>> from xander.engines import ForeignKey
    >>> from xander.schema import Column
    >>> s = Schema((
    ...     Table("db.singer", (Column("Singer_ID"), Column("Name")), ("Singer_ID",)),
    ...     Table("db.concert", (Column("concert_ID"), Column("Theme")), ("concert_ID",)),
    ...     Table("db.performance", (Column("sid"), Column("cid")),
    ...           foreign_keys=(ForeignKey("db.performance", ("sid",), "db.singer", ("Singer_ID",)),
    ...                         ForeignKey("db.performance", ("cid",), "db.concert",
    ...                                    ("concert_ID",)))),
    ...     Table("other.stadium", (Column("Stadium_ID"), Column("Capacity")))))
    >>> f = focus(s, "Which singers sang in a concert with the theme Free?", 2000)
    >>> f.kept, f.joins
    (('db.concert', 'db.singer', 'db.performance'), ('db.performance',))
    >>> f.schema.table_names
    ('db.singer', 'db.concert', 'db.performance')
    """
    w = weights
    scores = score_tables(schema, question, index=index, embedder=embedder, weights=w)
    by_name = {t.name.lower(): t for t in schema.tables}
    best = scores[0].score if scores else 0.0
    if best > 0:
        group = _best_group(scores)
        seeds = [s.table for s in scores
                 if s.score > 0 and s.score >= (w.keep_ratio if _qualifier(s.table) == group
                                                else w.apart_ratio) * best][:max(1, max_tables)]
    else:  # the question names nothing: the first tables, as the schema lists them
        seeds = [t.name for t in schema.tables[:max(1, max_tables)]]
    kept, joins = _closure(schema, seeds, w.max_hops)
    if w.parents:
        kept, joins = _with_parents(schema, kept, joins)
    prof = _profile(schema)
    asked = _question_terms(question, prof, w)
    valued = _valued_columns(schema, question, index)
    position = {t.name.lower(): i for i, t in enumerate(schema.tables)}
    tables = []
    for name in kept:
        t = by_name[name.lower()]
        i = position[name.lower()]
        col_scores = _column_scores(t, prof.tables[i], asked, prof, valued.get(name.lower(), set()))
        tables.append((t, col_scores))
    fitted, hidden = _fit(tables, budget, schema.dialect)
    names = {t.name for t in fitted}
    order = {t.name: i for i, t in enumerate(schema.tables)}
    fitted.sort(key=lambda t: order[t.name])
    return Focus(Schema(tuple(fitted), schema.dialect), tuple(n for n in kept if n in names),
                 tuple(n for n in joins if n in names), scores, hidden)


def _valued_columns(schema: Schema, question: str,
                    index: ValueIndex | None) -> dict[str, set[str]]:
    if index is None:
        return {}
    out: dict[str, set[str]] = {}
    for table, column, _ in _mentions(index, question):
        out.setdefault(table.lower(), set()).add(column.lower())
    return out


def _qualifier(table: str) -> str:
    return table.rpartition(".")[0].lower()


def _best_group(scores: Sequence[TableScore]) -> str:
    """The qualifier whose three best tables score highest together (ties: the best table's)."""
    groups: dict[str, list[float]] = {}
    for s in scores:
        top = groups.setdefault(_qualifier(s.table), [])
        if len(top) < 3:
            top.append(s.score)
    first = _qualifier(scores[0].table)
    return max(groups, key=lambda g: (round(sum(groups[g]), 9), g == first))


def _with_parents(schema: Schema, kept: list[str], joins: list[str]) -> tuple[list[str], list[str]]:
    """``kept`` with, after each table, the tables it references by foreign key; those that
    came so are added to ``joins``."""
    out: dict[str, str] = {}
    added: list[str] = []
    for name in kept:
        out.setdefault(name.lower(), name)
    for name in kept:
        t = schema.table(name)
        for fk in t.foreign_keys if t is not None else ():
            ref = schema.table(fk.ref_table)
            if ref is not None and ref.name.lower() not in out:
                out[ref.name.lower()] = ref.name
                added.append(ref.name)
    return list(out.values()), joins + added


def _closure(schema: Schema, seeds: Sequence[str], max_hops: int) -> tuple[list[str], list[str]]:
    """The seeds, most relevant first, each followed by the tables along the shortest join
    path (at most ``max_hops`` foreign keys) to a seed kept before it in the same connected
    part of the foreign-key graph; and the tables that came only as join steps."""
    import networkx as nx  # here, not at import: a fresh process pays for it only when focusing

    g = schema.graph
    by_low = {t.name.lower(): t.name for t in schema.tables}
    kept: dict[str, None] = {}
    joins: list[str] = []
    for seed in seeds:
        low = seed.lower()
        if low in kept:
            continue
        earlier = [k for k in kept if nx.has_path(g, low, k)]
        kept[low] = None
        if not earlier:
            continue
        lengths, paths = nx.single_source_dijkstra(g, low, cutoff=max_hops)
        reachable = [k for k in earlier if k in paths]
        if not reachable:
            continue
        target = min(reachable, key=lambda k: (lengths[k], earlier.index(k)))
        for step in paths[target][1:-1]:
            if step not in kept and step in by_low:  # a key may point at a missing table
                kept[step] = None
                joins.append(by_low[step])
    return [by_low[k] for k in kept], joins


def _size(t: Table, dialect: str) -> int:
    return len(Schema((t,), dialect).render(max_chars=1 << 62, example_rows=False)) + 2


def _narrowed(t: Table, drop: Iterable[str]) -> Table:
    gone = {d.lower() for d in drop}
    if not gone:
        return t
    cols = tuple(c for c in t.columns if c.name.lower() not in gone)
    names = {c.name for c in cols}
    fks = tuple(fk for fk in t.foreign_keys if set(fk.columns) <= names)
    pk = t.primary_key if set(t.primary_key) <= names else ()
    return replace(t, columns=cols, primary_key=pk, foreign_keys=fks, example_rows=(),
                   hidden_columns=t.hidden_columns + len(t.columns) - len(cols))


def _fit(tables: list[tuple[Table, list[float]]], budget: int,
         dialect: str) -> tuple[list[Table], int]:
    """The tables (most relevant first) within ``budget``: non-key columns go first, the lowest
    scoring of the least relevant table first, then whole tables from the end; the first table
    always stays (narrowed to its keys if it must)."""
    current = [t for t, _ in tables]
    sizes = [_size(t, dialect) for t in current]
    if sum(sizes) <= budget:
        return current, 0
    drops: list[tuple[float, int, int, str]] = []  # (score, -table rank, -column index, name)
    for rank, (t, col_scores) in enumerate(tables):
        keys = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns}
        keys |= {c for other, _ in tables for fk in other.foreign_keys
                 if fk.ref_table.lower() == t.name.lower() for c in fk.ref_columns}
        for j, (c, s) in enumerate(zip(t.columns, col_scores, strict=True)):
            if c.name not in keys:
                drops.append((s, -rank, -j, c.name))
    drops.sort()
    dropped: dict[int, list[str]] = {}
    total = sum(sizes)
    for _, neg_rank, _, name in drops:
        if total <= budget:
            break
        rank = -neg_rank
        dropped.setdefault(rank, []).append(name)
        t = _narrowed(tables[rank][0], dropped[rank])
        total += _size(t, dialect) - sizes[rank]
        sizes[rank] = _size(t, dialect)
        current[rank] = t
    while total > budget and len(current) > 1:
        total -= sizes.pop()
        current.pop()
    hidden = sum(t.hidden_columns for t in current)
    return current, hidden


def merged(named: Sequence[tuple[str, Schema]]) -> Schema:
    """Several databases as one schema: every table renamed ``<name>.<table>``, foreign keys
    too (the large-schema setting of ``benchmarks/focus_recall.py``).

    >>> from xander.schema import Column
    >>> m = merged([("a", Schema((Table("t", (Column("x"),)),))),
    ...             ("b", Schema((Table("t", (Column("y"),)),)))])
    >>> m.table_names
    ('a.t', 'b.t')
    """
    tables = []
    for prefix, schema in named:
        for t in schema.tables:
            fks = tuple(ForeignKey(f"{prefix}.{fk.table}", fk.columns, f"{prefix}.{fk.ref_table}",
                                   fk.ref_columns) for fk in t.foreign_keys)
            tables.append(replace(t, name=f"{prefix}.{t.name}", foreign_keys=fks))
    dialect = named[0][1].dialect if named else "sqlite"
    return Schema(tuple(tables), dialect)


def merged_index(named: Sequence[tuple[str, ValueIndex]]) -> ValueIndex:
    """Value indexes of several databases as one, tables renamed as ``merged`` names them."""
    return ValueIndex(tuple(ColumnValues(f"{prefix}.{c.table}", c.column, c.values, c.complete)
                            for prefix, index in named for c in index.columns))
