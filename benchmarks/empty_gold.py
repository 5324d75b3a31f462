"""Where a run's pool held a right answer it did not choose, and what the gold returns there.

    python benchmarks/empty_gold.py RUN.jsonl [--mode search] [--data DIR] [--file dev.json]

Runs each question's gold query on the benchmark's own database and prints, for the questions
whose gold returns no rows and for the others: how many there are, EX, the pool oracle (some
candidate right), and how many had a right candidate in the pool but another answer chosen.
An empty gold result is matched by any query that returns nothing, including one with a
condition no row can satisfy; the search's ``empty-result`` warning looks past such queries.
Needs the databases, no model.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.datasets import load

DATA = ROOT.parent / "shared" / "data" / "spider"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--mode", default="search")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--file", default=None)
    args = ap.parse_args()
    examples, _ = load(args.data, args.file)
    by_id = {e.id: e for e in examples}
    rows: dict[bool, list[dict]] = {True: [], False: []}
    for line in args.run.read_text().splitlines():
        rec = json.loads(line)
        if rec["mode"] != args.mode or rec.get("gold_error"):
            continue
        ex = by_id[rec["id"]]
        con = sqlite3.connect(f"file:{ex.db_path}?mode=ro", uri=True)
        try:
            empty = con.execute(ex.gold_sql).fetchmany(1) == []
        finally:
            con.close()
        rows[empty].append(rec)
    print(f"{args.run}, mode {args.mode}\n")
    print("| gold returns | questions | EX | pool oracle | right in the pool, not chosen |")
    print("|---|---:|---:|---:|---:|")
    for empty, label in ((True, "no rows"), (False, "rows")):
        recs = rows[empty]
        n = len(recs) or 1
        missed = sum(bool(r.get("oracle")) and not r["correct"] for r in recs)
        print(f"| {label} | {len(recs)} | {sum(bool(r['correct']) for r in recs) / n:.3f} | "
              f"{sum(bool(r.get('oracle')) for r in recs) / n:.3f} | {missed} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
