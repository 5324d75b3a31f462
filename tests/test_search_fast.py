"""The search on a real SQLite database with a scripted LM (``tests/scripted.py``): milliseconds.

Each test scripts what the "model" proposes after each prefix and checks what the search does
with it: which children the checkers prune and why, where it backtracks, which budget stops it,
which candidates it repairs, and that the lookahead adapter builds the very same tree from fewer
requests.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import networkx as nx
import pytest

from tests.scripted import ScriptedLM
from xander.checkers import CheckContext, complete_checkers, partial_checkers
from xander.config import SearchConfig
from xander.engines import open_engine
from xander.lm.base import LM, PathLM
from xander.lm.lookahead import Lookahead
from xander.prompts import build_prompt
from xander.schema import Schema
from xander.search import SearchOutcome, search
from xander.task import Task

END = "\n```"  # the closing fence: the piece that ends a query


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("music") / "music.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT,
                             age INTEGER);
        CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, year INTEGER,
                              singer_id INTEGER REFERENCES singer(singer_id));
        INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands', 52),
                                  (2, 'Tribal King', 'France', 25),
                                  (3, 'Rose White', 'France', 41);
        INSERT INTO concert VALUES (1, 'Auditions', 2014, 1), (2, 'Super bootcamp', 2015, 2),
                                   (3, 'Home Visits', 2015, 2);
    """)
    con.commit()
    con.close()
    return path


def run(db: Path, lm: LM, **overrides: object) -> SearchOutcome:
    engine = open_engine(db)
    schema = Schema.from_engine(engine)
    task = Task("Which singers ...?")
    ctx = CheckContext(schema, engine, task)
    prompt = build_prompt(lm, schema, task)
    cfg = SearchConfig(**overrides)  # type: ignore[arg-type]
    off = cfg.disabled_checkers
    return search(lm, prompt, ctx, cfg, partial_checkers(off), complete_checkers(off),
                  max_tokens=32)


def status(outcome: SearchOutcome) -> dict[str, str]:
    """Each traced node's status by its text."""
    return {d["text"]: d["status"] for _, d in outcome.trace.graph.nodes(data=True)}


def reason(outcome: SearchOutcome, text: str) -> str:
    (data,) = [d for _, d in outcome.trace.graph.nodes(data=True) if d["text"] == text]
    return data.get("reason", "")


# -- scripts ---------------------------------------------------------------------------------------
#: The likeliest query names a column singer lacks; the partial identifier check prunes it as
#: soon as the alias is defined, and the search backtracks to the runner-up.
MADE_UP_COLUMN = {
    "": [("SELECT", -0.05)],
    "SELECT": [(" T1.nme", -0.1), (" T1.name", -1.0)],
    "SELECT T1.nme": [(" FROM singer AS T1", -0.1)],
    "SELECT T1.nme FROM singer AS T1": [(" WHERE T1.country = 'France'", -0.1),
                                        (" ORDER BY T1.age", -0.5)],
    "SELECT T1.name": [(" FROM singer AS T1", -0.1)],
    "SELECT T1.name FROM singer AS T1": [(" WHERE T1.country = 'France'", -0.2)],
    "SELECT T1.name FROM singer AS T1 WHERE T1.country = 'France'": [(END, -0.1)],
}

#: The best branch names a table that does not exist: every child of it is pruned, the branch
#: dies, and the next queued node leads to the answer.
MADE_UP_TABLE = {
    "": [("SELECT", -0.05)],
    "SELECT": [(" name FROM singers", -0.1), (" name FROM singer", -0.9)],
    "SELECT name FROM singers": [(" WHERE age > 30", -0.1), (" ORDER BY age", -0.4)],
    "SELECT name FROM singer": [(" WHERE age > 30", -0.1)],
    "SELECT name FROM singer WHERE age > 30": [(END, -0.05)],
}

#: Three literals give empty results (a warning: not clean), the fourth is the answer.
EMPTY_FIRST = {
    "": [("SELECT name FROM singer WHERE age >", -0.1)],
    "SELECT name FROM singer WHERE age >": [(" 100", -0.1), (" 90", -0.5), (" 80", -0.9),
                                            (" 30", -2.0)],
    **{f"SELECT name FROM singer WHERE age > {n}": [(END, -0.05)] for n in (100, 90, 80, 30)},
}

