"""Schema linking: no false alarms on real gold queries, and the right problem on broken ones."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SPIDER, spider_db
from xander.engines import open_engine
from xander.linking import link, parse, string_literals_for_unknown_quoted
from xander.schema import Schema


def test_every_spider_dev_gold_query_links_cleanly():
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider dev.json not available")
    schemas: dict[str, Schema] = {}
    checked = 0
    for ex in json.loads((SPIDER / "dev.json").read_text()):
        path = SPIDER / "database" / ex["db_id"] / f"{ex['db_id']}.sqlite"
        if not path.is_file():
            continue
        schema = schemas.get(ex["db_id"]) or schemas.setdefault(
            ex["db_id"], Schema.from_engine(open_engine(path)))
        tree = parse(ex["query"], "sqlite")
        assert tree is not None, ex["query"]
        problems = link(string_literals_for_unknown_quoted(tree, schema), schema)
        assert problems == [], (ex["query"], [p.message() for p in problems])
        checked += 1
    assert checked == 972


CASES = [
    ("SELECT T2.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON 1=1", True,
     [("unknown-column", "Name", "T2", "singer_in_concert")]),
    ("SELECT Name FROM singr", True, [("unknown-table", "singr", "", "")]),
    ("SELECT T3.Name FROM singer AS T1", True, [("unknown-alias", "Name", "T3", "")]),
    ("SELECT T3.Name FROM singer AS T1", False, []),  # a JOIN may still define T3
    ("SELECT Theme FROM singer", True, [("unknown-column", "Theme", "", "")]),
    ("SELECT Theme FROM singer", False, []),
    ('SELECT Name FROM singer WHERE Country = "France"', True, []),  # SQLite string literal
    ("SELECT count(*) AS n FROM singer GROUP BY Country ORDER BY n", True, []),
    (("SELECT Name FROM stadium WHERE Stadium_ID IN (SELECT Stadium_ID FROM concert "
     "WHERE concert.Stadium_ID = stadium.Capacit)"), True,
     [("unknown-column", "Capacit", "stadium", "stadium")]),
    ("WITH c AS (SELECT Name AS n FROM singer) SELECT c.n, c.age FROM c", True,
     [("unknown-column", "age", "c", "")]),
]


@pytest.mark.parametrize(("sql", "final", "expected"), CASES)
def test_link_problems(sql, final, expected):
    schema = Schema.from_engine(open_engine(spider_db("concert_singer")))
    tree = string_literals_for_unknown_quoted(parse(sql, "sqlite"), schema)
    got = [(p.kind, p.name, p.qualifier, p.table) for p in link(tree, schema, final=final)]
    assert got == expected


def test_duplicate_alias_is_a_problem_not_a_crash():
    schema = Schema.from_engine(open_engine(spider_db("concert_singer")))
    tree = parse("SELECT s.Name FROM singer AS s JOIN stadium AS s ON 1 = 1", "sqlite")
    assert [(p.kind, p.name) for p in link(tree, schema)] == [("duplicate-alias", "s")]


def test_a_function_name_is_not_judged_as_a_finished_column():
    # "ORDER BY COUNT" + "(" : the word continues as a function call, so the word-end
    # identifier check must not run (it would call COUNT an unknown column)
    from xander.search import _IDENT_START

    assert _IDENT_START.match("(*)") and _IDENT_START.match(".Name") and _IDENT_START.match("_id")
    assert not _IDENT_START.match(" FROM") and not _IDENT_START.match(",")
