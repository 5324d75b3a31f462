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


# -- names spelled as the schema has them, where unquoted names fold (PostgreSQL) ---------------
def _mixed(dialect: str = "postgres") -> Schema:
    from xander.schema import Column, Table

    return Schema((
        Table("Singer", (Column("Singer_ID"), Column("Name"), Column("Age"))),
        Table("Song", (Column("Song_ID"), Column("Singer_ID"), Column("Title"))),
        Table("Pet", (Column("name"), Column("Name"), Column("Code"), Column("CODE"))),
    ), dialect)


SPELLING = [  # (written, as the search runs it on PostgreSQL)
    ("SELECT Name FROM Singer WHERE Singer_ID = 1",
     'SELECT "Name" FROM "Singer" WHERE "Singer_ID" = 1'),
    ("SELECT T1.Name, T2.Title FROM Singer AS T1 JOIN Song AS T2 ON T1.Singer_ID = T2.Singer_ID",
     ('SELECT T1."Name", T2."Title" FROM "Singer" AS T1 JOIN "Song" AS T2 '
     'ON T1."Singer_ID" = T2."Singer_ID"')),
    ("SELECT singer.name FROM singer", 'SELECT "Singer"."Name" FROM "Singer"'),
    ("SELECT Singer.* FROM Singer", 'SELECT "Singer".* FROM "Singer"'),
    # string literals, functions and the query's own aliases stay
    ("SELECT max(Age) AS Oldest FROM Singer WHERE Name = 'Name' ORDER BY Oldest",
     "SELECT MAX(\"Age\") AS Oldest FROM \"Singer\" WHERE \"Name\" = 'Name' ORDER BY Oldest"),
    # derived tables and CTEs expose the names as written inside them
    ("SELECT Name FROM (SELECT Name FROM Singer) AS s",
     'SELECT "Name" FROM (SELECT "Name" FROM "Singer") AS s'),
    ("WITH top AS (SELECT Name, Age FROM Singer) SELECT top.Name FROM top WHERE Age > 30",
     ('WITH top AS (SELECT "Name", "Age" FROM "Singer") SELECT top."Name" FROM top '
     'WHERE "Age" > 30')),
    (("SELECT Name FROM Singer WHERE Age > (SELECT avg(Age) FROM Singer AS s2 "
     "WHERE s2.Singer_ID <> Singer_ID)"),
     ('SELECT "Name" FROM "Singer" WHERE "Age" > (SELECT AVG("Age") FROM "Singer" AS s2 '
     'WHERE s2."Singer_ID" <> "Singer_ID")')),
    ("SELECT Title FROM Singer JOIN Song USING (Singer_ID)",
     'SELECT "Title" FROM "Singer" JOIN "Song" USING ("Singer_ID")'),
    # a name that exists as PostgreSQL reads it (name), quoted names and unknown names stay;
    # an ambiguous one (Code / CODE) too
    ("SELECT Name FROM Pet", 'SELECT Name FROM "Pet"'),
    ("SELECT code FROM Pet", 'SELECT code FROM "Pet"'),
    ('SELECT "name" FROM "Singer"', 'SELECT "name" FROM "Singer"'),
    ("SELECT Nmae FROM Singer", 'SELECT Nmae FROM "Singer"'),
]


@pytest.mark.parametrize(("sql", "expected"), SPELLING)
def test_names_are_spelled_as_the_schema_has_them(sql, expected):
    from xander.linking import spelled

    assert spelled(sql, _mixed()) == expected
    assert spelled(expected, _mixed()) == expected  # spelled once is spelled


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
@pytest.mark.parametrize(("sql", "expected"), SPELLING)
def test_spelling_is_a_no_op_where_names_do_not_fold(sql, expected, dialect):
    from xander.linking import spelled

    assert spelled(sql, _mixed(dialect)) is sql


def test_spelling_across_named_schemas():
    from xander.linking import spelled
    from xander.schema import Column, Table

    part = Schema((Table("Orders", (Column("Order_ID"),)),))
    s = Schema.merged({"Sales": part, "hr": part}, "postgres")
    assert spelled("SELECT o.Order_ID FROM Sales.Orders AS o", s) == (
        'SELECT o."Order_ID" FROM "Sales"."Orders" AS o')
    assert spelled("SELECT Order_ID FROM hr.orders", s) == 'SELECT "Order_ID" FROM hr."Orders"'


def test_an_ambiguous_name_is_reported_not_guessed():
    from xander.linking import spelled

    schema = _mixed()
    sql = spelled("SELECT p.code FROM Pet AS p", schema)
    problems = link(parse(sql, "postgres"), schema)
    assert [(p.kind, p.name, p.qualifier) for p in problems] == [("ambiguous-case", "code", "p")]
    assert problems[0].message() == ('code reads as code, which the schema lacks; it has '
                                     '"CODE" and "Code": quote the one meant')
    bare = parse(spelled("SELECT code FROM Pet", schema), "postgres")
    assert [p.kind for p in link(bare, schema)] == ["ambiguous-case"]
    assert link(bare, schema, final=False) == []  # a later JOIN may bring a column "code"
    assert link(parse(spelled('SELECT Name, "CODE" FROM Pet', schema), "postgres"), schema) == []


def test_spider_gold_is_unchanged_on_lower_case_names_and_links_spelled_on_mixed_case():
    """Every dev gold query: the same text on SQLite and on a lower-case PostgreSQL copy, and
    spelled for a copy with SQLite's names kept, it links without a problem."""
    from dataclasses import replace

    from xander.linking import spelled
    from xander.schema import Column

    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider dev.json not available")
    schemas: dict[str, Schema] = {}
    changed = checked = 0
    for ex in json.loads((SPIDER / "dev.json").read_text()):
        path = SPIDER / "database" / ex["db_id"] / f"{ex['db_id']}.sqlite"
        if not path.is_file():
            continue
        if ex["db_id"] not in schemas:
            schemas[ex["db_id"]] = Schema.from_engine(open_engine(path), samples=0)
        lite = schemas[ex["db_id"]]
        lower = Schema(tuple(replace(t, name=t.name.lower(), columns=tuple(
            Column(c.name.lower(), c.type) for c in t.columns)) for t in lite.tables), "postgres")
        sql = string_literals_for_unknown_quoted(parse(ex["query"], "sqlite"), lite).sql(
            "postgres")  # SQLite's "France" is a string
        assert spelled(ex["query"], lite) is ex["query"]
        assert spelled(sql, lower) is sql
        mixed = Schema(lite.tables, "postgres")
        respelled = spelled(sql, mixed)
        changed += respelled != sql
        tree = string_literals_for_unknown_quoted(parse(respelled, "postgres"), mixed)
        assert link(tree, mixed) == [], (ex["query"], respelled)
        checked += 1
    assert (checked, changed) == (972, 932)  # as pg_load.py --keep-case --check-gold counts