#: The model orders by an alias whose table lacks the column: the complete identifier check
#: rejects it and the requalify repair names the right alias.
_JOINED = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id"
WRONG_ALIAS = {
    "": [(_JOINED, -0.1)],
    _JOINED: [(" ORDER BY T2.age", -0.2)],
    _JOINED + " ORDER BY T2.age": [(END, -0.1)],
}

#: Best-first by the whole prefix: after " name" the model is unsure, " country" wins overall.
UNSURE_LATER = {
    "": [("SELECT", -0.1)],
    "SELECT": [(" name", -0.5), (" country", -0.6)],
    "SELECT name": [(" FROM singer", -2.0)],
    "SELECT country": [(" FROM singer", -0.1)],
    "SELECT name FROM singer": [(END, -0.1)],
    "SELECT country FROM singer": [(END, -0.1)],
}

#: Branches, a dead branch, failing candidates and prefixes off the greedy path: for the
#: lookahead, whose requests must not change the tree.
BUSY = {
    "": [("SELECT", -0.05), ("WITH", -4.0)],
    "SELECT": [(" name FROM singers", -0.1), (" name FROM singer", -0.9),
               (" country FROM singer", -2.5)],
    "SELECT name FROM singers": [(" WHERE age >", -0.1), (" ORDER BY age", -0.4)],
    "SELECT name FROM singer": [(" WHERE age >", -0.1), (" ORDER BY", -1.5)],
    "SELECT name FROM singer WHERE age >": [(" 100", -0.1), (" 90", -0.3), (" 80", -0.6),
                                            (" 30", -2.5)],
    **{f"SELECT name FROM singer WHERE age > {n}": [(END, -0.05)] for n in (100, 90, 80, 30)},
    "SELECT name FROM singer ORDER BY": [(" age", -0.1), (" T9.age", -0.2)],
    "SELECT name FROM singer ORDER BY age": [(" DESC", -1.0), (END, -1.2)],
    "SELECT name FROM singer ORDER BY age DESC": [(END, -0.1)],
    "SELECT country FROM singer": [(END, -0.1)],
}


# -- the scripted model itself ---------------------------------------------------------------------
def test_scripted_model_is_an_lm_and_a_path_lm_when_asked():
    step, paths = ScriptedLM(MADE_UP_TABLE), ScriptedLM(MADE_UP_TABLE, paths=8)
    assert isinstance(step, LM) and not step.supports_paths and step.path_tokens == 0
    assert isinstance(paths, PathLM) and paths.supports_paths and paths.path_tokens == 8
    prompt = step.tokenize(step.chat_prompt("sys", "user", "```sql\n"))
    assert step.written(prompt) == ""
    done = step.complete(prompt, stop=("```",))  # greedy, up to where the script ends
    assert (done.text, done.finish_reason) == ("SELECT name FROM singers WHERE age > 30", "stop")
    assert done.logprob == pytest.approx(-0.05 - 0.1 - 0.1)
    (path,) = paths.top_k_paths([prompt], 2, 8)
    assert [paths.vocab[t] for t, _ in path] == ["SELECT", " name FROM singers", " WHERE age > 30"]
    assert [c.text for c in path[1][1]] == [" name FROM singers", " name FROM singer"]
    assert step.stats().calls == 1 and paths.stats().calls == 1


# -- pruning, backtracking, budgets ----------------------------------------------------------------
def test_identifier_checker_prunes_a_made_up_column(music):
    out = run(music, ScriptedLM(MADE_UP_COLUMN))
    assert out.stop_reason == "found"
    assert out.best.sql == "SELECT T1.name FROM singer AS T1 WHERE T1.country = 'France'"
    assert sorted(out.best.result.rows) == [("Rose White",), ("Tribal King",)]
    assert out.pruned == 2  # both children of the alias-defining prefix
    seen = status(out)
    for child in (" WHERE T1.country = 'France'", " ORDER BY T1.age"):
        text = "SELECT T1.nme FROM singer AS T1" + child
        assert seen[text] == "pruned"
        assert reason(out, text) == ("identifiers/unknown-column: T1.nme: table 'singer' has no "
                                     "column 'nme'")
    assert seen["SELECT T1.nme FROM singer AS T1"] == "dead"
    assert len(out.candidates) == 1  # the made-up column never became a candidate


