"""The safety gate: accept/reject tables, every gold query accepted, and a property test.

Accepted examples are real queries: each one runs on a real database.  Rejected examples name
the category that must appear in the refusal.  The property test builds statements from a
grammar of hostile fragments mixed with SELECTs and obfuscations; each one is either refused by
the gate or, if accepted, leaves a copy of the database byte-identical when run on a *writable*
connection that executes every statement it is given (so the gate alone must hold).  Every
refused one is then run directly on the read-only engine (the second wall), which must leave
the file byte-identical too and create no file.
"""

from __future__ import annotations

import doctest
import hashlib
import json
import os
import random
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BIRD, SPIDER
from xander import safety
from xander.engines import open_engine
from xander.errors import QueryError, UnsafeQueryError
from xander.safety import ensure_read_only


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- accept table: real reads, each run on a real database -------------------------------------
ACCEPT_SQLITE = [
    "SELECT 1",
    "SELECT Name FROM singer;",
    "select name from singer  ;  \n",
    "-- the oldest singer\nSELECT Name FROM singer ORDER BY Age DESC LIMIT 1",
    "/* a note */ SELECT count(*) FROM concert",
    "WITH c AS (SELECT Country, count(*) AS n FROM singer GROUP BY Country) SELECT * FROM c",
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) "
    "SELECT sum(i) FROM n"),
    ("WITH a AS (SELECT Singer_ID FROM singer), b AS (SELECT * FROM a WHERE Singer_ID > 2) "
    "SELECT count(*) FROM b"),
    "SELECT Name FROM singer UNION SELECT Name FROM stadium",
    "SELECT Name FROM singer UNION ALL SELECT Name FROM stadium ORDER BY 1",
    "SELECT Name FROM singer INTERSECT SELECT Name FROM singer WHERE Age > 30",
    "SELECT Name FROM singer EXCEPT SELECT Name FROM singer WHERE Age > 30",
    "SELECT Name, rank() OVER (ORDER BY Age DESC) AS r FROM singer",
    "SELECT Country, Age, avg(Age) OVER (PARTITION BY Country) FROM singer",
    "SELECT * FROM (SELECT Name, Age FROM singer) AS t WHERE t.Age IN (SELECT max(Age) FROM singer)",
    "SELECT 'DROP TABLE singer' AS harmless_text",
    "SELECT 'INSERT INTO x, DELETE' IS NULL",
    'SELECT "Name" AS "delete", "Age" AS "drop" FROM singer',
    "SELECT replace(Name, 'a', 'b') FROM singer",
    "SELECT Name FROM singer WHERE Name GLOB 'J*'",
    "SELECT Name FROM singer WHERE Name LIKE '%on%' ESCAPE '\\'",
    ("SELECT T1.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.Singer_ID = T2.Singer_ID "
    "GROUP BY T1.Name HAVING count(*) > 1"),
    "SELECT Name FROM singer WHERE Singer_ID IN (SELECT value FROM (SELECT 1 AS value))",
    "SELECT CASE WHEN Age > 30 THEN 'old' ELSE 'young' END FROM singer",
    "SELECT Name FROM 'singer'",
    "SELECT count(*) FROM singer WHERE EXISTS (SELECT 1 FROM concert)",
    "SELECT strftime('%Y', 'now') IS NOT NULL, julianday('2024-01-01') > 0",
]
ACCEPT_DUCKDB = [
    "SELECT name FROM customers",
    "FROM customers SELECT name WHERE country = 'France'",
    ("WITH totals AS (SELECT customer_id, sum(quantity) AS q FROM orders GROUP BY ALL) "
    "SELECT c.name, t.q FROM customers AS c JOIN totals AS t USING (customer_id) ORDER BY t.q DESC"),
    ("SELECT order_id, sum(quantity) OVER (PARTITION BY customer_id ORDER BY order_date "
    "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders"),
    ("SELECT customer_id, order_id FROM orders "
    "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY order_date DESC) = 1"),
    "SELECT name FROM customers UNION SELECT title FROM products",
    "SELECT customer_id FROM customers EXCEPT SELECT customer_id FROM orders",
    "SELECT product_id FROM products INTERSECT SELECT product_id FROM orders",
    "SELECT 1 AS a UNION BY NAME SELECT 2 AS a",
    "SELECT * EXCLUDE (price) FROM products",
    "SELECT * FROM range(3) AS t(i)",
    "SELECT unnest([1, 2, 3]) AS x",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT strftime(order_date, '%Y-%m') AS month, count(*) FROM orders GROUP BY 1",
    "SELECT list(title ORDER BY price) FROM products",
    "SELECT * FROM orders WHERE order_date BETWEEN DATE '2024-02-01' AND DATE '2024-03-01'",
    "SELECT 1 /* a /* nested */ comment */",
    ("SELECT * FROM orders AS o JOIN products AS p ON o.product_id = p.product_id "
    "WHERE p.price > (SELECT avg(price) FROM products)"),
    "SELECT * FROM (PIVOT orders ON customer_id IN (1, 2) USING sum(quantity) GROUP BY product_id)",
    "SELECT title, price FROM products ORDER BY price DESC LIMIT 2;",
    "(SELECT name FROM customers) UNION (SELECT title FROM products)",
    "SELECT 'COPY orders TO ''x.csv''' AS harmless_text",
]


