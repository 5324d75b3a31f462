"""Normalized SQL: one canonical spelling of a query, used in prompts and as the output style.

The rules (in the spirit of the "Normalized SQL" of the Xander paper, Princis et al., AAAI 2025);
each keeps the rows the query returns:

- keywords and function names in upper case, one space between tokens, ``AS`` before aliases,
  comments dropped;
- explicit joins: ``JOIN ... ON`` (``INNER`` and ``OUTER`` dropped), comma joins become joins
  whose ``ON`` holds the column equalities of the ``WHERE`` clause that link them, ``USING``
  becomes ``ON`` (left when the query selects ``*``, which ``USING`` changes);
- a scope that reads one table gives it no alias and leaves its columns unqualified; a scope
  that reads several (or takes part in a correlated subquery) names them ``T1``, ``T2``, ... in
  reading order (outer query first, then subqueries; numbers are unique in the statement) and
  qualifies every column it can resolve;
- ``!=`` instead of ``<>``; ``x NOT IN``, ``x NOT BETWEEN``, ``x IS NOT NULL``;
- with a schema: table and column names spelled as the schema spells them, and SQLite's
  double-quoted strings (``"France"`` where no column has that name) become ``'France'``;
- identifiers quoted only when they need it; string literals keep their exact text.

Without a schema an unqualified column cannot be tied to a table, so it stays as written.

>>> normalize("select t.name from singer t where t.age <> 3")
'SELECT name FROM singer WHERE age != 3'
>>> schema = {"singer": ["Singer_ID", "Name"], "singer_in_concert": ["Singer_ID", "concert_ID"]}
>>> normalize('SELECT name FROM singer, singer_in_concert AS s '
...           'WHERE singer.singer_id = s.singer_id AND concert_id = "2"', schema=schema)
"SELECT T1.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.Singer_ID = T2.Singer_ID \
WHERE T2.concert_ID = '2'"
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, rename_func
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import TokenType

from xander.engines.profile import dialect_profile
from xander.sqlparse import parse_one_select, reading_order

if TYPE_CHECKING:
    from xander.schema import Schema

_SAFE_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# SQLite's keywords (sqlite.org/lang_keywords.html): a name spelled like one keeps its quotes
_SQLITE_KEYWORDS = frozenset(
    """ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE
    BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE
    CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE
    DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE
    EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS
    HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS
    ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL
    NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY
    RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING
    RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION
    TRIGGER UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH
    WITHOUT""".split()
)

# table name (lower case) -> (its spelling, {column name (lower case): its spelling})
_Catalog = dict[str, tuple[str, dict[str, str]]]


def normalize(
    sql: str, dialect: str = "sqlite", schema: Schema | Mapping[str, Iterable[str]] | None = None
) -> str:
    """The Normalized SQL spelling of ``sql``, one query of ``dialect``.

    ``schema`` (a ``xander.schema.Schema`` or ``{table: [column, ...]}``) lets unqualified
    columns be tied to their tables and SQLite's double-quoted strings be told from names.
    Raises ``QueryError`` when ``sql`` is not one query.

    >>> normalize('SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.sid = T2.id')
    'SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.sid = T2.id'
    >>> normalize("select count(*) from a inner join b on a.x = b.y where b.z not in (1, 2)")
    'SELECT COUNT(*) FROM a AS T1 JOIN b AS T2 ON T1.x = T2.y WHERE T2.z NOT IN (1, 2)'
    """
    tree = parse_one_select(sql, dialect)
    strings = dialect_profile(dialect).double_quoted_strings
    backticked = _non_double_quoted_names(sql, dialect) if strings else frozenset()
    tree = _normalize(tree, _catalog(schema), dialect, backticked)
    return tree.sql(dialect=_writer(dialect), normalize_functions="upper", comments=False)


def normalize_expr(
    expr: exp.Expr,
    schema: Schema | Mapping[str, Iterable[str]] | None = None,
    dialect: str = "sqlite",
) -> exp.Expr:
    """The normalized form of a parsed query as a new tree (``expr`` is left unchanged).

    Print it with ``normalize``'s spelling (``!=``, ``NOT IN``) through ``to_sql``.

    >>> from xander.sqlparse import parse_one_select
    >>> tree = normalize_expr(parse_one_select("SELECT s.a FROM t AS s, u WHERE s.k = u.k"),
    ...                       {"t": ["a", "k"], "u": ["k"]})
    >>> to_sql(tree)
    'SELECT T1.a FROM t AS T1 JOIN u AS T2 ON T1.k = T2.k'
    """
    return _normalize(expr.copy(), _catalog(schema), dialect, frozenset())


def to_sql(tree: exp.Expr, dialect: str = "sqlite") -> str:
    """Print a (normalized) tree in the Normalized SQL spelling of ``dialect``.

    >>> from xander.sqlparse import parse_one_select
    >>> to_sql(parse_one_select("select a from t where not b in (1) and c <> 2"))
    'SELECT a FROM t WHERE b NOT IN (1) AND c != 2'
    """
    return tree.sql(dialect=_writer(dialect), normalize_functions="upper", comments=False)


# ----------------------------------------------------------------------------------------------
# scope analysis: which source every column reference resolves to


@dataclass(slots=True, eq=False)
class _Source:
    """A table, CTE reference or derived table in a FROM/JOIN clause."""

    key: str  # the name columns qualify it by, lower case ('' for an unnamed derived table)
    node: exp.Table | exp.Subquery
    kind: Literal["table", "cte", "derived"]
    columns: frozenset[str] | None  # the names it exposes, lower case; None: unknown
    new: str | None = None  # its name after normalization (None: no alias)


@dataclass(slots=True, eq=False)
class _Level:
    """One SELECT scope: its sources in FROM/JOIN order and what can be done with them."""

    scope: Scope
    sources: list[_Source]
    ok: bool  # every source is understood: aliases may change
    aliases: frozenset[str]  # projection aliases, lower case
    using: frozenset[str]  # columns named in a JOIN ... USING
    multi: bool = False  # several tables in scope: aliases T1, T2 ... and qualified columns

    def find(self, key: str) -> _Source | None:
        return next((s for s in self.sources if s.key == key), None)

    @property
    def renamable(self) -> bool:
        keys = [s.key for s in self.sources]
        return self.ok and bool(keys) and len(set(keys)) == len(keys)


@dataclass(frozen=True, slots=True)
class _Ref:
    """Where a column reference resolves: a source (and the scope that owns it), a projection
    alias, nothing at all (``none``: no column and no alias has that name), or ``unknown``."""

    kind: Literal["source", "alias", "none", "unknown"]
    source: _Source | None = None
    owner: _Level | None = None


_UNKNOWN = _Ref("unknown")


@dataclass(slots=True)
class _Analysis:
    levels: dict[int, _Level] = field(default_factory=dict)  # id(select) -> level
    refs: list[tuple[exp.Column, _Level, _Ref]] = field(default_factory=list)


def _catalog(schema: Any) -> _Catalog | None:
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        items = [(str(t), str(t), list(cols)) for t, cols in schema.items()]
    else:  # xander.schema.Schema (duck-typed so this module stays below the schema layer)
        items = [(t.name, t.bare_name, [c.name for c in t.columns]) for t in schema.tables]
    catalog = {key.lower(): (bare, {str(c).lower(): str(c) for c in cols})
               for key, bare, cols in items}
    # with several schemas (keys "sales.orders"), a bare name finds a table only one schema has
    bare_keys: dict[str, list[str]] = {}
    for key, bare, _ in items:
        if key.lower() != bare.lower():
            bare_keys.setdefault(bare.lower(), []).append(key.lower())
    for bare, keys in bare_keys.items():
        if len(keys) == 1 and bare not in catalog:
            catalog[bare] = catalog[keys[0]]
    return catalog


def _table_key(node: exp.Table) -> str:
    """The catalog key of a table reference: ``sales.orders`` when qualified, else the name."""
    return f"{node.db}.{node.name}".lower() if node.db else node.name.lower()


def _output_names(query: exp.Expr, alias: exp.Expr | None) -> frozenset[str] | None:
    """The column names a derived table or CTE exposes; None when it selects ``*``."""
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return frozenset(c.name.lower() for c in alias.columns)
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select):
        return None
    names = set()
    for p in query.expressions:
        if isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)):
            return None
        names.add(p.alias_or_name.lower())
    return frozenset(names)


def _level(scope: Scope, catalog: _Catalog | None, ctes: dict[str, exp.CTE]) -> _Level:
    select = scope.expression
    from_ = select.args.get("from_")
    joins = select.args.get("joins") or []
    items = ([from_.this] if from_ is not None else []) + [j.this for j in joins]
    ok = not (select.args.get("laterals") or select.args.get("pivots"))
    sources = []
    for item in items:
        alias = item.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns and isinstance(item, exp.Table):
            ok = False  # t AS x(a, b): renames columns
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            name = item.name.lower()
            if name in ctes and not item.args.get("db"):
                cte = ctes[name]
                cols = _output_names(cte.this, cte.args.get("alias"))
                sources.append(_Source(item.alias_or_name.lower(), item, "cte", cols))
            else:
                known = catalog.get(_table_key(item)) if catalog is not None else None
                cols = frozenset(known[1]) if known else None
                sources.append(_Source(item.alias_or_name.lower(), item, "table", cols))
        elif isinstance(item, exp.Subquery):
            cols = _output_names(item.this, alias)
            sources.append(_Source(item.alias.lower(), item, "derived", cols))
        else:
            ok = False  # table functions, VALUES, UNNEST ...
    aliases = frozenset(p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias))
    using = frozenset(
        u.name.lower() for j in joins for u in j.args.get("using") or [] if isinstance(u, exp.Expr)
    )
    if any(j.args.get("method") for j in joins):
        ok = False  # NATURAL joins merge columns by name
    return _Level(scope, sources, ok, aliases, using, multi=len(sources) > 1)


def _analyse(tree: exp.Expr, catalog: _Catalog | None) -> _Analysis:
    ctes = {cte.alias_or_name.lower(): cte for cte in tree.find_all(exp.CTE)}
    out = _Analysis()
    scopes = [s for s in traverse_scope(tree) if isinstance(s.expression, exp.Select)]
    for scope in scopes:
        out.levels[id(scope.expression)] = _level(scope, catalog, ctes)
    for scope in scopes:
        level = out.levels[id(scope.expression)]
        for col in scope.find_all(exp.Column):
            assert isinstance(col, exp.Column)
            out.refs.append((col, level, _resolve(col, level, out.levels)))
    return out


def _chain(level: _Level, levels: dict[int, _Level]) -> Iterable[_Level]:
    """``level`` and the scopes a correlated reference in it may reach, innermost first."""
    scope: Scope | None = level.scope
    while scope is not None:
        found = levels.get(id(scope.expression))
        if found is not None:
            yield found
        if scope.is_cte or scope.is_derived_table:
            return  # SQLite does not correlate FROM subqueries and CTEs
        scope = scope.parent


def _resolve(col: exp.Column, level: _Level, levels: dict[int, _Level]) -> _Ref:
    if col.args.get("db") or col.args.get("catalog"):
        return _UNKNOWN
    name = col.name.lower()
    qualifier = col.table.lower()
    for lv in _chain(level, levels):
        if qualifier:
            src = lv.find(qualifier) if lv.ok else None
            if src is not None:
                return _Ref("source", src, lv)
            if qualifier in {k.lower() for k in lv.scope.selected_sources}:
                return _UNKNOWN
            continue
        if not lv.ok:
            return _UNKNOWN
        hits = [s for s in lv.sources if s.columns is not None and name in s.columns]
        unknown = any(s.columns is None for s in lv.sources)
        if unknown or (len(hits) > 1 and name not in lv.using):
            return _UNKNOWN
        if hits:  # a USING column resolves to its leftmost table
            return _UNKNOWN if name in lv.aliases else _Ref("source", hits[0], lv)
        if name in lv.aliases:
            return _Ref("alias")
    return _UNKNOWN if qualifier else _Ref("none")


# ----------------------------------------------------------------------------------------------
# the rewrites


def _normalize(
    tree: exp.Expr, catalog: _Catalog | None, dialect: str, backticked: frozenset[str]
) -> exp.Expr:
    _join_words(tree)
    try:
        _explicit_joins(tree, catalog)
        analysis = _analyse(tree, catalog)
        _rename(tree, analysis, catalog, dialect, backticked)
    except (OptimizeError, _Unsafe):
        return _fallback(tree, dialect)
    _unquote(tree, dialect, analysis)
    return tree


class _Unsafe(Exception):
    """A rename would leave a reference behind: normalize the spelling only."""


def _fallback(tree: exp.Expr, dialect: str) -> exp.Expr:
    _unquote(tree, dialect, None)
    return tree


def _join_words(tree: exp.Expr) -> None:
    """``INNER JOIN`` -> ``JOIN``, ``LEFT OUTER JOIN`` -> ``LEFT JOIN``, ``JOIN t`` with no
    condition (or ``ON TRUE``) -> ``CROSS JOIN t``."""
    for join in tree.find_all(exp.Join):
        if join.args.get("on") == exp.true() and not join.args.get("side"):
            join.set("on", None)  # how sqlglot reads a JOIN without ON
        kind = (join.args.get("kind") or "").upper()
        if kind == "INNER" or (kind == "OUTER" and join.args.get("side")):
            join.set("kind", None)
        has_condition = join.args.get("on") or join.args.get("using")
        if not (kind or has_condition or join.args.get("side") or join.args.get("method")):
            join.set("kind", "CROSS")


def _conjuncts(where: exp.Expr | None) -> list[exp.Expr]:
    if not isinstance(where, exp.Where):
        return []
    return list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]


def _explicit_joins(tree: exp.Expr, catalog: _Catalog | None) -> None:
    """Comma/cross joins take the WHERE equalities that link them as ``ON``; ``USING`` -> ``ON``."""
    analysis = _analyse(tree, catalog)
    owner = {id(col): ref for col, _, ref in analysis.refs}
    for level in analysis.levels.values():
        select = level.scope.expression
        joins = select.args.get("joins") or []
        if not joins or not level.renamable:
            continue
        index = {id(s): i for i, s in enumerate(level.sources)}
        if all(j.args.get("kind") in ("CROSS", None) and not j.args.get("side") for j in joins):
            _comma_joins(select, joins, level, index, owner)
        _using_to_on(select, joins, level, analysis)


def _comma_joins(
    select: exp.Select,
    joins: list[exp.Join],
    level: _Level,
    index: dict[int, int],
    owner: dict[int, _Ref],
) -> None:
    kept: list[exp.Expr] = []
    moved: dict[int, list[exp.Expr]] = {}
    for cond in _conjuncts(select.args.get("where")):
        sides = [owner.get(id(c)) for c in (cond.this, cond.expression)] if isinstance(
            cond, exp.EQ) and isinstance(cond.this, exp.Column) and isinstance(
            cond.expression, exp.Column) else []
        places = [index[id(r.source)] for r in sides
                  if r is not None and r.kind == "source" and r.owner is level]
        if len(places) == 2 and places[0] != places[1]:
            k = max(places)
            if joins[k - 1].args.get("kind") == "CROSS":
                moved.setdefault(k, []).append(cond)
                continue
        kept.append(cond)
    if not moved:
        return
    for k, conds in moved.items():
        joins[k - 1].set("kind", None)
        joins[k - 1].set("on", exp.and_(*[c.copy() for c in conds]))
    select.set("where", exp.Where(this=exp.and_(*[c.copy() for c in kept])) if kept else None)


def _using_to_on(
    select: exp.Select, joins: list[exp.Join], level: _Level, analysis: _Analysis
) -> None:
    if any(isinstance(p, exp.Star) for p in select.expressions):
        return  # SELECT * lists a USING column once, ON would list it twice
    for k, join in enumerate(joins, start=1):
        using = join.args.get("using") or []
        if not using or join.args.get("side") not in (None, "LEFT") or join.args.get("kind"):
            continue
        right = level.sources[k]
        conds = []
        for u in using:
            name = u.name.lower()
            left = next((s for s in level.sources[:k] if s.columns is None or name in s.columns),
                        None)
            if left is None or left.columns is None or right.columns is None:
                return
            if name not in right.columns or not left.key or not right.key:
                return
            conds.append(exp.EQ(this=exp.column(u.name, table=_visible(left)),
                                expression=exp.column(u.name, table=_visible(right))))
        for col, _, ref in analysis.refs:  # unqualified USING columns belong to the left table
            if not col.table and ref.owner is level and ref.source is not None and \
                    col.name.lower() in {u.name.lower() for u in using}:
                col.set("table", exp.to_identifier(_visible(ref.source)))
        join.set("using", None)
        join.set("on", exp.and_(*conds))


def _visible(source: _Source) -> str:
    """The name a source is referred by as the query is written now."""
    return source.node.alias_or_name


def _rename(
    tree: exp.Expr,
    analysis: _Analysis,
    catalog: _Catalog | None,
    dialect: str,
    backticked: frozenset[str],
) -> None:
    for col, level, ref in analysis.refs:  # correlation puts both scopes in multi-table style
        if ref.kind == "source" and ref.owner is not level and ref.owner is not None:
            level.multi = ref.owner.multi = True
    reserved = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for level in analysis.levels.values():
        if not level.renamable:
            reserved |= {k.lower() for k in level.scope.selected_sources}
    reserved |= {col.table.lower() for col, _, ref in analysis.refs if ref.kind != "source"}
    counter = 0
    for node in reading_order(tree):
        level = analysis.levels.get(id(node))
        if level is None or not level.renamable:
            continue
        for src in level.sources:
            if level.multi:
                counter += 1
                while f"t{counter}" in reserved:
                    counter += 1
                src.new = f"T{counter}"
            else:
                src.new = (src.node.alias or None) if src.kind == "derived" else None
    renamed = {src.key for lv in analysis.levels.values() if lv.renamable for src in lv.sources}
    handled = {id(col) for col, _, _ in analysis.refs}
    for col in tree.find_all(exp.Column):
        if id(col) not in handled and col.table.lower() in renamed:
            raise _Unsafe(col.sql())  # a reference the scope analysis did not see
    facts = dialect_profile(dialect)
    caseless = facts.caseless_names
    literal_ok = facts.double_quoted_strings and catalog is not None
    for col, level, ref in analysis.refs:
        if ref.kind == "none" and literal_ok and _double_quoted(col, backticked):
            col.replace(exp.Literal.string(col.name))
            continue
        if ref.kind != "source" or ref.owner is None or not ref.owner.renamable:
            continue
        src = ref.source
        assert src is not None
        if ref.owner.multi:
            col.set("table", exp.to_identifier(src.new or _visible(src)))
        elif col.name.lower() in level.aliases and not isinstance(col.this, exp.Star):
            col.set("table", exp.to_identifier(src.new or _spelled_table(src, catalog, caseless)))
        else:
            col.set("table", None)
        spelled = catalog.get(_table_key(src.node)) if catalog and src.kind == "table" else None
        if caseless and spelled and isinstance(col.this, exp.Identifier):
            col.this.set("this", spelled[1].get(col.name.lower(), col.name))
    for level in analysis.levels.values():
        if not level.renamable:
            continue
        for src in level.sources:
            alias = src.node.args.get("alias")
            if src.new is None:
                src.node.set("alias", None)
            elif isinstance(alias, exp.TableAlias):
                alias.set("this", exp.to_identifier(src.new))
            else:
                src.node.set("alias", exp.TableAlias(this=exp.to_identifier(src.new)))
            if src.kind == "table" and caseless:
                src.node.this.set("this", _spelled_table(src, catalog, caseless))


def _spelled_table(src: _Source, catalog: _Catalog | None, caseless: bool) -> str:
    known = catalog.get(_table_key(src.node)) if catalog and caseless else None
    return known[0] if known else src.node.name


def _double_quoted(col: exp.Column, backticked: frozenset[str]) -> bool:
    ident = col.this
    return (
        isinstance(ident, exp.Identifier)
        and ident.quoted
        and not col.table
        and ident.name.lower() not in backticked
    )


def _non_double_quoted_names(sql: str, dialect: str) -> frozenset[str]:
    """Names written in backticks or brackets: SQLite never reads those as strings."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except Exception:  # noqa: BLE001 - the parser already accepted it; be conservative
        return frozenset()
    return frozenset(
        t.text.lower()
        for t in tokens
        if t.token_type == TokenType.IDENTIFIER and sql[t.start : t.start + 1] != '"'
    )


