"""Normalized SQL: golden files, and every Spider dev gold query keeps its result.

``tests/fixtures/normalize/*.sql`` holds blocks separated by blank lines::

    -- title: what the case shows
    -- db: <spider db_id>
    <input SQL, one line>
    -- expected:
    <normalized SQL, one line>

Each expected query must also return the same rows as its input on the real database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SPIDER, spider_db
from xander.bench.metrics import gold_has_order_by, spider_exec_match
from xander.engines import open_engine
from xander.normalize import normalize
from xander.schema import Schema

FIXTURES = Path(__file__).parent / "fixtures" / "normalize"


def _cases():
    for path in sorted(FIXTURES.glob("*.sql")):
        for block in path.read_text().strip().split("\n\n"):
            lines = block.strip().splitlines()
            meta = {l[3:].split(":", 1)[0]: l.split(":", 1)[1].strip()
                    for l in lines if l.startswith("-- ") and ":" in l}
            body = [l for l in lines if not l.startswith("-- ")]
            yield pytest.param(meta["db"], body[0], body[1], id=meta["title"])


def _same(engine, a: str, b: str) -> bool:
    ra, rb = engine.execute(a, timeout=30).rows, engine.execute(b, timeout=30).rows
    return len(ra) == len(rb) and spider_exec_match(list(ra), list(rb), gold_has_order_by(a))


@pytest.mark.parametrize(("db", "sql", "expected"), list(_cases()))
def test_normalize_golden(db, sql, expected):
    engine = open_engine(spider_db(db))
    schema = Schema.from_engine(engine)
    assert normalize(sql, "sqlite", schema) == expected
    assert normalize(expected, "sqlite", schema) == expected  # a fixed point
    assert _same(engine, sql, expected)


def test_every_spider_dev_gold_query_keeps_its_result():
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider dev.json not available")
    engines: dict[str, tuple] = {}
    same = checked = 0
    for ex in json.loads((SPIDER / "dev.json").read_text()):
        path = SPIDER / "database" / ex["db_id"] / f"{ex['db_id']}.sqlite"
        if not path.is_file():
            continue
        if ex["db_id"] not in engines:
            engine = open_engine(path)
            engines[ex["db_id"]] = (engine, Schema.from_engine(engine))
        engine, schema = engines[ex["db_id"]]
        checked += 1
        same += _same(engine, ex["query"], normalize(ex["query"], "sqlite", schema))
    print(f"\nnormalized Spider dev gold with the same result: {same} of {checked}")
    assert (same, checked) == (972, 972)
