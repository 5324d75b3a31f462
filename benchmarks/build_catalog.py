"""The large-schema catalog: every Spider database as one schema of one DuckDB file.

    python benchmarks/build_catalog.py [--out PATH] [--train] [--db concert_singer --db ...]

Each Spider dev database (``spider/database/<db>/<db>.sqlite``; with ``--train`` the train
databases of ``spider/train_database`` too) becomes a DuckDB schema named after its ``db_id``,
so ``open_engine(catalog, schemas=(...))`` serves hundreds of tables named ``db_id.table`` to one
question: the benchmark of schema focusing.  The file is built, never committed: by default
``catalog/spider_dev.duckdb`` (``spider_dev_train.duckdb``) under xander's cache root
(``$XANDER_CACHE``), written to a temporary file and then moved over the old one.

DuckDB's ``sqlite`` extension would copy the rows, but it is downloaded on first use and this
machine is offline, so rows are read with ``sqlite3`` and inserted with DuckDB:

- types follow SQLite's affinity of the declared type, checked against the stored values: an
  INT column whose values are all integers is ``BIGINT``, REAL / NUMERIC / DECIMAL columns of
  numbers are ``BIGINT`` (all integers) or ``DOUBLE``, text is ``VARCHAR``; a column whose
  values do not fit (Spider's ``INTEGER`` columns holding ``''``, dates and booleans stored as
  text) is ``VARCHAR`` with the values as SQLite returns them, so no value is changed;
- primary keys are declared as the SQLite file declares them, unless the rows break them
  (NULLs or duplicates): then the key is dropped and reported;
- foreign keys are declared (DuckDB enforces them) and the tables created and filled in
  dependency order, parents first, a table's own rows ordered so that a row's parent row comes
  first.  A key is dropped, and reported, when DuckDB cannot hold it: the referenced columns
  are neither the parent's primary key nor unique in its rows, the column types differ, rows
  point at parent rows that do not exist, or it closes a cycle of tables.  When the referenced
  columns are unique (and non-NULL) in the rows without a declared key, a ``UNIQUE``
  constraint is added to the parent so the foreign key can be declared (reported too).

It prints databases, schemas, tables, columns, rows and seconds, and what it dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.paths import cache_dir

SPIDER = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- reading one SQLite database ----------------------------------------------------------------
@dataclass
class SourceTable:
    """One SQLite table: its columns (name, declared type), keys and rows."""

    name: str
    columns: list[tuple[str, str]]
    primary_key: tuple[str, ...]
    foreign_keys: list[tuple[tuple[str, ...], str, tuple[str, ...]]]  # (cols, parent, parent cols)
    rows: list[tuple[Any, ...]]
    types: list[str] = field(default_factory=list)  # the DuckDB type of each column


def read_sqlite(path: Path) -> list[SourceTable]:
    """Every table of the SQLite file ``path`` (opened read-only), with its rows."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.text_factory = lambda b: b.decode("utf-8", errors="replace")  # Spider has stray bytes
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid")]
        spelled = {n.lower(): n for n in names}
        tables = []
        for name in names:
            info = list(con.execute(f"PRAGMA table_info({_quote(name)})"))
            columns = [(r[1], r[2] or "") for r in info]
            pk = tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5])
            groups: dict[int, list[tuple[str, str, str | None]]] = {}
            for fk in con.execute(f"PRAGMA foreign_key_list({_quote(name)})"):
                groups.setdefault(fk[0], []).append((fk[2], fk[3], fk[4]))
            fks = []
            for parts in groups.values():
                parent = spelled.get(parts[0][0].lower(), parts[0][0])
                fks.append((tuple(p[1] for p in parts), parent,
                            tuple(p[2] or "" for p in parts)))
            rows = list(con.execute(f"SELECT * FROM {_quote(name)}"))
            tables.append(SourceTable(name, columns, pk, fks, rows))
        return tables
    finally:
        con.close()


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared type (its documented rules, in order).

    >>> [affinity(t) for t in ("INTEGER", "varchar(20)", "BLOB", "", "REAL", "DATETIME")]
    ['INTEGER', 'TEXT', 'BLOB', 'BLOB', 'REAL', 'NUMERIC']
    """
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def duckdb_type(declared: str, values: Iterable[Any]) -> str:
    """The DuckDB type that holds every stored value of a column as SQLite returns it.

    >>> duckdb_type("INT", [1, 2]), duckdb_type("INTEGER", [1, ""]), duckdb_type("REAL", [1, 2.5])
    ('BIGINT', 'VARCHAR', 'DOUBLE')
    >>> duckdb_type("DATETIME", ["2010-01-01"]), duckdb_type("DECIMAL", []), duckdb_type("TEXT", [])
    ('VARCHAR', 'DOUBLE', 'VARCHAR')
    """
    kinds = {type(v) for v in values if v is not None}
    aff = affinity(declared)
    if bytes in kinds:
        return "BLOB" if kinds == {bytes} else "VARCHAR"
    if str in kinds or aff == "TEXT":
        return "VARCHAR"
    if not kinds:  # no values: the declared type decides
        if aff == "INTEGER":
            return "BIGINT"
        low = declared.lower()
        if aff == "BLOB" or any(k in low for k in ("date", "time", "bool", "year")):
            return "VARCHAR"
        return "DOUBLE"
    if kinds == {int} and aff != "REAL":
        return "BIGINT"
    return "DOUBLE"  # numbers: int and float, or a REAL column


# -- planning the keys --------------------------------------------------------------------------
@dataclass
class Plan:
    """What one database becomes: the tables in creation order, their constraints, and what
    was dropped or added on the way (for the report)."""

    tables: list[SourceTable]
    primary: dict[str, tuple[str, ...]]
    unique: dict[str, list[tuple[str, ...]]]
    foreign: dict[str, list[tuple[tuple[str, ...], str, tuple[str, ...]]]]
    notes: list[str]


def _unique(rows: Sequence[tuple[Any, ...]], idx: Sequence[int]) -> bool:
    keys = [tuple(r[i] for i in idx) for r in rows]
    return all(v is not None for k in keys for v in k) and len(set(keys)) == len(keys)


def plan(db: str, tables: list[SourceTable]) -> Plan:
    """Types, keys that DuckDB can hold with these rows, and the order to create tables in."""
    by_name = {t.name.lower(): t for t in tables}
    notes: list[str] = []
    primary: dict[str, tuple[str, ...]] = {}
    for t in tables:
        t.types = [duckdb_type(d, (r[i] for r in t.rows)) for i, (_, d) in enumerate(t.columns)]
        if t.primary_key:
            idx = [_col_index(t, c) for c in t.primary_key]
            if None not in idx and _unique(t.rows, idx):  # type: ignore[arg-type]
                primary[t.name.lower()] = t.primary_key
            else:
                notes.append(f"{db}.{t.name}: primary key {t.primary_key} dropped "
                             "(NULL or repeated in the rows)")
    unique: dict[str, list[tuple[str, ...]]] = {}
    foreign: dict[str, list[tuple[tuple[str, ...], str, tuple[str, ...]]]] = {}
    edges: list[tuple[str, str, tuple[tuple[str, ...], str, tuple[str, ...]]]] = []
    for t in tables:
        for cols, parent_name, pcols in t.foreign_keys:
            where = f"{db}.{t.name}({', '.join(cols)}) -> {parent_name}({', '.join(pcols)})"
            parent = by_name.get(parent_name.lower())
            if parent is None:
                notes.append(f"{where}: foreign key dropped (no such table)")
                continue
            if not all(pcols):  # REFERENCES parent without columns: its primary key
                pcols = primary.get(parent.name.lower(), ())
            cidx = [_col_index(t, c) for c in cols]
            pidx = [_col_index(parent, c) for c in pcols]
            if not pcols or len(pcols) != len(cols) or None in cidx or None in pidx:
                notes.append(f"{where}: foreign key dropped (no such columns)")
                continue
            pcols = tuple(parent.columns[i][0] for i in pidx)  # type: ignore[index]
            cols = tuple(t.columns[i][0] for i in cidx)  # type: ignore[index]
            for i, j in zip(cidx, pidx):  # ids written as text or as reals become alike
                for a, k, b, m in ((t, i, parent, j), (parent, j, t, i)):
                    if _retype(a, k, b.types[m]):  # type: ignore[arg-type, index]
                        notes.append(f"{db}.{a.name}.{a.columns[k][0]}: typed {a.types[k]} "  # type: ignore[index]
                                     f"like {b.name}.{b.columns[m][0]} (the same values)")  # type: ignore[index]
            ctypes = [t.types[i] for i in cidx]  # type: ignore[index]
            ptypes = [parent.types[i] for i in pidx]  # type: ignore[index]
            if ctypes != ptypes:
                notes.append(f"{where}: foreign key dropped (types {ctypes} and {ptypes} differ)")
                continue
            keyed = [tuple(c.lower() for c in k) for k in
                     [primary.get(parent.name.lower(), ())] + unique.get(parent.name.lower(), [])]
            add_unique = tuple(c.lower() for c in pcols) not in keyed
            if add_unique and not _unique(parent.rows, pidx):  # type: ignore[arg-type]
                notes.append(f"{where}: foreign key dropped (the referenced columns are "
                             "not unique in the rows)")
                continue
            orphans = _orphans(t.rows, cidx, parent.rows, pidx)  # type: ignore[arg-type]
            if orphans:
                notes.append(f"{where}: foreign key dropped ({orphans} rows name no parent row)")
                continue
            if parent is t and not _orderable(t.rows, cidx, pidx):  # type: ignore[arg-type]
                notes.append(f"{where}: foreign key dropped (rows name themselves or each "
                             "other in a cycle)")
                continue
            if add_unique:
                unique.setdefault(parent.name.lower(), []).append(pcols)
                notes.append(f"{db}.{parent.name}: UNIQUE ({', '.join(pcols)}) added for {where}")
            edges.append((t.name.lower(), parent.name.lower(), (cols, parent.name, pcols)))
    kept = []
    for child, parent_low, fk in edges:  # a column retyped for a later key: check them all
        c, pt = by_name[child], by_name[parent_low]
        ctypes = [c.types[_col_index(c, x)] for x in fk[0]]  # type: ignore[index]
        ptypes = [pt.types[_col_index(pt, x)] for x in fk[2]]  # type: ignore[index]
        if ctypes != ptypes:
            notes.append(f"{db}.{c.name}({', '.join(fk[0])}) -> {pt.name}: foreign key dropped "
                         f"(types {ctypes} and {ptypes} differ after retyping)")
        else:
            kept.append((child, parent_low, fk))
    edges = kept
    order, cut = _creation_order([t.name.lower() for t in tables], edges)
    for child, parent, fk in edges:
        if (child, parent, fk) in cut:
            notes.append(f"{db}.{child} -> {parent}: foreign key dropped (it closes a cycle)")
        else:
            foreign.setdefault(child, []).append(fk)
    return Plan([by_name[n] for n in order], primary, unique, foreign, notes)


def _retype(t: SourceTable, i: int, to: str) -> bool:
    """Make column ``i`` of ``t`` a ``to`` column where no value changes but its type: a
    VARCHAR of integers' text (``'3'``, not ``' 3'`` or ``'03'``) becomes BIGINT, a BIGINT
    becomes DOUBLE (a key the other side declares REAL).  False when it does not apply."""
    if (t.types[i], to) == ("BIGINT", "DOUBLE"):
        t.types[i] = to
        t.rows = [(*r[:i], None if r[i] is None else float(r[i]), *r[i + 1:]) for r in t.rows]
        return True
    if (t.types[i], to) != ("VARCHAR", "BIGINT"):
        return False
    values = [r[i] for r in t.rows if r[i] is not None]
    try:
        if not values or any(not isinstance(v, str) or str(int(v)) != v for v in values):
            return False
    except ValueError:
        return False
    t.types[i] = to
    t.rows = [(*r[:i], None if r[i] is None else int(r[i]), *r[i + 1:]) for r in t.rows]
    return True


def _orderable(rows: Sequence[tuple[Any, ...]], idx: Sequence[int], pidx: Sequence[int]) -> bool:
    """Whether the rows of a table whose key ``idx`` references its own ``pidx`` can be put in
    an order where every row comes after the row it names (DuckDB checks each insert)."""
    have: set[tuple[Any, ...]] = set()
    left = list(rows)
    while left:
        wait = [r for r in left if None not in (k := tuple(r[i] for i in idx)) and k not in have]
        if len(wait) == len(left):
            return False
        have |= {tuple(r[i] for i in pidx) for r in left if r not in wait}
        left = wait
    return True


def _orphans(rows: Sequence[tuple[Any, ...]], idx: Sequence[int],
             parent_rows: Sequence[tuple[Any, ...]], pidx: Sequence[int]) -> int:
    """Rows whose key (no part NULL) is no parent row's."""
    present = {tuple(r[i] for i in pidx) for r in parent_rows}
    keys = (tuple(r[i] for i in idx) for r in rows)
    return sum(1 for k in keys if None not in k and k not in present)