def _unquote(tree: exp.Expr, dialect: str, analysis: _Analysis | None) -> None:
    """Drop quotes a name does not need.  Where double quotes may make a string (SQLite) an
    unresolved double-quoted column may be one, so it keeps its quotes."""
    resolved = (
        {id(col) for col, _, ref in analysis.refs if ref.kind in ("source", "alias")}
        if analysis is not None
        else set()
    )
    reserved = _reserved_words(dialect)
    facts = dialect_profile(dialect)
    caseless = facts.caseless_names
    for ident in tree.find_all(exp.Identifier):
        name = ident.name
        if not ident.quoted or not _SAFE_IDENT.match(name) or name.upper() in reserved:
            continue
        if not caseless and name != name.lower():
            continue
        parent = ident.parent
        if (
            facts.double_quoted_strings
            and isinstance(parent, exp.Column)
            and parent.this is ident
            and not parent.table
            and id(parent) not in resolved
        ):
            continue
        ident.set("quoted", False)


@functools.cache
def _reserved_words(dialect: str) -> frozenset[str]:
    d = Dialect.get_or_raise(dialect)
    words = {k.split()[0].upper() for k in d.tokenizer_class.KEYWORDS if k[:1].isalpha()}
    words |= {w.upper() for w in getattr(d.generator_class, "RESERVED_KEYWORDS", ())}
    return frozenset(words | _SQLITE_KEYWORDS)