def test_dead_branch_backtracks_to_the_next_queued_node(music):
    out = run(music, ScriptedLM(MADE_UP_TABLE))
    seen = status(out)
    assert seen["SELECT name FROM singers"] == "dead"
    assert reason(out, "SELECT name FROM singers") == "every child was pruned"
    assert reason(out, "SELECT name FROM singers WHERE age > 30") == (
        "identifiers/unknown-table: no table named 'singers'")
    assert seen["SELECT name FROM singer"] == "expanded"  # popped after the branch died
    assert out.stop_reason == "found" and out.best.ok
    assert out.best.sql == "SELECT name FROM singer WHERE age > 30"
    assert sorted(out.best.result.rows) == [("Joe Sharp",), ("Rose White",)]
    # root, SELECT, the dead prefix, then the runner-up and its one continuation
    assert out.expansions == 5


def test_expansion_budget_stops_the_search_and_completes_the_best_open_branch(music):
    lm = ScriptedLM(MADE_UP_TABLE)
    out = run(music, lm, max_expansions=3)
    assert (out.stop_reason, out.expansions) == ("max-expansions+greedy", 3)
    # the queued runner-up was never popped: one greedy completion finished it instead
    assert status(out)["SELECT name FROM singer"] == "open"
    assert [kind for kind, _ in lm.requests].count("complete") == 1
    assert out.best.ok and out.best.sql == "SELECT name FROM singer WHERE age > 30"
    (rescued,) = [d for _, d in out.trace.graph.nodes(data=True) if d.get("rescued")]
    assert rescued["status"] == "complete" and rescued["sql"] == out.best.sql


def test_every_branch_pruned_falls_back_to_greedy_decoding(music):
    script = {"": [("SELECT", -0.05)], "SELECT": [(" name FROM singers", -0.1)],
              "SELECT name FROM singers": [(" WHERE age > 30", -0.1)],
              "SELECT name FROM singers WHERE age > 30": [(END, -0.05)]}
    lm = ScriptedLM(script)
    out = run(music, lm)
    assert out.stop_reason == "exhausted+greedy"
    assert [kind for kind, _ in lm.requests].count("complete") == 1
    # greedy decoding's query is judged like any candidate (it names a table that does not
    # exist) and repaired like any candidate
    greedy, fixed = out.candidates
    assert greedy.sql == "SELECT name FROM singers WHERE age > 30" and not greedy.ok
    assert "unknown-table" in (greedy.error or "")
    assert out.best is fixed and fixed.ok and fixed.sql == "SELECT name FROM singer WHERE age > 30"


def test_deadline_starts_after_the_prompt_is_evaluated(music):
    # a deadline of 0 s still lets the first expansion (the prompt's evaluation) happen; the
    # search then stops on the clock and still answers
    out = run(music, ScriptedLM(MADE_UP_TABLE), deadline_s=0.0)
    assert out.stop_reason == "deadline+greedy" and out.expansions >= 1
    assert out.best.ok and out.best.sql == "SELECT name FROM singer WHERE age > 30"


def test_max_candidates_stops_before_the_answer(music):
    out = run(music, ScriptedLM(EMPTY_FIRST), max_candidates=2)
    assert out.stop_reason == "max-candidates"
    assert [c.sql for c in out.candidates] == ["SELECT name FROM singer WHERE age > 100",
                                               "SELECT name FROM singer WHERE age > 90"]
    assert all(d.code == "empty-result" for c in out.candidates for d in c.diagnostics)
    assert out.best.sql == "SELECT name FROM singer WHERE age > 100"  # the likelier one
    assert status(out)["SELECT name FROM singer WHERE age > 30"] == "open"
    more = run(music, ScriptedLM(EMPTY_FIRST))  # the default budget of 4 reaches it
    assert more.stop_reason == "found" and len(more.candidates) == 4
    assert more.best.sql == "SELECT name FROM singer WHERE age > 30"


def test_repair_requalifies_a_wrong_alias(music):
    out = run(music, ScriptedLM(WRONG_ALIAS))
    first, fixed = out.candidates
    assert first.sql.endswith("ORDER BY T2.age") and not first.ok
    assert first.error == ("identifiers/unknown-column: T2.age: table 'concert' has no column "
                           "'age'")
    assert fixed.repairs == ("requalify T2.age -> T1.age",) and fixed.ok
    assert out.best is fixed and out.stop_reason == "found"
    assert out.best.sql == ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON "
                            "T1.singer_id = T2.singer_id ORDER BY T1.age")
    assert out.best.result.rows == (("Tribal King",), ("Tribal King",), ("Joe Sharp",))
    plain = run(music, ScriptedLM(WRONG_ALIAS), repair=False)
    assert plain.stop_reason == "exhausted" and len(plain.candidates) == 1
    assert not plain.best.ok