def _col_index(t: SourceTable, name: str) -> int | None:
    low = name.lower()
    return next((i for i, (c, _) in enumerate(t.columns) if c.lower() == low), None)


def _creation_order(names: list[str], edges: list[tuple[str, str, Any]]
                    ) -> tuple[list[str], set[tuple[str, str, Any]]]:
    """Tables parents first (depth-first, in the file's order), and the edges that close a
    cycle (self-references are kept: a table's rows are ordered instead)."""
    parents: dict[str, list[tuple[str, str, Any]]] = {n: [] for n in names}
    for e in edges:
        if e[0] != e[1]:
            parents[e[0]].append(e)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cut: set[tuple[str, str, Any]] = set()

    def visit(n: str) -> None:
        state[n] = 1
        for e in parents[n]:
            if state.get(e[1]) == 1:
                cut.add(e)
            elif state.get(e[1]) is None:
                visit(e[1])
        state[n] = 2
        order.append(n)

    for n in names:
        if n not in state:
            visit(n)
    return order, cut


def _waves(t: SourceTable, fks: list[tuple[tuple[str, ...], str, tuple[str, ...]]]
           ) -> list[list[tuple[Any, ...]]]:
    """``t``'s rows in waves to insert one after another: each row comes after the rows its
    self-references point at (one wave when the table has none)."""
    own = [fk for fk in fks if fk[1].lower() == t.name.lower()]
    if not own:
        return [t.rows] if t.rows else []
    pairs = [([_col_index(t, c) for c in cols], [_col_index(t, c) for c in pcols])
             for cols, _, pcols in own]
    waves: list[list[tuple[Any, ...]]] = []
    have: list[set[tuple[Any, ...]]] = [set() for _ in pairs]
    left = list(t.rows)
    while left:
        ready, wait = [], []
        for r in left:
            ok = all(None in (k := tuple(r[i] for i in c)) or k in have[j]  # type: ignore[index]
                     for j, (c, _) in enumerate(pairs))
            (ready if ok else wait).append(r)
        if not ready:  # rows naming themselves or each other: plan() dropped such keys
            ready, wait = wait, []
        for r in ready:
            for j, (_, p) in enumerate(pairs):
                have[j].add(tuple(r[i] for i in p))  # type: ignore[index]
        waves.append(ready)
        left = wait
    return waves


