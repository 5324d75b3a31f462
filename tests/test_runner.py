"""The benchmark runner: mode names, resumable JSONL runs (killed and resumed with no lost or
duplicated work), summaries and reports, on real Spider questions with the real model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, SPIDER
from xander.bench.report import accuracy_vs_budget, by_difficulty, markdown
from xander.bench.runner import _repair_tail, mode_config, read_records, summarize
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
    assert "| greedy | 4 | 0.750 | 0.250 |" in text and "no such column: x" in text


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
