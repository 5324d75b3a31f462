"""Benchmark loaders, Spider hardness and the seeded sampler, on real and hand-made layouts."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from xander.bench.datasets import (
    BIRD_DIFFICULTY,
    Example,
    Skipped,
    filter_examples,
    load,
    load_bird,
    load_spider,
    sample,
    spider_hardness,
)
from xander.errors import InputError

DATA = Path(os.environ.get("XANDER_DATA") or Path(__file__).resolve().parents[1].parent
            / "shared" / "data")
SPIDER = DATA / "spider"
BIRD = DATA / "bird"
needs_spider = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="no Spider data")
needs_bird = pytest.mark.skipif(not (BIRD / "dev.json").is_file(), reason="no BIRD data")


# -- Spider hardness on hand-made parsed queries ---------------------------------------------------
def _col(agg: int = 0, col: int = 1) -> list:
    return [agg, [0, [0, col, False], None]]  # (agg_id, val_unit)


def _cond(op: int = 2, val=1.0, negated: bool = False) -> list:
    return [negated, op, [0, [0, 1, False], None], val, None]  # op 2 is '=', 9 is 'like'


def _sql(**parts) -> dict:
    base = {"select": [False, [_col()]], "from": {"table_units": [["table_unit", 0]], "conds": []},
            "where": [], "groupBy": [], "having": [], "orderBy": [], "limit": None,
            "intersect": None, "union": None, "except": None}
    base.update(parts)
    return base


HARDNESS_CASES = [
    ("plain select", _sql(), "easy"),
    ("one where", _sql(where=[_cond()]), "easy"),
    ("count(*)", _sql(select=[False, [_col(agg=3)]]), "easy"),
    ("two columns", _sql(select=[False, [_col(), _col(col=2)]]), "medium"),
    ("where and order", _sql(where=[_cond()], orderBy=["asc", [[0, [0, 1, False], None]]]),
     "medium"),
    ("one join", _sql(**{"from": {"table_units": [["table_unit", 0], ["table_unit", 1]],
                                  "conds": []}}, where=[_cond()]), "medium"),
    ("where, order, limit", _sql(where=[_cond()], limit=1,
                                 orderBy=["desc", [[0, [0, 1, False], None]]]), "hard"),
    ("where or like", _sql(where=[_cond(), "or", _cond(op=9, val='"%a%"')]), "hard"),
    ("union of two simple", _sql(union=_sql()), "hard"),
    ("nested where", _sql(where=[_cond(op=8, val=_sql())]), "hard"),
    ("nested plus where", _sql(where=[_cond(op=8, val=_sql()), "and", _cond()]), "extra"),
    ("union plus group", _sql(union=_sql(), groupBy=[[0, 1, False]]), "hard"),
    ("union plus where and limit", _sql(union=_sql(), where=[_cond()], limit=3), "extra"),
    # The official count_agg also counts WHERE conditions with NOT, and each and/or in HAVING.
    ("NOT counts as an aggregate", _sql(select=[False, [_col(agg=3)]],
                                        where=[_cond(negated=True)]), "medium"),
    ("HAVING conjunction counts", _sql(groupBy=[[0, 1, False]], having=[_cond(), "and", _cond()],
                                       select=[False, [_col(agg=3)]]), "medium"),
]


@pytest.mark.parametrize(("sql", "expected"), [c[1:] for c in HARDNESS_CASES],
                         ids=[c[0] for c in HARDNESS_CASES])
def test_spider_hardness_rules(sql, expected):
    assert spider_hardness(sql) == expected


@needs_spider
def test_spider_dev_hardness_matches_the_published_breakdown():
    # Spider dev: 248 easy, 446 medium, 174 hard, 166 extra (official evaluation.py output).
    items = json.loads((SPIDER / "dev.json").read_text())
    counts = Counter(spider_hardness(item["sql"]) for item in items)
    assert counts == {"easy": 248, "medium": 446, "hard": 174, "extra": 166}


# -- Spider loader ---------------------------------------------------------------------------------
@needs_spider
def test_load_spider_dev():
    examples, skipped = load_spider(SPIDER)
    assert len(examples) == 972 and len(skipped) == 62
    assert all(isinstance(s, Skipped) and s.db_id == "wta_1" and "missing" in s.reason
               for s in skipped)
    assert len({ex.id for ex in examples + skipped}) == 1034
    first = examples[0]
    assert first.id == "dev-0" and first.db_id == "concert_singer"
    assert first.gold_sql == "SELECT count(*) FROM singer"
    assert first.question == "How many singers do we have?"
    assert first.db_path.is_file() and first.benchmark == "spider" and first.difficulty == "easy"
    per_db = Counter(ex.db_id for ex in examples)
    assert per_db["world_1"] == 120 and per_db["real_estate_properties"] == 4  # SOURCES.md
    assert {ex.difficulty for ex in examples} == {"easy", "medium", "hard", "extra"}


@needs_spider
def test_load_spider_train_reads_the_train_databases():
    if not (SPIDER / "train_database").is_dir():
        pytest.skip("no Spider train databases")
    examples, skipped = load_spider(SPIDER, "train_spider.json")
    # SOURCES.md: 121 of 140 train databases could be rebuilt; 5,707 of the 7,000 questions
    # are about them (5,705 gold queries run, 2 are faulty)
    assert len(examples) + len(skipped) == 7000
    assert all(ex.db_path.parent.parent.name == "train_database" for ex in examples)
    assert all(ex.db_path.is_file() for ex in examples)
    assert len({ex.db_id for ex in examples}) == 121


@needs_spider
def test_load_spider_without_parsed_sql_has_no_difficulty():
    examples, skipped = load_spider(SPIDER, "train_spider.json")
    assert len(examples) + len(skipped) == 7000 and skipped  # some train databases are missing
    assert all(ex.difficulty == "" for ex in examples)  # the reduced file has no parsed sql
    assert (examples + skipped)[0].id.startswith("train_spider-")


def _make_spider(root: Path, with_db: bool = True) -> None:
    (root / "database" / "shop").mkdir(parents=True)
    if with_db:
        con = sqlite3.connect(root / "database" / "shop" / "shop.sqlite")
        con.execute("CREATE TABLE item(id INTEGER)")
        con.close()
    rows = [{"db_id": "shop", "question": "How many items?", "query": "SELECT count(*) FROM item"},
            {"db_id": "gone", "question": "Anything?", "query": "SELECT 1"}]
    (root / "dev.json").write_text(json.dumps(rows))


def test_load_spider_layout_and_skips(tmp_path):
    _make_spider(tmp_path)
    examples, skipped = load(tmp_path)
    assert [ex.id for ex in examples] == ["dev-0"] and examples[0].difficulty == ""
    assert skipped == [Skipped("dev-1", "gone", skipped[0].reason)]
    assert "gone.sqlite" in skipped[0].reason


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "not a list"),
    ('[{"db_id": "shop", "question": "q"}]', "'query'"),
])
def test_load_spider_rejects_bad_files(tmp_path, content, message):
    (tmp_path / "database").mkdir()
    (tmp_path / "dev.json").write_text(content)
    with pytest.raises(InputError, match=message):
        load_spider(tmp_path)


def test_load_unknown_folder(tmp_path):
    with pytest.raises(InputError, match="neither"):
        load(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_spider(tmp_path)


# -- BIRD loader -----------------------------------------------------------------------------------
@needs_bird
def test_load_bird_dev():
    examples, skipped = load_bird(BIRD)
    assert len(examples) == 129 and len(skipped) == 1405
    assert {ex.db_id for ex in examples} == {"superhero"}
    ex = examples[0]
    assert ex.benchmark == "bird" and ex.difficulty in BIRD_DIFFICULTY and ex.evidence
    assert ex.db_path == BIRD / "dev_databases" / "superhero" / "superhero.sqlite"
    assert {ex.difficulty for ex in examples} == set(BIRD_DIFFICULTY)


@needs_bird
def test_load_bird_mini_dev_keeps_ids_unique():
    examples, skipped = load_bird(BIRD, "mini_dev_sqlite.json")
    assert len(examples) == 52 and len(skipped) == 448
    ids = [x.id for x in examples + skipped]
    assert len(set(ids)) == 500 and {"137", "137#2", "138", "138#2"} <= set(ids)


@needs_bird
def test_load_autodetects_bird(tmp_path):
    examples, _ = load(BIRD)
    assert len(examples) == 129
    mini = tmp_path / "mini"
    mini.mkdir()
    (mini / "mini_dev_sqlite.json").write_text((BIRD / "mini_dev_sqlite.json").read_text())
    examples, skipped = load(mini)  # only the Mini-Dev file, no databases
    assert not examples and len(skipped) == 500 and skipped[0].id == "1471"


# -- sampling and filters --------------------------------------------------------------------------
def _examples(n: int) -> list[Example]:
    levels = ("easy", "medium", "hard", "extra")
    return [Example(f"dev-{i}", f"db{i % 3}", "q", "SELECT 1", Path("x.sqlite"),
                    difficulty=levels[i % 4]) for i in range(n)]


def test_sample_is_seeded_and_stable():
    exs = _examples(200)
    a = [e.id for e in sample(exs, 20, seed=5)]
    assert len(a) == 20 and a == [e.id for e in sample(exs, 20, seed=5)]
    assert a == [e.id for e in sample(list(reversed(exs)), 20, seed=5)][::-1]
    assert a != [e.id for e in sample(exs, 20, seed=6)]
    assert set(a) <= {e.id for e in sample(exs, 50, seed=5)}
    assert [e.id for e in exs if e.id in set(a)] == a  # original order kept
    assert sample(exs, 500, seed=5) == exs and sample(exs, 0) == []
    with pytest.raises(InputError):
        sample(exs, -1)


@needs_spider
def test_sample_real_spider_is_reproducible():
    examples, _ = load_spider(SPIDER)
    ids = [e.id for e in sample(examples, 100, seed=0)]
    again, _ = load_spider(SPIDER)
    assert ids == [e.id for e in sample(again, 100, seed=0)]
    assert len(set(ids)) == 100 and len({e.db_id for e in sample(examples, 100, 0)}) > 5


def test_filter_examples():
    exs = _examples(12)
    assert filter_examples(exs) == exs
    hard = filter_examples(exs, difficulties=["hard"])
    assert [e.id for e in hard] == ["dev-2", "dev-6", "dev-10"]
    both = filter_examples(exs, db_ids=["db0"], difficulties={"easy", "extra"})
    assert [e.id for e in both] == ["dev-0", "dev-3"]
    assert filter_examples(exs, db_ids=[]) == []
