"""Load Spider's SQLite databases into PostgreSQL, and check that the gold SQL still agrees.

    python benchmarks/pg_load.py --url postgresql://postgres:pw@127.0.0.1:5432/postgres \\
        --db concert_singer --db pets_1            # or --all-dev (the 20 dev databases)
    python benchmarks/pg_load.py --url ... --all-dev --check-gold --json pg_gold.json
    python benchmarks/pg_load.py --url ... --all-dev --check-gold --keep-case
    python benchmarks/pg_load.py --url ... --all-dev --keep-case --declared-types \
        --catalog spider_dev                 # one database, one schema per Spider database

Choices (docs/postgres.md says why):

- one PostgreSQL database per Spider database, named as its ``db_id`` in lower case, so the gold
  SQL stays unqualified; ``--url`` names any database of the server (a login that may
  ``CREATE DATABASE``); an existing database of that name is dropped and made again;
- names in lower case (what PostgreSQL folds unquoted names to: ``Singer_ID`` in a query finds
  ``singer_id``), always written quoted when created; two names that differ only in case get a
  ``_2`` suffix (reported).  ``--keep-case`` keeps SQLite's names as they are (quoted:
  ``"Singer_ID"``), in databases named ``<db_id in lower case>_keepcase`` so that both loads
  live on one server (the runner's ``--target 'postgresql://.../{db_id_lower}_keepcase'``);
- types: sqlglot reads the declared SQLite type; integer types become ``BIGINT``, real and
  numeric ones ``DOUBLE PRECISION`` (SQLite keeps them as 64-bit floats), ``BLOB`` ``BYTEA``,
  everything else ``TEXT`` (dates and booleans too: SQLite stores text such as ``'T'`` and
  ``'March 2010'``, and the gold results compare those strings).  A column whose values do not
  all fit its type (SQLite stores text in an integer column without a murmur) falls back to
  ``DOUBLE PRECISION``, then ``TEXT``; each fallback is reported.  ``--declared-types`` keeps
  the declarations closer, where the values allow (``INTEGER``, ``VARCHAR(n)``: see
  ``declared_pg_type``), in databases named ``<name>_typed``, so that the prompt shows the types
  SQLite's does;
- rows by ``COPY``; NUL characters, which PostgreSQL text cannot hold, are dropped (reported);
- primary keys where the rows hold them (unique, not null), foreign keys where PostgreSQL accepts
  them (the referenced columns get a ``UNIQUE`` constraint first when they are not the key;
  a key some rows break, as SQLite lets them, is declared ``NOT VALID``: kept in the schema,
  unchecked on the rows there); each one that does not hold is reported with PostgreSQL's
  reason.
- ``--catalog NAME`` loads every database given into one PostgreSQL database ``NAME`` (made
  again), each as a schema named by its ``db_id`` as Spider spells it (quoted where it has
  capitals): the large-schema setting, asked with ``spider.py --target
  postgresql://.../NAME --schema dev``, as ``build_catalog.py`` builds it in DuckDB.

``--check-gold`` runs each dev question's gold SQL on SQLite and, transpiled by sqlglot
(``sqlite`` -> ``postgres``) with its names spelled as the loaded schema has them (xander's
``linking.spelled``, which the search applies to every candidate; a no-op on lower-case names),
on PostgreSQL through xander's engine, and compares the results with the official Spider
comparison; it reports how many agree, how many agree as written (without the spelling step),
how many agree with ORDER BY ties broken as SQLite breaks them (``xander.ties``, as xander runs
them),
and why the others do not.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "spider"
#: the suffix of a ``--keep-case`` copy's database name (``concert_singer_keepcase``)
KEEP_CASE_SUFFIX = "_keepcase"
#: the suffix of a ``--declared-types`` copy's database name (``concert_singer_keepcase_typed``)
DECLARED_TYPES_SUFFIX = "_typed"


def pg_dbname(db_id: str, keep_case: bool = False, declared_types: bool = False) -> str:
    """The PostgreSQL database a Spider database is loaded into.

    >>> pg_dbname("cre_Doc_Template_Mgt"), pg_dbname("concert_singer", keep_case=True)
    ('cre_doc_template_mgt', 'concert_singer_keepcase')
    >>> pg_dbname("concert_singer", keep_case=True, declared_types=True)
    'concert_singer_keepcase_typed'
    """
    return (db_id.lower() + (KEEP_CASE_SUFFIX if keep_case else "")
            + (DECLARED_TYPES_SUFFIX if declared_types else ""))


@dataclass
class LoadReport:
    """What one database's load did and what it could not do."""

    db_id: str
    dbname: str
    keep_case: bool = False
    declared_types: bool = False
    tables: int = 0
    rows: int = 0
    renamed: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    nul_cleaned: int = 0
    primary_keys: int = 0
    foreign_keys: int = 0
    not_loaded: list[str] = field(default_factory=list)


