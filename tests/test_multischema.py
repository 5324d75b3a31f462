"""Many tables in many schemas: ``schema.table`` names from the DuckDB engine through the schema,
linking, repair and search, on real DuckDB files with several schemas and real Spider schemas
merged, and the large-schema catalog of Spider databases (``benchmarks/build_catalog.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from benchmarks import build_catalog as catalog
from tests.conftest import spider_db
from tests.scripted import ScriptedLM
from xander.api import Xander
from xander.engines import open_engine
from xander.errors import InputError
from xander.linking import link, parse
from xander.repair.link import link_repairs
from xander.schema import Schema

END = "\n```"  # the closing fence: the piece that ends a query

SHOP = """
    CREATE TABLE {s}customers (id INTEGER PRIMARY KEY, name VARCHAR, country VARCHAR);
    CREATE TABLE {s}orders (id INTEGER PRIMARY KEY,
        customer_id INTEGER REFERENCES {s}customers(id), amount DOUBLE);
    INSERT INTO {s}customers VALUES (1, 'Ada', 'France'), (2, 'Bo', 'Spain');
    INSERT INTO {s}orders VALUES (1, 1, 10.0), (2, 1, 5.5), (3, 2, 7.0);
"""


@pytest.fixture(scope="module")
def two_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sales`` (customers, orders), ``hr`` (staff, orders: another table of that name) and
    ``main`` (notes)."""
    import duckdb

    path = tmp_path_factory.mktemp("schemas") / "company.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA sales; CREATE SCHEMA hr")
    con.execute(SHOP.format(s="sales."))
    con.execute("""
        CREATE TABLE hr.staff (staff_id INTEGER PRIMARY KEY, full_name VARCHAR);
        CREATE TABLE hr.orders (order_no INTEGER PRIMARY KEY,
            staff_id INTEGER REFERENCES hr.staff(staff_id), item VARCHAR);
        INSERT INTO hr.staff VALUES (1, 'Cy'), (2, 'Di');
        INSERT INTO hr.orders VALUES (10, 1, 'chair'), (11, 2, 'desk'), (12, 2, 'lamp'),
            (13, 1, 'pen');
        CREATE TABLE main.notes (body VARCHAR);
        INSERT INTO main.notes VALUES ('hello');
    """)
    con.close()
    return path


@pytest.fixture(scope="module")
def both(two_schemas: Path) -> Schema:
    return Schema.from_engine(open_engine(two_schemas, schemas=("sales", "hr")))


# -- the engine --------------------------------------------------------------------------------
def test_default_serves_main_with_bare_names(two_schemas):
    engine = open_engine(two_schemas)
    assert [t.name for t in engine.tables()] == ["notes"]
    assert engine.execute("SELECT body FROM notes").rows == (("hello",),)


def test_one_schema_keeps_bare_names_and_runs_them(two_schemas):
    engine = open_engine(two_schemas, schemas=("SALES",))  # caseless, spelled as the file has it
    assert engine.schemas == ("sales",)
    tables = {t.name: t for t in engine.tables()}
    assert set(tables) == {"customers", "orders"}
    (fk,) = tables["orders"].foreign_keys
    assert (fk.table, fk.columns, fk.ref_table, fk.ref_columns) == (
        "orders", ("customer_id",), "customers", ("id",))
    assert engine.execute("SELECT count(*) FROM orders").rows == ((3,),)


def test_several_schemas_name_tables_schema_dot_table(two_schemas):
    engine = open_engine(two_schemas, schemas=("sales", "hr"))
    tables = {t.name: t for t in engine.tables()}
    assert list(tables) == ["sales.customers", "sales.orders", "hr.orders", "hr.staff"]
    assert tables["sales.customers"].primary_key == ("id",)
    assert [(f.table, f.ref_table) for f in tables["hr.orders"].foreign_keys] == [
        ("hr.orders", "hr.staff")]
    assert engine.sample_values("hr.orders", "item") != ()
    assert set(engine.sample_values("sales.customers", "country", 5)) == {"France", "Spain"}
    engine.explain('SELECT sum(amount) FROM "sales"."orders"')
    assert engine.execute("SELECT count(*) FROM hr.orders").rows == ((4,),)
    # a bare name runs from the search path (the first served schema that has it)
    assert engine.execute("SELECT count(*) FROM staff").rows == ((2,),)