@pytest.mark.parametrize("sql", ACCEPT_SQLITE)
def test_gate_accepts_sqlite_reads_that_run(sql, concert_singer):
    tree = ensure_read_only(sql, "sqlite")
    assert tree.sql(dialect="sqlite")
    engine = open_engine(concert_singer)
    try:
        engine.execute(sql)  # a real query, not just a parseable one
    finally:
        engine.close()


@pytest.mark.parametrize("sql", ACCEPT_DUCKDB)
def test_gate_accepts_duckdb_reads_that_run(sql, shop_duckdb):
    tree = ensure_read_only(sql, "duckdb")
    assert tree.sql(dialect="duckdb")
    engine = open_engine(shop_duckdb)
    try:
        engine.execute(sql)
    finally:
        engine.close()


# -- reject table: (sql, dialect, words the refusal must contain; "a|b": either) ----------------
REJECT = [
    # DDL, with case and whitespace games
    ("DROP TABLE singer", "sqlite", "DROP statement"),
    ("drop table singer", "duckdb", "DROP statement"),
    ("DrOp\tTaBlE\nsinger", "sqlite", "DROP statement"),
    ("  \n\t DROP VIEW v", "sqlite", "DROP statement"),
    ("CREATE TABLE x (a INT)", "sqlite", "CREATE statement"),
    ("CREATE TEMP VIEW orders AS SELECT 42", "duckdb", "CREATE statement"),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", "duckdb", "CREATE statement"),
    ("CREATE INDEX i ON singer(Name)", "sqlite", "CREATE statement"),
    ("CREATE TRIGGER t AFTER INSERT ON singer BEGIN DELETE FROM singer; END", "sqlite", "';'"),
    ("CREATE MACRO m(x) AS x", "duckdb", "CREATE statement"),
    ("CREATE SEQUENCE s", "duckdb", "CREATE statement"),
    ("ALTER TABLE singer ADD COLUMN x INT", "sqlite", "ALTER statement"),
    ("ALTER TABLE singer RENAME TO s2", "duckdb", "ALTER statement"),
    ("TRUNCATE singer", "duckdb", "TRUNCATE statement"),
    # DML
    ("DELETE FROM singer", "sqlite", "DELETE statement"),
    ("delete from orders where 1=1", "duckdb", "DELETE statement"),
    ("UPDATE singer SET Age = 0", "sqlite", "UPDATE statement"),
    ("INSERT INTO singer VALUES (1)", "sqlite", "INSERT statement"),
    ("INSERT OR REPLACE INTO singer SELECT * FROM singer", "sqlite", "INSERT statement"),
    ("REPLACE INTO singer VALUES (1)", "sqlite", "REPLACE statement"),
    ("INSERT INTO orders SELECT * FROM orders ON CONFLICT DO NOTHING", "duckdb", "INSERT"),
    ("MERGE INTO orders USING orders AS o ON false WHEN NOT MATCHED THEN INSERT VALUES (1)",
     "duckdb", "MERGE statement"),
    # DML hidden inside a read
    ("WITH x AS (DELETE FROM singer RETURNING *) SELECT * FROM x", "duckdb", "DELETE"),
    ("WITH x AS (DELETE FROM singer RETURNING *) SELECT * FROM x", "sqlite", "DELETE"),
    ("with x as (update orders set quantity = 0 returning *) select * from x", "duckdb", "UPDATE"),
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1", "duckdb", "INSERT"),
    (("WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM t RETURNING *) SELECT * FROM c) "
     "SELECT * FROM b"), "duckdb", "DELETE"),
    ("SELECT * FROM (DELETE FROM singer RETURNING *)", "sqlite", "DELETE"),
    ("SELECT * FROM singer WHERE Age IN (UPDATE singer SET Age = 1 RETURNING Age)", "sqlite",
     "UPDATE"),
    ("SELECT (WITH d AS (DELETE FROM t RETURNING 1) SELECT 1)", "duckdb", "DELETE"),
    # PRAGMA
    ("PRAGMA writable_schema = 1", "sqlite", "PRAGMA statement"),
    ("pragma journal_mode=WAL", "sqlite", "PRAGMA statement"),
    ("PRAGMA enable_profiling", "duckdb", "PRAGMA statement"),
    ("SELECT * FROM pragma_table_info('singer')", "sqlite", "pragma_table_info"),
    ("SELECT * FROM pragma_version()", "duckdb", "pragma_version"),
    # ATTACH / DETACH
    ("ATTACH DATABASE '/tmp/x.db' AS x", "sqlite", "ATTACH statement"),
    ("attach 'evil.duckdb' as evil", "duckdb", "ATTACH statement"),
    ("DETACH DATABASE x", "sqlite", "DETACH statement"),
    ("DETACH evil", "duckdb", "DETACH statement"),
    # COPY / EXPORT / IMPORT
    ("COPY singer TO '/tmp/out.csv'", "duckdb", "COPY statement"),
    ("COPY (SELECT * FROM orders) TO 'out.parquet' (FORMAT parquet)", "duckdb", "COPY statement"),
    ("COPY orders FROM '/tmp/in.csv'", "duckdb", "COPY statement"),
    ("EXPORT DATABASE '/tmp/x'", "duckdb", "EXPORT statement"),
    ("IMPORT DATABASE '/tmp/x'", "duckdb", "IMPORT statement"),
    # INSTALL / LOAD
    ("INSTALL httpfs", "duckdb", "INSTALL statement"),
    ("FORCE INSTALL httpfs", "duckdb", "FORCE statement"),
    ("LOAD httpfs", "duckdb", "LOAD statement"),
    ("load 'evil.duckdb_extension'", "duckdb", "LOAD statement"),
    ("SELECT load_extension('evil.so')", "sqlite", "load_extension"),
    ("SELECT Load_Extension ('evil.so', 'init')", "sqlite", "load_extension"),
    # SET / RESET / CALL / USE / transactions / maintenance
    ("SET enable_external_access = true", "duckdb", "SET statement"),
    ("SET threads = 1", "duckdb", "SET statement"),
    ("SET VARIABLE x = 1", "duckdb", "SET statement"),
    ("RESET threads", "duckdb", "RESET statement"),
    ("CALL pragma_version()", "duckdb", "CALL statement"),
    ("call dbgen(sf = 1)", "duckdb", "CALL statement"),
    ("USE memory", "duckdb", "USE statement"),
    ("VACUUM", "sqlite", "VACUUM statement"),
    ("VACUUM INTO '/tmp/copy.db'", "sqlite", "VACUUM statement"),
    ("ANALYZE", "sqlite", "ANALYZE statement"),
    ("REINDEX", "sqlite", "REINDEX statement"),
    ("CHECKPOINT", "duckdb", "CHECKPOINT statement"),
    ("BEGIN", "sqlite", "BEGIN statement"),
    ("BEGIN TRANSACTION", "duckdb", "BEGIN statement"),
    ("COMMIT", "sqlite", "COMMIT statement"),
    ("ROLLBACK", "duckdb", "ROLLBACK statement"),
    ("SAVEPOINT a", "sqlite", "SAVEPOINT statement"),
    ("RELEASE a", "sqlite", "RELEASE statement"),
    ("END TRANSACTION", "sqlite", "END statement"),
    ("PREPARE p AS SELECT 1", "duckdb", "PREPARE statement"),
    ("EXECUTE p", "duckdb", "EXECUTE statement"),
    ("GRANT SELECT ON orders TO evil", "duckdb", "GRANT statement"),
    # read-looking statements that are not one SELECT
    ("EXPLAIN SELECT 1", "sqlite", "EXPLAIN statement"),
    ("EXPLAIN ANALYZE SELECT 1", "duckdb", "EXPLAIN statement"),
    ("DESCRIBE orders", "duckdb", "DESCRIBE statement"),
    ("SHOW TABLES", "duckdb", "SHOW statement"),
    ("SUMMARIZE orders", "duckdb", "SUMMARIZE statement"),
    ("SELECT * FROM (SHOW TABLES)", "duckdb", "SHOW statement inside"),
    ("SELECT * FROM (DESCRIBE orders)", "duckdb", "DESCRIBE statement inside"),
    ("SELECT * FROM (SUMMARIZE orders)", "duckdb", "SUMMARIZE statement inside"),
    ("PIVOT orders ON customer_id USING sum(quantity)", "duckdb", "'PIVOT'"),
    ("SELECT * FROM (PIVOT orders ON customer_id USING sum(quantity))", "duckdb", "CREATE"),
    ("VALUES (1)", "duckdb", "'VALUES'"),
    ("TABLE orders", "duckdb", "'TABLE'"),
    # several statements, and comments hiding them
    ("SELECT 1; DROP TABLE singer", "sqlite", "several statements"),
    ("SELECT 1;DROP TABLE singer;", "sqlite", "several statements"),
    ("SELECT 1;\n\nDELETE FROM singer", "duckdb", "several statements"),
    ("SELECT 1; SELECT 2", "duckdb", "several statements"),
    ("SELECT 1;;", "sqlite", "several statements"),
    ("SELECT 1 /* */; /* */ DELETE FROM singer", "sqlite", "several statements"),
    ("SELECT 1 -- harmless\n; DROP TABLE singer", "sqlite", "several statements"),
    ("SELECT 1; -- DROP TABLE singer", "sqlite", "several statements"),
    ("SELECT 1 /* /* */ ; DROP TABLE singer; /* */", "sqlite", "several statements"),
    ("SELECT 1 /* a /* b */ ; DROP TABLE orders; */", "duckdb", "several statements"),
    ("/* SELECT */ DROP TABLE singer", "sqlite", "DROP statement"),
    ("-- SELECT 1\nDROP TABLE singer", "sqlite", "DROP statement"),
    ("SELECT $$;$$ ; DROP TABLE orders", "duckdb", "several statements"),
    ("SELECT E'\\'; DROP TABLE orders; --'", "duckdb", "several statements"),
    ("SELECT 'a'';' ; DROP TABLE singer", "sqlite", "several statements"),
    ("BEGIN; DELETE FROM singer; COMMIT", "sqlite", "several statements"),
    # SELECT ... INTO, locks
    ("SELECT * INTO backup FROM singer", "duckdb", "INTO"),
    ("select name into evil from customers", "sqlite", "INTO"),
    ("SELECT * FROM singer FOR UPDATE", "sqlite", "UPDATE"),
    ("SELECT * FROM orders FOR SHARE", "duckdb", "LOCK"),
    # functions that reach outside the database
    ("SELECT * FROM read_csv('/etc/passwd')", "duckdb", "read_csv"),
    ("SELECT * FROM READ_CSV_AUTO ('/etc/passwd')", "duckdb", "read_csv_auto"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "duckdb", "read_parquet"),
    ("SELECT * FROM read_json('x.json')", "duckdb", "read_json"),
    ("SELECT * FROM read_json_auto('https://example.com/x.json')", "duckdb", "read_json_auto"),
    ("SELECT * FROM read_ndjson_objects('x.ndjson')", "duckdb", "read_ndjson_objects"),
    ("SELECT content FROM read_text('/etc/hostname')", "duckdb", "read_text"),
    ("SELECT content FROM read_blob('/etc/shadow')", "duckdb", "read_blob"),
    ("SELECT * FROM glob('/home/*')", "duckdb", "glob"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "duckdb", "sniff_csv"),
    ("SELECT * FROM parquet_metadata('x.parquet')", "duckdb", "parquet_metadata"),
    ("SELECT * FROM parquet_scan('x.parquet')", "duckdb", "parquet_scan"),
    ("SELECT * FROM sqlite_scan('/tmp/x.db', 't')", "duckdb", "sqlite_scan"),
    ("SELECT * FROM postgres_scan('host=x', 'public', 't')", "duckdb", "postgres_scan"),
    ("SELECT * FROM query('SELECT 42')", "duckdb", "query"),
    ("SELECT * FROM query_table('orders')", "duckdb", "query_table"),
    ("SELECT getenv('HOME')", "duckdb", "getenv"),
    ("SELECT current_setting('allowed_paths')", "duckdb", "current_setting"),
    ("SELECT * FROM duckdb_settings()", "duckdb", "duckdb_settings"),
    ("SELECT * FROM duckdb_secrets()", "duckdb", "duckdb_secrets"),
    ("SELECT nextval('seq')", "duckdb", "nextval"),
    ("SELECT setseed(0.5)", "duckdb", "setseed"),
    ("SELECT * FROM json_execute_serialized_sql('{}')", "duckdb", "json_execute_serialized_sql"),
    ("SELECT * FROM st_read('x.shp')", "duckdb", "st_read"),
    ("SELECT readfile('/etc/passwd')", "sqlite", "readfile"),
    ("SELECT writefile('/tmp/x', 'y')", "sqlite", "writefile"),
    ("SELECT edit('text', 'vi')", "sqlite", "edit"),
    ("SELECT fts3_tokenizer('simple')", "sqlite", "fts3_tokenizer"),
    # obfuscated calls: quoted name, qualified name, nested in subqueries, joins, CTEs
    ('SELECT * FROM "read_csv"(\'/etc/passwd\')', "duckdb", "read_csv"),
    ("SELECT * FROM main.read_csv('/etc/passwd')", "duckdb", "read_csv"),
    ("SELECT * FROM customers, LATERAL read_csv('/etc/passwd')", "duckdb", "read_csv"),
    ("SELECT * FROM customers JOIN read_csv('/etc/passwd') ON true", "duckdb", "read_csv"),
    ("SELECT * FROM customers, LATERAL repeat_row(1, num_rows = 3)", "duckdb", "repeat_row"),
    ("SELECT * FROM test_all_types()", "duckdb", "test_all_types"),
    ("SELECT (SELECT count(*) FROM glob('/*'))", "duckdb", "glob"),
    ("WITH f AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM f", "duckdb", "read_text"),
    ("SELECT name FROM customers WHERE name IN (SELECT column0 FROM read_csv('/etc/passwd'))",
     "duckdb", "read_csv"),
    ("SELECT 1 UNION SELECT getenv('PATH')", "duckdb", "getenv"),
    # files and URLs as table names
    ("SELECT * FROM '/etc/passwd.csv'", "duckdb", "file"),
    ("SELECT * FROM 'data.csv'", "duckdb", "file"),
    ('SELECT * FROM "data.parquet"', "duckdb", "file"),
    ("SELECT * FROM data.csv", "duckdb", "file"),
    ("SELECT * FROM main.data.csv", "duckdb", "file"),
    ("SELECT * FROM 'x.csv.gz'", "duckdb", "file"),
    ("SELECT * FROM 'https://example.com/x.parquet'", "duckdb", "file"),
    ("SELECT * FROM 's3://bucket/x.parquet'", "duckdb", "file"),
    ("SELECT * FROM '~/secrets.json'", "duckdb", "file"),
    ("SELECT * FROM '*.csv'", "duckdb", "file"),
    ("FROM 'data.csv'", "duckdb", "file"),
    ("SELECT * FROM (FROM '/etc/passwd.csv')", "duckdb", "file"),
    ("SELECT * FROM customers JOIN 'other.parquet' AS o ON true", "duckdb", "file"),
    ("SELECT * FROM '/tmp/evil.db'", "sqlite", "file"),
    ("SELECT * FROM t1 . csv", "duckdb", "file"),
    ("SELECT * FROM 'file:///etc/passwd.csv'", "duckdb", "file"),
    ("SELECT * FROM e'/etc/passwd.csv'", "duckdb", "file|parsed"),
    ("SELECT * FROM $$/etc/passwd.csv$$", "duckdb", "file|parsed"),
    ("SELECT * FROM read_csv($$/etc/passwd$$)", "duckdb", "read_csv"),
    ('SELECT * FROM U&"t1\\002ecsv"', "duckdb", "file|parsed"),
    # unparseable, empty, oversized
    ("", "sqlite", "empty"),
    ("   \n ", "duckdb", "empty"),
    (";", "sqlite", "empty"),
    ("SELECT * FROM", "sqlite", "could not be parsed"),
    ("SELECT (((1", "duckdb", "could not be parsed"),
    ("SELECT 'unterminated", "sqlite", "could not be parsed"),
    ("SELEC 1", "sqlite", "'SELEC'"),
    ("SELECT 1" + " " * 60_000 + "FROM singer", "sqlite", "characters"),
    ("SELECT 1", "klingon", "dialect"),
    # unicode and control characters
    ("SELECT 1\x00; DROP TABLE singer", "sqlite", "U+0000"),
    ("SELECT 1;\u200bDROP TABLE singer", "sqlite", "U+200B"),
    ("\ufeffDROP TABLE singer", "sqlite", "U+FEFF"),
    ("SELECT 1 -- \u202e;elbat pord\nFROM singer", "sqlite", "U+202E"),
    ("DROP\u00a0TABLE singer", "sqlite", "statement"),
    ("\uff24\uff32\uff2f\uff30 TABLE singer", "sqlite", "statement starting with"),
    ("SELECT 1 UNION SELECT 2;\u2028DROP TABLE singer", "duckdb", "several statements"),
    ("SELECT 'é' ; DÉLETE FROM singer; DELETE FROM singer", "sqlite", "several statements"),
]