@dataclass
class GoldReport:
    """The gold SQL of one database on SQLite and on PostgreSQL."""

    db_id: str
    questions: int = 0
    agree: int = 0
    #: agree with the gold SQL as transpiled, without spelling its names as the schema has them
    agree_as_written: int = 0
    #: gold queries whose names the spelling step changed
    spelled: int = 0
    #: agree once spelled and with ORDER BY ties broken as SQLite breaks them
    #: (``xander.ties.stable_ties``, which the search and greedy apply too): what xander runs
    agree_tied: int = 0
    differ: list[str] = field(default_factory=list)
    pg_errors: list[str] = field(default_factory=list)
    sqlite_errors: int = 0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- types ---------------------------------------------------------------------------------------
def column_kind(declared: str) -> str:
    """``int``, ``float``, ``bytes`` or ``text`` for a declared SQLite type, read by sqlglot.

    >>> [column_kind(t) for t in ("INTEGER", "int(11)", "REAL", "NUMERIC(10,2)", "BLOB",
    ...                            "VARCHAR(20)", "DATETIME", "bool", "")]
    ['int', 'int', 'float', 'float', 'bytes', 'text', 'text', 'text', 'text']
    """
    import sqlglot
    from sqlglot import exp

    text = declared.strip()
    if not text:
        return "text"
    try:
        dt = exp.DataType.build(text, dialect="sqlite")
    except (ValueError, TypeError, sqlglot.errors.SqlglotError):  # SQLite's affinity rules
        dt = None
    if dt is not None:
        t = dt.this
        if t in exp.DataType.INTEGER_TYPES:
            return "int"
        if t in exp.DataType.REAL_TYPES:
            return "float"
        if t in (exp.DataType.Type.BLOB, exp.DataType.Type.VARBINARY,
                 exp.DataType.Type.BINARY):
            return "bytes"
        if t not in (exp.DataType.Type.USERDEFINED, exp.DataType.Type.UNKNOWN):
            return "text"
    upper = text.upper()  # SQLite's own affinity rules (section 3.1 of its datatype page)
    if "INT" in upper:
        return "int"
    if any(w in upper for w in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in upper:
        return "bytes"
    if any(w in upper for w in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "float"
    return "text"


PG_TYPES = {"int": "BIGINT", "float": "DOUBLE PRECISION", "bytes": "BYTEA", "text": "TEXT"}
_INT32 = 2**31


def declared_pg_type(declared: str, kind: str, values: Sequence[Any]) -> str:
    """The PostgreSQL type for a column of ``kind`` whose SQLite type is ``declared``, kept as
    close to the declaration as the values allow (``--declared-types``), as a migration would:
    ``INT``/``INTEGER`` -> ``INTEGER`` when every value fits 32 bits, ``VARCHAR(n)`` and
    ``CHAR(n)`` -> ``VARCHAR(n)`` when every value fits ``n`` characters (``CHAR`` would pad the
    values with spaces), ``TEXT`` -> ``TEXT``; every other type as ``PG_TYPES`` has it (reals
    stay ``DOUBLE PRECISION``: PostgreSQL's ``REAL`` holds 32 bits, SQLite's 64; dates and
    booleans stay text, as SQLite stores them).

    >>> declared_pg_type("int", "int", [1, 2**31 - 1]), declared_pg_type("INT", "int", [2**31])
    ('INTEGER', 'BIGINT')
    >>> declared_pg_type("varchar(3)", "text", ["abc", None]), declared_pg_type("char(2)",
    ...                                                                         "text", ["abc"])
    ('VARCHAR(3)', 'TEXT')
    >>> declared_pg_type("REAL", "float", [1.5]), declared_pg_type("DATETIME", "text", ["x"])
    ('DOUBLE PRECISION', 'TEXT')
    """
    import sqlglot
    from sqlglot import exp

    if column_kind(declared) != kind:  # the values did not fit the declaration
        return PG_TYPES[kind]
    try:
        dt = exp.DataType.build(declared.strip(), dialect="sqlite") if declared.strip() else None
    except (ValueError, TypeError, sqlglot.errors.SqlglotError):
        dt = None
    if dt is None:
        return PG_TYPES[kind]
    if kind == "int" and dt.this == exp.DataType.Type.INT:
        fits = all(v is None or -_INT32 <= int(v) < _INT32 for v in values)
        return "INTEGER" if fits else "BIGINT"
    if kind == "text" and dt.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR,
                                      exp.DataType.Type.NVARCHAR, exp.DataType.Type.NCHAR):
        size = dt.find(exp.DataTypeParam)
        n = int(size.name) if size is not None and size.name.isdigit() else 0
        if n and all(v is None or len(v) <= n for v in values):
            return f"VARCHAR({n})"
    return PG_TYPES[kind]
_FALLBACK = {"int": "float", "float": "text", "bytes": "text", "text": "text"}
_INT = re.compile(r"^\s*[-+]?\d+\s*$")


def convert(kind: str, value: Any) -> tuple[bool, Any]:
    """``(fits, value as loaded)`` for one SQLite value in a column of ``kind``.

    >>> convert("int", 3.0), convert("int", "12"), convert("int", "x")[0], convert("text", 7)
    ((True, 3), (True, 12), False, (True, '7'))
    """
    if value is None:
        return True, None
    if kind == "int":
        if isinstance(value, bool):
            return True, int(value)
        if isinstance(value, int):
            return (-(2**63) <= value < 2**63), value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return True, int(value)
        if isinstance(value, str) and _INT.match(value) and abs(int(value)) < 2**63:
            return True, int(value)
        return False, None
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                return False, None
            return value.strip().lower() not in ("nan", "inf", "-inf", "infinity"), f
        return False, None
    if kind == "bytes":
        return isinstance(value, bytes), value
    if isinstance(value, bytes):
        return True, value.decode("utf-8", errors="replace")
    return True, str(value)


# -- loading -------------------------------------------------------------------------------------
def _sqlite_tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid")]


def _lower_names(names: Iterable[str], what: str, report: LoadReport) -> dict[str, str]:
    if report.keep_case:  # SQLite's names differ from each other ignoring case already
        return {n: n for n in names}
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        low = n.lower()
        while low in used:
            low += "_2"
        if low != n.lower():
            report.renamed.append(f"{what} {n} -> {low}")
        used.add(low)
        out[n] = low
    return out


def load_sqlite(sqlite_path: Path, admin_url: str, dbname: str | None = None, *,
                keep_case: bool = False, declared_types: bool = False,
                schema: str = "") -> LoadReport:
    """Load one SQLite database into a new PostgreSQL database (dropped first if it exists),
    named ``pg_dbname``; ``keep_case``: with SQLite's names as they are, not in lower case;
    ``declared_types``: column types as close to SQLite's declarations as the values allow
    (``declared_pg_type``), not only the four ``PG_TYPES``.  With ``schema``, into that schema
    (made again) of the existing database ``dbname`` instead (``--catalog``)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    db_id = sqlite_path.stem
    dbname = dbname.lower() if dbname else pg_dbname(db_id, keep_case, declared_types)
    report = LoadReport(db_id, dbname, keep_case, declared_types)
    if not schema:
        new_database(admin_url, dbname)
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    src.text_factory = lambda b: b.decode("utf-8", errors="replace")
    try:
        with psycopg.connect(make_conninfo(admin_url, dbname=dbname)) as pg:
            if schema:  # the tables are created unqualified, so in the first schema of the path
                pg.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
                pg.execute(f"CREATE SCHEMA {_q(schema)}")
                pg.execute(f"SET search_path TO {_q(schema)}")
            _load(src, pg, report)
            pg.commit()
    finally:
        src.close()
    return report


def new_database(admin_url: str, dbname: str) -> None:
    """Make the database ``dbname`` (dropped first if it exists)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_q(dbname)} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {_q(dbname)} TEMPLATE template0 ENCODING 'UTF8'")