def test_unknown_schema_names_the_schemas_of_the_file(two_schemas):
    with pytest.raises(InputError) as err:
        open_engine(two_schemas, schemas=("sales", "shop"))
    assert "'shop'" in err.value.message
    assert err.value.hint == "choose from hr, main, sales"


def test_schemas_for_engines_without_them_are_an_input_error(tmp_path, concert_singer):
    with pytest.raises(InputError, match="no named schemas"):
        open_engine(concert_singer, schemas=("main",))
    (tmp_path / "people.csv").write_text("name,age\nAda,36\n")
    with pytest.raises(InputError, match="no named schemas"):
        open_engine(tmp_path, schemas=("main",))


def test_engine_error_for_a_missing_schema_reads_as_no_such_table(two_schemas):
    import re

    engine = open_engine(two_schemas, schemas=("sales", "hr"))
    with pytest.raises(Exception) as err:
        engine.execute("SELECT * FROM shop.orders")
    m = re.search(engine.profile.error_patterns["no-such-table"], str(err.value))
    assert m is not None and "shop.orders" in m.group("name")


# -- the schema --------------------------------------------------------------------------------
def test_schema_looks_up_qualified_and_unique_bare_names(both):
    assert both.schemas == ("sales", "hr") and both.qualified
    assert both.table("sales.orders").db == "sales"
    assert both.table("SALES.Orders").bare_name == "orders"
    assert both.table("orders", "hr").name == "hr.orders"
    assert both.table("customers").name == "sales.customers"  # one schema has it
    assert both.table("staff").name == "hr.staff"
    assert both.table("orders") is None  # two schemas have it
    assert [t.name for t in both.tables_named("orders")] == ["sales.orders", "hr.orders"]
    assert both.table("orders", "main") is None
    assert both.table_of(exp.to_table("hr.orders")).name == "hr.orders"


def test_foreign_key_graph_keeps_schemas_apart(both):
    assert set(both.graph.nodes) == {"sales.customers", "sales.orders", "hr.orders", "hr.staff"}
    assert [(f.table, f.ref_table) for f in both.join_path("sales.customers", "sales.orders")
            ] == [("sales.orders", "sales.customers")]
    assert [f.ref_table for f in both.join_path("staff", "hr.orders")] == ["hr.staff"]
    assert both.join_path("sales.customers", "hr.staff") == []


def test_mapping_nests_schemas_and_qualifies_queries(both):
    assert both.mapping["hr"]["staff"] == {"staff_id": "INTEGER", "full_name": "VARCHAR"}
    tree = qualify(sqlglot.parse_one("SELECT amount FROM sales.orders", read="duckdb"),
                   schema=both.mapping_schema(), dialect="duckdb")
    assert tree.sql("duckdb") == 'SELECT "orders"."amount" AS "amount" FROM "sales"."orders" ' \
                                 'AS "orders"'


def test_render_names_tables_with_their_schemas(both):
    text = both.render()
    assert "CREATE TABLE sales.orders (\n  id INTEGER PRIMARY KEY," in text
    assert "FOREIGN KEY (customer_id) REFERENCES sales.customers(id)" in text
    assert "FOREIGN KEY (staff_id) REFERENCES hr.staff(staff_id)" in text
    assert "example rows from hr.staff:" in text and "'Cy'" in text  # read from "hr"."staff"
    assert both.table("sales.customers").column("country").samples == ("France", "Spain")


def test_one_schema_renders_as_the_same_tables_in_main(two_schemas, tmp_path):
    import duckdb

    plain = tmp_path / "plain.duckdb"
    con = duckdb.connect(str(plain))
    con.execute(SHOP.format(s=""))
    con.close()
    served = Schema.from_engine(open_engine(two_schemas, schemas=("sales",)))
    assert not served.qualified
    assert served.render() == Schema.from_engine(open_engine(plain)).render()
    assert served.mapping == Schema.from_engine(open_engine(plain)).mapping


