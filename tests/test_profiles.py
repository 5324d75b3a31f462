"""Engine profiles: the registry, how ``open_engine`` walks it, and the facts each engine
declares, checked against the real engines (their error texts come from real queries).
"""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from xander.engines import (
    DuckDBEngine,
    Engine,
    EngineProfile,
    SQLiteEngine,
    dialect_profile,
    open_engine,
    profile,
    profiles,
)
from xander.engines import duckdb as duckdb_engine
from xander.errors import DatabaseNotFoundError, InputError, QueryError, UnsafeQueryError
from xander.normalize import normalize
from xander.safety import ensure_read_only

profile_module = importlib.import_module("xander.engines.profile")  # the package's
# ``profile`` attribute is the lookup function

DDL = """
    CREATE TABLE a (id INTEGER, x INTEGER, name VARCHAR, "My Col" INTEGER, "q""x" INTEGER);
    CREATE TABLE b (id INTEGER, y INTEGER, "My Col" INTEGER, "q""x" INTEGER);
    INSERT INTO a VALUES (1, 10, 'Ada', 1, 1), (2, 20, 'Bo', 2, 2);
    INSERT INTO b VALUES (1, 10, 1, 1);
"""


@pytest.fixture
def engines(tmp_path: Path):
    """The same two tables in a SQLite file and a DuckDB file, opened by ``open_engine``."""
    sq = tmp_path / "ab.sqlite"
    con = sqlite3.connect(sq)
    con.executescript(DDL)
    con.close()
    dd = tmp_path / "ab.duckdb"
    con = duckdb.connect(str(dd))
    con.execute(DDL)
    con.close()
    opened = {"sqlite": open_engine(sq), "duckdb": open_engine(dd)}
    yield opened
    for e in opened.values():
        e.close()


# -- the registry -------------------------------------------------------------------------------
def test_builtin_profiles_in_the_order_targets_meet_them():
    assert [(p.name, p.dialect, p.priority) for p in profiles()] == [
        ("postgres", "postgres", 5), ("duckdb-files", "duckdb", 10), ("sqlite", "sqlite", 50),
        ("duckdb", "duckdb", 100)]
    assert profile("duckdb").name == "duckdb"  # the dialect names the database-file profile
    assert profile("duckdb-files").display_name == "DuckDB"
    with pytest.raises(InputError, match="unknown engine or dialect 'oracle'"):
        profile("oracle")


def test_the_two_duckdb_profiles_differ_only_in_what_they_open():
    files, db = profile("duckdb-files"), profile("duckdb")
    for f in EngineProfile.__dataclass_fields__:
        if f not in ("name", "recognizes", "priority"):
            assert getattr(files, f) == getattr(db, f), f


def test_dialects_without_an_engine_keep_their_facts_and_never_raise():
    pg, my, other = dialect_profile("postgres"), dialect_profile("mysql"), dialect_profile("tsql")
    assert (pg.display_name, pg.caseless_names) == ("PostgreSQL", False)
    assert pg is profile("postgres")  # an engine now
    assert (my.display_name, my.caseless_names) == ("mysql", True)
    assert (other.display_name, other.caseless_names, other.read_starts) == ("tsql", False, set())
    for p in (my, other):
        assert p.statement_types is None and not p.double_quoted_strings
        assert not p.recognizes("/tmp") and p not in profiles()
    assert dialect_profile("sqlite") is profile("sqlite")


def test_profiles_are_hashable_data():
    assert len({*profiles(), *profiles()}) == 4


def test_doctests():
    for module in (profile_module, duckdb_engine):
        result = doctest.testmod(module)
        assert result.attempted >= 1 and result.failed == 0, module.__name__


# -- open_engine walks the registry -------------------------------------------------------------
def test_a_registered_profile_opens_the_targets_it_recognizes(monkeypatch, engines, tmp_path):
    """A new engine is a profile in the registry: open_engine offers it targets by priority."""
    seen = []

    def opener(target: str) -> Engine:
        seen.append(target)
        return engines["sqlite"]

    fake = EngineProfile("fake", "sqlite", "Fake", lambda t: t.startswith("fake://"), opener,
                         priority=1)
    monkeypatch.setitem(profile_module._PROFILES, "fake", fake)
    assert profiles()[0] is fake
    assert open_engine("fake://somewhere") is engines["sqlite"] and seen == ["fake://somewhere"]
    csv = tmp_path / "p.csv"
    csv.write_text("a\n1\n")
    e = open_engine(csv)  # targets it does not recognize go on down the list
    try:
        assert e.profile is profile("duckdb-files") and seen == ["fake://somewhere"]
    finally:
        e.close()


