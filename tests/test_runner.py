"""The benchmark runner: mode names, resumable JSONL runs (killed and resumed with no lost or
duplicated work), summaries and reports, on real Spider questions with the real model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SPIDER
from xander.bench.report import accuracy_vs_budget, by_difficulty, coverage, markdown
from xander.bench.runner import _repair_tail, code_commit, mode_config, read_records, summarize
from xander.config import Config
from xander.errors import InputError


def test_mode_names():
    assert mode_config("greedy", Config())[0] == "greedy"
    ask, cfg, with_examples = mode_config("search-no-grammar+examples", Config())
    assert (ask, cfg.search.disabled_checkers, with_examples) == ("search", ("grammar",), True)
    with pytest.raises(InputError, match="unknown mode"):
        mode_config("search-no-safety-net", Config())


def test_torn_last_line_is_dropped_and_cut(tmp_path):
    run = tmp_path / "run.jsonl"
    run.write_text('{"id": "a", "mode": "greedy", "correct": true}\n{"id": "b", "mo')
    assert [r["id"] for r in read_records(run)] == ["a"]
    _repair_tail(run)
    assert run.read_text() == '{"id": "a", "mode": "greedy", "correct": true}\n'


def _records(n_ok: int, n_bad: int, mode: str = "greedy") -> list[dict]:
    base = {"mode": mode, "db_id": "d", "question": "q", "gold": "SELECT 1", "pred": "SELECT 2",
            "gold_error": None, "timings": {"total": 1.0, "lm": 0.9, "checkers": 0.01},
            "lm_tokens": {"evaluated": 10}, "difficulty": "easy"}
    return ([{**base, "id": f"ok{i}", "correct": True, "exec_error": None, "seconds": 1.0}
             for i in range(n_ok)]
            + [{**base, "id": f"bad{i}", "correct": False, "exec_error": "no such column: x",
                "seconds": 3.0} for i in range(n_bad)])


def test_summary_and_report_numbers():
    recs = _records(3, 1)
    s = summarize(recs)["greedy"]
    assert (s["n"], s["ex"], s["exec_error"], s["median_s"]) == (4, 0.75, 0.25, 1.0)
    assert s["checker_share"] == pytest.approx(0.01)
    assert by_difficulty(recs) == {"greedy": {"easy": (4, 0.75)}}
    assert accuracy_vs_budget(recs, "greedy", [0.5, 1.0, 5.0]) == [0.0, 0.75, 0.75]
    text = markdown(recs, "t")
    # EX, then the pool oracle (records without one count their answer), then exec errors
    assert "| greedy | 4 | 0.750 | 0.750 | 0.250 |" in text and "no such column: x" in text
    assert "## Confidence" not in text  # these records carry none


def test_calibration_section_and_oracle():
    recs = _records(3, 1)
    for r, conf, oracle in zip(recs, (0.9, 0.8, 0.7, 0.1), (True, True, True, True),
                               strict=True):
        r["confidence"], r["oracle"] = conf, oracle
    s = summarize(recs)["greedy"]
    assert (s["ex"], s["oracle"]) == (0.75, 1.0)
    text = markdown(recs, "t")
    assert "## Confidence: greedy" in text
    # 80% of 4 questions -> the 4 surest; at 0.5 only the three right ones are answered
    assert "EX at 80% coverage: **0.750**" in text
    assert "| 0.5 | 3 | 0.750 | 1.000 |" in text


def test_report_columns_say_latency_and_coverage_says_what_ran():
    text = markdown(_records(1, 1), "t")
    assert "| median s/q (latency) | p90 s/q (latency) | mean s/q (latency) |" in text
    skipped = [{"db_id": "gone", "reason": "database file missing: /x/gone.sqlite"}] * 2
    assert coverage(3, 5, skipped) == "3 of 5 questions (gone's database is missing; its 2 are " \
        "skipped)"
    assert coverage(2, 5, skipped) == "2 of 5 questions (gone's database is missing; its 2 are " \
        "skipped; 1 not run yet)"


def _git(root, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_commit_is_dirty_for_any_tracked_change_outside_results(tmp_path):
    for name in ("xander/a.py", "grammars/sql.lark", "benchmarks/results/r/report.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "c")
    rev = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert code_commit(tmp_path) == rev
    (tmp_path / "benchmarks/results/r/report.md").write_text("rerun\n")  # results: clean
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert code_commit(tmp_path) == rev
    (tmp_path / "grammars/sql.lark").write_text("changed\n")  # not only xander/ counts
    assert code_commit(tmp_path) == rev + "+dirty"
    assert code_commit(tmp_path / "nowhere") == "unknown"


def test_every_record_carries_the_commit(tmp_path, monkeypatch):
    from xander.bench import runner

    data = tmp_path / "spider"
    (data / "database" / "shop").mkdir(parents=True)
    sqlite3.connect(data / "database" / "shop" / "shop.sqlite").execute(
        "CREATE TABLE item(id INTEGER)").connection.close()
    (data / "dev.json").write_text(json.dumps(
        [{"db_id": "shop", "question": f"q{i}", "query": "SELECT 1"} for i in range(3)]))
    monkeypatch.setattr(runner, "code_commit", lambda root=None: "abc1234+dirty")
    monkeypatch.setattr(runner, "predict", lambda ex, mode, spec: {
        "id": ex.id, "mode": mode, "correct": True, "exec_error": None, "gold_error": None})
    records = runner.run(runner.RunSpec(data=data, out=tmp_path / "run.jsonl"), progress=False)
    assert [r["commit"] for r in records] == ["abc1234+dirty"] * 3


@pytest.mark.slow
def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "xander.cli", "bench", "--data", str(SPIDER), "--out",
           str(out), "--limit", "8", "--seed", "3", "--mode", "greedy", "--db-filter",
           "concert_singer", "--db-filter", "pets_1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(read_records(out)) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # killed mid-run, maybe mid-line
    proc.wait()
    first = read_records(out)
    assert 3 <= len(first) < 8
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    records = read_records(out)
    ids = [r["id"] for r in records]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert records[: len(first)] == first  # nothing redone or rewritten
    assert all(json.loads(line) for line in out.read_text().splitlines())
    assert "greedy" in done.stdout and "EX=" in done.stdout


@pytest.mark.slow
def test_record_keeps_the_run_mode_name(embedded_lm):
    from xander.bench.datasets import load_spider
    from xander.bench.runner import RunSpec, predict

    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    examples, _ = load_spider(SPIDER)
    ex = next(e for e in examples if e.db_id == "concert_singer")
    spec = RunSpec(data=SPIDER, out=ROOT / "unused.jsonl")
    rec = predict(ex, "search-no-grammar", spec)
    assert rec["mode"] == "search-no-grammar" and rec["ask_mode"] == "search"
    assert rec["id"] == ex.id and rec["correct"] in (True, False)


@pytest.mark.slow
def test_concurrent_questions_share_one_backend_and_match_one_at_a_time(tmp_path, embedded_lm):
    """Threads in flight (for batching backends) give the records a one-at-a-time run gives."""
    from xander.bench.runner import RunSpec, run

    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    common = {"data": SPIDER, "limit": 6, "seed": 5, "modes": ("greedy",),
                  "db_filter": ("concert_singer", "pets_1")}
    one = run(RunSpec(out=tmp_path / "one.jsonl", **common), progress=False)
    many = run(RunSpec(out=tmp_path / "many.jsonl", concurrency=3, **common), progress=False)
    assert len(many) == 6 and len({r["id"] for r in many}) == 6
    by_id = {r["id"]: r for r in one}
    assert {r["id"]: (r["pred"], r["correct"]) for r in many} == {
        i: (r["pred"], r["correct"]) for i, r in by_id.items()}


def _target_copy(path: Path, singers: int) -> Path:
    """A DuckDB copy of concert_singer's singer table holding its first ``singers`` rows."""
    import duckdb

    src = sqlite3.connect(SPIDER / "database" / "concert_singer" / "concert_singer.sqlite")
    rows = src.execute("SELECT Singer_ID, Name, Country FROM singer ORDER BY Singer_ID").fetchall()
    src.close()
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE singer (Singer_ID INTEGER PRIMARY KEY, Name TEXT, Country TEXT)")
    con.executemany("INSERT INTO singer VALUES (?, ?, ?)", rows[:singers])
    con.close()
    return path


