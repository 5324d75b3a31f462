"""Engines on real files: read-only by construction, bounded in time and rows, clear errors.

SQLite runs on the real Spider databases (writes are tried on a copy in tmp_path); DuckDB on a
``.duckdb`` file with keys built here, a CSV file, and a folder of CSV + Parquet + JSON files.
Every write attempt is followed by a SHA-256 comparison of the file.  The engines are the second
wall: these tests call them directly, without the safety gate in front.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SPIDER, spider_db
from xander.engines import DuckDBEngine, ForeignKey, QueryResult, SQLiteEngine, open_engine
from xander.errors import DatabaseNotFoundError, QueryError, QueryTimeoutError


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_sha(folder: Path) -> dict[str, str]:
    return {p.name: _sha(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def singer_copy(concert_singer: Path, tmp_path: Path) -> Path:
    """A private copy of concert_singer for write attempts (the shared data stays untouched)."""
    dst = tmp_path / "db" / "concert_singer.sqlite"
    dst.parent.mkdir()
    shutil.copy(concert_singer, dst)
    return dst


@pytest.fixture
def shop_file(tmp_path: Path) -> Path:
    """A DuckDB file with primary keys, foreign keys (one composite) and a view."""
    path = tmp_path / "db" / "shop.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL,
                                country VARCHAR);
        CREATE TABLE products (product_id INTEGER PRIMARY KEY, title VARCHAR, price DECIMAL(8,2));
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
            customer_id INTEGER REFERENCES customers(customer_id),
            product_id INTEGER REFERENCES products(product_id), quantity INTEGER,
            order_date DATE);
        CREATE TABLE shipments (order_id INTEGER, line INTEGER, carrier VARCHAR,
            PRIMARY KEY (order_id, line));
        CREATE TABLE returns (order_id INTEGER, line INTEGER, reason VARCHAR,
            FOREIGN KEY (order_id, line) REFERENCES shipments(order_id, line));
        INSERT INTO customers VALUES (1,'Ada','France'),(2,'Bo','Spain'),(3,'Cy','France');
        INSERT INTO products VALUES (1,'Lamp',20.00),(2,'Desk',150.00),(3,'Chair',45.50);
        INSERT INTO orders VALUES (1,1,2,1,'2024-01-05'),(2,1,1,3,'2024-02-10'),
            (3,2,3,4,'2024-02-11'),(4,3,2,2,'2024-03-01'),(5,3,3,1,'2024-03-03');
        INSERT INTO shipments VALUES (1,1,'UPS'),(2,1,'DHL');
        INSERT INTO returns VALUES (1,1,'broken');
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE quantity >= 3;
    """)
    con.close()
    return path


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    """A folder of real data files: CSV, Parquet (written by DuckDB) and JSON."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "people.csv").write_text("person_id,name,age\n1,Ada,36\n2,Bo,25\n3,Cy,41\n")
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * FROM (VALUES (1, 'Lamp', 20.0), (2, 'Desk', 150.0)) AS t(item_id, title, "
        f"price)) TO '{folder / 'items.parquet'}' (FORMAT parquet)"
    )
    con.close()
    (folder / "purchases.json").write_text(json.dumps(
        [{"person_id": 1, "item_id": 2}, {"person_id": 1, "item_id": 1},
         {"person_id": 3, "item_id": 2}]))
    (folder / "notes.txt").write_text("not a table\n")
    return folder


# == SQLite =====================================================================================
def test_sqlite_schema_of_concert_singer(concert_singer):
    e = open_engine(concert_singer)
    try:
        assert isinstance(e, SQLiteEngine) and e.dialect == "sqlite"
        tables = {t.name: t for t in e.tables()}
        assert list(tables) == ["stadium", "singer", "concert", "singer_in_concert"]
        assert [c.name for c in tables["singer"].columns] == [
            "Singer_ID", "Name", "Country", "Song_Name", "Song_release_year", "Age", "Is_male"]
        assert tables["singer"].columns[5].type == "INT"
        assert {n: t.primary_key for n, t in tables.items()} == {
            "stadium": ("Stadium_ID",), "singer": ("Singer_ID",), "concert": ("concert_ID",),
            "singer_in_concert": ("concert_ID", "Singer_ID"),
        }
        assert tables["concert"].foreign_keys == (
            ForeignKey("concert", ("Stadium_ID",), "stadium", ("Stadium_ID",)),)
        assert set(tables["singer_in_concert"].foreign_keys) == {
            ForeignKey("singer_in_concert", ("concert_ID",), "concert", ("concert_ID",)),
            ForeignKey("singer_in_concert", ("Singer_ID",), "singer", ("Singer_ID",)),
        }
        assert tables["stadium"].foreign_keys == tables["singer"].foreign_keys == ()
    finally:
        e.close()


def test_sqlite_schema_agrees_with_spider_tables_json():
    """Tables, columns and foreign keys of every Spider dev database present, as Spider lists
    them (``sqlite_sequence`` is SQLite's bookkeeping and is not a user table)."""
    if not (SPIDER / "tables.json").is_file():
        pytest.skip("Spider tables.json not available")
    schemas = {d["db_id"]: d for d in json.loads((SPIDER / "tables.json").read_text())}
    checked = 0
    for db_file in sorted((SPIDER / "database").glob("*/*.sqlite")):
        spec = schemas[db_file.stem]
        names, cols = spec["table_names_original"], spec["column_names_original"]
        e = open_engine(db_file)
        try:
            tables = e.tables()
        finally:
            e.close()
        assert {t.name.lower() for t in tables} == {
            n.lower() for n in names if not n.startswith("sqlite_")}, db_file.stem
        assert {(t.name.lower(), c.name.lower()) for t in tables for c in t.columns} == {
            (names[i].lower(), c.lower()) for i, c in cols
            if i >= 0 and not names[i].startswith("sqlite_")}, db_file.stem
        assert {(t.name.lower(), c.lower(), fk.ref_table.lower(), r.lower())
                for t in tables for fk in t.foreign_keys
                for c, r in zip(fk.columns, fk.ref_columns)} == {
            (names[cols[a][0]].lower(), cols[a][1].lower(), names[cols[b][0]].lower(),
             cols[b][1].lower()) for a, b in spec["foreign_keys"]}, db_file.stem
        checked += 1
    assert checked == 19  # every dev database but the missing wta_1


def test_sqlite_sample_values(concert_singer):
    e = open_engine(concert_singer)
    direct = sqlite3.connect(f"file:{concert_singer}?mode=ro", uri=True)
    try:
        countries = {r[0] for r in direct.execute("SELECT DISTINCT Country FROM singer")}
        sample = e.sample_values("singer", "Country", limit=2)
        assert len(sample) == 2 and set(sample) <= countries
        assert len(e.sample_values("singer", "Country", limit=50)) == len(countries)
        assert None not in e.sample_values("stadium", "Highest", limit=50)
    finally:
        direct.close()
        e.close()


def test_sqlite_sample_values_of_an_unknown_column_is_empty(concert_singer):
    e = open_engine(concert_singer)
    try:
        assert e.sample_values("singer", "no_such_column") == ()
    finally:
        e.close()


def test_sqlite_execute_matches_a_direct_read_on_gold_queries(concert_singer):
    """The concert_singer gold queries give the same rows through the engine as through a
    plain read-only sqlite3 connection."""
    gold = [ex["query"] for ex in json.loads((SPIDER / "dev.json").read_text())
            if ex["db_id"] == "concert_singer"]
    e = open_engine(concert_singer)
    direct = sqlite3.connect(f"file:{concert_singer}?mode=ro", uri=True)
    try:
        for sql in gold:
            result = e.execute(sql)
            assert isinstance(result, QueryResult) and not result.truncated
            assert result.seconds >= 0
            cur = direct.execute(sql)
            assert result.rows == tuple(tuple(r) for r in cur.fetchall()), sql
            assert result.columns == tuple(d[0] for d in cur.description), sql
        assert len(gold) == 45
        r = e.execute("SELECT Name, Age FROM singer WHERE Age > 50 ORDER BY Age")
        assert r.columns == ("Name", "Age") and r.rows == (("Joe Sharp", 52),)
    finally:
        direct.close()
        e.close()


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT nope FROM singer", "no such column"),
    ("SELECT * FROM no_such_table", "no such table"),
    ("SELEC Name FROM singer", "syntax error"),
    ("SELECT Name FROM singer WHERE", "incomplete input"),
])
def test_sqlite_explain_of_a_bad_query_raises(concert_singer, sql, message):
    e = open_engine(concert_singer)
    try:
        assert e.explain("SELECT T1.Name FROM singer AS T1 JOIN singer_in_concert AS T2 "
                         "ON T1.Singer_ID = T2.Singer_ID") is None
        with pytest.raises(QueryError, match=message):
            e.explain(sql)
    finally:
        e.close()