def test_targets_go_where_they_went_before_profiles(tmp_path, engines):
    """Header before suffix for SQLite, suffix first for data files, magic for DuckDB."""
    sq = Path(engines["sqlite"].path)
    dd = Path(engines["duckdb"].path)
    named = {
        "sqlite.duckdb": (sq, SQLiteEngine, "sqlite"),  # the header wins over the suffix
        "sqlite.ddb": (sq, SQLiteEngine, "sqlite"),
        "duckdb.db": (dd, DuckDBEngine, "duckdb"),  # DuckDB's magic, whatever the name
        "duckdb": (dd, DuckDBEngine, "duckdb"),
    }
    for name, (src, cls, prof) in named.items():
        e = open_engine(shutil.copy(src, tmp_path / name))
        try:
            assert isinstance(e, cls) and e.profile is profile(prof), name
            assert e.dialect == e.profile.dialect and e.allowed_files == ()
        finally:
            e.close()
    # a data-file suffix goes to DuckDB's file readers, even on a SQLite file
    with pytest.raises(DatabaseNotFoundError, match="cannot open .* with DuckDB"):
        open_engine(shutil.copy(sq, tmp_path / "sqlite.csv"))
    (tmp_path / "empty.db").write_bytes(b"")  # empty files are DuckDB's (which refuses them)
    with pytest.raises(DatabaseNotFoundError, match="cannot open .* with DuckDB"):
        open_engine(tmp_path / "empty.db")