def test_predictions_run_on_the_target_and_the_gold_on_the_benchmark_file(tmp_path):
    """``target``: the prediction runs there (PostgreSQL, a catalog), the gold on Spider's file."""
    from tests.scripted import ScriptedLM
    from xander.bench.runner import RunSpec, run
    from xander.lm import registry

    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    question = next(q for q in json.loads((SPIDER / "dev.json").read_text())
                    if q["db_id"] == "concert_singer" and q["query"] == "SELECT count(*) FROM singer")
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev.json").write_text(json.dumps([question]))
    (data / "tables.json").write_text((SPIDER / "tables.json").read_text())
    (data / "database").symlink_to(SPIDER / "database")
    sql = "SELECT COUNT(*) FROM singer"
    registry.register("scripted-runner", lambda rest, options: ScriptedLM(
        {"": [(sql, -0.1)], sql: [("\n```", -0.1)]}))
    ok = {}
    for singers in (6, 5):
        target = _target_copy(tmp_path / f"copy{singers}.duckdb", singers)
        (record,) = run(RunSpec(data=data, out=tmp_path / f"run{singers}.jsonl",
                                model=f"scripted-runner:{singers}", target=str(target)),
                        progress=False)
        assert record["pred"] == sql and not record["exec_error"]
        ok[singers] = record["correct"]
    assert ok == {6: True, 5: False}  # the gold's 6 singers come from Spider's own file


