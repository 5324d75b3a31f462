"""The value index (xander/values.py), the ``values`` checker and the ``values`` repair, on real
Spider databases and DuckDB files built in tmp_path.

Every test points the disk cache at its own tmp dir (``XANDER_CACHE``).  The checker table
pairs wrong literals the small model writes with the codes they must get; the repair tests check
that the mended query returns the gold result of a real dev question.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time

import pytest

from tests.conftest import SPIDER, spider_db
from xander.checkers import complete_checkers, run_checkers
from xander.checkers.base import CheckContext
from xander.checkers.values import ValueChecker
from xander.engines import open_engine
from xander.linking import parse
from xander.repair import repairs_for
from xander.schema import Schema
from xander.scoring import Candidate
from xander.task import Task
from xander.values import (
    ValueIndex,
    cache_path,
    comparisons,
    index_for,
    resolve,
    stamp,
    value_hints,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Each test gets its own empty disk cache."""
    monkeypatch.setenv("XANDER_CACHE", str(tmp_path / "cache"))


def _open(db: str):
    engine = open_engine(spider_db(db))
    return engine, Schema.from_engine(engine)


def _ctx(db: str, question: str = "q") -> CheckContext:
    engine, schema = _open(db)
    return CheckContext(schema, engine, Task(question))


def _gold(question: str) -> str:
    dev = json.loads((SPIDER / "dev.json").read_text())
    return next(x["query"] for x in dev if x["question"] == question)


# ---------------------------------------------------------------------------- building the index


def test_index_of_concert_singer():
    engine, schema = _open("concert_singer")
    index = ValueIndex.for_engine(engine, schema, cache=False)
    assert not index.from_cache and index.source == engine.path
    country = index.column("singer", "country")  # names are case-insensitive
    assert country is not None and country.complete
    assert "France" in country.values and len(set(country.values)) == len(country.values)
    assert index.column("singer", "Age") is None  # not a text column


@pytest.mark.parametrize("db", ["concert_singer", "flight_2", "world_1"])
def test_build_is_fast_and_bounded(db):
    engine, schema = _open(db)
    start = time.perf_counter()
    index = ValueIndex.build(engine, schema)
    seconds = time.perf_counter() - start
    assert seconds < 5.0, seconds  # about 40 ms for world_1; generous for a loaded machine
    assert all(len(c.values) <= 2_000 and all(len(v) <= 80 for v in c.values)
               for c in index.columns)
    if db == "world_1":  # 4,079 cities: more than the cap
        assert ("city", "Name") in index.incomplete
        assert index.column("countrylanguage", "Language").complete


def test_duckdb_file_index(shop_duckdb):
    engine = open_engine(shop_duckdb)
    index = ValueIndex.for_engine(engine, Schema.from_engine(engine))
    assert index.lookup("customers", "country", "France").kind == "exact"
    assert index.lookup("products", "title", "lamp").kind == "caseless"
    assert index.column("orders", "order_date") is None  # a DATE is not indexed


# --------------------------------------------------------------------------------- the disk cache


