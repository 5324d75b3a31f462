"""The prompt names the SQL dialect it asks for: the engine profile's choice (SQLite on
PostgreSQL, the engine's own elsewhere), or ``[lm] prompt_dialect``; SQL written in another
dialect than the engine's is transpiled before it runs."""

from __future__ import annotations

import pytest

from tests.scripted import ScriptedLM
from xander import Xander
from xander.config import Config, LMConfig, load_config
from xander.prompts import build_prompt
from xander.schema import Column, Schema, Table
from xander.task import Task

SCHEMA = Schema((Table("singer", (Column("name", "TEXT"), Column("age", "INTEGER"))),),
                "postgres")


def test_the_prompt_asks_for_the_engine_profiles_choice_by_default():
    lm = ScriptedLM({})
    pg = build_prompt(lm, SCHEMA, Task("How many singers?"))
    assert pg.text.count("SQLite") == 3 and "PostgreSQL" not in pg.text
    assert pg.dialect == "sqlite"  # the search transpiles what the model writes from SQLite
    duck = build_prompt(lm, Schema(SCHEMA.tables, "duckdb"), Task("How many singers?"))
    assert duck.text.count("DuckDB") == 3 and duck.dialect == ""


def test_prompt_dialect_names_another_and_keeps_the_shared_prefix():
    lm = ScriptedLM({})
    own = build_prompt(lm, SCHEMA, Task("How many singers?"), prompt_dialect="postgres")
    assert own.text.count("PostgreSQL") == 3 and own.dialect == ""
    asked = build_prompt(lm, SCHEMA, Task("How many singers?"), prompt_dialect="sqlite")
    assert asked.text == own.text.replace("PostgreSQL", "SQLite")
    assert asked.prefix_len > 0  # still the same for every question: the state can be saved


def test_the_config_reaches_the_prompt(shop_duckdb, monkeypatch):
    monkeypatch.setenv("XANDER_LM_PROMPT_DIALECT", "sqlite")
    cfg = load_config()
    assert cfg.lm.prompt_dialect == "sqlite"
    seen: list[str] = []

    class Recording(ScriptedLM):
        def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
            seen.append(system + user)
            return super().chat_prompt(system, user, assistant_prefix)

    sql = "SELECT COUNT(*) FROM customers"
    x = Xander(shop_duckdb, model=Recording({"": [(sql, -0.1)], sql: [("\n```", -0.1)]}),
               config=cfg)
    try:
        r = x.ask("How many customers are there?")
    finally:
        x.close()
    assert r.error is None and r.rows[0][0] > 0  # it still runs on DuckDB
    assert seen and "SQLite" in seen[-1] and "DuckDB" not in seen[-1]


@pytest.mark.parametrize("bad", ["klingon"])
def test_an_unknown_prompt_dialect_is_a_clear_error(bad):
    from xander.errors import XanderError

    with pytest.raises(XanderError, match=bad):
        build_prompt(ScriptedLM({}), SCHEMA, Task("?"), prompt_dialect=bad)
    assert Config(lm=LMConfig(prompt_dialect="")).lm.prompt_dialect == ""


# -- on PostgreSQL, the model asked for SQLite ----------------------------------------------------
_DB = "xander_prompt_dialect"


@pytest.fixture(scope="module")
def singers_url(pg_server) -> str:
    pg_server.psql(f"DROP DATABASE IF EXISTS {_DB}")
    pg_server.psql(f"CREATE DATABASE {_DB}")
    pg_server.psql('CREATE TABLE "Singer" ("Singer_ID" INTEGER PRIMARY KEY, "Name" TEXT, '
                   '"Born" TEXT, "Age" INTEGER); INSERT INTO "Singer" VALUES '
                   "(1, 'Ada', '1990-05-01', 34), (2, 'Bo', '1985-01-09', NULL), "
                   "(3, 'Cy', '1990-11-30', 29)", dbname=_DB)
    return pg_server.url(_DB)


@pytest.mark.parametrize("mode", ["search", "greedy"])
def test_sqlite_the_model_writes_is_transpiled_spelled_and_run(singers_url, mode):
    """Asked for SQLite (``prompt_dialect = "sqlite"``), the model writes SQLite's functions,
    NULL order and unquoted mixed-case names; the answer is that query in PostgreSQL's words,
    with SQLite's rows."""
    written = ("SELECT strftime('%Y', Born) AS y, IFNULL(Age, 0) FROM Singer "
               "ORDER BY Age DESC")
    cfg = Config(lm=LMConfig(prompt_dialect="sqlite"))
    x = Xander(singers_url, model=ScriptedLM({"": [(written, -0.1)], written: [("\n```", -0.1)]}),
               config=cfg)
    try:
        r = x.ask("In which years were the singers born, oldest first?", mode=mode)
    finally:
        x.close()
    assert r.error is None, r
    assert r.sql == ("SELECT TO_CHAR(CAST(\"Born\" AS TIMESTAMP), 'YYYY') AS y, "
                     'COALESCE("Age", 0) FROM "Singer" ORDER BY "Age" DESC NULLS LAST, '
                     '"Singer".ctid')
    assert r.rows == (("1990", 34), ("1990", 29), ("1985", 0))  # SQLite's: its NULL sorts last


def test_sqlites_caseless_like_becomes_ilike_on_postgresql(singers_url, tmp_path):
    """SQLite's LIKE ignores the case of ASCII letters; asked for SQLite, the model's
    ``LIKE 'a%'`` runs as ``ILIKE`` and finds what SQLite finds on the same rows."""
    import sqlite3

    written = "SELECT Name FROM Singer WHERE Name LIKE 'a%' OR Name LIKE '%O'"
    lite = sqlite3.connect(tmp_path / "s.sqlite")
    lite.execute("CREATE TABLE Singer (Name TEXT)")
    lite.executemany("INSERT INTO Singer VALUES (?)", [("Ada",), ("Bo",), ("Cy",)])
    want = lite.execute(written).fetchall()
    cfg = Config(lm=LMConfig(prompt_dialect="sqlite"))
    x = Xander(singers_url, model=ScriptedLM({"": [(written, -0.1)], written: [("\n```", -0.1)]}),
               config=cfg)
    try:
        r = x.ask("Which singers' names begin with an A or end with an O?", mode="greedy")
    finally:
        x.close()
    assert r.error is None, r
    assert r.sql == ('SELECT "Name" FROM "Singer" WHERE "Name" ILIKE \'a%\' '
                     'OR "Name" ILIKE \'%O\'')
    assert sorted(r.rows) == sorted(want) == [("Ada",), ("Bo",)]
