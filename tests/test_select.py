"""choose(): the pool grouped by results, the heaviest group's best member, and its confidence;
coverage_table() for the runner's report."""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xander import results
from xander.cues import question_cues
from xander.diagnostic import Diagnostic
from xander.engines.base import QueryResult
from xander.normalize import normalize
from xander.scoring import Candidate, score
from xander.select import (
    Group,
    Member,
    SelectWeights,
    choose,
    confidence,
    coverage_table,
)

WARNING = Diagnostic("execution", "empty", "the query returns no rows", "warning")
ERROR = Diagnostic("identifiers", "unknown-column", "no such column: nme", "error")


def cand(sql: str, rows: list[tuple] | None, logprob: float = -1.0, n_tokens: int = 10,
         columns: tuple[str, ...] | None = None, **kw) -> Candidate:
    result = None
    if rows is not None:
        width = len(rows[0]) if rows else 1
        result = QueryResult(columns or tuple(f"c{i}" for i in range(width)), tuple(rows),
                             truncated=kw.pop("truncated", False))
    return Candidate(sql, logprob, n_tokens, result=result, **kw)


# -- grouping ---------------------------------------------------------------------------------
def test_results_with_permuted_columns_and_rows_are_one_group() -> None:
    pool = [
        cand("SELECT name, age FROM singer", [("Ada", 30), ("Bo", 41)], columns=("name", "age")),
        cand("SELECT age, name FROM singer", [(41, "Bo"), (30, "Ada")], columns=("age", "name")),
        cand("SELECT name, age FROM singer ORDER BY age DESC", [("Bo", 41), ("Ada", 30.0)]),
        cand("SELECT name, age FROM singer WHERE age > 35", [("Bo", 41)]),
    ]
    sel = choose(pool)
    assert [len(g.members) for g in sel.groups] == [3, 1]
    assert sel.groups[0].key == results.result_key(("x", "y"), [(30, "Ada"), (41, "Bo")])
    assert sum(g.share for g in sel.groups) == pytest.approx(1.0)


def test_two_that_agree_outweigh_one_more_likely() -> None:
    pool = [
        cand("SELECT COUNT(*) FROM singer WHERE age > 30", [(3,)], logprob=-2.0),  # likeliest
        cand("SELECT COUNT(*) FROM singer WHERE age >= 31", [(5,)], logprob=-4.0),
        cand("SELECT COUNT(singer_id) FROM singer WHERE 31 <= age", [(5,)], logprob=-4.0),
    ]
    assert max(pool, key=score).sql == pool[0].sql  # alone, the first would win
    sel = choose(pool)
    assert sel.answer is pool[1]  # the agreeing pair wins; its best member answers
    assert sel.groups[0].share > 0.5
    assert sel.runner_ups == (pool[0],)


def test_sharpness_moves_toward_the_single_likeliest() -> None:
    pool = [
        cand("SELECT 1", [(3,)], logprob=-2.0),
        cand("SELECT 2", [(5,)], logprob=-4.0),
        cand("SELECT 3", [(5,)], logprob=-4.0),
    ]
    assert choose(pool, SelectWeights(sharpness=20.0)).answer is pool[0]


def test_normalized_duplicates_are_merged_and_vote_once() -> None:
    spellings = [
        cand("select name from singer", [("Ada",), ("Bo",)], logprob=-1.0),
        cand("SELECT name FROM singer", [("Ada",), ("Bo",)], logprob=-2.0),
        cand("SELECT s.name FROM singer AS s", [("Bo",), ("Ada",)], logprob=-3.0),
    ]
    other = cand("SELECT country FROM singer", [("FR",), ("ES",)], logprob=-1.5)
    norm = functools.partial(normalize, schema={"singer": ["name", "country"]})
    sel = choose([*spellings, other], normalize=norm)
    assert sel.merged == 2
    top = sel.groups[0]
    assert len(top.members) == 1 and top.best.candidate is spellings[0]
    assert top.best.duplicates == (spellings[1], spellings[2])
    # the three spellings weigh what the best one alone weighs
    alone = choose([spellings[0], other])
    assert top.share == pytest.approx(alone.groups[0].share)
    # without a normalizer they are three members of one group, and weigh more
    unmerged = choose([*spellings, other])
    assert unmerged.merged == 0 and len(unmerged.groups[0].members) == 3
    assert unmerged.groups[0].share > top.share


def test_meta_normalized_text_is_used_first() -> None:
    a = cand("SELECT a FROM t", [(1,)], meta={"normalized": "SELECT a FROM t"})
    b = cand("SELECT  a  FROM  t", [(1,)], meta={"normalized": "SELECT a FROM t"})
    assert choose([a, b], normalize=lambda sql: pytest.fail("meta comes first")).merged == 1