def test_cache_hit_and_rebuild_after_the_file_changes(tmp_path):
    db = tmp_path / "concert_singer.sqlite"
    shutil.copy(spider_db("concert_singer"), db)
    db.chmod(0o644)
    engine = open_engine(db)
    first = ValueIndex.for_engine(engine)
    path = cache_path(engine)
    assert not first.from_cache and path is not None and path.is_file()
    assert path.parent == tmp_path / "cache" / "values"
    again = ValueIndex.for_engine(engine)
    assert again.from_cache and again.columns == first.columns
    engine.close()

    con = sqlite3.connect(db)
    con.execute("INSERT INTO singer (Singer_ID, Name, Country, Age) "
                "VALUES (99, 'Zed', 'Atlantis', 30)")
    con.commit()
    con.close()
    changed = open_engine(db)
    assert cache_path(changed) != path
    rebuilt = ValueIndex.for_engine(changed)
    assert not rebuilt.from_cache
    assert rebuilt.lookup("singer", "Country", "Atlantis").kind == "exact"

    st = db.stat()  # the same bytes with a new modification time: rebuilt too
    os.utime(db, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert not ValueIndex.for_engine(changed).from_cache


def test_a_new_index_replaces_the_one_of_older_data_and_xander_cache_clears_them(tmp_path):
    """An index saved after the data changed replaces the old one of the same database (the
    stamps of a busy PostgreSQL database change often: files must not pile up); another
    database's stays.  ``xander cache`` lists them and ``--clear`` deletes them."""
    from typer.testing import CliRunner

    from xander.cli import app
    from xander.values import cached_indexes

    db = tmp_path / "singer.sqlite"
    shutil.copy(spider_db("singer"), db)
    db.chmod(0o644)
    other, _ = _open("concert_singer")
    ValueIndex.for_engine(other)
    engine = open_engine(db)
    ValueIndex.for_engine(engine)
    first = cache_path(engine)
    st = db.stat()
    os.utime(db, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    changed = open_engine(db)
    ValueIndex.for_engine(changed)
    assert cache_path(changed) != first and first is not None and not first.exists()
    assert sorted(cached_indexes()) == sorted([cache_path(changed), cache_path(other)])
    listed = CliRunner().invoke(app, ["cache"])
    assert listed.exit_code == 0 and "2 value indexes" in listed.output, listed.output
    cleared = CliRunner().invoke(app, ["cache", "--clear"])
    assert "deleted 2 value indexes" in cleared.output and cached_indexes() == []
    for e in (engine, changed, other):
        e.close()


def test_a_corrupt_cache_is_rebuilt(tmp_path):
    engine, schema = _open("concert_singer")
    ValueIndex.for_engine(engine, schema)
    path = cache_path(engine)
    assert path is not None
    for junk in ('{"version": 1, "columns": [{"table": 3}]}', "not json{", '{"version": 0}'):
        path.write_text(junk)
        index = ValueIndex.for_engine(engine, schema)
        assert not index.from_cache and index.lookup("singer", "Country", "France").kind == "exact"
        assert json.loads(path.read_text())["version"] == 1  # rewritten whole


def test_unreadable_stamp_means_no_disk_cache(tmp_path):
    db = tmp_path / "gone.sqlite"
    shutil.copy(spider_db("singer"), db)
    engine = open_engine(db)
    db.unlink()  # the open connection still reads it; its stamp cannot be read
    assert engine.data_stamp() is None
    assert stamp(engine) is None and cache_path(engine) is None
    engine.close()


def test_a_catalog_served_with_other_schemas_has_another_stamp(tmp_path):
    """The index of a DuckDB file holds the tables served: open the same file with other
    ``--schema`` and it is another index."""
    import duckdb

    path = tmp_path / "two.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA a; CREATE SCHEMA b; CREATE TABLE a.t (x VARCHAR); "
                "CREATE TABLE b.t (x VARCHAR); INSERT INTO a.t VALUES ('apple'); "
                "INSERT INTO b.t VALUES ('beet')")
    con.close()
    only_a, both = open_engine(path, schemas=("a",)), open_engine(path, schemas=("a", "b"))
    assert cache_path(only_a) != cache_path(both)
    assert ValueIndex.for_engine(only_a).lookup("t", "x", "apple").kind == "exact"
    index = ValueIndex.for_engine(both)
    assert not index.from_cache and index.lookup("b.t", "x", "beet").kind == "exact"
    only_a.close()
    both.close()


def test_postgres_index_is_cached_until_rows_change(pg_server, tmp_path):
    """On PostgreSQL the stamp is the server's counts of changed rows and each table's storage
    file: a fresh engine loads the index from disk; an INSERT or a TRUNCATE (which counts no
    deleted rows) makes it build again."""
    db = "xander_value_stamp"
    pg_server.psql(f"DROP DATABASE IF EXISTS {db}")
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE pet (kind TEXT); INSERT INTO pet VALUES ('cat'), ('dog')",
                   dbname=db)

    def index() -> ValueIndex:
        engine = open_engine(pg_server.url(db))
        try:
            return ValueIndex.for_engine(engine)
        finally:
            engine.close()

    first = index()
    assert not first.from_cache and first.lookup("pet", "kind", "dog").kind == "exact"
    assert index().from_cache
    pg_server.psql("INSERT INTO pet VALUES ('eel')", dbname=db)  # psql exits: counts published
    added = index()
    assert not added.from_cache and added.lookup("pet", "kind", "eel").kind == "exact"
    assert index().from_cache
    pg_server.psql("TRUNCATE pet", dbname=db)
    emptied = index()
    assert not emptied.from_cache and emptied.lookup("pet", "kind", "eel").kind == "none"


