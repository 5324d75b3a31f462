"""Official Spider / BIRD metrics: one table row per rule, then real gold queries on real data."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from xander.bench.datasets import load_bird, load_spider
from xander.bench.metrics import (
    ExecOutcome,
    bird_ex,
    bird_rves,
    bird_soft_f1,
    bird_time_ratio,
    evaluate_prediction,
    gold_has_order_by,
    remove_distinct,
    rves_reward,
    rves_score,
    spider_exec_match,
    spider_prepare,
)
from xander.engines import open_engine
from xander.errors import InputError

DATA = Path(os.environ.get("XANDER_DATA") or Path(__file__).resolve().parents[1].parent
            / "shared" / "data")
SPIDER = DATA / "spider"
BIRD = DATA / "bird"
# A row no gold query returns: a wrong prediction whatever the question.
WRONG = "SELECT 'xander: deliberately wrong answer'"

# -- Spider result equality -----------------------------------------------------------------------
# (rule, gold rows, predicted rows, order_matters, expected)
SPIDER_CASES = [
    ("identical", [(1, "a")], [(1, "a")], False, True),
    ("both empty", [], [], False, True),
    ("both empty, order matters", [], [], True, True),
    ("gold empty, pred not", [], [(1,)], False, False),
    ("pred empty, gold not", [(1,)], [], False, False),
    ("rows shuffled, no order", [(1, "a"), (2, "b")], [(2, "b"), (1, "a")], False, True),
    ("rows shuffled, order matters", [(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True, False),
    ("same order, order matters", [(1, "a"), (2, "b")], [(1, "a"), (2, "b")], True, True),
    ("columns swapped", [(1, "a"), (2, "b")], [("a", 1), ("b", 2)], False, True),
    ("columns swapped, order matters", [(1, "a"), (2, "b")], [("a", 1), ("b", 2)], True, True),
    ("columns and rows permuted", [(1, "x", 3.5), (2, "y", 4.5)],
     [(4.5, 2, "y"), (3.5, 1, "x")], False, True),
    ("five columns permuted", [(1, 2, 3, 4, 5), (6, 7, 8, 9, 0)],
     [(5, 4, 3, 2, 1), (0, 9, 8, 7, 6)], False, True),
    ("cells swapped within one row only", [(1, 2), (3, 4)], [(2, 1), (3, 4)], False, False),
    ("column permutation must be the same for all rows", [(1, 1), (1, 2)], [(1, 1), (2, 1)],
     False, True),
    ("gold duplicates, pred distinct", [(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),
    ("duplicates counted (bag)", [(1,), (1,)], [(1,)], False, False),
    ("same bag with duplicates", [(1,), (2,), (1,)], [(1,), (1,), (2,)], False, True),
    ("different column count", [(1, 2)], [(1, 2, 2)], False, False),
    ("different column count, both empty", [], [], False, True),
    ("extra row", [(1,)], [(1,), (2,)], False, False),
    ("int equals float", [(1,)], [(1.0,)], False, True),
    ("float must match exactly", [(0.1 + 0.2,)], [(0.3,)], False, False),
    ("float equal", [(2.5,)], [(2.5,)], False, True),
    ("string is not number", [("1",)], [(1,)], False, False),
    ("None equals None", [(None, 1)], [(None, 1)], False, True),
    ("None is not 0", [(None,)], [(0,)], False, False),
    ("None is not empty string", [(None,)], [("",)], False, False),
    ("True equals 1 (Python values)", [(1,)], [(True,)], False, True),
    ("case matters", [("Paris",)], [("paris",)], False, False),
    ("lists and tuples alike", [[1, "a"]], ((1, "a"),), False, True),
    ("duplicate rows, order matters", [(1,), (1,), (2,)], [(1,), (2,), (1,)], True, False),
    ("column values fit but rows do not", [(1, "a"), (2, "b")], [(1, "b"), (2, "a")], False,
     False),
]


@pytest.mark.parametrize(("gold", "pred", "order", "expected"),
                         [c[1:] for c in SPIDER_CASES], ids=[c[0] for c in SPIDER_CASES])
def test_spider_exec_match(gold, pred, order, expected):
    assert spider_exec_match(gold, pred, order) is expected


def test_spider_exec_match_is_symmetric_on_the_table():
    for _, gold, pred, order, expected in SPIDER_CASES:
        assert spider_exec_match(pred, gold, order) is expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT a FROM t ORDER BY a", True),
    ("select a from t order by a desc limit 1", True),
    ("SELECT a FROM t", False),
    ("SELECT a FROM t ORDER  BY a", False),  # the official test is a literal substring
    ("SELECT a FROM t WHERE b = 'order by'", True),  # ... even inside a string
    ("SELECT a FROM (SELECT a FROM t ORDER BY a)", True),
])
def test_gold_has_order_by(sql, expected):
    assert gold_has_order_by(sql) is expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT DISTINCT a FROM t", "SELECT  a FROM t"),
    ("SELECT count(DISTINCT a) FROM t", "SELECT count( a) FROM t"),
    ("select distinct(a) from t", "select (a) from t"),
    ("SELECT a FROM t WHERE b = 'DISTINCT'", "SELECT a FROM t WHERE b = 'DISTINCT'"),
    ('SELECT "distinct" FROM t', 'SELECT "distinct" FROM t'),
    ("SELECT distinctive FROM t -- distinct\n", "SELECT distinctive FROM t -- distinct\n"),
])
def test_remove_distinct(sql, expected):
    assert remove_distinct(sql) == expected


@pytest.mark.parametrize(("sql", "prediction", "keep", "expected"), [
    ("SELECT a FROM t WHERE b > = 1 AND c < = 2 AND d ! = 3", False, False,
     "SELECT a FROM t WHERE b >= 1 AND c <= 2 AND d != 3"),
    ("SELECT DISTINCT a FROM t", False, True, "SELECT DISTINCT a FROM t"),
    ("SELECT a FROM t WHERE y = year ( curdate ( ) )", False, False,
     "SELECT a FROM t WHERE y = 2020"),
    ("SELECT value FROM t", True, False, "SELECT 1 FROM t"),
    ("SELECT value FROM t", False, False, "SELECT value FROM t"),
])
def test_spider_prepare(sql, prediction, keep, expected):
    assert spider_prepare(sql, prediction=prediction, keep_distinct=keep) == expected


# -- BIRD -----------------------------------------------------------------------------------------
BIRD_EX_CASES = [
    ("identical", [(1, "a")], [(1, "a")], True),
    ("both empty", [], [], True),
    ("one empty", [(1,)], [], False),
    ("row order ignored", [(1,), (2,)], [(2,), (1,)], True),
    ("duplicates ignored", [(1,), (1,), (2,)], [(2,), (1,)], True),
    ("column order counts", [(1, "a")], [("a", 1)], False),
    ("extra column", [(1,)], [(1, 1)], False),
    ("int equals float", [(3,)], [(3.0,)], True),
    ("float must match exactly", [(0.1 + 0.2,)], [(0.3,)], False),
    ("None", [(None,)], [(None,)], True),
    ("missing row", [(1,), (2,)], [(1,)], False),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), [c[1:] for c in BIRD_EX_CASES],
                         ids=[c[0] for c in BIRD_EX_CASES])
def test_bird_ex(gold, pred, expected):
    assert bird_ex(gold, pred) is expected


# Hand-computed: (gold, pred, tp, fp, fn) -> f1 = 2PR/(P+R), P = tp/(tp+fp), R = tp/(tp+fn).
SOFT_F1_CASES = [
    ("both empty", [], [], 1.0),
    ("identical", [(1, "a"), (2, "b")], [(1, "a"), (2, "b")], 1.0),
    ("pred empty", [(1,)], [], 0.0),
    ("gold empty", [], [(1,)], 0.0),
    ("one cell of two wrong: tp .5 fp .5 fn .5", [(1, "a")], [(1, "x")], 0.5),
    ("missing row: tp .5 fp .5 fn 1.5", [(1, "a"), (2, "b")], [(1, "x")], 1 / 3),
    ("extra row: tp 1 fp 1 fn 0", [(1,)], [(1,), (2,)], 2 / 3),
    ("duplicates dropped before pairing", [(1,), (1,), (2,)], [(1,), (2,)], 1.0),
    ("rows paired by position, not content", [(1,), (2,)], [(2,), (1,)], 0.0),
    ("cells matched anywhere in the row", [(1, 2)], [(2, 1)], 1.0),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), [c[1:] for c in SOFT_F1_CASES],
                         ids=[c[0] for c in SOFT_F1_CASES])
def test_bird_soft_f1(gold, pred, expected):
    assert bird_soft_f1(gold, pred) == pytest.approx(expected)


@pytest.mark.parametrize(("ratio", "reward"), [
    (0, 0), (0.01, 0.25), (0.2499, 0.25), (0.25, 0.5), (0.4999, 0.5), (0.5, 0.75), (0.999, 0.75),
    (1, 1), (1.5, 1), (1.999, 1), (2, 1.25), (100, 1.25),
])
def test_rves_reward_buckets(ratio, reward):
    assert rves_reward(ratio) == reward


@pytest.mark.parametrize(("gold_t", "pred_t", "ratio"), [
    ([1.0], [0.5], 2.0),  # one run: every ratio identical, kept (the official divides by zero)
    ([1.0, 3.0], [1.0, 1.0], 2.0),
    ([1.0] * 20 + [500.0], [1.0] * 21, 1.0),  # the outlier run is beyond 3 sigma: dropped
])
def test_bird_time_ratio(gold_t, pred_t, ratio):
    assert bird_time_ratio(gold_t, pred_t) == pytest.approx(ratio)


@pytest.mark.parametrize(("gold_t", "pred_t"), [([], []), ([1.0], [1.0, 2.0]), ([1.0], [0.0])])
def test_bird_time_ratio_rejects_bad_input(gold_t, pred_t):
    with pytest.raises(ValueError):
        bird_time_ratio(gold_t, pred_t)


def test_bird_rves():
    assert bird_rves([(1,)], [(1,)], [0.1, 0.1], [0.3, 0.3]) == 0.5  # 3x slower
    assert bird_rves([(1,)], [(1,), (1,)], [1.0], [1.0]) == 1  # set-equal, as fast
    assert bird_rves([(1,)], [(2,)], [1.0], [0.01]) == 0  # wrong answer: no reward
    assert rves_score([1.25, 1, 0]) == pytest.approx((1.25 ** 0.5 + 1) * 100 / 3)
    assert rves_score([]) == 0.0


# -- running pairs on a real database -------------------------------------------------------------
@pytest.fixture()
def engine(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO item VALUES (1,'pen',1.5),(2,'ink',3.0),(3,'pad',1.5);"
    )
    con.commit()
    con.close()
    eng = open_engine(path)
    yield eng
    eng.close()


def test_evaluate_prediction_correct_wrong_and_order(engine):
    ok = evaluate_prediction(engine, "SELECT name, price FROM item",
                             "SELECT price, name FROM item ORDER BY name")
    assert ok.correct is True and ok.gold_rows_count == ok.pred_rows_count == 3
    assert ok.soft_f1 is not None
    ordered = "SELECT name FROM item ORDER BY id"
    assert evaluate_prediction(engine, ordered, "SELECT name FROM item ORDER BY id DESC"
                               ).correct is False
    assert evaluate_prediction(engine, "SELECT name FROM item", "SELECT id FROM item"
                               ).correct is False


def test_evaluate_prediction_distinct_removed_for_spider_only(engine):
    gold, pred = "SELECT price FROM item", "SELECT DISTINCT price FROM item"
    assert evaluate_prediction(engine, gold, pred).correct is True  # official default
    assert evaluate_prediction(engine, gold, pred, keep_distinct=True).correct is False
    assert evaluate_prediction(engine, gold, pred, benchmark="bird").correct is True  # sets
    assert evaluate_prediction(engine, "SELECT name, price FROM item",
                               "SELECT price, name FROM item", benchmark="bird").correct is False


def test_failing_gold_is_not_a_model_error(engine):
    out = evaluate_prediction(engine, "SELECT nope FROM item", "SELECT name FROM item")
    assert out.correct is None and "nope" in (out.gold_error or "") and out.pred_error is None


def test_failing_prediction_is_wrong(engine):
    out = evaluate_prediction(engine, "SELECT name FROM item", "SELECT nope FROM item")
    assert out.correct is False and "nope" in (out.pred_error or "")
    assert out.gold_rows_count == 3 and not out.pred_timed_out


def test_prediction_timeout_is_wrong(engine):
    slow = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT count(*) FROM c")
    out = evaluate_prediction(engine, "SELECT 1", slow, timeout=0.2)
    assert out.correct is False and out.pred_timed_out


def test_row_cap(engine):
    out = evaluate_prediction(engine, "SELECT name FROM item", "SELECT a.name FROM item a, item b",
                              max_rows=3)
    assert out.correct is False and "more than 3" in (out.pred_error or "")
    assert evaluate_prediction(engine, "SELECT name FROM item", "SELECT 1",
                               max_rows=2).correct is None


def test_unknown_benchmark(engine):
    with pytest.raises(InputError):
        evaluate_prediction(engine, "SELECT 1", "SELECT 1", benchmark="wikisql")  # type: ignore


# -- real data ------------------------------------------------------------------------------------
def _check_golds(examples, benchmark):
    engines = {}
    try:
        for ex in examples:
            if ex.db_path not in engines:
                engines[ex.db_path] = open_engine(ex.db_path)
            eng = engines[ex.db_path]
            same = evaluate_prediction(eng, ex.gold_sql, ex.gold_sql, benchmark=benchmark)
            assert isinstance(same, ExecOutcome)
            assert same.correct is True, (ex.id, ex.gold_sql, same)
            assert same.soft_f1 == 1.0
            wrong = evaluate_prediction(eng, ex.gold_sql, WRONG, benchmark=benchmark)
            assert wrong.correct is False, (ex.id, ex.gold_sql, wrong)
    finally:
        for eng in engines.values():
            eng.close()


@pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="Spider data not present")
def test_every_spider_dev_gold_matches_itself_and_not_a_wrong_query():
    examples, skipped = load_spider(SPIDER)
    assert len(examples) == 972 and {s.db_id for s in skipped} == {"wta_1"}
    _check_golds(examples, "spider")


@pytest.mark.skipif(not (BIRD / "dev.json").is_file(), reason="BIRD data not present")
@pytest.mark.parametrize("file", ["dev.json", "mini_dev_sqlite.json"])
def test_every_bird_superhero_gold_matches_itself_and_not_a_wrong_query(file):
    examples, _ = load_bird(BIRD, file)
    assert examples and {ex.db_id for ex in examples} == {"superhero"}
    _check_golds(examples, "bird")
