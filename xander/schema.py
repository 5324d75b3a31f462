"""The database schema as xander sees it: tables, columns, types, keys, sample values.

``Schema.from_engine`` introspects an engine once; the schema then gives the foreign-key graph
(networkx) and join paths, a compact prompt rendering (pruned to a character budget), and the
sqlglot ``MappingSchema`` used to qualify queries.

Several named schemas: when an engine serves more than one (PostgreSQL ``public`` and
``sales``, DuckDB schemas), every table is named ``schema.table`` and ``Table.db`` holds its
schema.  Look-ups take the qualified name, or a bare name that exactly one served schema has
(the engines put the served schemas on their search path, so such a name runs too); a bare
name several schemas have resolves to nothing (``tables_named`` lists them).  The prompt shows
``CREATE TABLE sales.orders``, the sqlglot mapping nests ``{schema: {table: {column: type}}}``,
and the foreign-key graph's nodes are the qualified names.  Schema names are told from table
names at the first dot, so a schema whose name has a dot is not supported.  With one schema,
names are bare and nothing differs from a database without schemas.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.schema import MappingSchema

from xander.engines import Engine, ForeignKey
from xander.engines.profile import dialect_profile
from xander.errors import QueryError, SchemaError

if TYPE_CHECKING:
    import networkx as nx

SAMPLE_ROWS_SCANNED = 50  # rows read per table to pick sample values (bounded cost per table)
MAX_SAMPLE_CHARS = 40  # longer sample values are cut in the prompt


@dataclass(frozen=True, slots=True)
class Column:
    """A column with its declared type and a few distinct sample values."""

    name: str
    type: str = ""
    samples: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A table with its columns, primary key, foreign keys and a few example rows."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    example_rows: tuple[tuple[Any, ...], ...] = ()
    hidden_columns: int = 0  # columns left out of a rendering that had to fit a budget
    db: str = ""
    """The schema the table lives in when several are served (``name`` is then ``db.table``);
    empty with one schema."""
    stored: bool = True
    """Rows stored where the engine's ``row_order`` column finds them (not a view)."""

    @property
    def bare_name(self) -> str:
        """The name without its schema: ``orders`` for ``sales.orders``."""
        return self.name[len(self.db) + 1:] if self.db else self.name

    @property
    def sql_name(self) -> str:
        """The name quoted for a query: ``"sales"."orders"``, or ``"orders"``."""
        return f"{_quote(self.db)}.{_quote(self.bare_name)}" if self.db else _quote(self.name)

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Schema:
    """All tables of one database, in the engine's dialect."""

    tables: tuple[Table, ...]
    dialect: str = "sqlite"
    home: str = ""
    """With several schemas, the one a bare table name means first (the schema a prompt showed
    without its name, ``part``); a bare name it lacks is looked up as without a home."""
    _index: dict[str, Table] = field(init=False, repr=False, compare=False)
    _bare: dict[str, tuple[Table, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t.name.lower(): t for t in self.tables})
        bare: dict[str, list[Table]] = {}
        for t in self.tables:
            if t.db:
                bare.setdefault(t.bare_name.lower(), []).append(t)
        object.__setattr__(self, "_bare", {k: tuple(v) for k, v in bare.items()})

    @classmethod
    def from_engine(cls, engine: Engine, samples: int = 3) -> Schema:
        """Introspect ``engine``; ``samples`` distinct values per column and example rows.

        Tables are taken as ``schema.table`` when the engine has named schemas and names every
        table with a dot (it serves several schemas).
        """
        infos = engine.tables()
        if not infos:
            raise SchemaError(f"the database {engine.path} has no tables", "is it the right file?")
        qualified = qualified_names(engine)
        tables = []
        for info in infos:
            db = info.name.split(".", 1)[0] if qualified else ""
            table = Table(info.name, tuple(Column(c.name, c.type) for c in info.columns),
                          info.primary_key, info.foreign_keys, db=db, stored=info.stored)
            rows: tuple[tuple[Any, ...], ...] = ()
            if samples:
                try:
                    rows = engine.execute(
                        f"SELECT * FROM {table.sql_name} LIMIT {SAMPLE_ROWS_SCANNED}",
                        timeout=5.0, max_rows=SAMPLE_ROWS_SCANNED,
                    ).rows
                except QueryError:
                    rows = ()
            columns = tuple(
                Column(c.name, c.type, _distinct(r[i] for r in rows if i < len(r))[:samples])
                for i, c in enumerate(info.columns)
            )
            tables.append(replace(table, columns=columns,
                                  example_rows=rows[:samples] if samples else ()))
        return cls(tuple(tables), engine.dialect)

    @classmethod
    def merged(cls, parts: Mapping[str, Schema], dialect: str | None = None) -> Schema:
        """One schema of several databases, each a named schema: ``{"sales": s, "hr": t}`` gives
        tables ``sales.orders``, ``hr.staff`` with their foreign keys renamed alike.

        >>> a = Schema((Table("t", (Column("id"),)),))
        >>> m = Schema.merged({"x": a, "y": a})
        >>> m.table_names, m.schemas, m.table("x.T").bare_name, m.table("t")
        (('x.t', 'y.t'), ('x', 'y'), 't', None)
        """
        tables = []
        for db, part in parts.items():
            for t in part.tables:
                fks = tuple(ForeignKey(f"{db}.{f.table}", f.columns, f"{db}.{f.ref_table}",
                                       f.ref_columns) for f in t.foreign_keys)
                tables.append(replace(t, name=f"{db}.{t.name}", foreign_keys=fks, db=db))
        first = next(iter(parts.values()), None)
        return cls(tuple(tables), dialect or (first.dialect if first else "sqlite"))

    # -- lookup ----------------------------------------------------------------------------------
    def table(self, name: str, db: str = "") -> Table | None:
        """The table called ``name`` (case-insensitive), or None.

        With several schemas, ``name`` is ``schema.table`` (or ``db`` gives the schema), or a
        bare name exactly one schema has.  With one schema, ``db`` is not looked at.

        >>> s = Schema.merged({"sales": Schema((Table("orders", ()), Table("items", ()))),
        ...                    "hr": Schema((Table("orders", ()),))})
        >>> s.table("Sales.Orders").name, s.table("orders", "hr").name, s.table("items").name
        ('sales.orders', 'hr.orders', 'sales.items')
        >>> s.table("orders") is None, [t.name for t in s.tables_named("orders")]
        (True, ['sales.orders', 'hr.orders'])
        """
        if db and self.qualified:
            return self._index.get(f"{db}.{name}".lower())
        found = self._index.get(name.lower())
        if found is not None or not self.qualified:
            return found
        if self.home and (homed := self._index.get(f"{self.home}.{name}".lower())) is not None:
            return homed
        same = self._bare.get(name.lower(), ())
        return same[0] if len(same) == 1 else None

    def table_of(self, node: exp.Table) -> Table | None:
        """The table a sqlglot ``Table`` node names (its ``db`` part read as the schema)."""
        return self.table(node.name, node.db)

    def tables_named(self, name: str) -> tuple[Table, ...]:
        """Every table whose name without its schema is ``name`` (case-insensitive)."""
        found = self._index.get(name.lower())
        if not self.qualified:
            return (found,) if found is not None else ()
        return self._bare.get(name.lower(), ())

    @cached_property
    def schemas(self) -> tuple[str, ...]:
        """The named schemas the tables live in, in order; () with one schema."""
        return tuple(dict.fromkeys(t.db for t in self.tables if t.db))

    @property
    def qualified(self) -> bool:
        """True when tables are named ``schema.table`` (several schemas)."""
        return bool(self.schemas)

    def table_node(self, table: Table, alias: str | None = None) -> exp.Table:
        """A sqlglot ``Table`` node naming ``table`` (``sales.orders``), aliased when given.

        >>> s = Schema.merged({"sales": Schema((Table("orders", ()),)), "hr": Schema(())})
        >>> s.table_node(s.tables[0], "T1").sql()
        'sales.orders AS T1'
        """
        node = exp.table_(_identifier(table.bare_name), db=_identifier(table.db) if table.db
                          else None)
        if alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return node

    def part(self, db: str) -> Schema:
        """The tables of the named schema ``db`` as a schema of their own: named without it
        (``orders``, not ``sales.orders``), with the foreign keys among them; how a prompt shows
        one schema of many (``xander.prompts``).  ``self`` with one schema.

        >>> s = Schema.merged({"sales": Schema((Table("orders", (Column("id"),)),)),
        ...                    "hr": Schema((Table("orders", ()),))})
        >>> s.part("Sales").table_names, s.part("Sales").qualified, s.part("nowhere").tables
        (('orders',), False, ())
        """
        if not self.qualified:
            return self
        low = db.lower()
        tables = []
        for t in self.tables:
            if t.db.lower() != low:
                continue
            fks = tuple(ForeignKey(f.table.split(".", 1)[-1], f.columns,
                                   f.ref_table.split(".", 1)[-1], f.ref_columns)
                        for f in t.foreign_keys if f.ref_table.lower().startswith(f"{low}."))
            tables.append(replace(t, name=t.bare_name, foreign_keys=fks, db=""))
        return Schema(tuple(tables), self.dialect)

    def homed(self, db: str) -> Schema:
        """The schema with ``home`` set to ``db`` (bare table names mean ``db``'s first)."""
        return self if db == self.home else replace(self, home=db)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def tables_with_column(self, column: str) -> tuple[Table, ...]:
        """Tables that have a column called ``column`` (case-insensitive)."""
        return tuple(t for t in self.tables if t.column(column) is not None)

    @cached_property
    def all_column_names(self) -> frozenset[str]:
        """Lower-cased names of every column of every table."""
        return frozenset(c.name.lower() for t in self.tables for c in t.columns)

    # -- foreign-key graph -----------------------------------------------------------------------
    @cached_property
    def graph(self) -> nx.MultiGraph:
        """Undirected multigraph: a node per table (lower-case), an edge per foreign key."""
        import networkx as nx  # here, not at import: it costs a fresh process 0.15-0.25 s

        g = nx.MultiGraph()
        g.add_nodes_from(t.name.lower() for t in self.tables)
        for t in self.tables:
            for fk in t.foreign_keys:
                g.add_edge(fk.table.lower(), fk.ref_table.lower(), fk=fk)
        return g

    def join_path(self, source: str, target: str) -> list[ForeignKey]:
        """Foreign keys along a shortest path from table ``source`` to ``target`` ([] if none);
        either name as ``table`` looks it up.

        >>> from xander.engines import ForeignKey
        >>> s = Schema((Table("a", (Column("id"),)), Table("b", (Column("a_id"),),
        ...     foreign_keys=(ForeignKey("b", ("a_id",), "a", ("id",)),))))
        >>> [f.ref_table for f in s.join_path("a", "b")]
        ['a']
        >>> [f.ref_table for f in Schema.merged({"x": s, "y": s}).join_path("x.a", "x.b")]
        ['x.a']
        """
        ta, tb = self.table(source), self.table(target)
        a = ta.name.lower() if ta is not None else source.lower()
        b = tb.name.lower() if tb is not None else target.lower()
        if a not in self.graph or b not in self.graph:
            return []
        import networkx as nx

        try:
            nodes = nx.shortest_path(self.graph, a, b)
        except nx.NetworkXNoPath:
            return []
        return [next(iter(self.graph.get_edge_data(u, v).values()))["fk"]
                for u, v in itertools.pairwise(nodes)]

    # -- sqlglot ---------------------------------------------------------------------------------
    @cached_property
    def mapping(self) -> dict[str, Any]:
        """``{table: {column: type}}`` with the original spelling; with several schemas
        ``{schema: {table: {column: type}}}``."""
        if self.qualified:
            nested: dict[str, dict[str, dict[str, str]]] = {}
            for t in self.tables:
                nested.setdefault(t.db, {})[t.bare_name] = {
                    c.name: (c.type or "TEXT") for c in t.columns}
            return nested
        return {t.name: {c.name: (c.type or "TEXT") for c in t.columns} for t in self.tables}

    def mapping_schema(self) -> MappingSchema:
        """A sqlglot ``MappingSchema`` for qualifying queries against this database."""
        return MappingSchema(self.mapping, dialect=self.dialect)

    # -- prompt rendering ------------------------------------------------------------------------
    def with_example_rows(self, n: int) -> Schema:
        """The schema with at most ``n`` example rows per table (what the prompt shows; the
        columns' sample values stay).

        >>> s = Schema((Table("t", (Column("a"),), example_rows=((1,), (2,), (3,))),))
        >>> [len(t.example_rows) for t in (s.with_example_rows(1).tables[0], s.tables[0])]
        [1, 3]
        """
        if all(len(t.example_rows) <= n for t in self.tables):
            return self
        return replace(self, tables=tuple(replace(t, example_rows=t.example_rows[:max(n, 0)])
                                          for t in self.tables))

    def _case_twins(self) -> bool:
        """Whether two tables, or two columns of a table, have names equal but for case."""
        return _twins(t.name for t in self.tables) or any(
            _twins(c.name for c in t.columns) for t in self.tables)

    def render(
        self,
        *,
        question: str = "",
        max_chars: int = 12_000,
        example_rows: bool = True,
        tables: Sequence[str] | None = None,
    ) -> str:
        """CREATE TABLE statements with keys, plus example rows, within ``max_chars``.

        When the whole schema does not fit, example rows go first, then the tables that share
        the fewest words with ``question`` (tables they reference by foreign key are kept).
        """
        # Where unquoted names fold (PostgreSQL), the model still sees names as written: the
        # search spells its unquoted names as the schema has them (``linking.spelled``), and a
        # prompt of quoted names cost answers (Spider dev on PostgreSQL with its own names, the
        # first 176 questions: EX 0.443 quoted, against 0.602 on SQLite's unquoted prompt).  Only
        # a schema with two names equal but for case shows capitals quoted, to tell them apart.
        folds = not dialect_profile(self.dialect).caseless_names and self._case_twins()
        chosen = [t for t in self.tables if tables is None or t.name in tables]
        text = "\n\n".join(_render_table(t, example_rows, folds) for t in chosen)
        if len(text) <= max_chars:
            return text
        text = "\n\n".join(_render_table(t, False, folds) for t in chosen)
        if len(text) <= max_chars:
            return text
        ranked = sorted(chosen, key=lambda t: -_relevance(t, question))
        kept: list[Table] = []
        size = 0
        for t in ranked:
            block = len(_render_table(t, False, folds)) + 2
            if block > max_chars // 2:  # a very wide table: keep keys and question columns
                t = _narrow(t, question, max_chars // 2)
                block = len(_render_table(t, False, folds)) + 2
            if size + block > max_chars:
                continue
            kept.append(t)
            size += block
        if not kept:
            raise SchemaError(
                "no table of the schema fits in the prompt budget",
                "raise max_schema_chars in the config",
            )
        order = {t.name: i for i, t in enumerate(self.tables)}
        kept.sort(key=lambda t: order[t.name])
        return "\n\n".join(_render_table(t, False, folds) for t in kept)


def _twins(names: Iterable[str]) -> bool:
    """Whether two of ``names`` are equal ignoring case."""
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            return True
        seen.add(n.lower())
    return False


def qualified_names(engine: Engine) -> bool:
    """Whether ``engine`` names its tables ``schema.table``: it has named schemas and serves
    several (every name it gives then has a dot)."""
    infos = engine.tables()
    return engine.profile.named_schemas and bool(infos) and all("." in i.name for i in infos)


def table_expr(name: str, qualified: bool) -> exp.Table:
    """A sqlglot ``Table`` for a table name as an engine gives it, every part quoted:
    ``"sales"."orders"`` when ``qualified``, else the whole name as one identifier.

    >>> table_expr("sales.orders", True).sql("duckdb"), table_expr("a.b", False).sql("sqlite")
    ('"sales"."orders"', '"a.b"')
    """
    if qualified and "." in name:
        db, bare = name.split(".", 1)
        return exp.table_(exp.to_identifier(bare, quoted=True),
                          db=exp.to_identifier(db, quoted=True))
    return exp.table_(exp.to_identifier(name, quoted=True))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ident(name: str, folds: bool = False) -> str:
    """``name`` for the prompt, quoted only where it must be: where it is no plain word, and
    where unquoted names fold to lower case (``folds``: PostgreSQL) where it has a capital.

    >>> _ident("Singer_ID"), _ident("Singer_ID", folds=True), _ident("song name", folds=True)
    ('Singer_ID', '"Singer_ID"', '"song name"')
    """
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and not (folds and name != name.lower())
    return name if plain else _quote(name)


def _shown(name: str, folds: bool) -> str:
    """``name`` in an example-row comment: as it is, or quoted where ``folds`` and it has a
    capital (as a query must write it)."""
    return _quote(name) if folds and name != name.lower() else name


def _identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))