def test_data_folder_stamp_covers_every_file(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "people.csv").write_text("name,city\nAda,Paris\nBo,Rome\n")
    (folder / "cities.csv").write_text("city,country\nParis,France\nRome,Italy\n")
    engine = open_engine(folder)
    before = cache_path(engine)
    index = ValueIndex.for_engine(engine)
    assert index.lookup("cities", "country", "italy").kind == "caseless"
    assert ValueIndex.for_engine(engine).from_cache
    (folder / "cities.csv").write_text("city,country\nParis,France\nRome,Italy\nBern,Swiss\n")
    assert cache_path(engine) != before


def test_index_for_keeps_one_index_per_engine():
    engine, schema = _open("concert_singer")
    assert index_for(engine, schema) is index_for(engine, schema)


# ------------------------------------------------------------------------------------ look-ups


@pytest.mark.parametrize(("table", "column", "literal", "kind", "value"), [
    ("countrylanguage", "Language", "English", "exact", "English"),
    ("countrylanguage", "Language", "english", "caseless", "English"),
    ("countrylanguage", "Language", " ENGLISH ", "caseless", "English"),
    ("countrylanguage", "Language", "Englsh", "fuzzy", "English"),
    ("countrylanguage", "Language", "Klingon", "none", None),
    ("country", "Population", "1000", "unknown", None),  # not a text column
    ("city", "Name", "Rafah", "unknown", None),  # past the cap: not among the values read
])
def test_lookup_kinds(table, column, literal, kind, value):
    engine, schema = _open("world_1")
    m = index_for(engine, schema).lookup(table, column, literal)
    assert m.kind == kind
    if value is not None:
        assert m.value == value


def test_resolve_asks_the_engine_for_an_incomplete_column():
    engine, schema = _open("world_1")
    index = index_for(engine, schema)
    assert resolve(index, engine, "city", "Name", "Rafah").kind == "exact"
    assert resolve(index, engine, "city", "Name", "rafah").value == "Rafah"
    assert resolve(index, engine, "city", "Name", "Zzyzx").kind == "none"


def test_where_names_the_columns_that_hold_a_literal():
    engine, schema = _open("world_1")
    index = index_for(engine, schema)
    assert ("country", "Name", "Aruba") in index.where("aruba")
    assert index.where("Kabul") == [("city", "Name", "Kabul")]
    assert index.where("Atlantis") == []


@pytest.mark.parametrize(("db", "question", "expected"), [
    ("flight_2", "Which city and country is the Alton airport at?",
     {("airports", "AirportName", "Alton "), ("airports", "City", "Alton ")}),
    ("world_1", "How many countries speak both English and Dutch?",
     {("countrylanguage", "Language", "English"), ("countrylanguage", "Language", "Dutch")}),
    ("world_1", "How much surface area do the countires in the Carribean cover together?",
     {("country", "Region", "Caribbean")}),  # fuzzy
    ("world_1", "How many countries have governments that are republics?",
     {("country", "GovernmentForm", "Republic")}),
    ("flight_2", "What country is Jetblue Airways affiliated with?",
     {("airlines", "Airline", "JetBlue Airways")}),  # a two-word phrase, other case
    ("tvshow", "What are the titles of all cartoons directed by Ben Jones or Brandon Vietti?",
     {("Cartoon", "Directed_by", "Ben Jones"), ("Cartoon", "Directed_by", "Brandon Vietti")}),
])
def test_mentions_of_real_dev_questions(db, question, expected):
    engine, schema = _open(db)
    found = index_for(engine, schema).mentions(question, limit=8)
    assert expected <= set(found), found


def test_mentions_skip_stop_words_and_numbers():
    engine, schema = _open("world_1")
    index = index_for(engine, schema)
    assert index.mentions("What are the names of all the countries founded after 1950?") == []
    assert len(index.mentions("English Dutch French Spanish German Italian", limit=3)) == 3


def test_value_hints_are_prompt_lines():
    engine, schema = _open("flight_2")
    hints = value_hints(index_for(engine, schema), "Which city and country is the Alton airport at?")
    assert "airports.AirportName = 'Alton '" in hints and "airports.City = 'Alton '" in hints


