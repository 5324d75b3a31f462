"""Golden-file tests of AST repairs on real Spider databases.

``tests/fixtures/repair/*.sql`` holds blocks separated by blank lines::

    -- title: what the case shows
    -- db: <spider db_id>
    <broken SQL, one line>
    -- expected:
    <repaired SQL, one line>
    -- repairs: <the repair descriptions, '; '-separated>

Each repaired query must equal the expected text, resolve every identifier, and run on the
database.  Regenerating a fixture is a deliberate act: review every changed line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import spider_db
from xander.checkers.base import CheckContext
from xander.checkers.execution import ExecutionChecker
from xander.diagnostic import Diagnostic
from xander.engines import open_engine
from xander.engines.profile import profile
from xander.linking import link, parse, string_literals_for_unknown_quoted
from xander.repair import RULES, link_repairs, repairs_for
from xander.schema import Schema
from xander.scoring import Candidate
from xander.task import Task

FIXTURES = Path(__file__).parent / "fixtures" / "repair"


def _cases():
    for path in sorted(FIXTURES.glob("*.sql")):
        for block in path.read_text().strip().split("\n\n"):
            lines = block.strip().splitlines()
            meta = {l[3:].split(":", 1)[0]: l.split(":", 1)[1].strip()
                    for l in lines if l.startswith("-- ") and ":" in l}
            body = [l for l in lines if not l.startswith("-- ")]
            yield pytest.param(meta["db"], body[0], body[1], meta.get("repairs", ""),
                               id=meta["title"])


@pytest.mark.parametrize(("db", "broken", "expected", "repairs"), list(_cases()))
def test_link_repair_golden(db, broken, expected, repairs):
    engine = open_engine(spider_db(db))
    schema = Schema.from_engine(engine)
    tree = string_literals_for_unknown_quoted(parse(broken, "sqlite"), schema)
    assert link(tree, schema), "the broken query must have a linking problem"
    fixed = link_repairs(tree, schema)
    assert fixed is not None
    assert fixed[0].sql("sqlite") == expected
    assert "; ".join(fixed[1]) == repairs
    assert link(fixed[0], schema) == []
    engine.execute(expected)  # runs on the real database


def test_repair_keeps_string_literal_case(concert_singer):
    schema = Schema.from_engine(open_engine(concert_singer))
    tree = parse("SELECT T2.Name FROM concert AS T1 JOIN singer AS T2 ON 1 = 1 "
                 "WHERE T1.Country = 'United States'", "sqlite")
    fixed = link_repairs(tree, schema)
    assert fixed is not None and "'United States'" in fixed[0].sql("sqlite")


# ---------------------------------------------------------------- the rules through repairs_for


def _two_tables(tmp_path: Path, engine: str) -> Path:
    """A database whose tables ``a`` and ``b`` both have a column ``name``."""
    ddl = ["CREATE TABLE b (id INTEGER PRIMARY KEY, name VARCHAR)",
           "CREATE TABLE a (id INTEGER PRIMARY KEY, name VARCHAR, b_id INTEGER REFERENCES b(id))",
           "INSERT INTO b VALUES (1, 'Blue'), (2, 'Green')",
           "INSERT INTO a VALUES (1, 'Ann', 1), (2, 'Bo', 2)"]
    if engine == "duckdb":
        import duckdb

        path = tmp_path / "two.duckdb"
        con = duckdb.connect(str(path))
    else:
        import sqlite3

        path = tmp_path / "two.sqlite"
        con = sqlite3.connect(path)
    for statement in ddl:
        con.execute(statement)
    con.commit()
    con.close()
    return path


def _failed(sql: str, path: Path) -> tuple[Candidate, CheckContext]:
    """``sql`` as the search sees it after the execution checker refused it."""
    engine = open_engine(path)
    ctx = CheckContext(Schema.from_engine(engine), engine, Task("Who is in which colour?"))
    diags = ExecutionChecker().check(sql, ctx)
    return Candidate(sql, diagnostics=tuple(diags)), ctx


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_ambiguous_column_is_qualified_on_each_engine(tmp_path, engine):
    sql = "SELECT name FROM a JOIN b ON a.b_id = b.id ORDER BY a.id"
    cand, ctx = _failed(sql, _two_tables(tmp_path, engine))
    assert [d.code for d in cand.diagnostics] == ["engine-error"], cand.diagnostics
    assert ctx.schema.dialect == engine
    fixed = "SELECT a.name FROM a JOIN b ON a.b_id = b.id ORDER BY a.id"
    assert repairs_for(cand, ctx) == [(fixed, "qualify ambiguous name")]
    assert ctx.engine.execute(fixed).rows == (("Ann",), ("Bo",))


def test_ambiguous_rule_needs_the_engine_pattern(tmp_path, monkeypatch):
    """An engine profile without an ``ambiguous-column`` pattern gets no such repair."""
    cand, ctx = _failed("SELECT name FROM a JOIN b ON a.b_id = b.id",
                        _two_tables(tmp_path, "duckdb"))
    bare = dataclasses.replace(profile("duckdb"), error_patterns={})
    monkeypatch.setattr("xander.repair.base.profile", lambda dialect: bare)
    assert repairs_for(cand, ctx) == []


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_an_average_of_a_text_column_is_taken_as_numbers_where_the_engine_refuses_it(
        tmp_path, engine):
    """SQLite averages a text column's digits; DuckDB refuses, and the repair casts."""
    path = _two_tables(tmp_path, engine)
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(str(path))
    else:
        import sqlite3

        con = sqlite3.connect(path)
    con.execute("CREATE TABLE dogs (id INTEGER PRIMARY KEY, age VARCHAR)")
    con.execute("INSERT INTO dogs VALUES (1, '2'), (2, '5')")
    con.commit()
    con.close()
    cand, ctx = _failed("SELECT AVG(age) FROM dogs", path)
    if engine == "sqlite":
        assert cand.diagnostics == ()  # nothing to repair: SQLite reads the digits
        assert ctx.engine.execute(cand.sql).rows == ((3.5,),)
        return
    assert [d.code for d in cand.diagnostics] == ["engine-error"], cand.diagnostics
    (fixed, what), (skipping, why) = repairs_for(cand, ctx)
    assert (fixed, what) == ("SELECT AVG(CAST(age AS DOUBLE)) FROM dogs", "avg of age as a number")
    assert why == "avg of age as SQLite reads text (the number it starts with, else 0)"
    assert ctx.engine.execute(fixed).rows == ctx.engine.execute(skipping).rows == ((3.5,),)


def test_every_rule_declares_what_it_answers():
    assert [rule.name for rule in RULES] == ["link", "ambiguous", "numeric", "grouping",
                                             "compare", "literal", "values", "split", "scalar",
                                             "order", "swap"]
    for rule in RULES:
        assert isinstance(rule.answers, frozenset) and rule.answers


def test_rules_run_only_for_the_diagnostics_they_answer(tmp_path):
    """A link problem is mended by the link rule; the same query with no diagnostic is not."""
    path = _two_tables(tmp_path, "sqlite")
    engine = open_engine(path)
    ctx = CheckContext(Schema.from_engine(engine), engine, Task("Names?"))
    sql = "SELECT nme FROM a"
    unknown = Diagnostic("schema", "unknown-column", "no table in scope has a column 'nme'")
    assert repairs_for(Candidate(sql, diagnostics=(unknown,)), ctx) == [
        ("SELECT name FROM a", "closest column nme -> name")]
    assert repairs_for(Candidate(sql), ctx) == []
