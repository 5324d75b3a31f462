"""Schema introspection, the foreign-key graph and prompt rendering on real databases."""

from __future__ import annotations

import sqlglot
from sqlglot.optimizer.qualify import qualify

from xander.engines import open_engine
from xander.schema import Schema


def test_concert_singer_schema(concert_singer):
    s = Schema.from_engine(open_engine(concert_singer))
    assert s.table_names == ("stadium", "singer", "concert", "singer_in_concert")
    singer = s.table("SINGER")
    assert singer is not None and singer.primary_key == ("Singer_ID",)
    assert singer.column("country").samples == ("Netherlands", "United States", "France")
    assert [(f.table, f.ref_table) for f in s.table("concert").foreign_keys] == [
        ("concert", "stadium")
    ]
    assert {t.name for t in s.tables_with_column("Stadium_ID")} == {"stadium", "concert"}


def test_join_path_follows_foreign_keys(concert_singer):
    s = Schema.from_engine(open_engine(concert_singer))
    path = s.join_path("singer", "stadium")
    assert [(f.table, f.ref_table) for f in path] == [
        ("singer_in_concert", "singer"), ("singer_in_concert", "concert"),
        ("concert", "stadium"),
    ]
    assert s.join_path("singer", "singer") == []


def test_render_has_keys_and_example_rows(concert_singer):
    text = Schema.from_engine(open_engine(concert_singer)).render()
    assert "CREATE TABLE singer (\n  Singer_ID INT PRIMARY KEY," in text
    assert "FOREIGN KEY (Stadium_ID) REFERENCES stadium(Stadium_ID)" in text
    assert "/* 3 example rows from singer:" in text and "'Joe Sharp'" in text


def test_render_prunes_to_budget_keeping_relevant_tables(concert_singer):
    s = Schema.from_engine(open_engine(concert_singer))
    full = s.render(example_rows=False)
    small = s.render(question="How many singers are from France?", max_chars=400)
    assert len(small) <= 400 < len(full)
    assert "CREATE TABLE singer " in small


def test_mapping_schema_qualifies_real_query(concert_singer):
    s = Schema.from_engine(open_engine(concert_singer))
    tree = qualify(sqlglot.parse_one("SELECT name FROM singer WHERE age > 30", read="sqlite"),
                   schema=s.mapping_schema(), dialect="sqlite")
    assert '"singer"."name"' in tree.sql("sqlite").lower()


def test_duckdb_schema_has_foreign_keys(shop_duckdb):
    s = Schema.from_engine(open_engine(shop_duckdb))
    assert s.dialect == "duckdb"
    assert set(s.table_names) == {"customers", "products", "orders"}
    assert {f.ref_table for f in s.table("orders").foreign_keys} == {"customers", "products"}
    assert [f.table for f in s.join_path("customers", "products")] == ["orders", "orders"]