def test_comparisons_resolve_aliases_subqueries_and_in_lists():
    _, schema = _open("world_1")
    tree = parse("SELECT Name FROM country WHERE Code NOT IN (SELECT T2.CountryCode FROM city "
                 "AS T1 JOIN countrylanguage AS T2 ON T1.CountryCode = T2.CountryCode WHERE "
                 "T2.Language IN ('English', 'Dutch') AND Name LIKE 'Ka%') AND 'Asia' = "
                 "Continent AND LocalName LIKE 'Aruba'", "sqlite")
    found = {(c.table, c.column.name, c.op, c.text) for c in comparisons(tree, schema)}
    assert found == {
        ("countrylanguage", "Language", "in", "English"),
        ("countrylanguage", "Language", "in", "Dutch"),
        ("country", "Continent", "=", "Asia"),
        ("country", "LocalName", "like", "Aruba"),
    }  # LIKE 'Ka%' has a wildcard: not a value


# ---------------------------------------------------------------------------------- the checker

CHECKS = [
    # (db, query, codes the values checker reports)
    ("flight_2", ("SELECT count(*) FROM flights AS T1 JOIN airports AS T2 ON T1.DestAirport = "
                 "T2.AirportCode WHERE T2.AirportCode = 'Alton'"), ["value-elsewhere"]),
    # the data has 'Alton ' (a trailing space): padding is no difference (values.padded_only)
    ("flight_2", "SELECT City, Country FROM airports WHERE AirportName = 'Alton'", []),
    ("flight_2", "SELECT City, Country FROM airports WHERE AirportName = 'alton'",
     ["value-case"]),
    ("flight_2", ("SELECT count(*) FROM flights AS T1 JOIN airlines AS T2 ON T1.Airline = T2.uid "
                 "WHERE T1.Airline = 'United Airlines'"), ["value-elsewhere"]),  # an integer key
    ("flight_2", "SELECT * FROM airports WHERE AirportCode = 'APG'", []),
    # flights stores codes with a leading space (' AHD'); Spider's gold compares 'AHD' (and
    # returns nothing): the unpadded literal is taken as it is
    ("flight_2", "SELECT count(*) FROM flights WHERE SourceAirport = 'AHD'", []),
    ("world_1", "SELECT Code FROM country WHERE Code2 != 'AFG'", ["value-elsewhere"]),
    ("world_1", "SELECT count(*) FROM countrylanguage WHERE CountryCode = 'Aruba'",
     ["value-elsewhere"]),
    ("world_1", "SELECT Region FROM country WHERE Name = 'Kabul'", ["value-elsewhere"]),
    ("world_1", "SELECT count(*) FROM countrylanguage WHERE Language = 'english'",
     ["value-case"]),
    ("world_1", "SELECT count(*) FROM countrylanguage WHERE Language = \"English\"", []),
    ("world_1", "SELECT count(*) FROM countrylanguage WHERE Language IN ('English', 'Klingon')",
     ["value-missing"]),
    ("world_1", "SELECT Name FROM country WHERE Continent LIKE 'europe'", []),  # LIKE ignores case
    ("world_1", "SELECT Name FROM country WHERE Continent LIKE 'Eur%'", []),
    ("world_1", "SELECT count(*) FROM city WHERE Name = 'Rafah'", []),  # past the cap, asked live
    ("world_1", "SELECT count(*) FROM city WHERE Name = 'rafah'", ["value-case"]),
    ("world_1", "SELECT count(*) FROM country WHERE IndepYear = '1919'", []),  # a number
    ("world_1", "SELECT Name FROM country WHERE lower(Name) = 'aruba'", []),  # not a column
    ("tvshow", "SELECT Title FROM Cartoon WHERE Directed_by = 'Ben Jone'", ["value-missing"]),
    ("car_1", "SELECT count(*) FROM car_makers WHERE Country = 'france'", ["value-elsewhere"]),
    ("car_1", ("SELECT count(*) FROM car_makers AS T1 JOIN countries AS T2 ON T1.Country = "
              "T2.CountryId WHERE T2.CountryName = 'France'"), ["value-case"]),
]


@pytest.mark.parametrize(("db", "sql", "codes"), CHECKS)
def test_checker_codes(db, sql, codes):
    diags = ValueChecker().check(sql, _ctx(db))
    assert [d.code for d in diags] == codes, diags
    assert all(d.severity == "warning" and d.checker == "values" for d in diags)


