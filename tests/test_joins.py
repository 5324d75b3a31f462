"""The joins checker on real Spider databases: ON conditions and membership tests.

Queries are the 0.5B model's answers to dev questions (``sqlite_dev_full_874b5df``) and the
gold queries of the same questions.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import spider_db
from xander.checkers import CheckContext, run_checkers
from xander.checkers.joins import JoinChecker
from xander.engines import open_engine
from xander.schema import Schema
from xander.task import Task


def _diagnostics(db, sql: str):
    engine = open_engine(db if not isinstance(db, str) else spider_db(db))
    ctx = CheckContext(Schema.from_engine(engine), engine, Task("q"))
    return run_checkers([JoinChecker()], sql, ctx)


@pytest.mark.parametrize(("db", "sql", "codes"), [
    # "stadiums without any concert": stadium ids compared with concert ids
    ("concert_singer",
     "SELECT Name FROM stadium WHERE Stadium_ID NOT IN (SELECT concert_ID FROM concert)",
     ["in-unlinked"]),
    ("concert_singer",
     "SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", []),
    # singer ids are no stadium ids, however deep the subquery
    ("concert_singer",
     ("SELECT Name FROM stadium WHERE Stadium_ID NOT IN (SELECT Singer_ID FROM "
     "singer_in_concert WHERE concert_ID IN (SELECT concert_ID FROM concert WHERE Year = 2014))"),
     ["in-unlinked"]),
    # a foreign key from one to the other, under another name
    ("car_1",
     "SELECT CountryName FROM countries WHERE CountryId NOT IN (SELECT Country FROM car_makers)",
     []),
    ("car_1",
     "SELECT CountryName FROM countries WHERE CountryId NOT IN (SELECT Id FROM car_makers)",
     ["in-unlinked"]),
    # two keys to the same column (a student who likes a student)
    ("network_1",
     ("SELECT name FROM Highschooler WHERE ID IN (SELECT liked_id FROM Likes WHERE student_id "
     "IN (SELECT student_id FROM Friend))"), []),
    ("network_1",
     "SELECT student_id FROM Likes WHERE liked_id IN (SELECT student_id FROM Likes)", []),
    # not a membership in a one-column subquery: not judged
    ("concert_singer", "SELECT name FROM singer WHERE Singer_ID IN (1, 2)", []),
])
def test_membership_codes(db, sql, codes):
    found = _diagnostics(db, sql)
    assert [d.code for d in found] == codes
    assert all(d.severity == "warning" for d in found if d.code == "in-unlinked")


def test_the_message_names_the_test():
    (d,) = _diagnostics("concert_singer", "SELECT Name FROM stadium WHERE Stadium_ID NOT IN "
                        "(SELECT concert_ID FROM concert)")
    assert str(d) == ("joins/in-unlinked: Stadium_ID IN (SELECT concert_ID ...) compares "
                      "columns no key links: a different thing")


def test_a_schema_without_foreign_keys_is_not_judged(tmp_path):
    path = tmp_path / "nokeys.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE a (id INTEGER, x TEXT); CREATE TABLE b (bid INTEGER);")
    con.close()
    assert _diagnostics(path, "SELECT x FROM a WHERE id IN (SELECT bid FROM b)") == []
