"""Schema linking on sqlglot trees: which identifiers of a query do not exist where they are used.

``link(expr, schema)`` walks every scope of a query (sqlglot's scope analysis: subqueries, CTEs,
derived tables, correlated references) and returns one ``LinkProblem`` per table, alias or column
that does not resolve.  Checkers turn problems into diagnostics; ``repair`` fixes them.

``final=False`` is for prefixes whose FROM clause may still grow: a qualifier that names no table
yet, or an unqualified column no current table has, may still be introduced by a later JOIN.

With several named schemas (``Schema.qualified``), ``FROM sales.orders AS o`` resolves, and so
does a bare ``FROM orders`` when exactly one schema has ``orders`` (the engines search the
served schemas, so it runs); a bare name several schemas have, or a schema that lacks the
table, is an ``unknown-table`` whose message names the tables it could mean.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.engines.profile import dialect_profile
from xander.schema import Schema


@dataclass(frozen=True, slots=True)
class LinkProblem:
    """An identifier that does not resolve.  ``node`` is the offending sqlglot node."""

    kind: str  # "unknown-table" | "unknown-column" | "unknown-alias" | "duplicate-alias" |
    # "ambiguous-case" (an unquoted name that folds to no name but reaches several ignoring case)
    name: str  # the table, alias or column name
    qualifier: str = ""  # the alias a column was qualified with
    table: str = ""  # the table that qualifier points to, when known
    node: exp.Expression | None = None
    hint: str = ""  # what the name may have meant (an unknown table of several schemas)

    def message(self) -> str:
        if self.kind == "ambiguous-case":
            return (f"{self.name} reads as {folded(self.name)}, which the schema lacks; it has "
                    f"{self.hint}: quote the one meant")
        if self.kind == "unknown-table":
            return f"no table named {self.name!r}" + (f" ({self.hint})" if self.hint else "")
        if self.kind == "duplicate-alias":
            return f"the alias {self.name!r} names two tables"
        if self.kind == "unknown-alias":
            return f"{self.qualifier}.{self.name}: no table or alias {self.qualifier!r} in scope"
        if self.qualifier:
            where = f"table {self.table!r}" if self.table else f"{self.qualifier!r}"
            return f"{self.qualifier}.{self.name}: {where} has no column {self.name!r}"
        return f"no table in scope has a column {self.name!r}"


def string_literals_for_unknown_quoted(expr: exp.Expression, schema: Schema) -> exp.Expression:
    """SQLite reads ``"France"`` as a string when no column has that name: do the same.

    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("t", (Column("name"),)),))
    >>> e = sqlglot.parse_one('SELECT "name" FROM t WHERE name = "Bob"', read="sqlite")
    >>> string_literals_for_unknown_quoted(e, s).sql("sqlite")
    'SELECT "name" FROM t WHERE name = \\'Bob\\''
    """
    if not dialect_profile(schema.dialect).double_quoted_strings:
        return expr
    names = schema.all_column_names | {
        a.alias.lower() for a in expr.find_all(exp.Alias) if a.alias
    }
    for col in list(expr.find_all(exp.Column)):
        ident = col.this
        if (
            not col.table
            and isinstance(ident, exp.Identifier)
            and ident.quoted
            and ident.name.lower() not in names
        ):
            col.replace(exp.Literal.string(ident.name))
    return expr


def unknown_table(table: exp.Table, schema: Schema) -> LinkProblem:
    """The problem of a table node that names no table, with the tables it may have meant.

    >>> from xander.schema import Table
    >>> s = Schema.merged({"sales": Schema((Table("orders", ()),)),
    ...                    "hr": Schema((Table("orders", ()),))})
    >>> unknown_table(exp.to_table("orders"), s).message()
    "no table named 'orders' (several schemas have it: sales.orders, hr.orders)"
    >>> unknown_table(exp.to_table("shop.orders"), s).message()
    "no table named 'shop.orders' (no schema shop; the schemas are sales, hr)"
    """
    name = f"{table.db}.{table.name}" if table.db else table.name
    same = schema.tables_named(table.name)
    hint = ""
    if schema.qualified:
        if not table.db and same:
            hint = "several schemas have it: " + ", ".join(t.name for t in same)
        elif table.db and table.db.lower() not in {d.lower() for d in schema.schemas}:
            hint = f"no schema {table.db}; the schemas are {', '.join(schema.schemas)}"
        elif same:
            hint = "it is " + " or ".join(t.name for t in same)
    return LinkProblem("unknown-table", name, node=table, hint=hint)


def _outputs(query: exp.Expression) -> list[exp.Expression] | None:
    """The output expressions of ``query`` (of a set operation: its first SELECT's); None when
    it is no SELECT or selects ``*``, so its column names are not known."""
    while isinstance(query, exp.SetOperation):
        query = query.left
    if not isinstance(query, exp.Select):
        return None
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for e in query.expressions):
        return None
    return list(query.expressions)


def _output_names(scope: Scope) -> set[str] | None:
    """Column names a derived table / CTE exposes; None when it selects ``*``."""
    outputs = _outputs(scope.expression)
    if outputs is None:
        return None
    return {e.alias_or_name.lower() for e in outputs if e.alias_or_name}


def _select_aliases(scope: Scope) -> set[str]:
    select = scope.expression
    if isinstance(select, exp.Select):
        return {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
    return set()


def _has_column(source: object, column: str, schema: Schema) -> bool | None:
    """Does ``source`` (a Table or a Scope) have ``column``?  None when it cannot be known."""
    if isinstance(source, exp.Table):
        table = schema.table_of(source)
        if table is None:
            return None
        # the engine's stored-order column (PostgreSQL's ctid; ``xander.ties``)
        row_order = dialect_profile(schema.dialect).row_order
        return table.column(column) is not None or (
            table.stored and row_order is not None and column.lower() == row_order)
    if isinstance(source, Scope):
        names = _output_names(source)
        return None if names is None else column.lower() in names
    return None


def _sources(scope: Scope | None) -> list[tuple[str, object]]:
    out = []
    while scope is not None:
        out.extend((k.lower(), v) for k, v in scope.selected_sources.items())
        scope = scope.parent
    return out


def link(expr: exp.Expression, schema: Schema, *, final: bool = True) -> list[LinkProblem]:
    """Every table, alias and column of ``expr`` that does not resolve against ``schema``."""
    problems: list[LinkProblem] = []
    try:
        scopes = traverse_scope(expr)
    except (OptimizeError, RecursionError, ValueError):
        return problems
    cte_names = {c.alias_or_name.lower() for c in expr.find_all(exp.CTE)}
    for table in expr.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in cte_names):
            continue
        if isinstance(table.this, exp.Identifier) and schema.table_of(table) is None:
            problems.append(unknown_table(table, schema))
    seen: set[int] = set()
    for scope in scopes:
        try:
            sources = [(alias, pair[1] if isinstance(pair, tuple) else pair)
                       for alias, pair in _sources(scope)]
        except OptimizeError as exc:  # e.g. "Alias already used: s"
            name = str(exc).rsplit(":", 1)[-1].strip()
            problems.append(LinkProblem("duplicate-alias", name, name))
            continue
        by_alias: dict[str, object] = {}
        for alias, src in sources:
            by_alias.setdefault(alias, src)
        aliases = _select_aliases(scope)
        for col in scope.columns:
            if id(col) in seen or isinstance(col.this, exp.Star):
                continue
            seen.add(id(col))
            name = col.name
            if col.table:
                q = col.table
                src = by_alias.get(q.lower())
                if src is None:
                    if final:
                        problems.append(LinkProblem("unknown-alias", name, q, node=col))
                    continue
                if _has_column(src, name, schema) is False:
                    found = schema.table_of(src) if isinstance(src, exp.Table) else None
                    tname = "" if not isinstance(src, exp.Table) else (
                        found.name if found is not None and schema.qualified else src.name)
                    problems.append(LinkProblem("unknown-column", name, q, tname, node=col))
                continue
            if name.lower() in aliases:
                continue
            known = [_has_column(src, name, schema) for _, src in sources]
            if any(k is not False for k in known):
                continue
            if final:
                problems.append(LinkProblem("unknown-column", name, node=col))
    if folds_names(schema):
        problems += [LinkProblem("ambiguous-case", a.written, a.qualifier, node=a.node,
                                 hint=" and ".join(f'"{o}"' for o in a.options))
                     for a in _Speller(schema).run(expr).ambiguous if final or a.sure]
    return problems


def parse(sql: str, dialect: str) -> exp.Expression | None:
    """Parse one statement, or None."""
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, RecursionError, ValueError):
        return None
    return trees[0] if len(trees) == 1 else None


# -- names as the schema spells them, where unquoted names fold (PostgreSQL) --------------------
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def folded(name: str) -> str:
    """``name`` as PostgreSQL reads it unquoted: its ASCII letters in lower case.

    >>> folded("Singer_ID"), folded("Ärger")
    ('singer_id', 'Ärger')
    """
    return name.translate(_ASCII_LOWER)


def _schema_names(schema: Schema) -> Iterable[str]:
    yield from schema.schemas
    for t in schema.tables:
        yield t.bare_name
        yield from (c.name for c in t.columns)


def folds_names(schema: Schema) -> bool:
    """Whether spelling can change a query on ``schema``: its engine folds unquoted names to
    lower case (``caseless_names`` is False) and some name of it is not its own fold.

    >>> from xander.schema import Column, Table
    >>> t = Table("Singer", (Column("Name"),))
    >>> folds_names(Schema((t,), "postgres")), folds_names(Schema((t,), "sqlite"))
    (True, False)
    >>> folds_names(Schema((Table("singer", (Column("name"),)),), "postgres"))
    False
    """
    if dialect_profile(schema.dialect).caseless_names:
        return False
    return any(folded(n) != n for n in _schema_names(schema))


@dataclass(frozen=True, slots=True)
class _Ambiguous:
    """An unquoted name that folds to no name but reaches several ignoring case."""

    node: exp.Expression
    written: str
    options: tuple[str, ...]
    qualifier: str = ""
    sure: bool = True  # False: a later JOIN may still bring the folded name (a bare column)


def _choice(ident: object, names: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """How an identifier meets ``names`` (exact spellings): ``(spelling, ())`` when it is
    unquoted, folds to none of them and equals one ignoring case; ``(None, options)`` when it
    equals several; ``(None, ())`` when it stays as written.

    >>> _choice(exp.to_identifier("Name"), ["Name", "age"]), _choice(exp.to_identifier("Name"),
    ...     ["name", "Name"]), _choice(exp.to_identifier("x"), ["X", "x "])
    (('Name', ()), (None, ()), ('X', ()))
    >>> _choice(exp.to_identifier("name"), ["Name", "NAME"])
    (None, ('NAME', 'Name'))
    """
    if not isinstance(ident, exp.Identifier) or ident.quoted or not ident.name:
        return None, ()
    pool = set(names)
    if folded(ident.name) in pool:
        return None, ()
    low = ident.name.lower()
    same = tuple(sorted(n for n in pool if n.lower() == low))
    return (same[0], ()) if len(same) == 1 else (None, same)


@dataclass(slots=True)
class _Speller:
    """Which identifiers of a query to write as the schema spells them (``run``), and which
    stay ambiguous; nothing in the tree changes until ``apply``."""

    schema: Schema
    new: dict[int, tuple[exp.Identifier, str]] = field(default_factory=dict)
    ambiguous: list[_Ambiguous] = field(default_factory=list)

    def read_as(self, ident: exp.Identifier) -> str:
        """The name PostgreSQL reads ``ident`` as, once respelled."""
        if id(ident) in self.new:
            return self.new[id(ident)][1]
        return ident.name if ident.quoted else folded(ident.name)

    def decide(self, ident: object, names: Iterable[str], node: exp.Expression,
               qualifier: str = "", sure: bool = True) -> bool:
        """Respell ``ident`` or note it ambiguous; True when it was decided (not left to an
        enclosing scope)."""
        if not isinstance(ident, exp.Identifier):
            return True
        pool = set(names)
        if ident.quoted or folded(ident.name) in pool:
            return True
        spelling, options = _choice(ident, pool)
        if spelling is not None:
            self.new[id(ident)] = (ident, spelling)
        elif options:
            self.ambiguous.append(_Ambiguous(node, ident.name, options, qualifier, sure))
        return spelling is not None or bool(options)

    def run(self, expr: exp.Expression) -> _Speller:
        self._tables(expr)
        try:
            scopes = traverse_scope(expr)
        except (OptimizeError, RecursionError, ValueError):
            return self
        seen: set[int] = set()
        for scope in scopes:  # inner scopes first: a derived table's names are known outside
            try:
                levels = self._levels(scope)
            except OptimizeError:
                continue
            self._using(scope, levels[0] if levels else [])
            aliases = _select_aliases(scope)
            # every column written in the scope: scope.columns leaves out t.* and an ORDER BY
            # name it takes for an output column (ORDER BY age after SELECT age)
            for col in scope.find_all(exp.Column):
                if id(col) in seen or col.args.get("db") or col.args.get("catalog"):
                    continue
                seen.add(id(col))
                if col.table:
                    self._qualified(col, levels)
                elif not isinstance(col.this, exp.Star) and col.name.lower() not in aliases:
                    self._bare(col, levels)
        return self

    def apply(self) -> int:
        """Write the decided spellings into the tree (quoted); how many."""
        for ident, spelling in self.new.values():
            ident.set("this", spelling)
            ident.set("quoted", True)  # it has a capital letter: bare, it would fold
        return len(self.new)

    # -- tables and schemas ----------------------------------------------------------------------
    def _tables(self, expr: exp.Expression) -> None:
        schema = self.schema
        ctes = {c.alias_or_name.lower() for c in expr.find_all(exp.CTE)}
        for table in expr.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier) or not table.name:
                continue
            if not table.db and table.name.lower() in ctes:
                continue
            pool = list(schema.tables)
            db = table.args.get("db")
            if schema.qualified and isinstance(db, exp.Identifier):
                self.decide(db, schema.schemas, table)
                pool = [t for t in pool if t.db == self.read_as(db)]
            self.decide(table.this, [t.bare_name for t in pool], table)

    # -- columns ---------------------------------------------------------------------------------
    def _levels(self, scope: Scope) -> list[list[tuple[str, object, object]]]:
        """The sources of ``scope`` and of each enclosing scope: (name, node, source)."""
        out = []
        s: Scope | None = scope
        while s is not None:
            out.append([(k, pair[0], pair[1]) if isinstance(pair, tuple) else (k, pair, pair)
                        for k, pair in s.selected_sources.items()])
            s = s.parent
        return out

    def _names(self, node: object, source: object) -> set[str] | None:
        """The column names (as PostgreSQL knows them) a source has; None: not known."""
        if isinstance(source, exp.Table):
            table = self.schema.table_of(source)
            return None if table is None else {c.name for c in table.columns}
        if not isinstance(source, Scope):
            return None
        for holder in (node, source.expression.parent):
            alias = holder.args.get("alias") if isinstance(holder, exp.Expression) else None
            if isinstance(alias, exp.TableAlias) and alias.columns:
                return {self.read_as(c) for c in alias.columns if isinstance(c, exp.Identifier)}
        outputs = _outputs(source.expression)
        if outputs is None:
            return None
        names = set()
        for p in outputs:
            ident = p.args.get("alias") if isinstance(p, exp.Alias) else (
                p.this if isinstance(p, exp.Column) else None)
            if isinstance(ident, exp.Identifier):
                names.add(self.read_as(ident))
        return names

    def _bare(self, col: exp.Column, levels: list[list[tuple[str, object, object]]]) -> None:
        for level in levels:  # the query's own tables first, then the enclosing queries'
            found = [self._names(n, s) for _, n, s in level]
            if any(f is None for f in found):
                return  # a source whose names are not known may have it as written
            names = set().union(*found)  # type: ignore[arg-type]
            if self.decide(col.this, names, col, sure=False):
                return

    def _qualified(self, col: exp.Column, levels: list[list[tuple[str, object, object]]]
                   ) -> None:
        q = col.table.lower()
        for level in levels:
            for key, node, source in level:
                if key.lower() != q:
                    continue
                if isinstance(source, exp.Table) and not source.alias:
                    # qualified by the table's own name: spelled as the table is
                    self.decide(col.args.get("table"), [self.read_as(source.this)], col)
                names = self._names(node, source)
                if names is not None and not isinstance(col.this, exp.Star):
                    self.decide(col.this, names, col, qualifier=col.table)
                return

    def _using(self, scope: Scope, level: list[tuple[str, object, object]]) -> None:
        select = scope.expression
        joins = (select.args.get("joins") or []) if isinstance(select, exp.Select) else []
        using = [u for j in joins for u in j.args.get("using") or []]
        if not using:
            return
        found = [self._names(n, s) for _, n, s in level]
        if any(f is None for f in found):
            return
        names = set().union(*found)  # type: ignore[arg-type]
        for u in using:
            self.decide(u.this if isinstance(u, exp.Column) else u, names, u)


def spell_as_schema(expr: exp.Expression, schema: Schema) -> exp.Expression:
    """``expr`` (changed in place) with its unquoted names that PostgreSQL would not find
    written as the schema spells them, quoted; see the module docstring.

    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("Singer", (Column("Singer_ID"), Column("Name"))),), "postgres")
    >>> e = parse("SELECT s.Name, count(*) AS n FROM Singer AS s GROUP BY s.Name ORDER BY n",
    ...           "postgres")
    >>> spell_as_schema(e, s).sql("postgres")
    'SELECT s."Name", COUNT(*) AS n FROM "Singer" AS s GROUP BY s."Name" ORDER BY n'
    """
    if folds_names(schema):
        _Speller(schema).run(expr).apply()
    return expr


def transpiled(sql: str, written_in: str, schema: Schema) -> str:
    """``sql``, written in the dialect ``written_in`` (what the prompt asked the model for,
    ``[lm] prompt_dialect``), in the schema's dialect as sqlglot transpiles it; ``sql`` itself,
    the same text, when the two dialects write it alike, are the same, or it does not parse
    (the checkers then say why).

    >>> s = Schema((), "postgres")
    >>> print(transpiled("SELECT strftime('%Y', d), IFNULL(n, 0) FROM t ORDER BY n DESC",
    ...                  "sqlite", s))  # SQLite's NULLs sort last under DESC, PostgreSQL's first
    SELECT TO_CHAR(CAST(d AS TIMESTAMP), 'YYYY'), COALESCE(n, 0) FROM t ORDER BY n DESC NULLS LAST
    >>> transpiled("SELECT 1", "", s), transpiled("select  a FROM t", "sqlite", s)
    ('SELECT 1', 'select  a FROM t')
    """
    if not sql or not written_in or written_in == schema.dialect:
        return sql
    tree = parse(sql, written_in)
    if tree is None:
        return sql
    try:
        as_written = tree.sql(dialect=written_in)
        out = as_dialect(tree, written_in, schema.dialect)
        return sql if out == as_written else out
    except (sqlglot.errors.SqlglotError, ValueError):  # a construct the target cannot write
        return sql


def as_dialect(tree: exp.Expression, written_in: str, dialect: str) -> str:
    """``tree``, parsed from ``written_in``, printed in ``dialect`` meaning what it meant there:
    sqlglot's transpilation, and a ``LIKE`` that ignored case (``EngineProfile.caseless_like``,
    SQLite's) as ``ILIKE`` where ``dialect``'s ``LIKE`` does not.  Changes ``tree`` in place.

    >>> print(as_dialect(parse("SELECT a FROM t WHERE a LIKE '%x%'", "sqlite"), "sqlite",
    ...                  "postgres"))
    SELECT a FROM t WHERE a ILIKE '%x%'
    >>> print(as_dialect(parse("SELECT a FROM t WHERE a NOT LIKE 'X%'", "postgres"), "postgres",
    ...                  "sqlite"))
    SELECT a FROM t WHERE a NOT LIKE 'X%'
    """
    if dialect_profile(written_in).caseless_like and not dialect_profile(dialect).caseless_like:
        for like in list(tree.find_all(exp.Like)):
            like.replace(exp.ILike(this=like.this, expression=like.expression))
    return tree.sql(dialect=dialect)


def requalified(sql: str, schema: Schema) -> str:
    """``sql`` with each table it names without a schema named in the one that ``Schema.table``
    finds it in (the schema's ``home`` first, where a prompt showed it bare): what the engine
    must run when several schemas have that name.  ``sql`` itself, the same text, when no name
    changes (always without a ``home``) or it does not parse.

    >>> from xander.schema import Column, Table
    >>> one = Schema((Table("singer", (Column("name"),)), Table("song", (Column("title"),))))
    >>> s = Schema.merged({"music": one, "pop": one}).homed("pop")
    >>> requalified("WITH t AS (SELECT * FROM song) SELECT singer.name FROM singer, t", s)
    'WITH t AS (SELECT * FROM pop.song) SELECT singer.name FROM pop.singer CROSS JOIN t'
    >>> requalified("SELECT 1 FROM music.singer", s), requalified("SELECT 1 FROM song", s.homed(""))
    ('SELECT 1 FROM music.singer', 'SELECT 1 FROM song')
    """
    if not sql or not schema.home:
        return sql
    tree = parse(sql, schema.dialect)
    if tree is None:
        return sql
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    changed = False
    for node in tree.find_all(exp.Table):
        if node.db or not isinstance(node.this, exp.Identifier) or node.name.lower() in ctes:
            continue
        table = schema.table(node.name)
        if table is not None and table.db:
            node.set("db", exp.to_identifier(table.db))
            changed = True
    return tree.sql(dialect=schema.dialect) if changed else sql


def spelled(sql: str, schema: Schema) -> str:
    """``sql`` with its names spelled as the schema has them (``spell_as_schema``), printed in
    the schema's dialect; ``sql`` itself, the same text, when no name changes (always on
    SQLite and DuckDB, and on a schema whose names are all lower case).

    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("Singer", (Column("Singer_ID"), Column("Name"))),), "postgres")
    >>> spelled("SELECT Name FROM Singer WHERE Singer_ID = 1", s)
    'SELECT "Name" FROM "Singer" WHERE "Singer_ID" = 1'
    >>> spelled("select  name from singer", Schema(s.tables, "sqlite"))
    'select  name from singer'
    """
    if not sql or not folds_names(schema):
        return sql
    tree = parse(sql, schema.dialect)
    if tree is None:
        return sql
    if not _Speller(schema).run(tree).apply():
        return sql
    return tree.sql(dialect=schema.dialect)