def test_checker_messages_say_where_and_what():
    ctx = _ctx("flight_2")
    [d] = ValueChecker().check("SELECT City FROM airports WHERE AirportCode = 'Alton'", ctx)
    assert "airports.AirportCode" in d.message and "airports.AirportName" in d.message
    [d] = ValueChecker().check("SELECT City FROM airports WHERE AirportName = 'ALTON'", ctx)
    assert "'Alton '" in d.message
    [d] = ValueChecker().check("SELECT Title FROM Cartoon WHERE Directed_by = 'Ben Jone'",
                               _ctx("tvshow"))
    assert "nearest 'Ben Jones'" in d.message


def test_checker_is_registered_after_execution():
    names = [c.name for c in complete_checkers()]
    assert names.index("values") == names.index("execution") + 1
    assert "values" not in [c.name for c in complete_checkers(["values"])]


def test_checker_on_duckdb(shop_duckdb):
    engine = open_engine(shop_duckdb)
    ctx = CheckContext(Schema.from_engine(engine), engine, Task("q"))
    checks = {
        "SELECT name FROM customers WHERE country = 'france'": ["value-case"],
        "SELECT name FROM customers WHERE country LIKE 'france'": ["value-case"],  # case-sensitive
        "SELECT name FROM customers WHERE country ILIKE 'france'": [],
        "SELECT name FROM customers WHERE name = 'Lamp'": ["value-elsewhere"],
    }
    for sql, codes in checks.items():
        assert [d.code for d in ValueChecker().check(sql, ctx)] == codes, sql


# ----------------------------------------------------------------------------------- the repair


def _candidate(sql: str, ctx: CheckContext) -> Candidate:
    diags = run_checkers(complete_checkers(), sql, ctx)
    result = ctx.results.get(sql)
    return Candidate(sql, diagnostics=tuple(diags),
                     result=None if isinstance(result, str) else result)


def _rows(engine, sql: str) -> list:
    return sorted(map(repr, engine.execute(sql).rows))


REPAIRS = [
    # (db, a real dev question, the model's wrong query, what the first repair says)
    ("world_1", "How many languages are spoken in Aruba?",
     "SELECT COUNT(Language) FROM countrylanguage WHERE CountryCode = 'Aruba'",
     "compare 'Aruba' with country.Name, joining country"),
    ("world_1", "What region is Kabul in?",
     "SELECT Region FROM country WHERE Name = 'Kabul'",
     "compare 'Kabul' with city.Name, joining city"),
    ("world_1", "How many countries speak both English and Dutch?",
     ("SELECT COUNT(*) FROM (SELECT T1.Name FROM country AS T1 JOIN countrylanguage AS T2 ON "
     "T1.Code = T2.CountryCode WHERE T2.Language = 'english' INTERSECT SELECT T1.Name FROM "
     "country AS T1 JOIN countrylanguage AS T2 ON T1.Code = T2.CountryCode WHERE "
     "T2.Language = 'dutch')"),
     "literal 'english' -> 'English'; literal 'dutch' -> 'Dutch'"),
    ("car_1", "How many car makers are there in france?",
     "SELECT count(*) FROM car_makers WHERE Country = 'france'",
     "compare 'france' with countries.CountryName, joining countries"),
    ("car_1", "What is the number of makers of care in France?",
     ("SELECT count(*) FROM car_makers AS T1 JOIN countries AS T2 ON T1.Country = T2.CountryId "
     "WHERE T2.CountryName = 'France'"),
     "literal 'France' -> 'france'"),
    ("tvshow", "What are the names of all cartoons directed by Ben Jones?",
     "SELECT Title FROM Cartoon WHERE Directed_by = 'Ben Jone'",
     "literal 'Ben Jone' -> 'Ben Jones' (named in the question)"),
    ("flight_2", "What country is Jetblue Airways affiliated with?",
     "SELECT Country FROM airlines WHERE Abbreviation = 'JetBlue Airways'",
     "compare 'JetBlue Airways' with airlines.Airline"),
]


@pytest.mark.parametrize(("db", "question", "wrong", "what"), REPAIRS)
def test_repair_returns_the_gold_result(db, question, wrong, what):
    ctx = _ctx(db, question)
    cand = _candidate(wrong, ctx)
    assert {d.code for d in cand.diagnostics} & {"value-case", "value-elsewhere", "value-missing"}
    fixes = repairs_for(cand, ctx)
    assert fixes, cand.diagnostics
    fixed, done = fixes[0]
    assert done == what
    assert _rows(ctx.engine, fixed) == _rows(ctx.engine, _gold(question))
    assert _rows(ctx.engine, wrong) != _rows(ctx.engine, fixed)
    again = _candidate(fixed, CheckContext(ctx.schema, ctx.engine, ctx.task))
    assert not [d for d in again.diagnostics if d.checker == "values"], again.diagnostics