def test_sqlite_row_cap(concert_singer):
    e = open_engine(concert_singer)
    try:
        capped = e.execute("SELECT Name FROM singer ORDER BY Singer_ID", max_rows=2)
        assert capped.truncated and len(capped.rows) == 2
        exact = e.execute("SELECT Name FROM singer ORDER BY Singer_ID", max_rows=6)
        assert not exact.truncated and len(exact.rows) == 6
        assert exact.rows[:2] == capped.rows
        big = e.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                        "SELECT i FROM n", max_rows=1000)
        assert big.truncated and big.rows[-1] == (1000,)
    finally:
        e.close()


@pytest.mark.parametrize("sql", [
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    ("SELECT count(*) FROM singer_in_concert a, singer_in_concert b, singer_in_concert c, "
    "singer_in_concert d, singer_in_concert e, singer_in_concert f, singer_in_concert g, "
    "singer_in_concert h, singer_in_concert i, singer_in_concert j"),
])
def test_sqlite_timeout_stops_a_runaway_query(concert_singer, sql):
    e = open_engine(concert_singer)
    try:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError, match="1 s limit"):
            e.execute(sql, timeout=1.0)
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 2.0, elapsed
        assert e.execute("SELECT count(*) FROM singer").rows == ((6,),)  # still usable
    finally:
        e.close()