def test_a_catalog_target_serves_each_question_its_own_schema(tmp_path):
    """``--target catalog.duckdb --schema '{db_id}'``: one database at a time out of one file.
    The runner keeps one Xander per target *and schemas*: the second database's question is
    asked of its own schema, not of the first one's."""
    from benchmarks.build_catalog import build_catalog
    from tests.conftest import spider_db
    from tests.scripted import ScriptedLM
    from xander.bench.runner import RunSpec, run
    from xander.lm import registry

    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    questions = [next(q for q in json.loads((SPIDER / "dev.json").read_text())
                      if q["db_id"] == db and q["query"].lower() == "select count(*) from singer")
                 for db in ("concert_singer", "singer")]
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev.json").write_text(json.dumps(questions))
    (data / "tables.json").write_text((SPIDER / "tables.json").read_text())
    (data / "database").symlink_to(SPIDER / "database")
    catalog = tmp_path / "catalog.duckdb"
    build_catalog([(db, spider_db(db)) for db in ("concert_singer", "singer")], catalog)
    sql = "SELECT COUNT(*) FROM singer"
    registry.register("scripted-catalog", lambda rest, options: ScriptedLM(
        {"": [(sql, -0.1)], sql: [("\n```", -0.1)]}))
    records = run(RunSpec(data=data, out=tmp_path / "run.jsonl", model="scripted-catalog:x",
                          target=str(catalog), schemas=("{db_id}",)), progress=False)
    assert [(r["db_id"], r["pred"], r["correct"]) for r in records] == [
        ("concert_singer", sql, True), ("singer", sql, True)]  # 6 singers, then 8


def test_bird_records_report_soft_f1_beside_ex():
    recs = _records(2, 1)  # the failing prediction carries no Soft-F1 and scores 0
    for r, f1 in zip(recs, (1.0, 0.5, None), strict=True):
        r["evidence"], r["soft_f1"] = "refers to x", f1
    assert summarize(recs)["greedy"]["soft_f1"] == pytest.approx(0.5)
    text = markdown(recs, "t")
    assert "## BIRD metrics" in text and "| greedy | 3 | 0.667 | 0.500 |" in text
    assert "## BIRD metrics" not in markdown(_records(1, 1), "t")  # Spider: no evidence


def test_ids_pick_questions_from_the_sample_and_an_unknown_id_is_a_user_error(tmp_path):
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    from xander.bench.runner import RunSpec, select_examples

    spec = RunSpec(data=SPIDER, out=tmp_path / "run.jsonl", limit=200, seed=0)
    sample, _ = select_examples(spec)
    chosen = (sample[5].id, sample[0].id)
    picked, _ = select_examples(RunSpec(data=SPIDER, out=spec.out, limit=200, seed=0, ids=chosen))
    assert [e.id for e in picked] == [sample[0].id, sample[5].id]  # in the sample's order
    whole, _ = select_examples(RunSpec(data=SPIDER, out=spec.out, ids=("dev-30",)))
    assert [(e.id, e.db_id) for e in whole] == [("dev-30", "concert_singer")]
    with pytest.raises(InputError, match="dev-99999"):
        select_examples(RunSpec(data=SPIDER, out=spec.out, ids=("dev-30", "dev-99999")))