#: The likeliest query joins concert by comparing singer with itself (every pair of rows); the
#: joins checker refuses it and the search answers with the runner-up.
_UNLINKED = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T1.singer_id"
UNLINKED_JOIN = {
    "": [(_UNLINKED, -0.1), (_JOINED, -0.8)],
    _UNLINKED: [(END, -0.1)],
    _JOINED: [(END, -0.1)],
}


def test_a_join_linked_to_no_other_table_is_refused(music):
    out = run(music, ScriptedLM(UNLINKED_JOIN))
    first, answer = out.candidates
    assert first.sql == _UNLINKED and not first.ok and first.result is None  # never run
    assert first.error == ("joins/join-unlinked: the join of T2 is linked to no other table: "
                           "ON T1.singer_id = T1.singer_id")
    assert out.best is answer and answer.sql == _JOINED and answer.ok
    assert sorted(answer.result.rows) == [("Joe Sharp",), ("Tribal King",), ("Tribal King",)]
    engine = open_engine(music)
    schema, task = Schema.from_engine(engine), Task("Which singers ...?")
    lm = ScriptedLM(UNLINKED_JOIN)
    off = search(lm, build_prompt(lm, schema, task), CheckContext(schema, engine, task),
                 SearchConfig(), partial_checkers(), complete_checkers(("joins",)), max_tokens=32)
    assert off.best.sql == _UNLINKED and len(off.best.result.rows) == 9  # 3 singers x 3 concerts


#: The likeliest query needs a repair; a less likely one the model wrote runs as it is.
_PLAIN = "SELECT name FROM singer ORDER BY age"
REPAIRED_FIRST = {
    "": [(_JOINED + " ORDER BY T2.age", -0.1), (_PLAIN, -0.3)],
    _JOINED + " ORDER BY T2.age": [(END, -0.1)],
    _PLAIN: [(END, -0.1)],
}


def test_a_repaired_answer_ends_the_search_unless_told_to_look_on(music):
    stops = run(music, ScriptedLM(REPAIRED_FIRST))
    assert stops.stop_reason == "found" and len(stops.candidates) == 2
    assert stops.best.repairs == ("requalify T2.age -> T1.age",)
    looks = run(music, ScriptedLM(REPAIRED_FIRST), stop_on_repair=False)
    assert looks.stop_reason == "found" and [c.sql for c in looks.candidates][-1] == _PLAIN
    assert looks.best.sql == _PLAIN and not looks.best.repairs  # the repair's score pays 0.5
    assert {c.sql for c in looks.candidates if c.ok} == {stops.best.sql, _PLAIN}
    # with nothing the model wrote clean, the repaired one is the answer all the same
    alone = run(music, ScriptedLM(WRONG_ALIAS), stop_on_repair=False)
    assert alone.stop_reason == "exhausted" and alone.best.repairs


#: The likeliest query joins concert on a column singer lacks; the repair rejoins concert along
#: the foreign key.  A less likely query the model wrote runs as it is.
_MISJOINED = ("SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON "
              "T1.concert_id = T2.concert_id ORDER BY T1.age")
REJOINED_FIRST = {
    "": [(_MISJOINED, -0.1), (_PLAIN, -0.3)],
    _MISJOINED: [(END, -0.1)],
    _PLAIN: [(END, -0.1)],
}


def test_a_rejoined_answer_is_a_fallback_and_the_search_looks_on(music):
    looks = run(music, ScriptedLM(REJOINED_FIRST))
    rejoined = [c for c in looks.candidates if c.repairs]
    assert [c.repairs[0].split()[0] for c in rejoined] == ["rejoin"] and rejoined[0].ok
    assert looks.best.sql == _PLAIN and not looks.best.repairs
    assert looks.stop_reason == "found" and looks.candidates[-1].sql == _PLAIN
    # without it in fallback_repairs, the rejoined query ends the search, as other repairs do
    stops = run(music, ScriptedLM(REJOINED_FIRST), fallback_repairs=())
    assert stops.best.repairs == rejoined[0].repairs and stops.stop_reason == "found"
    assert _PLAIN not in [c.sql for c in stops.candidates]