SQLITE_WRITES = [
    "DELETE FROM singer", "UPDATE singer SET Age = 0", "INSERT INTO singer (Name) VALUES ('x')",
    "REPLACE INTO singer (Singer_ID) VALUES (1)", "DROP TABLE singer", "CREATE TABLE t (a)",
    "CREATE TEMP TABLE t (a)", "CREATE INDEX i ON singer(Name)", "ALTER TABLE singer ADD x",
    "PRAGMA writable_schema = 1", "PRAGMA user_version = 7", "PRAGMA journal_mode = WAL",
    "ATTACH DATABASE 'evil.db' AS evil", "VACUUM", "VACUUM INTO 'evil.db'", "REINDEX",
    "ANALYZE", "BEGIN IMMEDIATE", "SELECT load_extension('evil')",
    "SELECT 1; DROP TABLE singer", "WITH x AS (SELECT 1) DELETE FROM singer",
    "SELECT * FROM pragma_table_info('singer')",
]


def test_sqlite_refuses_writes_and_the_file_is_unchanged(singer_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(singer_copy.parent)
    before = _sha(singer_copy)
    e = open_engine(singer_copy)
    try:
        for sql in SQLITE_WRITES:
            with pytest.raises(QueryError):
                e.execute(sql)
            try:  # EXPLAIN only compiles (EXPLAIN VACUUM compiles); it must not write either
                e.explain(sql)
            except QueryError:
                pass
        assert e.execute("SELECT count(*) FROM singer").rows == ((6,),)
    finally:
        e.close()
    assert _sha(singer_copy) == before
    assert [p.name for p in singer_copy.parent.iterdir()] == [singer_copy.name]


# == DuckDB: a .duckdb file ======================================================================
def test_duckdb_file_schema(shop_file):
    e = open_engine(shop_file)
    try:
        assert isinstance(e, DuckDBEngine) and e.dialect == "duckdb"
        tables = {t.name: t for t in e.tables()}
        assert set(tables) == {"customers", "products", "orders", "shipments", "returns",
                               "big_orders"}
        assert [(c.name, c.type) for c in tables["products"].columns] == [
            ("product_id", "INTEGER"), ("title", "VARCHAR"), ("price", "DECIMAL(8,2)")]
        assert tables["orders"].primary_key == ("order_id",)
        assert tables["shipments"].primary_key == ("order_id", "line")
        assert set(tables["orders"].foreign_keys) == {
            ForeignKey("orders", ("customer_id",), "customers", ("customer_id",)),
            ForeignKey("orders", ("product_id",), "products", ("product_id",)),
        }
        assert tables["returns"].foreign_keys == (
            ForeignKey("returns", ("order_id", "line"), "shipments", ("order_id", "line")),)
        assert tables["big_orders"].primary_key == () and len(tables["big_orders"].columns) == 5
    finally:
        e.close()


def test_duckdb_file_queries_samples_explain_and_row_cap(shop_file):
    e = open_engine(shop_file)
    try:
        r = e.execute("SELECT c.name, sum(o.quantity) AS q FROM customers c JOIN orders o "
                      "USING (customer_id) GROUP BY c.name ORDER BY q DESC")
        assert r.columns == ("name", "q") and r.rows == (("Ada", 4), ("Bo", 4), ("Cy", 3)) \
            or r.rows == (("Bo", 4), ("Ada", 4), ("Cy", 3))
        assert set(e.sample_values("customers", "country", limit=5)) == {"France", "Spain"}
        capped = e.execute("SELECT * FROM range(50)", max_rows=10)
        assert capped.truncated and len(capped.rows) == 10
        assert not e.execute("SELECT * FROM orders", max_rows=5).truncated
        assert e.explain("SELECT * FROM big_orders") is None
        with pytest.raises(QueryError, match="nope"):
            e.explain("SELECT nope FROM orders")
        with pytest.raises(QueryError):
            e.execute("SELECT * FROM no_such_table")
    finally:
        e.close()


DUCKDB_WRITES = [
    "INSERT INTO customers VALUES (9, 'Eve', 'Nowhere')", "DELETE FROM orders",
    "UPDATE products SET price = 0", "DROP TABLE orders", "CREATE TABLE t (a INT)",
    "ALTER TABLE orders ADD COLUMN x INT", "CREATE SEQUENCE s", "CREATE MACRO m(x) AS x",
    "ATTACH 'evil.duckdb' AS evil", "ATTACH ':memory:' AS m",
    "COPY orders TO 'evil.csv'", "COPY (SELECT 1) TO 'evil.parquet' (FORMAT parquet)",
    "EXPORT DATABASE 'evil_dir'", "SET enable_external_access = true", "SET threads = 1",
    "RESET lock_configuration", "INSTALL httpfs", "LOAD httpfs",
    "SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM '/etc/passwd.csv'", "SELECT * FROM glob('/etc/*')",
]


def test_duckdb_file_is_read_only_and_unchanged(shop_file, monkeypatch):
    monkeypatch.chdir(shop_file.parent)
    before = _sha(shop_file)
    e = open_engine(shop_file)
    try:
        for sql in DUCKDB_WRITES:
            with pytest.raises(QueryError):
                e.execute(sql)
        assert e.execute("SELECT count(*) FROM orders").rows == ((5,),)
    finally:
        e.close()
    assert _sha(shop_file) == before
    assert [p.name for p in shop_file.parent.iterdir()] == [shop_file.name]


def test_duckdb_engine_refuses_to_read_etc_passwd(shop_file):
    e = open_engine(shop_file)
    try:
        with pytest.raises(QueryError, match="disabled by configuration"):
            e.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(QueryError, match="disabled by configuration"):
            e.execute("SELECT * FROM read_csv_auto('/etc/passwd', header = false)")
    finally:
        e.close()


def test_duckdb_timeout_interrupts_the_query(shop_file):
    e = open_engine(shop_file)
    try:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError, match="1 s limit"):
            e.execute("SELECT count(*) FROM range(100000000) a, range(100000) b "
                      "WHERE a.range + b.range = -1", timeout=1.0)
        elapsed = time.monotonic() - start
        assert 0.9 <= elapsed < 2.0, elapsed
        assert e.execute("SELECT count(*) FROM customers").rows == ((3,),)  # still usable
    finally:
        e.close()