@pytest.mark.parametrize(("sql", "dialect", "words"), REJECT,
                         ids=[f"{d}-{i}" for i, (_, d, _) in enumerate(REJECT)])
def test_gate_refuses(sql, dialect, words):
    with pytest.raises(UnsafeQueryError) as err:
        ensure_read_only(sql, dialect)
    assert any(w.lower() in err.value.message.lower() for w in words.split("|")), err.value.message
    assert err.value.message.startswith("refused: ")
    assert err.value.hint  # the CLI prints what to do about it


def test_reject_table_covers_every_category():
    text = " ".join(s.upper() for s, _, _ in REJECT)
    for word in ("DROP", "CREATE", "ALTER", "INSERT", "UPDATE", "DELETE", "MERGE", "PRAGMA",
                 "ATTACH", "DETACH", "COPY", "INSTALL", "LOAD", "SET ", "RESET", "CALL",
                 "EXPORT", "IMPORT", "VACUUM", "BEGIN", "COMMIT", "ROLLBACK", "INTO",
                 "READ_CSV", "READ_PARQUET", "READ_JSON", "READ_TEXT", "READ_BLOB", "GLOB",
                 "SNIFF_CSV", "PARQUET_", "SQLITE_SCAN", "POSTGRES_SCAN", "LOAD_EXTENSION",
                 "READFILE", "WRITEFILE", "EDIT(", "QUERY(", "QUERY_TABLE", "GETENV",
                 "CURRENT_SETTING", "HTTPS://", "S3://"):
        assert word in text, word
    assert len(REJECT) >= 100
    assert {d for _, d, _ in REJECT} >= {"sqlite", "duckdb"}


