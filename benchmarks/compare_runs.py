"""Which answers differ between two run files (JSONL from benchmarks/spider.py).

    python benchmarks/compare_runs.py before/run.jsonl after/run.jsonl [--mode search]

Prints the questions both runs answered, how many got different SQL, EX of each on those, and
each difference with both queries and stop reasons.
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
    args = ap.parse_args()
    a, b = load(args.before, args.mode), load(args.after, args.mode)
    common = [k for k in a if k in b]
    diff = [k for k in common if a[k]["sql"] != b[k]["sql"]]
    ex_a = sum(bool(a[k]["correct"]) for k in common)
    ex_b = sum(bool(b[k]["correct"]) for k in common)
    print(f"{len(common)} questions in both; {len(diff)} with different SQL; "
          f"right: {ex_a} before, {ex_b} after")
    for k in diff:
        print(f"\n{k} ({a[k]['db_id']}): right before {a[k]['correct']}, after {b[k]['correct']}")
        print(f"  before ({a[k].get('stop_reason')}): {' '.join((a[k]['sql'] or '-').split())}")
        print(f"  after  ({b[k].get('stop_reason')}): {' '.join((b[k]['sql'] or '-').split())}")


if __name__ == "__main__":
    main()
