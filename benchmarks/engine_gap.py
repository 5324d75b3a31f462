"""Why the same questions score otherwise on two engines: EX of each, and each question right
on one engine only, put in one of a few kinds (the dialect differences that cost points).

    python benchmarks/engine_gap.py sqlite/run.jsonl pg/run.jsonl [pg_rerun/run.jsonl ...]

The first run file is the reference (SQLite); the others are the other engine's, a later file's
record replacing an earlier one's for the same question (a rerun of some databases).  Only
questions in both are compared.  Kinds, first that applies, read off the other engine's answer:

- ``same query``: the two answers are one query up to quotes, case, NULL order, ``ILIKE`` for
  ``LIKE`` and the tie-breakers xander appends (``xander.ties``): they differ in rows only;
- ``repair: <rule>``: the other engine refused the model's query and a repair rule made it
  run (``text read as numbers``, ``bare column grouped or aggregated``, ``literal respelled``,
  ``text compared as a number``);
- ``execution error``: no query ran;
- ``another query``: the model wrote another query (the prompt is another text: types, keys).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

REPAIRS = (("as a number", "text read as numbers"),
           ("as SQLite reads text", "text read as numbers"),
           ("ungrouped", "bare column grouped or aggregated"),
           ("GROUP BY", "bare column grouped or aggregated"),
           ("literal", "literal respelled"),
           ("compare", "text compared as a number"))


def load(paths: list[Path]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[r["id"]] = r
    return out


def canonical(sql: str, dialect: str) -> str:
    """``sql`` as SQLite would print it, without tie-breakers on ``ctid``, NULL order and
    ``ILIKE``, lower case and unquoted: what tells "the same query" apart."""
    try:
        tree = sqlglot.parse_one(sql or "", read=dialect)
        for o in list(tree.find_all(exp.Ordered)):
            if isinstance(o.this, exp.Column) and o.this.name.lower() == "ctid":
                o.pop()
            else:
                o.set("nulls_first", None)
        for i in list(tree.find_all(exp.ILike)):
            i.replace(exp.Like(this=i.this, expression=i.expression))
        text = tree.sql(dialect="sqlite")
    except (sqlglot.errors.SqlglotError, ValueError):
        text = sql or ""
    return re.sub(r"\s+", " ", text.replace('"', "").lower()).strip()


def kind(ref: dict[str, Any], other: dict[str, Any], dialect: str) -> str:
    if canonical(ref["pred"], "sqlite") == canonical(other["pred"], dialect):
        return "same query"
    repairs = " ".join(other.get("repairs") or [])
    for marker, name in REPAIRS:
        if marker in repairs:
            return f"repair: {name}"
    if other.get("exec_error"):
        return "execution error"
    return "another query"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference", type=Path, help="the SQLite run (JSONL)")
    ap.add_argument("other", type=Path, nargs="+", help="the other engine's run file(s)")
    ap.add_argument("--dialect", default="postgres", help="the other engine's sqlglot dialect")
    ap.add_argument("--list", action="store_true", help="list each question that differs")
    args = ap.parse_args()
    ref, other = load([args.reference]), load(args.other)
    ids = [k for k in ref if k in other]
    if not ids:
        raise SystemExit("the runs share no question")
    n = len(ids)

    def ex(run: dict[str, dict[str, Any]]) -> float:
        return sum(bool(run[k]["correct"]) for k in ids) / n

    def errors(run: dict[str, dict[str, Any]]) -> float:
        return sum(bool(run[k]["exec_error"]) for k in ids) / n

    same = sum(canonical(ref[k]["pred"], "sqlite") == canonical(other[k]["pred"], args.dialect)
               for k in ids)
    print(f"{n} questions in both runs; the same query on both: {same}\n")
    print("| engine | EX | execution errors |\n|---|---:|---:|")
    print(f"| reference | {ex(ref):.3f} | {errors(ref):.1%} |")
    print(f"| other | {ex(other):.3f} | {errors(other):.1%} |\n")
    kinds: Counter[tuple[str, str]] = Counter()
    listed = []
    for k in ids:
        if bool(ref[k]["correct"]) == bool(other[k]["correct"]):
            continue
        side = "reference only" if ref[k]["correct"] else "other only"
        why = kind(ref[k], other[k], args.dialect)
        kinds[(why, side)] += 1
        listed.append(f"- {k} ({ref[k]['db_id']}), right on the {side.split()[0]}: {why}")
    print("| why | right on the reference only | right on the other only |\n|---|---:|---:|")
    for why in sorted({w for w, _ in kinds}):
        print(f"| {why} | {kinds[(why, 'reference only')]} | {kinds[(why, 'other only')]} |")
    if args.list:
        print("\n" + "\n".join(listed))


if __name__ == "__main__":
    main()