def _fits(kind: str, values: Iterable[Any]) -> bool:
    return all(convert(kind, v)[0] for v in values)


def _kinds(info: list[Any], rows: list[Any]) -> list[str]:
    """Each column's kind: its declared type's, or the first fallback its values all fit."""
    kinds = []
    for i, c in enumerate(info):
        kind = column_kind(c[2] or "")
        while not _fits(kind, (r[i] for r in rows)):
            kind = _FALLBACK[kind]
        kinds.append(kind)
    return kinds


def _foreign_keys(src: sqlite3.Connection, t: str) -> list[list[Any]]:
    fks: dict[int, list[Any]] = {}
    for row in src.execute(f"PRAGMA foreign_key_list({_q(t)})"):
        fks.setdefault(row[0], []).append(row)
    return list(fks.values())


def _unify_keys(src: sqlite3.Connection, tables: list[str], infos: dict[str, list[Any]],
                data: dict[str, list[Any]], kinds: dict[str, list[str]]) -> list[str]:
    """Give both ends of each foreign key one type (SQLite joins TEXT '3' to INTEGER 3; a
    PostgreSQL join of text and bigint is an error): the narrowest both ends' values fit."""
    lower = {t.lower(): t for t in tables}
    changed = []
    for t in tables:
        for rows in _foreign_keys(src, t):
            ref = lower.get(str(rows[0][2]).lower())
            if ref is None:
                continue
            for r in rows:
                a = _index(infos[t], r[3])
                b = (_index(infos[ref], r[4]) if r[4] is not None else
                     next((i for i, c in enumerate(infos[ref]) if c[5]), None))
                if a is None or b is None or kinds[t][a] == kinds[ref][b]:
                    continue
                values = [row[a] for row in data[t]] + [row[b] for row in data[ref]]
                kind = next(k for k in ("int", "float", "text") if _fits(k, values))
                for table, i in ((t, a), (ref, b)):
                    if kinds[table][i] != kind:
                        changed.append(f"{table.lower()}.{infos[table][i][1].lower()}: "
                                       f"{PG_TYPES[kinds[table][i]]} -> {PG_TYPES[kind]} "
                                       "(one type on both ends of a foreign key)")
                        kinds[table][i] = kind
    return changed