def test_duckdb_session_cannot_be_poisoned(shop_file):
    e = open_engine(shop_file)
    try:
        for sql in ("CREATE TEMP VIEW orders AS SELECT 42 AS order_id",
                    "SELECT 1; CREATE TEMP VIEW customers AS SELECT 42 AS name"):
            try:
                e.execute(sql)
            except QueryError:
                pass
        assert e.execute("SELECT count(*) FROM orders").rows == ((5,),)
        assert e.execute("SELECT count(*) FROM customers").rows == ((3,),)
    finally:
        e.close()


# == DuckDB: data files =========================================================================
def test_csv_file_is_one_table(tmp_path):
    csv = tmp_path / "2024 sales-report.csv"
    csv.write_text("region,amount\nNorth,10\nSouth,32\nNorth,5\n")
    e = open_engine(csv)
    try:
        assert isinstance(e, DuckDBEngine) and e.dialect == "duckdb"
        assert e.allowed_files == (csv.resolve(),)
        (table,) = e.tables()
        assert table.name == "t_2024_sales_report"
        assert [(c.name, c.type) for c in table.columns] == [
            ("region", "VARCHAR"), ("amount", "BIGINT")]
        r = e.execute(f"SELECT region, sum(amount) FROM {table.name} GROUP BY 1 ORDER BY 1")
        assert r.rows == (("North", 15), ("South", 32))
    finally:
        e.close()


