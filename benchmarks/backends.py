"""Backends compared on the same seeded Spider dev questions: seconds per question and EX.

Each configuration is one resumable run under ``benchmarks/results/<name>/<config>/run.jsonl``;
throughput is the wall clock of the run divided by its questions (measured only when the run
starts from an empty file: a resumed run's time is not comparable and is left out).

    python benchmarks/backends.py --name backends_200 --limit 200 \\
        --config llamacpp:embedded:1 --config vllm:vllm:embedded:64 \\
        --config serve1:openai:http://127.0.0.1:8000:1 --config serve64:openai:http://127.0.0.1:8000:64

A ``--config`` is ``<label>:<model spec>:<concurrency>``; the model spec may hold colons.
Modes: ``--mode greedy --mode search`` (default both).  ``vllm serve`` is started by you
(see README.md); this script only drives it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from spider import DEFAULT_DATA, _machine

from xander.bench.runner import RunSpec, code_commit, read_records, run, summarize
from xander.config import load_config
from xander.lm.registry import load_lm


def _parse(config: str) -> tuple[str, str, int]:
    label, rest = config.split(":", 1)
    spec, _, conc = rest.rpartition(":")
    return label, spec, int(conc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", action="append", default=None)
    ap.add_argument("--config", action="append", required=True,
                    help="<label>:<model spec>:<concurrency>")
    args = ap.parse_args()
    out_dir = ROOT / "benchmarks" / "results" / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    timings_path = out_dir / "wall.json"
    wall = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    cfg = load_config(None)
    commit = code_commit(ROOT)  # the code that runs, taken before the runs
    for config in args.config:
        label, model, conc = _parse(config)
        start = time.perf_counter()
        load_lm(model, n_ctx=cfg.lm.n_ctx)  # the instance every question's Xander shares
        wall.setdefault(f"{label}/load", {"seconds": time.perf_counter() - start})
        for mode in args.mode or ["greedy", "search"]:
            key = f"{label}/{mode}"
            out = out_dir / label / f"{mode}.jsonl"
            fresh = not out.is_file() or not read_records(out)
            run_cfg = cfg
            if conc > 1:  # questions wait for shared batches: the wall-clock deadline scales
                run_cfg = replace(cfg, search=replace(cfg.search,
                                                      deadline_s=cfg.search.deadline_s * conc))
            spec = RunSpec(data=args.data, out=out, modes=(mode,), limit=args.limit,
                           seed=args.seed, model=model, concurrency=conc, config=run_cfg)
            start = time.perf_counter()
            records = run(spec)
            if fresh:
                wall[key] = {"seconds": time.perf_counter() - start, "n": len(records),
                             "model": model, "concurrency": conc, "commit": commit}
                timings_path.write_text(json.dumps(wall, indent=1))
    rows = []  # every run under this name, this invocation's and earlier ones
    for key, w in sorted(wall.items()):
        label, mode = key.split("/")
        out = out_dir / label / f"{mode}.jsonl"
        if mode == "load" or not out.is_file():
            continue
        s = summarize(read_records(out)).get(mode, {})
        rows.append((label, w["model"], w["concurrency"], mode, s.get("n", 0), s.get("ex", 0.0),
                     s.get("exec_error", 0.0), s.get("median_s", 0.0), w["seconds"] / max(1, w["n"])))
    lines = [
        f"# Backends: {args.name}",
        "",
        f"- command: `python benchmarks/backends.py {' '.join(sys.argv[1:])}`",
        f"- data: `{args.data}`, {args.limit} seeded Spider dev questions (seed {args.seed})",
        f"- machine: {_machine()}",
        f"- commit: {commit} (each run's own commit is in wall.json and in its records)",
        ("- wall s / q (throughput) = wall clock of the whole run / questions, with "
        "`concurrency` questions in flight, after the model is loaded (load times are in "
        "wall.json); median s/q (latency) = median seconds of one question. With "
        "concurrency > 1 the search's wall-clock deadline is multiplied by the concurrency "
        "(questions wait for shared batches); expansions and candidates budgets are unchanged."),
        "",
        ("| config | model | concurrency | mode | n | EX | exec errors | median s/q (latency) "
         "| wall s / q (throughput) |"),
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, model, conc, mode, n, ex, err, med, tput in rows:
        lines.append(f"| {label} | `{model}` | {conc} | {mode} | {n} | {ex:.3f} | {err:.3f} | "
                     f"{med:.2f} | {'-' if tput is None else f'{tput:.2f}'} |")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