def _index(info: list[Any], name: Any) -> int | None:
    low = str(name).lower()
    return next((i for i, c in enumerate(info) if str(c[1]).lower() == low), None)


def _load(src: sqlite3.Connection, pg: Any, report: LoadReport) -> None:
    import psycopg

    tables = _sqlite_tables(src)
    tnames = _lower_names(tables, "table", report)
    columns: dict[str, dict[str, str]] = {}
    pks: dict[str, list[str]] = {}
    infos = {t: src.execute(f"PRAGMA table_info({_q(t)})").fetchall() for t in tables}
    data = {t: src.execute(f"SELECT * FROM {_q(t)}").fetchall() for t in tables}
    kinds = {t: _kinds(infos[t], data[t]) for t in tables}
    for t in tables:
        for c, k in zip(infos[t], kinds[t]):
            if k != column_kind(c[2] or ""):
                report.fallbacks.append(f"{t.lower()}.{str(c[1]).lower()}: declared "
                                        f"{c[2] or '(none)'}, values need {PG_TYPES[k]}")
    report.fallbacks += _unify_keys(src, tables, infos, data, kinds)
    for t in tables:
        info, rows = infos[t], data[t]
        cnames = _lower_names([c[1] for c in info], f"column of {t}:", report)
        columns[t] = cnames
        types = [declared_pg_type(c[2] or "", k, [convert(k, r[i])[1] for r in rows])
                 if report.declared_types else PG_TYPES[k]
                 for i, (c, k) in enumerate(zip(info, kinds[t]))]
        cols_sql = ", ".join(f"{_q(cnames[c[1]])} {pg_type}"
                             for c, pg_type in zip(info, types))
        pg.execute(f"CREATE TABLE {_q(tnames[t])} ({cols_sql})")
        names = ", ".join(_q(cnames[c[1]]) for c in info)
        with pg.cursor() as cur, cur.copy(f"COPY {_q(tnames[t])} ({names}) FROM STDIN") as cp:
            for r in rows:
                out = []
                for k, v in zip(kinds[t], r):
                    value = convert(k, v)[1]
                    if isinstance(value, str) and "\x00" in value:
                        value = value.replace("\x00", "")
                        report.nul_cleaned += 1
                    out.append(value)
                cp.write_row(out)
        report.tables += 1
        report.rows += len(rows)
        pk = [c for c in sorted(info, key=lambda c: c[5]) if c[5]]
        pks[t] = [cnames[c[1]] for c in pk]
        if pk:
            try:
                with pg.transaction():
                    pg.execute(f"ALTER TABLE {_q(tnames[t])} ADD PRIMARY KEY "
                               f"({', '.join(_q(cnames[c[1]]) for c in pk)})")
                report.primary_keys += 1
            except psycopg.Error as exc:
                report.not_loaded.append(
                    f"primary key of {tnames[t]}: {str(exc).splitlines()[0]}")
    lower = {t.lower(): t for t in tables}
    unique: set[tuple[str, tuple[str, ...]]] = set()
    for t in tables:
        for rows in _foreign_keys(src, t):
            ref = lower.get(str(rows[0][2]).lower())
            what = f"foreign key {tnames[t]}({', '.join(str(r[3]) for r in rows)}) -> {rows[0][2]}"
            if ref is None:
                report.not_loaded.append(f"{what}: no such table")
                continue
            try:
                cols = [columns[t][_match(columns[t], r[3])] for r in rows]
                if any(r[4] is None for r in rows):
                    ref_cols = pks[ref]
                else:
                    ref_cols = [columns[ref][_match(columns[ref], r[4])] for r in rows]
            except KeyError as exc:
                report.not_loaded.append(f"{what}: no column {exc.args[0]}")
                continue
            if len(ref_cols) != len(cols):
                report.not_loaded.append(f"{what}: the referenced key has other columns")
                continue
            add = (f"ALTER TABLE {_q(tnames[t])} ADD FOREIGN KEY "
                   f"({', '.join(_q(c) for c in cols)}) REFERENCES {_q(tnames[ref])} "
                   f"({', '.join(_q(c) for c in ref_cols)})")
            # rows that name no parent row (SQLite does not enforce its keys): the key is
            # declared NOT VALID, unchecked on the rows there, so the schema says what SQLite's
            # says (the prompt shows the same joins)
            for checked in (True, False):
                try:
                    with pg.transaction():
                        key = (ref, tuple(ref_cols))
                        if ref_cols != pks[ref] and key not in unique:
                            pg.execute(f"ALTER TABLE {_q(tnames[ref])} ADD UNIQUE "
                                       f"({', '.join(_q(c) for c in ref_cols)})")
                        pg.execute(add if checked else f"{add} NOT VALID")
                    if ref_cols != pks[ref]:
                        unique.add(key)
                    report.foreign_keys += 1
                    if not checked:
                        report.fallbacks.append(f"{what}: declared NOT VALID (rows name no "
                                                "parent row)")
                except psycopg.errors.ForeignKeyViolation:
                    continue
                except psycopg.Error as exc:
                    report.not_loaded.append(f"{what}: {str(exc).splitlines()[0]}")
                break


