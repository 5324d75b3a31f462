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

from pathlib import Path

import pytest

from tests.conftest import spider_db
from xander.engines import open_engine
from xander.linking import link, parse, string_literals_for_unknown_quoted
from xander.repair import link_repairs
from xander.schema import Schema

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