def test_a_normalizer_that_fails_keeps_the_text() -> None:
    def broken(sql: str) -> str:
        raise ValueError(sql)

    sel = choose([cand("SELECT a FROM t", [(1,)]), cand("SELECT b FROM t", [(1,)])],
                 normalize=broken)
    assert sel.merged == 0 and len(sel.groups[0].members) == 2


def test_inexact_keys_are_merged_by_comparing_rows(monkeypatch) -> None:
    monkeypatch.setattr(results, "MAX_ORDERINGS", 1)  # every tie gets a fixed order
    a = cand("SELECT x, y FROM t", [(1, 2), (2, 3), (3, 1)])
    b = cand("SELECT y, x FROM t", [(2, 1), (3, 2), (1, 3)])  # a with its columns swapped
    assert results.result_key(("x", "y"), a.result.rows) != \
        results.result_key(("x", "y"), b.result.rows)
    sel = choose([a, b])
    assert len(sel.groups) == 1 and len(sel.groups[0].members) == 2


def test_truncated_results_do_not_merge_with_complete_ones() -> None:
    full = cand("SELECT a FROM t", [(1,), (2,)])
    cut = cand("SELECT a FROM t LIMIT 2", [(1,), (2,)], truncated=True)
    sel = choose([full, cut])
    assert len(sel.groups) == 2 and {g.truncated for g in sel.groups} == {True, False}


def test_failed_candidates_take_no_share() -> None:
    good = cand("SELECT a FROM t", [(1,)], logprob=-3.0)
    failed = [cand("SELECT nme FROM t", None, logprob=-0.1, diagnostics=(ERROR,)),
              cand("SELECT b FROM t", [(2,)], logprob=-0.1, diagnostics=(ERROR,))]
    sel = choose([*failed, good])
    assert sel.answer is good and len(sel.groups) == 1 and sel.groups[0].share == 1.0


def test_no_ok_candidate_falls_back_to_scoring_best() -> None:
    pool = [cand("SELECT nme FROM t", None, logprob=-5.0, diagnostics=(ERROR,)),
            cand("SELECT nom FROM t", None, logprob=-1.0, diagnostics=(ERROR,))]
    sel = choose(pool)
    assert sel.fallback and sel.answer is pool[1] and sel.confidence == 0.0
    assert sel.groups == () and sel.not_sure(0.1)


def test_empty_pool() -> None:
    sel = choose([])
    assert sel.answer is None and sel.confidence == 0.0 and sel.not_sure(0.0)


def test_warnings_and_repairs_weigh_against_a_group() -> None:
    warned = cand("SELECT a FROM t WHERE a = 'x'", [], logprob=-1.0, diagnostics=(WARNING,))
    clean = cand("SELECT a FROM t WHERE a = 'X'", [("X",)], logprob=-1.5)
    assert choose([warned, clean]).answer is clean
    repaired = cand("SELECT T1.a FROM t AS T1", [(1,)], logprob=-1.0, repairs=("qualify a",))
    plain = cand("SELECT b FROM t", [(2,)], logprob=-1.2)
    assert choose([repaired, plain]).answer is plain  # 0.5 nats of repair > 0.02 of logprob


# -- cues -------------------------------------------------------------------------------------
def test_cues_turn_a_close_call() -> None:
    question = "How many visitors below age 30 are there?"
    wrong = cand("SELECT count(*) FROM visitor WHERE age > 30", [(12,)], logprob=-1.0)
    right = cand("SELECT count(*) FROM visitor WHERE age < 30", [(4,)], logprob=-1.5)
    assert choose([wrong, right]).answer is wrong  # the LM alone prefers the wrong one
    sel = choose([wrong, right], cues=question_cues(question))
    assert sel.answer is right
    assert "met:<" in sel.cue_notes
    loser = sel.groups[1].best
    assert "missed:<" in loser.cue_notes and loser.cue_score < 0


def test_cues_on_a_tree_in_meta_and_unparsable_sql() -> None:
    from xander.sqlparse import parse_one_select

    tree = parse_one_select("SELECT count(DISTINCT pettype) FROM pets")
    odd = cand("not sql at all", [(3,)], meta={"tree": tree})
    broken = cand("SELECT FROM WHERE", [(4,)])
    sel = choose([odd, broken], cues=question_cues("How many different types of pet are there?"))
    members = {m.candidate.sql: m for g in sel.groups for m in g.members}
    assert members["not sql at all"].cue_notes[:2] == ("met:count", "met:distinct")
    assert members["SELECT FROM WHERE"].cue_notes == ("cues:unparsed",)