def _match(cnames: dict[str, str], name: Any) -> str:
    """The SQLite column of ``cnames`` that a foreign key's ``name`` means (case-insensitive)."""
    low = str(name).lower()
    for original in cnames:
        if original.lower() == low:
            return original
    raise KeyError(str(name))


# -- gold SQL ------------------------------------------------------------------------------------
def transpile(sql: str, columns: Iterable[str] | None = None) -> str:
    """Spider's SQLite gold SQL in PostgreSQL's dialect (``xander.linking.as_dialect``).  Given the database's
    ``columns``, a double-quoted name that is none of them becomes the string SQLite reads it as.

    >>> transpile('SELECT count(*) FROM singer WHERE Country = "France"', ["country"])
    "SELECT COUNT(*) FROM singer WHERE Country = 'France'"
    >>> transpile('SELECT count(*) FROM singer WHERE Country = "France"')
    'SELECT COUNT(*) FROM singer WHERE Country = "France"'
    """
    import sqlglot
    from sqlglot import exp

    from xander.linking import as_dialect

    tree = sqlglot.parse_one(sql, read="sqlite")
    if columns is not None:
        known = {c.lower() for c in columns}
        for col in list(tree.find_all(exp.Column)):
            ident = col.this
            if (isinstance(ident, exp.Identifier) and ident.quoted and not col.table
                    and ident.name.lower() not in known):
                col.replace(exp.Literal.string(ident.name))
    return as_dialect(tree, "sqlite", "postgres")


