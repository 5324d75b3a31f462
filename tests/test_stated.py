"""The ``stated`` checker: numbers and quoted values of the question must be in the query.

On real Spider databases with real dev questions and the queries the 0.5B model answered them
with (``benchmarks/results/sqlite_dev_full_874b5df``), and in the search with a scripted LM.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import spider_context
from tests.scripted import ScriptedLM
from xander.checkers import CheckContext, complete_checkers, partial_checkers, run_checkers
from xander.checkers.stated import StatedLiteralChecker
from xander.config import SearchConfig
from xander.engines import open_engine
from xander.prompts import build_prompt
from xander.schema import Schema
from xander.search import search
from xander.task import Task


def _codes(db: str, question: str, sql: str) -> list[str]:
    ctx = spider_context(db, question)
    return [d.code for d in run_checkers([StatedLiteralChecker()], sql, ctx)]


CAPACITY = "Show location and name for all stadiums with a capacity between 5000 and 10000."
AHD = "What are airlines that have some flight departing from airport 'AHD'?"


@pytest.mark.parametrize(("db", "question", "sql", "codes"), [
    # the answer the search gave (a repaired join chain that lost the condition), and gold
    ("concert_singer", CAPACITY,
     ("SELECT T1.Location, T1.Name FROM stadium AS T1 JOIN concert AS T3 ON T1.Stadium_ID = "
     "T3.Stadium_ID"), ["number-missing"]),
    ("concert_singer", CAPACITY,
     "SELECT LOCATION, name FROM stadium WHERE capacity BETWEEN 5000 AND 10000", []),
    ("flight_2", AHD, "SELECT Airline FROM airlines", ["value-missing-from-query"]),
    # gold spells the value in double quotes: SQLite reads it as a string
    ("flight_2", AHD,
     ('SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid = T2.Airline '
     'WHERE T2.SourceAirport = "AHD"'), []),
    # stated in other forms: a value inside a LIKE pattern, a number written with a comma
    ("dog_kennels", "Which professionals live in a city containing the substring 'West'?",
     "SELECT role_code FROM Professionals WHERE city LIKE '%West%'", []),
    ("dog_kennels", "Which professionals live in a city containing the substring 'West'?",
     "SELECT role_code FROM Professionals", ["value-missing-from-query"]),
    ("concert_singer", "Which stadiums hold more than 10,000 people?",
     "SELECT name FROM stadium WHERE capacity > 10000.0", []),
    # both kinds missing: two warnings
    ("flight_2", "Which airlines have more than 10 flights from 'AHD'?",
     "SELECT Airline FROM airlines", ["number-missing", "value-missing-from-query"]),
    # no number, no quote: nothing to check
    ("concert_singer", "How many singers are there?", "SELECT name FROM singer", []),
])
def test_codes_on_dev_questions(db, question, sql, codes):
    assert _codes(db, question, sql) == codes


def test_a_name_split_over_two_columns_is_stated():
    question = 'How many clubs does "Linda Smith" belong to?'
    sql = "SELECT COUNT(*) FROM Student WHERE Fname = 'Linda' AND LName = 'Smith'"
    assert _codes("concert_singer", question, sql) == []
    assert _codes("concert_singer", question, "SELECT COUNT(*) FROM Student WHERE "
                  "Fname = 'Linda'") == ["value-missing-from-query"]


def test_a_warning_never_an_error_and_the_message_names_what_is_missing():
    ctx = spider_context("concert_singer", CAPACITY)
    (d,) = run_checkers([StatedLiteralChecker()], "SELECT name FROM stadium WHERE "
                        "capacity > 5000", ctx)
    assert d.severity == "warning"
    assert str(d) == "stated/number-missing: the question states 10000; the query does not"


def test_registered_after_values_and_can_be_switched_off():
    names = [c.name for c in complete_checkers()]
    assert names.index("stated") == names.index("values") + 1
    assert "stated" not in [c.name for c in complete_checkers(["stated"])]


# -- in the search: a query that drops the stated condition does not end it -----------------------
END = "\n```"
_DROPPED = "SELECT name FROM singer"
_STATED = "SELECT name FROM singer WHERE age > 40"
SCRIPT = {
    "": [(_DROPPED, -0.1), (_STATED, -0.9)],
    _DROPPED: [(END, -0.1)],
    _STATED: [(END, -0.1)],
}


@pytest.fixture(scope="module")
def singers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("singers") / "singers.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
        INSERT INTO singer VALUES (1, 'Joe Sharp', 52), (2, 'Tribal King', 25),
                                  (3, 'Rose White', 41);
    """)
    con.commit()
    con.close()
    return path


def _search(db: Path, disabled: tuple[str, ...] = ()):
    engine = open_engine(db)
    schema, task = Schema.from_engine(engine), Task("Which singers are older than 40?")
    lm = ScriptedLM(SCRIPT)
    return search(lm, build_prompt(lm, schema, task), CheckContext(schema, engine, task),
                  SearchConfig(), partial_checkers(), complete_checkers(disabled),
                  max_tokens=32)


def test_the_search_goes_on_past_a_query_that_drops_a_stated_number(singers):
    out = _search(singers)
    first, answer = out.candidates
    assert first.sql == _DROPPED and first.ok  # it ran: a candidate still, with a warning
    assert [d.code for d in first.diagnostics] == ["number-missing"]
    assert out.best is answer and answer.sql == _STATED
    assert sorted(answer.result.rows) == [("Joe Sharp",), ("Rose White",)]
    off = _search(singers, ("stated",))
    assert off.best.sql == _DROPPED and len(off.candidates) == 1  # the first that ran
