"""The questions of a run a new checker can change: those where it has something to say about a
candidate the run's search evaluated.

    python benchmarks/affected.py RUN.jsonl --checker conditions [--mode search] [--data DIR]

The search is deterministic and its budgets are LM work, so a checker that finds nothing in any
candidate of a question leaves that question's tree, and its answer, as they were (a repair
that answers only the new checker's codes runs only where it spoke).  Rerunning only the
printed questions (``spider.py --id ...``) and keeping the run's other answers gives the new
code's answers on the whole set.  Prints one ``--id`` argument per question, then a summary on
stderr.  Needs the run's databases (Spider's SQLite files), no model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.datasets import load
from xander.checkers import COMPLETE, CheckContext, run_checkers
from xander.engines import open_engine
from xander.schema import Schema
from xander.task import Task

DATA = ROOT.parent / "shared" / "data" / "spider"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--checker", action="append", required=True,
                    help="a complete-stage checker's name (repeatable)")
    ap.add_argument("--mode", default="search")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--file", default=None, help="the run's question file in --data")
    args = ap.parse_args()
    checkers = [COMPLETE[name]() for name in args.checker]
    examples, _ = load(args.data, args.file)
    databases = {e.id: e.db_path for e in examples}
    contexts: dict[str, CheckContext] = {}
    records = [json.loads(line) for line in args.run.read_text().splitlines() if line.strip()]
    affected, read = [], 0
    for rec in records:
        if rec["mode"] != args.mode:
            continue
        read += 1
        db = databases[rec["id"]]
        task = Task(rec["question"], rec.get("evidence") or "")
        if str(db) not in contexts:
            engine = open_engine(db)
            contexts[str(db)] = CheckContext(Schema.from_engine(engine), engine, task)
        ctx = contexts[str(db)]
        ctx.task = task
        if any(run_checkers(checkers, c["sql"], ctx) for c in rec["candidates"] if c["sql"]):
            affected.append(rec["id"])
    print(" ".join(f"--id {i}" for i in affected))
    print(f"{len(affected)} of {read} questions have a candidate the checker speaks about",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