def check_gold(db_id: str, sqlite_path: Path, pg_url: str,
               questions: Sequence[dict[str, Any]]) -> GoldReport:
    """Run each question's gold SQL on SQLite and, transpiled and spelled as the schema has its
    names (``xander.linking.spelled``), on PostgreSQL; compare.  A query the spelling changed
    runs as written too (``agree_as_written``)."""
    from sqlglot.errors import SqlglotError

    from xander.bench.metrics import gold_has_order_by, spider_exec_match
    from xander.engines.postgres import PostgresEngine
    from xander.errors import XanderError
    from xander.linking import spelled
    from xander.schema import Schema
    from xander.ties import stable_ties

    report = GoldReport(db_id)
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    src.text_factory = lambda b: b.decode("utf-8", errors="replace")
    engine = PostgresEngine(pg_url)
    columns = [c.name for t in engine.tables() for c in t.columns]
    schema = Schema.from_engine(engine, samples=0)

    def agrees(sql: str, want: list[Any], gold: str) -> bool:
        got = engine.execute(sql, timeout=30.0, max_rows=100_000).rows
        return spider_exec_match(want, got, order_matters=gold_has_order_by(gold))

    try:
        for q in questions:
            gold = q["query"]
            report.questions += 1
            try:
                want = src.execute(gold).fetchall()
            except sqlite3.Error:
                report.sqlite_errors += 1
                continue
            try:
                written = transpile(gold, columns)
                sql = spelled(written, schema)
                report.spelled += sql != written
                ok = agrees(sql, want, gold)
            except (XanderError, SqlglotError) as exc:  # counted, with the reason
                report.pg_errors.append(f"{gold}\n  -> {str(exc).splitlines()[0]}")
                continue
            if sql == written:
                report.agree_as_written += ok
            else:
                try:
                    report.agree_as_written += agrees(written, want, gold)
                except XanderError:
                    pass  # as written it names what PostgreSQL does not have
            tied = stable_ties(sql, schema)
            try:
                report.agree_tied += ok if tied == sql else agrees(tied, want, gold)
            except XanderError:
                pass
            if ok:
                report.agree += 1
            else:
                report.differ.append(gold)
    finally:
        engine.close()
        src.close()
    return report