def test_repair_keeps_unqualified_columns_unambiguous():
    """Joining ``city`` into a query on ``country`` qualifies ``Name`` (both tables have it)."""
    ctx = _ctx("world_1", "Which country is Kabul in?")
    fixes = repairs_for(_candidate("SELECT Name FROM country WHERE Code = 'Kabul'", ctx), ctx)
    assert fixes[0][0] == ("SELECT country.Name FROM country JOIN city AS T2 ON "
                           "country.Code = T2.CountryCode WHERE T2.Name = 'Kabul'")
    assert ctx.engine.execute(fixes[0][0]).rows == (("Afghanistan",),)


def test_repair_of_a_star_select_keeps_its_columns():
    ctx = _ctx("world_1", "What region is Kabul in?")
    fixes = repairs_for(_candidate("SELECT * FROM country WHERE Name = 'Kabul'", ctx), ctx)
    fixed = fixes[0][0]
    assert fixed.startswith("SELECT country.* FROM country JOIN city")
    assert len(ctx.engine.execute(fixed).columns) == len(ctx.schema.table("country").columns)


def test_repair_offers_each_column_that_holds_the_literal():
    ctx = _ctx("flight_2", "Which city and country is the Alton airport at?")
    fixes = repairs_for(_candidate(
        "SELECT City, Country FROM airports WHERE AirportCode = 'Alton'", ctx), ctx)
    # the columns store 'Alton ' (padded): the literal moves as written
    assert [f[0] for f in fixes] == [
        "SELECT City, Country FROM airports WHERE City = 'Alton'",
        "SELECT City, Country FROM airports WHERE AirportName = 'Alton'",
    ]


def test_no_duplicate_with_the_literal_rule():
    """On an empty result the ``literal`` rule and this one find the same spelling: once."""
    ctx = _ctx("concert_singer", "Singers from France?")
    cand = _candidate("SELECT Name FROM singer WHERE Country = 'france'", ctx)
    assert {"empty-result", "value-case"} <= {d.code for d in cand.diagnostics}
    fixes = repairs_for(cand, ctx)
    assert [f[0] for f in fixes] == ["SELECT Name FROM singer WHERE Country = 'France'"]
    assert fixes[0][1] == "literal 'france' -> 'France'"


def test_a_value_the_question_names_replaces_the_literal():
    ctx = _ctx("concert_singer", "Singers from France?")
    cand = _candidate("SELECT Name FROM singer WHERE Country = 'Japan'", ctx)
    assert repairs_for(cand, ctx) == [("SELECT Name FROM singer WHERE Country = 'France'",
                                       "literal 'Japan' -> 'France' (named in the question)")]


def test_no_repair_for_a_literal_nothing_resembles():
    ctx = _ctx("concert_singer", "Singers from Japan?")
    cand = _candidate("SELECT Name FROM singer WHERE Country = 'Japan'", ctx)
    assert [d.code for d in cand.diagnostics if d.checker == "values"] == ["value-missing"]
    assert repairs_for(cand, ctx) == []  # nothing close, nothing named: an empty answer stands


def test_repair_of_a_name_compared_with_a_number_on_duckdb(shop_duckdb):
    """DuckDB refuses ``customer_id = 'Ada'``; the checkers stop at that engine error, and the
    repair joins the table whose column holds 'Ada'."""
    engine = open_engine(shop_duckdb)
    ctx = CheckContext(Schema.from_engine(engine), engine, Task("How many orders has Ada?"))
    cand = _candidate("SELECT count(*) FROM orders WHERE customer_id = 'Ada'", ctx)
    assert [d.code for d in cand.diagnostics] == ["engine-error"]
    fixed, what = repairs_for(cand, ctx)[0]
    assert fixed == ("SELECT COUNT(*) FROM orders JOIN customers AS T2 ON orders.customer_id = "
                     "T2.customer_id WHERE T2.name = 'Ada'")
    assert what == "compare 'Ada' with customers.name, joining customers"
    assert engine.execute(fixed).rows == ((2,),)


def test_unknown_tables_are_left_to_the_link_rule():
    ctx = _ctx("world_1")
    assert ValueChecker().check("SELECT Name FROM nations WHERE Name = 'aruba'", ctx) == []