def test_folder_of_csv_parquet_json_files(data_folder):
    e = open_engine(data_folder)
    try:
        assert {t.name for t in e.tables()} == {"people", "items", "purchases"}  # not notes.txt
        assert {p.name for p in e.allowed_files} == {"people.csv", "items.parquet", "purchases.json"}
        r = e.execute("SELECT p.name, i.title FROM purchases AS u JOIN people AS p USING "
                      "(person_id) JOIN items AS i USING (item_id) ORDER BY p.name, i.title")
        assert r.rows == (("Ada", "Desk"), ("Ada", "Lamp"), ("Cy", "Desk"))
        assert e.execute("SELECT max(age) FROM people").rows == ((41,),)
        assert e.execute("SELECT sum(price) FROM items").rows == ((170.0,),)
        people = e.allowed_files[[p.name for p in e.allowed_files].index("people.csv")]
        # the opened files stay readable by path, and nothing else on disk
        assert e.execute(f"SELECT count(*) FROM read_csv('{people}')").rows == ((3,),)
        for sql in ("SELECT * FROM read_csv('/etc/passwd')",
                    f"SELECT * FROM read_text('{data_folder / 'notes.txt'}')",
                    "SELECT * FROM '/etc/hostname.csv'"):
            with pytest.raises(QueryError, match="disabled by configuration"):
                e.execute(sql)
        with pytest.raises(QueryError, match="one SELECT statement only, got: SET"):
            e.execute("SET enable_external_access = true")
        with pytest.raises(Exception, match="configuration"):  # the lock behind the check
            e._conn.execute("SET enable_external_access = true")
    finally:
        e.close()


def test_folder_timeout_interrupts_the_query(data_folder):
    e = open_engine(data_folder)
    try:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            e.execute("SELECT count(*) FROM range(100000000) a, people b, range(1000) c "
                      "WHERE a.range + c.range = -1", timeout=1.0)
        assert time.monotonic() - start < 2.0
    finally:
        e.close()


def test_folder_data_files_cannot_be_overwritten(data_folder):
    before = _tree_sha(data_folder)
    people = data_folder / "people.csv"
    e = open_engine(data_folder)
    try:
        try:
            e.execute(f"COPY (SELECT 'pwned' AS name) TO '{people}' (USE_TMP_FILE false)")
        except QueryError:
            pass
    finally:
        e.close()
    assert _tree_sha(data_folder) == before


def test_folder_catalog_is_read_only(data_folder):
    e = open_engine(data_folder)
    try:
        refused = 0
        for sql in ("DROP VIEW people", "CREATE TABLE t (a INT)", "ATTACH ':memory:' AS m",
                    "CREATE OR REPLACE VIEW items AS SELECT 1 AS x"):
            try:
                e.execute(sql)
            except QueryError:
                refused += 1
        assert refused == 4
    finally:
        e.close()


# == bad paths ==================================================================================
@pytest.mark.parametrize(("make", "words"), [
    (lambda p: p / "missing.sqlite", "database not found"),
    (lambda p: p / "no_dir" / "x.duckdb", "database not found"),
    (lambda p: _write(p / "notes.txt", b"hello\n"), "not a database xander can read"),
    (lambda p: _write(p / "junk.duckdb", bytes(range(256)) * 16), "cannot open"),
    (lambda p: _write(p / "bad.sqlite", b"SQLite format 3\x00" + b"\x07" * 1000), "cannot open"),
    (lambda p: _write(p / "empty.db", b""), "cannot open"),
    (lambda p: _mkdir(p / "empty"), "no CSV, Parquet or JSON files"),
    (lambda p: _write(_mkdir(p / "docs") / "readme.md", b"# hi") and p / "docs",
     "no CSV, Parquet or JSON files"),
])
def test_bad_paths_are_clear_errors(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(DatabaseNotFoundError) as err:
        open_engine(path)
    assert words in err.value.message
    assert str(path) in err.value.message  # names the path the user gave
    assert err.value.hint  # and says what to do
    assert err.value.exit_code == 2


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_engines_open_other_spider_databases():
    """A second real database, to keep the SQLite engine honest beyond concert_singer."""
    e = open_engine(spider_db("world_1"))
    try:
        assert e.execute("SELECT count(*) FROM country").rows == ((239,),)
        assert {t.name for t in e.tables()} == {"city", "country", "countrylanguage"}
    finally:
        e.close()