def test_unchunked_mode_is_best_first_over_whole_prefixes(music):
    chunked = run(music, ScriptedLM(UNSURE_LATER))
    assert chunked.best.sql == "SELECT name FROM singer"  # follows " name" through its dip
    assert status(chunked)["SELECT country"] == "open"
    paper = run(music, ScriptedLM(UNSURE_LATER), chunked=False)
    assert paper.best.sql == "SELECT country FROM singer"  # -0.8 beats -2.7
    seen = status(paper)
    assert seen["SELECT country"] == "expanded" and seen["SELECT name"] == "expanded"
    assert seen["SELECT name FROM singer"] == "open"  # queued at -2.6, never popped
    assert paper.stop_reason == "found" and paper.expansions == 5


# -- the lookahead adapter -------------------------------------------------------------------------
def test_lookahead_serves_the_greedy_path_from_one_request():
    lm = ScriptedLM(BUSY, paths=16)
    prompt = tuple(lm.tokenize(lm.chat_prompt("sys", "user")))
    ahead = Lookahead(lm, prompt, max_tokens=32)
    assert isinstance(ahead, LM) and not ahead.supports_paths
    seq = prompt
    for _ in range(3):  # after "", "SELECT", "SELECT name FROM singers"
        (choices,) = ahead.top_k([seq], 3)
        assert choices == lm._choices(seq, 3)
        seq = (*seq, choices[0].token)
    assert lm.requests == [("top_k_path", 1)] and ahead.served == 2
    off = (*prompt, lm.ids["SELECT"], lm.ids[" name FROM singer"])  # leaves the path
    assert ahead.top_k([off], 3) == [lm._choices(off, 3)]
    assert lm.requests == [("top_k_path", 1)] * 2 and ahead.requests == 2


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "unchunked"])
def test_lookahead_builds_the_same_tree_from_fewer_requests(music, chunked):
    step_lm = ScriptedLM(BUSY)
    step = run(music, step_lm, chunked=chunked)
    assert step.stop_reason == "found" and step.pruned > 0 and len(step.candidates) > 1
    step_requests = len(step_lm.requests)
    assert {m for m, _ in step_lm.requests} == {"top_k"}
    counts = {}
    for prefetch in (0, 2):
        path_lm = ScriptedLM(BUSY, paths=16)
        ahead = run(music, path_lm, chunked=chunked, prefetch=prefetch)
        assert nx.utils.graphs_equal(ahead.trace.graph, step.trace.graph)
        assert ahead.trace.to_json() == step.trace.to_json()
        assert [c.sql for c in ahead.candidates] == [c.sql for c in step.candidates]
        assert (ahead.best.sql, ahead.expansions, ahead.pruned, ahead.stop_reason) == (
            step.best.sql, step.expansions, step.pruned, step.stop_reason)
        assert {m for m, _ in path_lm.requests} <= {"top_k_path", "top_k_paths"}
        counts[prefetch] = path_lm.requests
    assert len(counts[0]) < step_requests
    assert all(n == 1 for _, n in counts[0])  # no prefetch: one path per request
    assert any(n > 1 for _, n in counts[2])  # prefetch: queued nodes' paths ride along
    assert len(counts[2]) <= len(counts[0])


# -- the candidate pool ----------------------------------------------------------------------------
#: The likeliest query counts France's singers one way; two less likely ones agree with each other
#: on another count (the singers older than 40 and the French ones who gave a concert both: 1).
DISAGREE = {
    "": [("SELECT COUNT(*) FROM singer WHERE", -0.05)],
    "SELECT COUNT(*) FROM singer WHERE": [(" country = 'France'", -0.3),
                                          (" age > 45", -0.9), (" age > 50", -1.0)],
    **{f"SELECT COUNT(*) FROM singer WHERE {w}": [(END, -0.05)]
       for w in ("country = 'France'", "age > 45", "age > 50")},
}