def _table_ident(name: str, qualified: bool, folds: bool = False) -> str:
    """A table name for the prompt: ``sales.orders`` split at its schema's dot when
    ``qualified``, each part quoted only where it must be (``_ident``)."""
    if qualified and "." in name:
        db, bare = name.split(".", 1)
        return f"{_ident(db, folds)}.{_ident(bare, folds)}"
    return _ident(name, folds)


def _distinct(values: Iterable[Any]) -> tuple[Any, ...]:
    seen: dict[Any, None] = {}
    for v in values:
        if v is None or isinstance(v, (bytes, bytearray, memoryview)):
            continue
        if isinstance(v, str) and not v.strip():
            continue
        seen.setdefault(v, None)
    return tuple(seen)


def _value(v: Any) -> str:
    if isinstance(v, str):
        v = v if len(v) <= MAX_SAMPLE_CHARS else v[:MAX_SAMPLE_CHARS] + "..."
        return "'" + v.replace("'", "''").replace("\n", " ") + "'"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "<blob>"
    return "NULL" if v is None else str(v)


def _render_table(t: Table, example_rows: bool, folds: bool = False) -> str:
    """``CREATE TABLE`` of ``t``; ``folds``: the engine folds unquoted names to lower case, so
    a name with a capital is shown quoted, as a query must write it.

    >>> print(_render_table(Table("Singer", (Column("Singer_ID", "INT"), Column("name")),
    ...                           ("Singer_ID",)), False, folds=True))
    CREATE TABLE "Singer" (
      "Singer_ID" INT PRIMARY KEY,
      name TEXT
    );
    """
    lines = []
    for c in t.columns:
        line = f"  {_ident(c.name, folds)} {c.type or 'TEXT'}".rstrip()
        if len(t.primary_key) == 1 and c.name == t.primary_key[0]:
            line += " PRIMARY KEY"
        lines.append(line)
    if len(t.primary_key) > 1:
        lines.append(f"  PRIMARY KEY ({', '.join(_ident(k, folds) for k in t.primary_key)})")
    for fk in t.foreign_keys:
        lines.append(
            f"  FOREIGN KEY ({', '.join(_ident(c, folds) for c in fk.columns)}) REFERENCES "
            f"{_table_ident(fk.ref_table, bool(t.db), folds)}"
            f"({', '.join(_ident(c, folds) for c in fk.ref_columns)})"
        )
    if t.hidden_columns:
        lines.append(f"  -- {t.hidden_columns} more columns not shown")
    text = (f"CREATE TABLE {_table_ident(t.name, bool(t.db), folds)} (\n" + ",\n".join(lines)
            + "\n);")
    if example_rows and t.example_rows:
        header = " | ".join(_shown(c.name, folds) for c in t.columns)
        rows = "\n".join(" | ".join(_value(v) for v in r) for r in t.example_rows)
        name = (_table_ident(t.name, bool(t.db), folds) if folds and t.name != t.name.lower()
                else t.name)
        text += f"\n/* {len(t.example_rows)} example rows from {name}:\n{header}\n{rows}\n*/"
    return text


