"""Which answers differ between two run files (JSONL from benchmarks/spider.py).

    python benchmarks/compare_runs.py before/run.jsonl after/run.jsonl [--mode search]
                                      [--only other/run.jsonl]

Prints the questions both runs answered, how many got different SQL, EX of each on those, their
mean LM steps (search expansions) per question, and each difference with both queries and stop
reasons.  ``--only`` keeps the questions of another run file (a seeded sample of the set).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(path: Path, mode: str | None) -> dict[str, dict]:
    records = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {r["id"]: r for r in records if mode is None or r["mode"] == mode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--mode", default=None, help="compare only this mode's records")
    ap.add_argument("--only", type=Path, default=None,
                    help="keep only the questions of this run file")
    args = ap.parse_args()
    a, b = load(args.before, args.mode), load(args.after, args.mode)
    keep = load(args.only, None) if args.only else None
    common = [k for k in a if k in b and (keep is None or k in keep)]
    diff = [k for k in common if a[k]["sql"] != b[k]["sql"]]
    ex_a = sum(bool(a[k]["correct"]) for k in common)
    ex_b = sum(bool(b[k]["correct"]) for k in common)
    steps_a = sum(a[k].get("expansions") or 0 for k in common) / max(1, len(common))
    steps_b = sum(b[k].get("expansions") or 0 for k in common) / max(1, len(common))
    print(f"{len(common)} questions in both; {len(diff)} with different SQL; "
          f"right: {ex_a} before, {ex_b} after; LM steps per question: {steps_a:.1f} before, "
          f"{steps_b:.1f} after")
    for k in diff:
        print(f"\n{k} ({a[k]['db_id']}): right before {a[k]['correct']}, after {b[k]['correct']}")
        print(f"  before ({a[k].get('stop_reason')}): {' '.join((a[k]['sql'] or '-').split())}")
        print(f"  after  ({b[k].get('stop_reason')}): {' '.join((b[k]['sql'] or '-').split())}")


if __name__ == "__main__":
    main()