def _insert(con: Any, db: str, t: SourceTable, rows: list[tuple[Any, ...]], scratch: Path) -> None:
    """Insert ``rows`` in one statement: written as JSON lines (which keep NULL, text and
    numbers apart) and read back with the columns' types; executemany is far slower."""
    if "BLOB" in t.types:
        marks = ", ".join("?" for _ in t.columns)
        con.executemany(f"INSERT INTO {_quote(db)}.{_quote(t.name)} VALUES ({marks})",
                        [list(r) for r in rows])
        return
    with scratch.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps([_value(v, ty) for v, ty in zip(r, t.types)],
                                ensure_ascii=False) + "\n")
    # each line is one JSON array: read it as one list column, then take its items typed
    items = ", ".join(f"CAST(json_extract(j, '$[{i}]') AS {ty})" if ty != "VARCHAR"
                      else f"json_extract_string(j, '$[{i}]')"
                      for i, ty in enumerate(t.types))
    con.execute(f"INSERT INTO {_quote(db)}.{_quote(t.name)} SELECT {items} FROM "
                "read_json(?, format = 'newline_delimited', records = false, "
                "columns = {'j': 'JSON'})", [str(scratch)])


# -- writing ------------------------------------------------------------------------------------
@dataclass
class Built:
    """What ``build_catalog`` wrote, for the report."""

    path: Path
    databases: int = 0
    tables: int = 0
    columns: int = 0
    rows: int = 0
    foreign_keys: int = 0
    declared_foreign_keys: int = 0  # as the SQLite files declare them
    seconds: float = 0.0
    schemas: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _create_sql(db: str, t: SourceTable, p: Plan) -> str:
    parts = [f"{_quote(c)} {ty}" for (c, _), ty in zip(t.columns, t.types)]
    key = p.primary.get(t.name.lower())
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(_quote(c) for c in key)})")
    for u in p.unique.get(t.name.lower(), []):
        parts.append(f"UNIQUE ({', '.join(_quote(c) for c in u)})")
    for cols, parent, pcols in p.foreign.get(t.name.lower(), []):
        parts.append(f"FOREIGN KEY ({', '.join(_quote(c) for c in cols)}) REFERENCES "
                     f"{_quote(db)}.{_quote(parent)}({', '.join(_quote(c) for c in pcols)})")
    return f"CREATE TABLE {_quote(db)}.{_quote(t.name)} (" + ", ".join(parts) + ")"