def _narrow(t: Table, question: str, max_chars: int) -> Table:
    """``t`` with only its key columns, the columns the question names, then the first others,
    as many as fit in ``max_chars``; a comment says how many were left out."""
    q = _words(question)
    keys = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns}
    ranked = sorted(t.columns, key=lambda c: (
        c.name not in keys, not (_words(c.name.replace("_", " ")) & q), t.columns.index(c)))
    kept: list[Column] = []
    size = len(t.name) + 40
    for c in ranked:
        size += len(c.name) + len(c.type) + 6
        if size > max_chars - 60:
            break
        kept.append(c)
    order = {c.name: i for i, c in enumerate(t.columns)}
    kept.sort(key=lambda c: order[c.name])
    names = {c.name for c in kept}
    fks = tuple(fk for fk in t.foreign_keys if set(fk.columns) <= names)
    pk = t.primary_key if set(t.primary_key) <= names else ()
    return Table(t.name, tuple(kept), pk, fks, (), len(t.columns) - len(kept), t.db)


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}


def _relevance(t: Table, question: str) -> int:
    q = _words(question)
    names = _words(t.name.replace("_", " ")) | {
        w for c in t.columns for w in _words(c.name.replace("_", " "))
    }
    stems = {w.rstrip("s") for w in q}
    return 3 * len(_words(t.name) & (q | stems)) + len(names & (q | stems))