# ----------------------------------------------------------------------------------------------
# printing


def _not_sql(self: Any, e: exp.Not) -> str:
    """``x NOT IN (...)``, ``x NOT BETWEEN a AND b``, ``x IS NOT NULL`` rather than ``NOT x ...``."""
    inner = e.this
    for kind, word in ((exp.In, " IN "), (exp.Between, " BETWEEN "), (exp.Is, " IS ")):
        if isinstance(inner, kind):
            left, full = self.sql(inner, "this"), self.sql(inner)
            if full.startswith(left + word):
                if kind is exp.Is:
                    return f"{left} IS NOT {full[len(left) + len(word):]}"
                return f"{left} NOT{full[len(left):]}"
    return self.not_sql(e)


@functools.cache
def _writer(dialect: str) -> Dialect:
    """``dialect`` with the Normalized SQL spellings: ``!=``, ``NOT IN``, ``EXISTS (...)``, and
    the engine's own function names (its profile's ``function_spellings``: SQLite's ``SUBSTR``)."""
    base = type(Dialect.get_or_raise(dialect))
    transforms = {
        **base.Generator.TRANSFORMS,
        exp.NEQ: lambda self, e: self.binary(e, "!="),
        exp.Not: _not_sql,
        exp.Exists: lambda self, e: f"EXISTS {self.wrap(e)}",
    }
    for node, name in dialect_profile(dialect).function_spellings.items():
        transforms[getattr(exp, node)] = rename_func(name)
    generator = type("Generator", (base.Generator,), {"TRANSFORMS": transforms})
    return type(f"XanderNormalized{base.__name__}", (base,), {"Generator": generator})()
