"""The safety gate: accept/reject tables, every gold query accepted, and a property test.

The property test builds statements from hostile fragments mixed with SELECTs; each one is
either refused by the gate or, if accepted, leaves a copy of a real database byte-identical
when executed.  Refused ones are then run directly on the read-only engine (the second wall)
and must not change the file either.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BIRD, SPIDER
from xander.engines import open_engine
from xander.errors import QueryError, UnsafeQueryError
from xander.safety import ensure_read_only

ACCEPT = [
    ("SELECT 1", "sqlite"),
    ("SELECT name FROM singer;", "sqlite"),
    ("WITH c AS (SELECT country, count(*) AS n FROM singer GROUP BY country) SELECT * FROM c",
     "sqlite"),
    ("SELECT name FROM singer UNION SELECT name FROM stadium", "sqlite"),
    ("SELECT name, rank() OVER (ORDER BY age) FROM singer", "duckdb"),
    ("SELECT * FROM (SELECT 1 AS a) AS t WHERE a IN (SELECT 1)", "duckdb"),
    ("SELECT 'DROP TABLE singer' AS harmless_text", "sqlite"),
    ('SELECT name FROM singer WHERE name = "delete"', "sqlite"),
]

REJECT = [
    ("DROP TABLE singer", "sqlite", "DROP"),
    ("drop table singer", "duckdb", "DROP"),
    ("DELETE FROM singer", "sqlite", "DELETE"),
    ("UPDATE singer SET age = 0", "sqlite", "UPDATE"),
    ("INSERT INTO singer VALUES (1)", "sqlite", "INSERT"),
    ("REPLACE INTO singer VALUES (1)", "sqlite", "REPLACE"),
    ("CREATE TABLE x (a INT)", "sqlite", "CREATE"),
    ("ALTER TABLE singer ADD COLUMN x", "sqlite", "ALTER"),
    ("PRAGMA writable_schema = 1", "sqlite", "PRAGMA"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "sqlite", "ATTACH"),
    ("DETACH DATABASE x", "sqlite", "DETACH"),
    ("VACUUM INTO '/tmp/copy.db'", "sqlite", "VACUUM"),
    ("BEGIN; DELETE FROM singer; COMMIT", "sqlite", "statement"),
    ("SELECT 1; DROP TABLE singer", "sqlite", "several statements"),
    ("SELECT 1;DROP TABLE singer;", "sqlite", "several statements"),
    ("SELECT 1 /* */; /* */ DELETE FROM singer", "sqlite", "several statements"),
    ("WITH x AS (DELETE FROM singer RETURNING *) SELECT * FROM x", "duckdb", "DELETE"),
    ("SELECT * INTO backup FROM singer", "duckdb", "INTO"),
    ("COPY singer TO '/tmp/out.csv'", "duckdb", "COPY"),
    ("INSTALL httpfs", "duckdb", "INSTALL"),
    ("LOAD httpfs", "duckdb", "LOAD"),
    ("SET enable_external_access = true", "duckdb", "SET"),
    ("CALL pragma_version()", "duckdb", "CALL"),
    ("EXPORT DATABASE '/tmp/x'", "duckdb", "EXPORT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "duckdb", "read_csv"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "duckdb", "read_csv_auto"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "duckdb", "read_parquet"),
    ("SELECT * FROM '/etc/passwd.csv'", "duckdb", "file"),
    ("SELECT * FROM glob('/home/*')", "duckdb", "glob"),
    ("SELECT getenv('HOME')", "duckdb", "getenv"),
    ("SELECT load_extension('evil.so')", "sqlite", "load_extension"),
    ("SELECT readfile('/etc/passwd')", "sqlite", "readfile"),
    ("SELECT writefile('/tmp/x', 'y')", "sqlite", "writefile"),
    ("SELECT * FROM sqlite_scan('/tmp/x.db', 't')", "duckdb", "sqlite_scan"),
    ("", "sqlite", "empty"),
    ("   ", "sqlite", "empty"),
    ("SELECT * FROM", "sqlite", "parsed"),
    ("EXPLAIN SELECT 1", "sqlite", "EXPLAIN"),
]


@pytest.mark.parametrize(("sql", "dialect"), ACCEPT)
def test_gate_accepts_reads(sql, dialect):
    ensure_read_only(sql, dialect)


@pytest.mark.parametrize(("sql", "dialect", "word"), REJECT)
def test_gate_refuses(sql, dialect, word):
    with pytest.raises(UnsafeQueryError) as err:
        ensure_read_only(sql, dialect)
    assert word.lower() in str(err.value).lower()


def test_allowed_file_is_readable():
    ensure_read_only("SELECT * FROM '/data/x.csv'", "duckdb", allowed_files=("/data/x.csv",))


def test_every_gold_query_passes_the_gate():
    n = 0
    for path, key in ((SPIDER / "dev.json", "query"), (BIRD / "dev.json", "SQL")):
        if not path.is_file():
            continue
        for ex in json.loads(path.read_text()):
            ensure_read_only(ex[key], "sqlite")
            n += 1
    if n == 0:
        pytest.skip("benchmark data not available")
    assert n == 1034 + 1534


HOSTILE = [
    "DROP TABLE singer", "DELETE FROM singer", "UPDATE singer SET Age = 0",
    "INSERT INTO singer (Name) VALUES ('x')", "CREATE TABLE t (a)", "PRAGMA writable_schema=1",
    "ATTACH DATABASE 'x.db' AS x", "VACUUM", "ALTER TABLE singer RENAME TO s2",
    "CREATE INDEX i ON singer(Name)", "REINDEX", "DETACH x", "BEGIN", "COMMIT",
    "PRAGMA journal_mode=WAL", "DROP VIEW v", "CREATE TRIGGER t AFTER INSERT ON singer BEGIN "
    "SELECT 1; END",
]
READS = ["SELECT count(*) FROM singer", "SELECT Name FROM singer WHERE Age > 30",
         "SELECT 1", "WITH a AS (SELECT 1 AS x) SELECT x FROM a"]
SEPARATORS = [";", "; ", ";\n", " ;", "; -- c\n", ";/* c */"]
PREFIXES = ["", " ", "\n", "/* x */ ", "-- c\n"]

statements = st.builds(
    lambda pre, parts, seps, cases: pre + "".join(
        (p.upper() if c else p.lower()) + s for p, s, c in zip(parts, seps, cases)),
    st.sampled_from(PREFIXES),
    st.lists(st.sampled_from(HOSTILE + READS), min_size=1, max_size=3),
    st.lists(st.sampled_from(SEPARATORS + [""]), min_size=3, max_size=3),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
COUNTS = {"tried": 0, "refused": 0, "accepted": 0}


@pytest.fixture(scope="module")
def db_copy(tmp_path_factory):
    src = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"
    if not src.is_file():
        pytest.skip("Spider database not available")
    dst = tmp_path_factory.mktemp("gate") / "concert_singer.sqlite"
    shutil.copy(src, dst)
    yield dst
    print(f"\nsafety property: {COUNTS['tried']} statements tried, {COUNTS['refused']} refused "
          f"by the gate, {COUNTS['accepted']} accepted (all read-only); file unchanged")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=statements)
def test_property_gate_and_read_only_engine(db_copy, sql):
    before = hashlib.sha256(db_copy.read_bytes()).hexdigest()
    engine = open_engine(db_copy)
    COUNTS["tried"] += 1
    try:
        ensure_read_only(sql, "sqlite")
        COUNTS["accepted"] += 1
        assert not any(h.lower() in sql.lower() for h in HOSTILE), sql
    except UnsafeQueryError:
        COUNTS["refused"] += 1
    try:  # the second wall: even a refused statement cannot write through the engine
        engine.execute(sql)
    except QueryError:
        pass
    finally:
        engine.close()
    assert hashlib.sha256(db_copy.read_bytes()).hexdigest() == before