def test_gate_returns_the_parsed_tree():
    tree = ensure_read_only("SELECT Name FROM singer WHERE Age > 30 ;", "sqlite")
    assert tree.sql() == "SELECT Name FROM singer WHERE Age > 30"


def test_doctests():
    result = doctest.testmod(safety, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


# -- files the user opened may be read by path, no others ---------------------------------------
def test_allowed_files_are_readable_and_nothing_else(tmp_path):
    (tmp_path / "people.csv").write_text("name,age\nAda,36\nBo,25\n")
    (tmp_path / "other.csv").write_text("secret\n42\n")
    engine = open_engine(tmp_path / "people.csv")
    allowed = engine.allowed_files
    people = str(allowed[0])
    other = str((tmp_path / "other.csv").resolve())
    try:
        for sql in (f"SELECT max(age) FROM '{people}'",
                    f"SELECT max(age) FROM read_csv('{people}')",
                    f"SELECT max(age) FROM read_csv_auto(['{people}'], header = true)",
                    "SELECT max(age) FROM people"):
            ensure_read_only(sql, "duckdb", allowed)
            assert engine.execute(sql).rows == ((36,),)
        for sql in (f"SELECT * FROM '{other}'",
                    f"SELECT * FROM read_csv('{other}')",
                    f"SELECT * FROM read_csv(['{people}', '{other}'])",
                    f"SELECT * FROM read_csv('{tmp_path.resolve()}/' || 'people.csv')",
                    f"SELECT * FROM read_text('{people}')",
                    f"SELECT * FROM glob('{people}')"):
            with pytest.raises(UnsafeQueryError):
                ensure_read_only(sql, "duckdb", allowed)
        with pytest.raises(UnsafeQueryError, match="file"):
            ensure_read_only(f"SELECT * FROM '{people}'", "duckdb")  # not allowed by default
    finally:
        engine.close()


# -- every gold query passes ------------------------------------------------------------------
def _gold(path: Path, key: str, db_root: Path | None = None) -> list[str]:
    if not path.is_file():
        pytest.skip(f"benchmark data not available at {path}")
    rows = json.loads(path.read_text())
    if db_root is not None:
        rows = [r for r in rows if (db_root / r["db_id"] / f"{r['db_id']}.sqlite").is_file()]
    return [r[key] for r in rows]


def test_every_spider_dev_gold_query_passes_the_gate():
    queries = _gold(SPIDER / "dev.json", "query", SPIDER / "database")
    refused = []
    for sql in queries:
        try:
            ensure_read_only(sql, "sqlite")
        except UnsafeQueryError as exc:
            refused.append((sql, exc.message))
    assert refused == []
    assert len(queries) == 972  # 1,034 dev questions less the 62 on the missing wta_1


def test_every_bird_dev_gold_query_passes_the_gate():
    queries = _gold(BIRD / "dev.json", "SQL")
    refused = [sql for sql in queries if not _accepted(sql, "sqlite")]
    assert refused == [] and len(queries) == 1534


def _accepted(sql: str, dialect: str) -> bool:
    try:
        ensure_read_only(sql, dialect)
    except UnsafeQueryError:
        return False
    return True


# -- the property: refused, or harmless even on a writable connection ---------------------------
READS = [
    "SELECT count(*) FROM {t}",
    "SELECT {c} FROM {t} ORDER BY 1 LIMIT 3",
    "SELECT 1",
    "WITH a AS (SELECT {c} FROM {t}) SELECT count(*) FROM a",
    "SELECT {c} FROM {t} UNION SELECT {c} FROM {t}",
    "SELECT 'DROP TABLE {t}' AS s",
    "(SELECT max({c}) FROM {t})",
    "SELECT {c} FROM {t} -- DROP TABLE {t}\n",
    "SELECT /* DELETE FROM {t} */ {c} FROM {t}",
    "SELECT {c} AS \"drop\" FROM {t} WHERE {c} IS NOT NULL",
]
STATEMENTS = [
    "DROP TABLE {t}", "DELETE FROM {t}", "UPDATE {t} SET {c} = NULL",
    "INSERT INTO {t} SELECT * FROM {t}", "REPLACE INTO {t} SELECT * FROM {t}",
    "CREATE TABLE evil AS SELECT * FROM {t}", "CREATE TEMP VIEW {t} AS SELECT 42 AS {c}",
    "CREATE INDEX evil_idx ON {t}({c})", "ALTER TABLE {t} RENAME TO evil",
    "ALTER TABLE {t} ADD COLUMN evil INT", "TRUNCATE {t}", "PRAGMA writable_schema = 1",
    "PRAGMA user_version = 7", "ATTACH DATABASE 'evil.db' AS evil", "DETACH evil", "VACUUM",
    "VACUUM INTO 'evil.db'", "REINDEX", "ANALYZE", "BEGIN", "COMMIT", "SAVEPOINT s",
    "COPY {t} TO 'evil.csv'", "INSTALL httpfs", "LOAD httpfs", "SET threads = 1",
    "CALL pragma_version()", "EXPORT DATABASE 'evil_dir'", "CHECKPOINT",
    "CREATE TRIGGER evil AFTER INSERT ON {t} BEGIN DELETE FROM {t}; END",
]
WRITES = ["DELETE FROM {t}", "UPDATE {t} SET {c} = NULL", "INSERT INTO {t} DEFAULT VALUES"]
FUNCTIONS = [
    "load_extension('evil')", "readfile('/etc/passwd')", "writefile('evil.txt', 'x')",
    "getenv('HOME')", "current_setting('threads')", "nextval('s')", "edit('x')",
]
SOURCES = [
    "read_csv('/etc/passwd')", "'/etc/passwd.csv'", "'evil.csv'", "glob('*')",
    "read_text('/etc/hostname')", "sqlite_scan('evil.db', 't')", "pragma_table_info('{t}')",
    "duckdb_settings()", "query_table('{t}')", "(SHOW TABLES)", "(DESCRIBE {t})",
    "query('DROP TABLE {t}')",
]
WRAPPERS = [
    "WITH x AS ({w} RETURNING *) SELECT * FROM x", "SELECT * FROM ({s})", "SELECT ({s})",
    "SELECT * FROM {t} WHERE {c} IN ({w} RETURNING {c})", "SELECT {f} FROM {t}",
    "SELECT * FROM {src}", "SELECT * INTO evil FROM {t}", "SELECT * FROM {t} FOR UPDATE",
    "SELECT * FROM {t} AS a JOIN {src} AS b ON true",
]
SEPARATORS = [";", "; ", ";\n", " ;\n-- c\n", ";/* c */", "\n", " ", "/* ; */ ", " UNION ",
              " UNION ALL ", " -- ;\n", "；"]
PREFIXES = ["", " ", "\n\t", "/* x */ ", "-- c\n", "/* SELECT */ "]


@st.composite
def hostile_sql(draw: st.DrawFn, table: str, column: str) -> str:
    """One statement from the grammar: reads, writes and wrapped writes, glued and disguised."""
    def fill(template: str) -> str:
        return template.format(
            t=table, c=column, w=draw(st.sampled_from(WRITES)).format(t=table, c=column),
            s=draw(st.sampled_from(STATEMENTS)).format(t=table, c=column),
            f=draw(st.sampled_from(FUNCTIONS)),
            src=draw(st.sampled_from(SOURCES)).format(t=table, c=column),
        )

    part = st.one_of(st.sampled_from(READS), st.sampled_from(READS), st.sampled_from(READS),
                     st.sampled_from(STATEMENTS), st.sampled_from(WRAPPERS)).map(fill)
    parts = draw(st.lists(part, min_size=1, max_size=3))
    seps = [draw(st.sampled_from(SEPARATORS)) for _ in parts]
    sql = draw(st.sampled_from(PREFIXES)) + "".join(p + s for p, s in zip(parts, seps))
    if not draw(st.booleans()):  # often drop the trailing separator
        sql = sql[: len(sql) - len(seps[-1])]
    disguise = draw(st.sampled_from(
        ["none", "upper", "lower", "mixed", "comments", "newlines", "nbsp", "zwsp"]))
    rnd = random.Random(draw(st.integers(0, 2**16)))
    if disguise == "upper":
        sql = sql.upper()
    elif disguise == "lower":
        sql = sql.lower()
    elif disguise == "mixed":
        sql = "".join(ch.upper() if rnd.random() < 0.5 else ch.lower() for ch in sql)
    elif disguise == "comments":
        sql = sql.replace(" ", "/**/")
    elif disguise == "newlines":
        sql = "".join(rnd.choice(["\n", "\t", " \r\n "]) if ch == " " else ch for ch in sql)
    elif disguise == "nbsp":
        sql = sql.replace(" ", "\u00a0", 1)
    elif disguise == "zwsp":
        sql = sql.replace(";", ";\u200b")
    return sql


def _run_sqlite_writable(path: Path, sql: str) -> None:
    """Every statement of ``sql`` on a writable connection: nothing but the gate protects it.

    SQLite's own ``execute`` must also see a single statement (it raises if more follow).
    """
    con = sqlite3.connect(path)
    try:
        try:
            con.execute(sql).fetchall()
        except (sqlite3.Warning, sqlite3.ProgrammingError) as exc:
            raise AssertionError(f"SQLite sees more than one statement in {sql!r}") from exc
        except sqlite3.Error:
            pass
        try:
            con.executescript(sql)
        except sqlite3.Error:
            pass
    finally:
        con.close()


def _run_duckdb_writable(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        kinds = [s.type for s in con.extract_statements(sql)]
        assert kinds == [duckdb.StatementType.SELECT], (sql, kinds)
        try:
            con.execute(sql)  # DuckDB runs every statement of the string
        except duckdb.Error:
            pass
    finally:
        con.close()


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_property_refused_or_harmless(dialect, concert_singer, shop_duckdb, tmp_path, monkeypatch):
    source, table, column = (
        (concert_singer, "singer", "Age") if dialect == "sqlite"
        else (shop_duckdb, "orders", "quantity")
    )
    db = tmp_path / "db" / source.name
    db.parent.mkdir()
    shutil.copy(source, db)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # relative 'evil.db', 'evil.csv' would land here
    before = _sha(db)
    counts: Counter[str] = Counter()
    run_writable = _run_sqlite_writable if dialect == "sqlite" else _run_duckdb_writable

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(sql=hostile_sql(table, column))
    def check(sql: str) -> None:
        counts["tried"] += 1
        try:
            ensure_read_only(sql, dialect)
        except UnsafeQueryError:
            counts["rejected"] += 1
            engine = open_engine(db)  # the second wall: the read-only engine alone
            try:
                engine.execute(sql, timeout=2.0, max_rows=10)
                counts["rejected, engine ran it harmlessly"] += 1
            except QueryError:
                counts["rejected, engine refused too"] += 1
            finally:
                engine.close()
        else:
            run_writable(db, sql)
            counts["accepted and harmless"] += 1
        assert _sha(db) == before, sql
        assert os.listdir(work) == [], (sql, os.listdir(work))
        assert sorted(p.name for p in db.parent.iterdir()) == [db.name], sql

    check()
    print(f"\nsafety property ({dialect}): {counts['tried']} statements tried, "
          f"{counts['rejected']} rejected by the gate "
          f"({counts['rejected, engine refused too']} also refused by the read-only engine, "
          f"{counts['rejected, engine ran it harmlessly']} ran on it harmlessly), "
          f"{counts['accepted and harmless']} accepted and harmless on a writable connection; "
          "file SHA-256 unchanged")
    assert counts["tried"] == counts["rejected"] + counts["accepted and harmless"]
    assert counts["rejected"] > 0 and counts["accepted and harmless"] > 0