def test_the_pool_chooses_the_heaviest_group_of_equal_results(music):
    one = run(music, ScriptedLM(DISAGREE))  # today's default: the first clean candidate
    assert one.stop_reason == "found" and len(one.candidates) == 1
    assert one.best.sql.endswith("country = 'France'") and one.best.result.rows == ((2,),)
    pool = run(music, ScriptedLM(DISAGREE), candidates=3)
    assert pool.stop_reason == "found" and len(pool.candidates) == 3
    assert pool.best.result.rows == ((1,),) and pool.best.sql.endswith("age > 45")
    sel = pool.selection
    assert [len(g.members) for g in sel.groups] == [2, 1]
    assert sel.groups[0].share > 0.5 and 0 < pool.confidence < 1
    # the trace says which group each candidate fell in
    groups = {d["sql"]: d["group"] for _, d in pool.trace.graph.nodes(data=True) if "group" in d}
    assert groups == {c.sql: (1 if c.sql.endswith("'France'") else 0) for c in pool.candidates}
    explained = pool.trace.explain()  # --explain shows each candidate's score, group and share
    share = f"{sel.groups[0].share:.2f}"
    assert sum(f", group 0: share {share})" in line for line in explained.splitlines()) == 2
    assert f", group 1: share {sel.groups[1].share:.2f})" in explained
    by_score = run(music, ScriptedLM(DISAGREE), candidates=3, select="score")
    assert by_score.selection is None and by_score.best.sql.endswith("country = 'France'")


def test_the_pool_stops_after_its_expansion_budget(music):
    out = run(music, ScriptedLM(DISAGREE), candidates=3, pool_expansions=0)
    assert out.stop_reason == "pool-expansions" and len(out.candidates) == 1


RESPELLED = {
    "": [("SELECT", -0.05)],
    "SELECT": [(" COUNT(*)", -0.1), (" count(*)", -0.3), (" name", -2.0)],
    "SELECT COUNT(*)": [(" FROM singer", -0.1)],
    "SELECT count(*)": [(" FROM singer", -0.1)],
    "SELECT name": [(" FROM singer", -0.1)],
    **{f"SELECT {c} FROM singer": [(END, -0.05)] for c in ("COUNT(*)", "count(*)", "name")},
}


def test_respellings_are_not_branches_and_equal_queries_merge(music):
    out = run(music, ScriptedLM(RESPELLED), candidates=3)
    seen = status(out)
    assert seen["SELECT count(*)"] == "merged"  # never queued: it only respells COUNT
    assert [c.sql for c in out.candidates] == ["SELECT COUNT(*) FROM singer",
                                               "SELECT name FROM singer"]
    both = run(music, ScriptedLM(RESPELLED), candidates=3, branch_on_meaning=False)
    # queued, expanded, and its query merged with the first: the same in Normalized SQL
    assert seen["SELECT COUNT(*) FROM singer"] == status(both)["SELECT COUNT(*) FROM singer"]
    assert [c.sql for c in both.candidates] == ["SELECT COUNT(*) FROM singer",
                                                "SELECT name FROM singer"]
    (same,) = [d for _, d in both.trace.graph.nodes(data=True)
               if d.get("reason", "").startswith("same query as")]
    assert same["sql"] == "SELECT count(*) FROM singer"


def test_listener_is_told_every_change_and_its_events_rebuild_the_tree(music):
    events: list[dict] = []
    lm = ScriptedLM(BUSY)
    engine = open_engine(music)
    schema = Schema.from_engine(engine)
    task = Task("Which singers ...?")
    out = search(lm, build_prompt(lm, schema, task), CheckContext(schema, engine, task),
                 SearchConfig(), partial_checkers(), complete_checkers(), max_tokens=32,
                 on_event=events.append)
    quiet = run(music, ScriptedLM(BUSY))
    assert nx.utils.graphs_equal(out.trace.graph, quiet.trace.graph)  # listening changes nothing
    rebuilt = nx.DiGraph()
    for e in events:
        data = {k: v for k, v in e.items() if k not in ("event", "id", "parent")}
        if e["event"] == "node":
            assert e["id"] not in rebuilt  # each node is announced once, before any mark
            rebuilt.add_node(e["id"], **data)
            if e["parent"] >= 0:
                assert e["parent"] in rebuilt  # parents come first
                rebuilt.add_edge(e["parent"], e["id"])
        else:
            assert e["event"] == "mark"
            rebuilt.nodes[e["id"]].update(data)
    assert nx.utils.graphs_equal(rebuilt, out.trace.graph)
    kinds = {(e["event"], e["status"]) for e in events}
    assert {("node", "pruned"), ("mark", "expanded"), ("mark", "complete")} <= kinds