def _value(v: Any, ty: str) -> Any:
    if ty == "VARCHAR" and v is not None and not isinstance(v, str):
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return v


def databases(train: bool = False, spider: Path = SPIDER) -> list[tuple[str, Path]]:
    """``(db_id, sqlite file)`` of the dev databases, then (``train``) the train ones."""
    out = []
    roots = [spider / "database"] + ([spider / "train_database"] if train else [])
    seen: set[str] = set()
    for root in roots:
        for d in sorted(root.iterdir()) if root.is_dir() else ():
            f = d / f"{d.name}.sqlite"
            if f.is_file() and d.name.lower() not in seen:
                seen.add(d.name.lower())
                out.append((d.name, f))
    return out


def build_catalog(sources: Sequence[tuple[str, Path]], out: Path) -> Built:
    """Write every ``(db_id, sqlite file)`` of ``sources`` into the DuckDB file ``out`` as
    schema ``db_id`` (a temporary file first, then moved over ``out``)."""
    import duckdb

    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".catalog-", suffix=".duckdb", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # DuckDB wants to create the file itself
    built = Built(out)
    scratch = tmp.with_suffix(".jsonl")
    con = duckdb.connect(str(tmp))
    try:
        for db, path in sources:
            p = plan(db, read_sqlite(path))
            con.execute(f"CREATE SCHEMA {_quote(db)}")
            for t in p.tables:
                con.execute(_create_sql(db, t, p))
                for wave in _waves(t, p.foreign.get(t.name.lower(), [])):
                    _insert(con, db, t, wave, scratch)
                built.tables += 1
                built.columns += len(t.columns)
                built.rows += len(t.rows)
                built.foreign_keys += len(p.foreign.get(t.name.lower(), []))
            built.declared_foreign_keys += sum(len(t.foreign_keys) for t in p.tables)
            built.databases += 1
            built.schemas.append(db)
            built.notes += p.notes
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        scratch.unlink(missing_ok=True)
    con.close()
    os.replace(tmp, out)
    built.seconds = time.perf_counter() - start
    return built