# -- linking and repair ------------------------------------------------------------------------
def _problems(sql: str, schema: Schema) -> list[str]:
    return [p.message() for p in link(parse(sql, "duckdb"), schema)]


def test_linking_resolves_schema_dot_table(both):
    assert _problems("SELECT o.amount, c.name FROM sales.orders AS o JOIN sales.customers AS c "
                     "ON o.customer_id = c.id", both) == []
    assert _problems("SELECT sales.orders.amount FROM sales.orders", both) == []
    assert _problems("SELECT orders.item FROM hr.orders", both) == []
    assert _problems("SELECT name FROM customers", both) == []  # bare, one schema has it
    assert _problems("SELECT o.total FROM sales.orders AS o", both) == [
        "o.total: table 'sales.orders' has no column 'total'"]


def test_linking_explains_names_no_schema_resolves(both):
    assert _problems("SELECT count(*) FROM orders", both) == [
        "no table named 'orders' (several schemas have it: sales.orders, hr.orders)"]
    assert _problems("SELECT name FROM hr.customers", both) == [
        "no table named 'hr.customers' (it is sales.customers)"]
    assert _problems("SELECT * FROM shop.orders", both) == [
        "no table named 'shop.orders' (no schema shop; the schemas are sales, hr)"]
    # a CTE is a bare name; a qualified name is never one
    assert _problems("WITH orders AS (SELECT 1 AS x) SELECT x FROM orders", both) == []


@pytest.mark.parametrize(("sql", "fixed", "what"), [
    ("SELECT name FROM hr.customers", "SELECT name FROM sales.customers",
     "closest table hr.customers -> sales.customers"),
    ("SELECT sum(amount) FROM orders", "SELECT SUM(amount) FROM sales.orders",
     "closest table orders -> sales.orders"),  # the orders table with an amount column
    ("SELECT item FROM orders WHERE staff_id = 2", "SELECT item FROM hr.orders WHERE staff_id = 2",
     "closest table orders -> hr.orders"),
    ("SELECT full_name FROM hr.stuff", "SELECT full_name FROM hr.staff",
     "closest table hr.stuff -> hr.staff"),
])
def test_repair_qualifies_table_names(both, two_schemas, sql, fixed, what):
    tree, done = link_repairs(parse(sql, "duckdb"), both)
    assert tree.sql("duckdb") == fixed and done == [what]
    assert open_engine(two_schemas, schemas=("sales", "hr")).execute(fixed).rows


def test_repair_does_not_guess_between_schemas(both):
    # nothing in the query tells sales.orders from hr.orders
    assert link_repairs(parse("SELECT count(*) FROM orders", "duckdb"), both) is None


def test_repair_joins_along_qualified_foreign_keys(both, two_schemas):
    tree, done = link_repairs(
        parse("SELECT T1.amount FROM sales.orders AS T1 WHERE T1.country = 'France'", "duckdb"),
        both)
    sql = tree.sql("duckdb")
    assert done == ["join sales.customers for country"]
    assert sql == ("SELECT T1.amount FROM sales.orders AS T1 JOIN sales.customers AS T2 "
                   "ON T1.customer_id = T2.id WHERE T2.country = 'France'")
    rows = open_engine(two_schemas, schemas=("sales", "hr")).execute(sql).rows
    assert sorted(rows) == [(5.5,), (10.0,)]


# -- real Spider schemas merged ----------------------------------------------------------------
@pytest.fixture(scope="module")
def spider_merged() -> Schema:
    parts = {db: Schema.from_engine(open_engine(spider_db(db)))
             for db in ("concert_singer", "singer", "pets_1")}
    return Schema.merged(parts)