def dev_questions(db_ids: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Spider dev questions by database."""
    wanted = set(db_ids) if db_ids is not None else None
    out: dict[str, list[dict[str, Any]]] = {}
    for q in json.loads((DATA / "dev.json").read_text()):
        if wanted is None or q["db_id"] in wanted:
            out.setdefault(q["db_id"], []).append(q)
    return out


def error_kind(message: str) -> str:
    """A PostgreSQL error message with its names and values blanked, to count them by kind.

    >>> error_kind('column "singer.name" must appear in the GROUP BY clause or be used in an '
    ...            'aggregate function')
    'column "_" must appear in the GROUP BY clause or be used in an aggregate function'
    """
    text = message.split("-> ", 1)[-1]
    text = re.sub(r'"[^"]*"', '"_"', text)
    return re.sub(r"'[^']*'", "'_'", text)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="a login on the server that may CREATE DATABASE")
    ap.add_argument("--db", action="append", default=[],
                    help="a Spider db_id, dev or train (repeatable)")
    ap.add_argument("--all-dev", action="store_true", help="every database of Spider dev")
    ap.add_argument("--spider", type=Path, default=DATA, help="the Spider folder")
    ap.add_argument("--check-gold", action="store_true", help="compare gold SQL results")
    ap.add_argument("--keep-case", action="store_true",
                    help="keep SQLite's names as they are (quoted), in <db_id>_keepcase "
                         "databases, instead of lower case")
    ap.add_argument("--declared-types", action="store_true",
                    help="column types as close to SQLite's declarations as the values allow "
                         "(VARCHAR(n), INTEGER), in <name>_typed databases, instead of the four "
                         "types BIGINT, DOUBLE PRECISION, TEXT and BYTEA")
    ap.add_argument("--catalog", metavar="NAME", default="",
                    help="load every database into this one database, each as a schema named "
                         "by its db_id (the large-schema setting)")
    ap.add_argument("--json", type=Path, help="write the reports here")
    args = ap.parse_args(argv)
    from psycopg.conninfo import make_conninfo

    if args.catalog and args.check_gold:
        ap.error("--check-gold reads one database per db_id: load without --catalog for it")
    if args.catalog:
        new_database(args.url, args.catalog.lower())

    by_db = dev_questions() if args.all_dev or args.check_gold else {}
    db_ids = sorted(by_db) if args.all_dev else args.db
    loads, golds = [], []
    for db_id in db_ids:
        path = args.spider / "database" / db_id / f"{db_id}.sqlite"
        if not path.is_file():  # a train database (those rebuilt here)
            path = args.spider / "train_database" / db_id / f"{db_id}.sqlite"
        if not path.is_file():
            print(f"{db_id}: no {path}, skipped", flush=True)
            continue
        rep = load_sqlite(path, args.url, args.catalog or None, keep_case=args.keep_case,
                          declared_types=args.declared_types, schema=db_id if args.catalog
                          else "")
        loads.append(rep)
        print(f"{db_id}: {rep.tables} tables, {rep.rows} rows, {rep.primary_keys} primary and "
              f"{rep.foreign_keys} foreign keys; {len(rep.fallbacks)} type fallbacks, "
              f"{len(rep.not_loaded)} not loaded", flush=True)
        for line in rep.fallbacks + rep.not_loaded:
            print("   ", line)
        if args.check_gold:
            url = make_conninfo(args.url, dbname=rep.dbname)
            g = check_gold(db_id, path, url, by_db.get(db_id, []))
            golds.append(g)
            print(f"    gold: {g.agree}/{g.questions} agree ({g.agree_as_written} as written, "
                  f"{g.spelled} respelled, {g.agree_tied} with ties broken), "
                  f"{len(g.differ)} differ, "
                  f"{len(g.pg_errors)} fail on PostgreSQL", flush=True)
    if golds:
        total = sum(g.questions for g in golds)
        agree = sum(g.agree for g in golds)
        written = sum(g.agree_as_written for g in golds)
        print(f"all: {agree}/{total} gold queries agree ({agree / max(total, 1):.1%}); "
              f"{sum(len(g.differ) for g in golds)} differ, "
              f"{sum(len(g.pg_errors) for g in golds)} fail on PostgreSQL; "
              f"as written (names not respelled): {written}/{total} agree, "
              f"{sum(g.spelled for g in golds)} respelled; with ORDER BY ties broken as "
              f"SQLite breaks them (xander.ties): {sum(g.agree_tied for g in golds)}/{total}")
        kinds = Counter(error_kind(e) for g in golds for e in g.pg_errors)
        for kind, n in kinds.most_common(12):
            print(f"  {n:4d}  {kind}")
    if args.json:
        args.json.write_text(json.dumps({"loads": [asdict(r) for r in loads],
                                         "gold": [asdict(g) for g in golds]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