def default_out(train: bool) -> Path:
    return cache_dir("catalog") / ("spider_dev_train.duckdb" if train else "spider_dev.duckdb")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="the DuckDB file (default: under $XANDER_CACHE)")
    ap.add_argument("--train", action="store_true", help="add Spider's train databases")
    ap.add_argument("--db", action="append", default=[], help="only these db_ids (repeatable)")
    ap.add_argument("--spider", type=Path, default=SPIDER, help="the Spider folder")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    sources = databases(args.train, args.spider)
    if args.db:
        wanted = {d.lower() for d in args.db}
        sources = [s for s in sources if s[0].lower() in wanted]
        missing = wanted - {s[0].lower() for s in sources}
        if missing:
            print(f"no such Spider database: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    if not sources:
        print(f"no Spider databases under {args.spider}", file=sys.stderr)
        return 2
    out = (args.out or default_out(args.train)).expanduser()
    b = build_catalog(sources, out)
    summary = {"path": str(b.path), "databases": b.databases, "schemas": len(b.schemas),
               "tables": b.tables, "columns": b.columns, "rows": b.rows,
               "foreign_keys": b.foreign_keys,
               "declared_foreign_keys": b.declared_foreign_keys, "seconds": round(b.seconds, 2),
               "notes": b.notes}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{b.path}")
    print(f"databases {b.databases}  schemas {len(b.schemas)}  tables {b.tables}  "
          f"columns {b.columns}  rows {b.rows}  foreign keys {b.foreign_keys} of "
          f"{b.declared_foreign_keys} declared  seconds {b.seconds:.1f}")
    for note in b.notes:
        print("  " + note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