# -- sampled completions ---------------------------------------------------------------------------
#: The tree finds "over 30"; three samples: the same query respelled, another query, and one
#: that names a column singer lacks (repaired to the closest name, the vote follows it).
SAMPLED_TREE = {
    "": [("SELECT name FROM singer WHERE age > 30", -0.3)],
    "SELECT name FROM singer WHERE age > 30": [(END, -0.05)],
}
SAMPLES = {
    0: ("select name from singer where age > 30", -4.0),
    1: ("SELECT name FROM singer WHERE age < 30", -5.0),
    2: ("SELECT nmae FROM singer WHERE age < 30", -6.0),
}


def test_samples_vote_for_the_queries_they_write(music):
    lm = ScriptedLM(SAMPLED_TREE, samples=SAMPLES)
    out = run(music, lm, samples=3, sample_below=1.0)
    assert [kind for kind, _ in lm.requests].count("complete") == 3
    by_sql = {c.sql: c for c in out.candidates}
    tree = by_sql["SELECT name FROM singer WHERE age > 30"]
    assert tree.meta.get("origin", "tree") == "tree" and tree.meta["votes"] == (0,)
    under = by_sql["SELECT name FROM singer WHERE age < 30"]
    assert under.meta["origin"] == "sample" and under.meta["votes"] == (1,)
    typo = by_sql["SELECT nmae FROM singer WHERE age < 30"]
    assert not typo.ok and typo.meta["origin"] == "sample"
    # every sampled character is a token here, and each counts as an expansion
    assert out.expansions == 2 + sum(len(text) for text, _ in SAMPLES.values())
    sampled = [d for _, d in out.trace.graph.nodes(data=True) if "sampled" in d]
    assert sorted(d["sampled"] for d in sampled) == [0, 1, 2]


def test_sampling_waits_for_an_unsure_answer(music):
    lm = ScriptedLM(SAMPLED_TREE, samples=SAMPLES)
    out = run(music, lm, samples=3, sample_below=0.0)  # no answer is less sure than 0
    assert [kind for kind, _ in lm.requests].count("complete") == 0
    assert [c.sql for c in out.candidates] == ["SELECT name FROM singer WHERE age > 30"]
    assert out.expansions == 2


#: The tree's query and a sampled one return different rows; the reviewer finds the question
#: far likelier given the sampled one.
REVIEWED_SAMPLE = {0: ("SELECT name FROM singer WHERE age < 30", -15.0)}
REVIEWS = {"SELECT name FROM singer WHERE age > 30": -2.0,
           "SELECT name FROM singer WHERE age < 30": -0.5}


def test_the_reviewer_weighs_in_when_the_pool_disagrees(music):
    plain = ScriptedLM(SAMPLED_TREE, samples=REVIEWED_SAMPLE)
    out = run(music, plain, samples=1, sample_below=1.0, review=True)  # a backend that does not score text
    assert out.best.sql == "SELECT name FROM singer WHERE age > 30"  # likelier per token
    assert not any("review" in c.meta for c in out.candidates)
    lm = ScriptedLM(SAMPLED_TREE, samples=REVIEWED_SAMPLE, reviews=REVIEWS)
    out = run(music, lm, samples=1, sample_below=1.0, review=True)
    assert out.best.sql == "SELECT name FROM singer WHERE age < 30"
    assert {c.sql: c.meta["review"] for c in out.candidates} == REVIEWS
    assert [kind for kind, _ in lm.requests].count("continuation_logprobs") == 2
    off = ScriptedLM(SAMPLED_TREE, samples=REVIEWED_SAMPLE, reviews=REVIEWS)
    assert run(music, off, samples=1, sample_below=1.0, review=False).best.sql == (
        "SELECT name FROM singer WHERE age > 30")
    assert [kind for kind, _ in off.requests].count("continuation_logprobs") == 0


def test_the_reviewer_is_not_asked_when_the_pool_agrees(music):
    lm = ScriptedLM(SAMPLED_TREE, samples={0: SAMPLED_TREE and ("SELECT name FROM singer "
                                                                "WHERE age > 30", -1.0)},
                    reviews=REVIEWS)
    out = run(music, lm, samples=1, sample_below=1.0, review=True)
    assert out.best.sql == "SELECT name FROM singer WHERE age > 30"
    assert [kind for kind, _ in lm.requests].count("continuation_logprobs") == 0