def test_merged_spider_schemas(spider_merged):
    s = spider_merged
    assert s.schemas == ("concert_singer", "singer", "pets_1")
    assert [t.name for t in s.tables_named("singer")] == ["concert_singer.singer",
                                                          "singer.singer"]
    assert s.table("Has_Pet").name == "pets_1.Has_Pet"
    assert [f.ref_table for f in s.join_path("pets_1.Student", "pets_1.Pets")] == [
        "pets_1.Student", "pets_1.Pets"]
    assert "CREATE TABLE concert_singer.singer_in_concert (" in s.render(max_chars=10**6)
    assert "REFERENCES concert_singer.concert(concert_ID)" in s.render(max_chars=10**6)


def test_merged_spider_linking_and_repair(spider_merged):
    s = spider_merged
    assert _problems("SELECT T1.Name FROM concert_singer.singer AS T1 JOIN "
                     "concert_singer.singer_in_concert AS T2 ON T1.Singer_ID = T2.Singer_ID",
                     s) == []
    assert _problems("SELECT Name FROM singer", s) == [
        ("no table named 'singer' (several schemas have it: concert_singer.singer, "
        "singer.singer)")]
    fixed, _ = link_repairs(parse("SELECT Name FROM singer WHERE Net_Worth_Millions > 10",
                                  "duckdb"), s)
    assert fixed.sql("duckdb") == "SELECT Name FROM singer.singer WHERE Net_Worth_Millions > 10"
    fixed, _ = link_repairs(parse("SELECT Name FROM singer WHERE Is_male = 'T'", "duckdb"), s)
    assert fixed.sql("duckdb") == "SELECT Name FROM concert_singer.singer WHERE Is_male = 'T'"
    fixed, done = link_repairs(parse("SELECT T1.Name FROM concert_singer.singer AS T1 "
                                     "WHERE T1.concert_Name = 'Auditions'", "duckdb"), s)
    assert done == ["join concert_singer.concert for concert_Name"]
    assert "JOIN concert_singer.singer_in_concert AS" in fixed.sql("duckdb")


