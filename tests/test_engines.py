"""Engines on real files: read-only by construction, bounded, clear errors on bad input."""

from __future__ import annotations

import hashlib
import time

import duckdb
import pytest

from xander.engines import DuckDBEngine, SQLiteEngine, open_engine
from xander.errors import DatabaseNotFoundError, QueryError, QueryTimeoutError


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_sqlite_reads_and_refuses_writes(concert_singer):
    before = _sha(concert_singer)
    e = open_engine(concert_singer)
    assert isinstance(e, SQLiteEngine) and e.dialect == "sqlite"
    assert e.execute("SELECT count(*) FROM singer").rows == ((6,),)
    for sql in ("DELETE FROM singer", "DROP TABLE singer", "PRAGMA writable_schema=1",
                "ATTACH DATABASE ':memory:' AS x", "CREATE TABLE t (a)"):
        with pytest.raises(QueryError):
            e.execute(sql)
    assert _sha(concert_singer) == before


def test_sqlite_explain_row_cap_and_timeout(concert_singer):
    e = open_engine(concert_singer)
    with pytest.raises(QueryError, match="no such column"):
        e.explain("SELECT nope FROM singer")
    r = e.execute("SELECT Name FROM singer", max_rows=2)
    assert len(r.rows) == 2 and r.truncated
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        e.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                  "SELECT count(*) FROM n", timeout=0.5)
    assert time.monotonic() - start < 2.0
    assert e.execute("SELECT 1").rows == ((1,),)  # still usable


def test_duckdb_file_read_only(shop_duckdb):
    before = _sha(shop_duckdb)
    e = open_engine(shop_duckdb)
    assert isinstance(e, DuckDBEngine) and e.dialect == "duckdb"
    assert e.execute("SELECT count(*) FROM orders").rows == ((6,),)
    with pytest.raises(QueryError):
        e.execute("DELETE FROM orders")
    with pytest.raises(QueryError):
        e.execute("SELECT * FROM read_csv('/etc/passwd')")
    e.close()
    assert _sha(shop_duckdb) == before


def test_duckdb_timeout_interrupts(shop_duckdb):
    e = open_engine(shop_duckdb)
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        e.execute("SELECT count(*) FROM range(100000000) a, range(100000) b", timeout=0.5)
    assert time.monotonic() - start < 3.0


def test_folder_of_data_files(tmp_path):
    (tmp_path / "people.csv").write_text("name,age\nAda,36\nBo,25\n")
    duckdb.sql("COPY (SELECT 1 AS id, 'x' AS tag) TO '" + str(tmp_path / "tags.parquet")
               + "' (FORMAT parquet)")
    (tmp_path / "events.json").write_text('[{"id": 1, "kind": "click"}]')
    e = open_engine(tmp_path)
    assert {t.name for t in e.tables()} == {"people", "tags", "events"}
    assert e.execute("SELECT max(age) FROM people").rows == ((36,),)
    with pytest.raises(QueryError):  # only the opened files are readable
        e.execute("SELECT * FROM read_csv_auto('/etc/hostname')")


@pytest.mark.parametrize("make", [
    lambda p: p / "missing.sqlite",
    lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt",
    lambda p: (p / "empty").mkdir() or p / "empty",
])
def test_bad_paths_are_clear_errors(tmp_path, make):
    with pytest.raises(DatabaseNotFoundError) as err:
        open_engine(make(tmp_path))
    assert str(tmp_path) in str(err.value) or "no CSV" in str(err.value)
