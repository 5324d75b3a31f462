"""Time to an answer for a new user: each question asked by a fresh `xander ask` process.

    python benchmarks/latency.py --name latency_100 --limit 100 --seed 0 [--cores 0]

For each seeded Spider dev question, `xander ask --json` runs twice as a new process: first with
the prompt cache cold (no saved state for that database: it is cleared before the question),
then warm (the state the first run saved).  The report gives median and p90 wall-clock seconds
of both, the prompt evaluation they include, empty answers and EX.  `--cores 0` pins every
process to core 0 (`taskset -c 0`), to show what a one-core machine gets.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.datasets import load, sample
from xander.bench.metrics import evaluate_prediction
from xander.bench.report import cpu_name
from xander.bench.runner import code_commit
from xander.engines import open_engine
from xander.paths import cache_dir

DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"


def ask(db: Path, question: str, cache: Path, cores: str | None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "xander.cli", "ask", "--json", "--db", str(db), question]
    if cores is not None:
        cmd = ["taskset", "-c", cores, *cmd]
    env = {**os.environ, "XANDER_CACHE": str(cache)}
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    seconds = time.perf_counter() - start
    try:
        return seconds, json.loads(out.stdout)
    except json.JSONDecodeError:
        return seconds, {"sql": "", "error": (out.stderr or "no output").strip()[-300:]}


def cpu_model() -> str:
    return f"{cpu_name() or 'unknown CPU'}, {os.cpu_count()} cores on the machine"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cores", default=None, help="taskset core list, e.g. 0")
    args = ap.parse_args()
    commit = code_commit(ROOT)
    examples, _ = load(DATA)
    examples = sample(examples, args.limit, args.seed)
    out_dir = ROOT / "benchmarks" / "results" / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    # Byte-compile xander once, as `pip install` does: an editable install under
    # PYTHONDONTWRITEBYTECODE=1 (set on these machines) would compile every module in every run.
    compileall.compile_dir(ROOT / "xander", quiet=1)
    cache = Path(tempfile.mkdtemp(prefix="xander-latency-"))
    (cache / "models").symlink_to(cache_dir("models").resolve(), target_is_directory=True)
    rows = []
    (out_dir / "runs.jsonl").write_text("")
    try:
        for ex in examples:
            shutil.rmtree(cache / "prompts", ignore_errors=True)  # cold: nothing saved
            record = {"id": ex.id, "db_id": ex.db_id, "question": ex.question}
            for phase in ("cold", "warm"):
                seconds, res = ask(ex.db_path, ex.question, cache, args.cores)
                engine = open_engine(ex.db_path)
                try:
                    ok = evaluate_prediction(engine, ex.gold_sql,
                                             res.get("sql") or "SELECT NULL WHERE 0").correct
                finally:
                    engine.close()
                timings, tokens = res.get("timings") or {}, res.get("lm_tokens") or {}
                record[phase] = {"seconds": seconds, "sql": res.get("sql", ""),
                                 "correct": ok, "error": res.get("error"),
                                 "prompt_state": res.get("prompt_state", ""),
                                 "stop_reason": res.get("stop_reason", ""),
                                 "lm_seconds": timings.get("lm"),
                                 "prime_seconds": timings.get("prime", 0.0),
                                 "answer_seconds": timings.get("total"),
                                 "prompt_tokens": tokens.get("prompt", 0),
                                 "evaluated_tokens": tokens.get("evaluated", 0),
                                 "expansions": res.get("expansions", 0)}
            rows.append(record)
            with (out_dir / "runs.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{ex.id}: cold {record['cold']['seconds']:.1f}s warm "
                  f"{record['warm']['seconds']:.1f}s", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    lines = [f"# Fresh-process latency: {args.name}", "",
             f"- command: `python benchmarks/latency.py {' '.join(sys.argv[1:])}`",
             (f"- {len(rows)} seeded Spider dev questions (seed {args.seed}), each a new "
              "`xander ask --json` process, cold then warm prompt cache"),
             f"- cores: {args.cores or 'all'} ({cpu_model()}); commit: {commit}",
             ("- xander's modules byte-compiled before the first run, as `pip install` "
              "does"),
             ("- seconds: wall clock of the whole process (start, imports, model load, prompt, "
              "search, printing); 'beyond the prompt' subtracts the time the process spent "
              "evaluating and saving (cold) or loading (warm) the shared prompt prefix"), "",
             ("| cache | median s | p90 s | median s beyond the prompt | p90 s beyond the prompt "
              "| within prompt + 2 s | median prompt tokens | empty answers | deadline stops "
              "| EX |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for phase in ("cold", "warm"):
        runs = [r[phase] for r in rows]
        secs = [r["seconds"] for r in runs]
        beyond = [r["seconds"] - r["prime_seconds"] for r in runs]
        within = sum(b <= 2.0 for b in beyond) / max(1, len(runs))
        empty = sum(not r["sql"] for r in runs)
        deadline = sum(str(r["stop_reason"]).startswith("deadline") for r in runs)
        ex_ = sum(bool(r["correct"]) for r in runs) / max(1, len(runs))
        tokens = statistics.median(r["prompt_tokens"] for r in runs)
        lines.append(f"| {phase} | {statistics.median(secs):.2f} | {pct(secs, 0.9):.2f} | "
                     f"{statistics.median(beyond):.2f} | {pct(beyond, 0.9):.2f} | "
                     f"{within:.0%} | {tokens:.0f} | {empty} | {deadline} | {ex_:.3f} |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
