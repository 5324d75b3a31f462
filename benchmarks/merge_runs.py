"""A whole set's numbers after rerunning only the questions a change can affect.

    python benchmarks/merge_runs.py BASE/run.jsonl RERUN/run.jsonl [RERUN2/run.jsonl ...]
                                    [--mode search] [--only SAMPLE/run.jsonl] [--out merged.jsonl]

Records of the reruns replace the base run's records of the same question and mode (later files
win); the rest are the base run's, and rerun records of questions the base run lacks are left
out (one rerun may serve several samples).  Valid where the change leaves every other question's search
as it was: a new checker that says nothing about any of their candidates
(``benchmarks/affected.py`` lists the others; the search is deterministic and its budgets are
LM work).  Prints EX, execution errors, LM steps per question, the pool oracle and EX at 80%
coverage for the base and the merged set, and which commits the merged records came from.
``--only`` keeps the questions of another run file (a seeded sample).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.select import coverage_table


def _load(path: Path, mode: str) -> dict[str, dict]:
    records = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {r["id"]: r for r in records if r["mode"] == mode}


def _row(name: str, records: list[dict]) -> str:
    n = len(records) or 1
    ex = sum(bool(r["correct"]) for r in records)
    errors = sum(bool(r.get("exec_error")) for r in records) / n
    steps = statistics.mean(r.get("expansions") or 0 for r in records) if records else 0.0
    oracle = sum(bool(r.get("oracle")) for r in records) / n
    table = coverage_table([(r.get("confidence") or 0.0, bool(r["correct"])) for r in records])
    return (f"| {name} | {len(records)} | {ex / n:.3f} ({ex}) | {errors:.3f} | {steps:.1f} | "
            f"{oracle:.3f} | {table.target_accuracy:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path)
    ap.add_argument("reruns", type=Path, nargs="+")
    ap.add_argument("--mode", default="search")
    ap.add_argument("--only", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the merged records here")
    args = ap.parse_args()
    base = _load(args.base, args.mode)
    merged = dict(base)
    for path in args.reruns:
        merged.update({q: r for q, r in _load(path, args.mode).items() if q in base})
    keep = set(_load(args.only, args.mode)) if args.only else set(base)
    before = [r for q, r in base.items() if q in keep]
    after = [r for q, r in merged.items() if q in keep]
    commits = Counter(r.get("commit", "?") for r in after)
    print("| run | questions | EX | exec errors | LM steps/q | pool oracle | EX at 80% coverage |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(_row(f"{args.base.parent.name}", before))
    print(_row("merged (" + ", ".join(f"{c}: {n}" for c, n in commits.most_common()) + ")",
               after))
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in merged.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