def test_data_folder_engine_declares_its_files(tmp_path):
    (tmp_path / "people.csv").write_text("person_id,name\n1,Ada\n")
    (tmp_path / "notes.txt").write_text("not a table\n")
    e = open_engine(str(tmp_path))
    try:
        assert e.profile is profile("duckdb-files") and e.dialect == "duckdb"
        assert e.allowed_files == ((tmp_path / "people.csv").resolve(),)
    finally:
        e.close()


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: p / "missing.sqlite", "database not found"),
    (lambda p: p / "missing.csv", "database not found"),
    (lambda p: _fifo(p / "pipe.db"), "not a regular file"),
    (lambda p: _unreadable(p / "locked.sqlite"), "cannot read"),
    (lambda p: _write(p / "notes.txt", b"hello\n"), "not a database xander can read"),
])
def test_targets_no_profile_takes_are_explained(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(DatabaseNotFoundError) as err:
        open_engine(path)
    assert err.value.message.startswith(words) and str(path) in err.value.message
    assert err.value.hint


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    import os

    os.mkfifo(path)
    return path


def _unreadable(path: Path) -> Path:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    _write(path, b"SQLite format 3\x00").chmod(0)
    return path


# -- error patterns, on the engines' real error texts -------------------------------------------
ERRORS = [
    # kind, query, the name the pattern must find, engines that report this kind
    ("ambiguous-column", "SELECT id FROM a JOIN b ON a.x = b.y", "id", ("sqlite", "duckdb")),
    ("ambiguous-column", "SELECT ID FROM a, b", "ID", ("sqlite", "duckdb")),
    ("ambiguous-column", 'SELECT "My Col" FROM a, b AS "T 1"', "My Col", ("sqlite", "duckdb")),
    ("ambiguous-column", 'SELECT "q""x" FROM a, b', 'q"x', ("sqlite", "duckdb")),
    ("no-such-column", "SELECT nope FROM a", "nope", ("sqlite", "duckdb")),
    ("no-such-column", 'SELECT a."q""y" FROM a', {"sqlite": 'a.q"y', "duckdb": 'q"y'},
     ("sqlite", "duckdb")),
    ("no-such-table", "SELECT * FROM nope", "nope", ("sqlite", "duckdb")),
    ("no-such-table", 'SELECT * FROM "No Such"', "No Such", ("sqlite", "duckdb")),
    ("not-grouped", "SELECT name, count(*) FROM a", "name", ("duckdb",)),
    ("not-grouped", 'SELECT "My Col", x FROM a GROUP BY x', "My Col", ("duckdb",)),
]


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
@pytest.mark.parametrize(("kind", "sql", "name", "reported_by"), ERRORS)
def test_error_patterns_match_real_errors(engines, dialect, kind, sql, name, reported_by):
    engine = engines[dialect]
    pattern = engine.profile.error_patterns.get(kind)
    if dialect not in reported_by:
        assert pattern is None  # SQLite groups anything: it has no not-grouped error
        engine.explain(sql)
        return
    assert pattern is not None
    for run in (engine.explain, engine.execute):
        with pytest.raises(QueryError) as err:
            run(sql)
        m = re.search(pattern, str(err.value))
        assert m, (str(err.value), pattern)
        assert m.group("name") == (name[dialect] if isinstance(name, dict) else name)
        for other, p in engine.profile.error_patterns.items():  # and no other kind's pattern
            assert other == kind or not re.search(p, str(err.value)), (other, str(err.value))


def test_duckdb_no_such_column_names_the_table_when_duckdb_does(engines):
    with pytest.raises(QueryError) as err:
        engines["duckdb"].explain("SELECT a.nope FROM a")
    m = re.search(profile("duckdb").error_patterns["no-such-column"], str(err.value))
    assert m and (m.group("table"), m.group("name")) == ("a", "nope")


def test_duckdb_patterns_also_match_duckdbs_whole_message():
    """DuckDB's own exception text (several lines) matches like the engine's first line."""
    con = duckdb.connect()
    con.execute(DDL)
    p = profile("duckdb").error_patterns
    for kind, sql, name in (("ambiguous-column", "SELECT id FROM a, b", "id"),
                            ("no-such-column", "SELECT a.nope FROM a", "nope"),
                            ("not-grouped", "SELECT name, count(*) FROM a", "name")):
        with pytest.raises(duckdb.Error) as err:
            con.execute(sql)
        assert "\n" in str(err.value)
        m = re.search(p[kind], str(err.value))
        assert m and m.group("name") == name, (kind, str(err.value))


# -- facts the rooms above read -----------------------------------------------------------------
def test_one_duckdb_parser_check_for_the_gate_and_the_engine(monkeypatch, engines):
    asked = []
    real = duckdb_engine.statement_types

    def spy(sql: str) -> tuple[str, ...]:
        asked.append(sql)
        return real(sql)

    monkeypatch.setattr(duckdb_engine, "statement_types", spy)
    monkeypatch.setitem(profile_module._PROFILES, "duckdb",
                        _replace(profile("duckdb"), statement_types=spy))
    ensure_read_only("SELECT 1", "duckdb")
    assert engines["duckdb"].execute("SELECT 1").rows == ((1,),)
    assert asked == ["SELECT 1", "SELECT 1"]
    with pytest.raises(QueryError, match="one SELECT statement only, got: SELECT, SELECT"):
        engines["duckdb"].execute("SELECT 1; SELECT 2")
    with pytest.raises(UnsafeQueryError, match=r"CREATE statement \(DuckDB's parser\)"):
        ensure_read_only("SELECT * FROM (PIVOT a ON x USING sum(id))", "duckdb")


def _replace(p: EngineProfile, **changes) -> EngineProfile:
    from dataclasses import replace

    return replace(p, **changes)


def test_read_starts_come_from_the_profile():
    assert profile("duckdb").read_starts == {"FROM"} and profile("sqlite").read_starts == set()
    assert ensure_read_only("FROM a SELECT id", "duckdb")
    with pytest.raises(UnsafeQueryError, match="a statement starting with 'FROM'"):
        ensure_read_only("FROM a SELECT id", "sqlite")
    with pytest.raises(UnsafeQueryError, match="a statement starting with 'FROM'"):
        ensure_read_only("FROM a SELECT id", "postgres")


def test_normalize_reads_case_and_string_facts_from_the_profile():
    schema = {"Singer": ["Name", "Country"]}
    sql = 'SELECT "name" FROM singer WHERE country = "France" AND substring(name, 1, 2) = \'Ad\''
    assert normalize(sql, "sqlite", schema) == (
        "SELECT Name FROM Singer WHERE Country = 'France' AND SUBSTR(Name, 1, 2) = 'Ad'")
    assert normalize(sql, "duckdb", schema) == (  # "France" is a name to DuckDB
        "SELECT Name FROM Singer WHERE Country = France AND SUBSTRING(Name, 1, 2) = 'Ad'")
    assert normalize('SELECT "Name" FROM "Singer"', "postgres") == 'SELECT "Name" FROM "Singer"'
    assert normalize("SELECT `Name` FROM `Singer`", "mysql") == "SELECT Name FROM Singer"