# -- confidence -------------------------------------------------------------------------------
def test_one_clean_candidate_is_not_certain() -> None:
    sel = choose([cand("SELECT a FROM t", [(1,)], logprob=-2.0, n_tokens=10)])
    assert sel.groups[0].share == 1.0
    assert sel.confidence == pytest.approx(math.exp(-0.2))
    assert sel.confidence < 1.0


def test_confidence_grows_with_agreement_and_falls_with_dissent() -> None:
    base = [cand("SELECT a FROM t", [(1,)], logprob=-3.0)]
    agree = cand("SELECT a FROM t AS x", [(1,)], logprob=-4.0)
    dissent = cand("SELECT b FROM t", [(2,)], logprob=-4.0)
    c0 = choose(base).confidence
    assert choose([*base, agree]).confidence > c0
    assert choose([*base, dissent]).confidence < c0
    assert choose([*base, agree, dissent]).confidence < choose([*base, agree]).confidence


def test_checker_doubts_lower_confidence() -> None:
    clean = choose([cand("SELECT a FROM t", [(1,)])]).confidence
    warned = choose([cand("SELECT a FROM t", [(1,)], diagnostics=(WARNING,))]).confidence
    repaired = choose([cand("SELECT a FROM t", [(1,)], repairs=("fix",))]).confidence
    assert warned == pytest.approx(clean * 0.5)
    assert repaired == pytest.approx(clean * 0.8)
    cues = question_cues("How many visitors below age 30 are there?")
    missed = choose([cand("SELECT count(*) FROM visitor WHERE age > 30", [(1,)])], cues=cues)
    met = choose([cand("SELECT count(*) FROM visitor WHERE age < 30", [(1,)])], cues=cues)
    assert missed.confidence < met.confidence


def test_not_sure_lists_the_runner_ups() -> None:
    pool = [cand(f"SELECT {i} FROM t", [(i,)], logprob=-1.0 - i / 10) for i in range(6)]
    sel = choose(pool, SelectWeights(runner_ups=3))
    assert sel.not_sure(0.5)
    assert sel.runner_ups == tuple(pool[1:4])
    assert sel.representatives == tuple(pool)  # one per result: the pool's oracle set


def test_confidence_formula_by_hand() -> None:
    c1 = Candidate("a", logprob=-1.0, n_tokens=10, diagnostics=(WARNING,), repairs=("r",))
    c2 = Candidate("b", logprob=-2.0, n_tokens=10)
    g = Group(results.result_key((), [(1,)]),
              (Member(c1, -0.1, cue_notes=("missed:count",)), Member(c2, -0.2)), 1.0, 0.6)
    p1, p2 = math.exp(-0.1), math.exp(-0.2)
    expected = 0.6 * (1 - (1 - p1) * (1 - p2)) * 0.5 * 0.8 * 0.8
    assert confidence(g, g.best) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(-30.0, 0.0), st.integers(0, 40),
                          st.integers(0, 2), st.booleans()), min_size=1, max_size=8))
def test_confidence_is_a_probability_and_shares_sum_to_one(spec: list) -> None:
    pool = [cand(f"SELECT {i}", [(value,)], logprob=lp, n_tokens=n,
                 diagnostics=(WARNING,) * warnings if ok else (ERROR,))
            for i, (value, lp, n, warnings, ok) in enumerate(spec)]
    sel = choose(pool)
    assert 0.0 <= sel.confidence <= 1.0
    if sel.groups:
        assert sum(g.share for g in sel.groups) == pytest.approx(1.0)
        assert all(0.0 <= g.share <= 1.0 for g in sel.groups)
        assert sel.groups[0].share == max(g.share for g in sel.groups)
        assert sel.answer is sel.groups[0].best.candidate


# -- coverage ---------------------------------------------------------------------------------
def test_coverage_table() -> None:
    records = [(0.95, True), (0.9, True), (0.7, False), (0.6, True), (0.3, False),
               (0.2, False), (0.1, True), (0.05, False), (0.5, None)]  # None: gold failed
    table = coverage_table(records, thresholds=(0.0, 0.5, 0.8, 0.99), target=0.5)
    assert table.n == 8
    rows = {r.threshold: r for r in table.rows}
    assert (rows[0.0].answered, rows[0.0].coverage, rows[0.0].accuracy) == (8, 1.0, 0.5)
    assert (rows[0.5].answered, rows[0.5].accuracy) == (4, 0.75)
    assert (rows[0.8].answered, rows[0.8].coverage, rows[0.8].accuracy) == (2, 0.25, 1.0)
    assert rows[0.99].answered == 0 and rows[0.99].accuracy is None
    assert table.target_accuracy == 0.75 and table.target_threshold == 0.6  # the surest 4


def test_coverage_table_without_records() -> None:
    table = coverage_table([], thresholds=(0.5,))
    assert table.n == 0 and table.target_accuracy is None and table.rows[0].coverage == 0.0