# -- the large-schema catalog ------------------------------------------------------------------
CATALOG_DBS = ("concert_singer", "pets_1", "singer")


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog") / "spider.duckdb"
    sources = [(db, spider_db(db)) for db in CATALOG_DBS]
    built = catalog.build_catalog(sources, out)
    assert (built.databases, built.schemas) == (3, list(CATALOG_DBS))
    assert built.rows == sum(
        sqlite3.connect(p).execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        for _, p in sources for (t,) in sqlite3.connect(p).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
    return out


def test_catalog_serves_every_database_as_a_schema(small_catalog):
    engine = open_engine(small_catalog, schemas=CATALOG_DBS)
    tables = {t.name: t for t in engine.tables()}
    assert {"concert_singer.singer", "singer.singer", "pets_1.Has_Pet"} <= set(tables)
    assert len(tables) == 4 + 3 + 2
    assert tables["concert_singer.singer"].primary_key == ("Singer_ID",)
    fks = {(f.table, f.columns, f.ref_table) for t in tables.values() for f in t.foreign_keys}
    assert ("pets_1.Has_Pet", ("StuID",), "pets_1.Student") in fks
    assert ("pets_1.Has_Pet", ("PetID",), "pets_1.Pets") in fks
    assert ("singer.song", ("Singer_ID",), "singer.singer") in fks
    # concert.Stadium_ID is declared text in SQLite: typed as its parent key to keep the key
    assert ("concert_singer.concert", ("Stadium_ID",), "concert_singer.stadium") in fks


@pytest.mark.parametrize(("db", "gold"), [
    ("concert_singer", ("SELECT T2.Name, count(*) FROM concert AS T1 JOIN stadium AS T2 "
                       "ON T1.Stadium_ID = T2.Stadium_ID GROUP BY T1.Stadium_ID, T2.Name")),
    ("pets_1", ("SELECT count(*) FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid "
               "JOIN pets AS T3 ON T2.petid = T3.petid WHERE T1.sex = 'F' AND "
               "T3.pettype = 'dog'")),
    ("singer", "SELECT Name, Net_Worth_Millions FROM singer ORDER BY Net_Worth_Millions DESC"),
])
def test_catalog_answers_gold_queries_like_sqlite(small_catalog, db, gold):
    tree = sqlglot.parse_one(gold, read="sqlite")
    for t in tree.find_all(exp.Table):
        t.set("db", exp.to_identifier(db))
    engine = open_engine(small_catalog, schemas=CATALOG_DBS)
    got = engine.execute(tree.sql("duckdb")).rows
    want = sqlite3.connect(spider_db(db)).execute(gold).fetchall()
    assert sorted(got) == sorted(want) and got


def _routed_budget(schema: Schema) -> int:
    """A prompt budget each database of the catalog fits, and the whole catalog does not."""
    from xander.focus import fits

    size = max(len(schema.part(db).render(max_chars=1 << 62, example_rows=False))
               for db in schema.schemas)
    assert not fits(schema, size)
    return size


def test_a_question_about_one_database_of_the_catalog_shows_it_bare_and_whole(small_catalog):
    """Focus routes the question to one schema: the prompt shows that database as a question
    asked of it alone would see it (bare names, every table, the same text for every question
    routed there), and says so (``home``); a question whose tables span schemas keeps them
    qualified."""
    from xander.prompts import schema_head

    schema = Schema.from_engine(open_engine(small_catalog, schemas=CATALOG_DBS))
    budget = _routed_budget(schema)
    alone = schema.part("pets_1").render(max_chars=budget)
    head = schema_head(schema, "How many dogs do students own?", budget)
    assert (head.home, head.shared) == ("pets_1", True)
    assert head.text == f"Database schema (DuckDB):\n{alone}\n\n"
    assert "CREATE TABLE Has_Pet (" in alone and "pets_1." not in alone
    assert head == schema_head(schema, "Which students own a cat?", budget)
    spans = schema_head(schema, "What is the name of the singer with the song Love?", budget)
    assert spans.home == "" and "CREATE TABLE concert_singer." in spans.text


def test_bare_names_the_model_writes_run_in_the_database_the_prompt_showed(small_catalog):
    """Routed to concert_singer, the model writes ``singer``, a name two schemas have: it is
    checked, repaired and run as concert_singer's, and the answer shows the qualified SQL."""
    from xander.config import Config, LMConfig

    schema = Schema.from_engine(open_engine(small_catalog, schemas=CATALOG_DBS))
    sql = ("SELECT T1.Name, count(*) FROM stadium AS T1 JOIN concert AS T2 "
           "ON T1.Stadium_ID = T2.Stadium_ID GROUP BY T1.Name ORDER BY count(*) DESC LIMIT 1")
    bare = "SELECT count(*) FROM singer"
    lm = ScriptedLM({"": [(sql, -0.1), (bare, -0.2)], sql: [(END, -0.05)],
                     bare: [(END, -0.05)]})
    cfg = Config(lm=LMConfig(max_schema_chars=_routed_budget(schema)))
    r = Xander(small_catalog, model=lm, schemas=CATALOG_DBS, config=cfg).ask(
        "Which stadium hosted the most concerts?", mode="greedy")
    assert r.error is None, r.error
    assert r.sql == ("SELECT T1.Name, COUNT(*) FROM concert_singer.stadium AS T1 JOIN "
                     "concert_singer.concert AS T2 ON T1.Stadium_ID = T2.Stadium_ID "
                     "GROUP BY T1.Name ORDER BY COUNT(*) DESC LIMIT 1")
    gold = ("SELECT T2.Name, count(*) FROM concert AS T1 JOIN stadium AS T2 ON "
            "T1.Stadium_ID = T2.Stadium_ID GROUP BY T2.Name ORDER BY count(*) DESC LIMIT 1")
    assert r.rows == tuple(sqlite3.connect(spider_db("concert_singer")).execute(gold).fetchall())
    lm2 = ScriptedLM({"": [(bare, -0.1)], bare: [(END, -0.05)]})
    r = Xander(small_catalog, model=lm2, schemas=CATALOG_DBS, config=cfg).ask(
        "How many concerts were there in each stadium?")
    assert r.error is None, r.error
    assert r.sql == "SELECT COUNT(*) FROM concert_singer.singer"
    n = sqlite3.connect(spider_db("concert_singer")).execute(
        "SELECT count(*) FROM singer").fetchone()[0]
    assert r.rows == ((n,),) and n != sqlite3.connect(spider_db("singer")).execute(
        "SELECT count(*) FROM singer").fetchone()[0]


def test_catalog_cli_prints_what_it_built(tmp_path, capsys):
    out = tmp_path / "one.duckdb"
    assert catalog.main(["--out", str(out), "--db", "pets_1"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == str(out)
    assert "databases 1  schemas 1  tables 3  columns 14  rows 40  foreign keys 2 of 2" in printed
    assert catalog.main(["--out", str(out), "--db", "no_such_db"]) == 2


def test_type_choice_keeps_every_value():
    assert catalog.duckdb_type("INTEGER", [1, "", None]) == "VARCHAR"
    assert catalog.duckdb_type("NUMERIC", [1, 2]) == "BIGINT"
    assert catalog.duckdb_type("DECIMAL", [1, 2.5]) == "DOUBLE"
    assert catalog.duckdb_type("bool", ["T", "F"]) == "VARCHAR"


# -- end to end: the search on two schemas, with the fast lane's scripted model ----------------
def test_xander_answers_over_two_schemas(two_schemas):
    bare = "SELECT count(*) FROM orders"
    qualified = "SELECT count(*) FROM hr.orders"
    lm = ScriptedLM({
        "": [("SELECT count(*) FROM", -0.05)],
        "SELECT count(*) FROM": [(" orders", -0.1), (" hr.orders", -0.5)],
        bare: [(" WHERE", -0.1), (END, -0.2)],
        qualified: [(END, -0.05)],
    })
    x = Xander(two_schemas, model=lm, schemas=("sales", "hr"))
    assert x.schema.qualified
    r = x.ask("How many orders did the staff place?")
    assert r.error is None, r.error
    assert r.sql == qualified and r.rows == ((4,),)
    # the bare name two schemas have was pruned as soon as it was written, with the reason
    reasons = [d.get("reason", "") for _, d in r.trace.graph.nodes(data=True)
               if d["text"].startswith(bare)]
    assert any("several schemas have it" in why for why in reasons)


def test_search_repairs_a_bare_name_to_the_schema_whose_table_fits(two_schemas):
    bare = "SELECT sum(amount) FROM orders"
    lm = ScriptedLM({"": [(bare, -0.1)], bare: [(END, -0.05)]})
    r = Xander(two_schemas, model=lm, schemas=("sales", "hr")).ask("What do orders total?")
    assert r.error is None, r.error
    assert r.sql == "SELECT SUM(amount) FROM sales.orders" and r.rows == ((22.5,),)
    assert r.repairs == ("closest table orders -> sales.orders",)


def test_value_index_and_probes_read_schema_dot_table(two_schemas, both):
    from xander.linking import parse
    from xander.values import ValueIndex, comparisons, probe

    engine = open_engine(two_schemas, schemas=("sales", "hr"))
    index = ValueIndex.build(engine, both)
    assert index.lookup("sales.customers", "country", "France").kind == "exact"
    assert index.lookup("hr.orders", "item", "DESK").kind == "caseless"
    assert probe(engine, "sales.customers", "country", "france").kind == "caseless"
    tree = parse("SELECT name FROM sales.customers AS c WHERE c.country = 'Frnace'", "duckdb")
    (cmp,) = comparisons(tree, both)
    assert (cmp.table, cmp.sources) == ("sales.customers", (("c", "sales.customers"),))


def test_normalized_sql_respells_columns_of_schema_dot_table(both):
    from xander.normalize import normalize

    assert normalize("SELECT NAME FROM sales.customers WHERE COUNTRY = 'France'", "duckdb",
                     both) == "SELECT name FROM sales.customers WHERE country = 'France'"
    # a bare name only one schema has finds its table; hr and sales both have orders
    assert normalize("SELECT FULL_NAME FROM staff", "duckdb", both) == \
        "SELECT full_name FROM staff"
