"""Fit how the answer is chosen from a pool, offline, on a run file of pools (train questions).

    python benchmarks/tune_select.py benchmarks/results/train100_c3/run.jsonl

Each record's candidates are run again on its database and compared with the gold; then each
policy picks one candidate per question and its EX is printed, with the pool's oracle.  Nothing
calls the model: a policy can be tried in seconds.  Fit on train, check on dev.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.metrics import evaluate_prediction
from xander.cues import CueWeights, question_cues
from xander.diagnostic import Diagnostic
from xander.engines import open_engine
from xander.errors import XanderError
from xander.results import result_key
from xander.scoring import Candidate
from xander.select import SelectWeights, choose

DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"

Pool = list[dict]  # candidates that ran: sql, logprob, n_tokens, warnings, key, correct, order


def _tokens(c: dict) -> int:
    return int(c.get("n_tokens") or max(1, len(c["sql"]) // 3))


def first_clean(question: str, pool: Pool) -> dict:
    clean = [c for c in pool if not c["warnings"]]
    return (clean or pool)[0]


def by_groups(weight: Callable[[dict], float]) -> Callable[[str, Pool], dict]:
    def pick(question: str, pool: Pool) -> dict:
        groups: dict = {}
        for c in pool:
            groups.setdefault(c["key"], []).append(c)
        heaviest = max(groups.values(), key=lambda g: (sum(weight(c) for c in g), -g[0]["order"]))
        return max(heaviest, key=lambda c: (weight(c), -c["order"]))
    return pick


def by_choose(cues: CueWeights | None) -> Callable[[str, Pool], dict]:
    """``xander.select.choose`` itself (what the search does), with these cue weights (None:
    no cues), on the recorded candidates and their results run again."""
    def pick(question: str, pool: Pool) -> dict:
        cands = [Candidate(c["sql"], c["logprob"], _tokens(c), tuple(
            Diagnostic("replay", w, w, "warning") for w in c["warnings"]), c["result"],
            tuple(c.get("repairs") or ())) for c in pool]
        weights = SelectWeights(cues=cues) if cues is not None else SelectWeights()
        sel = choose(cands, weights, question_cues(question) if cues is not None else None)
        return pool[cands.index(sel.answer)]
    return pick


POLICIES: dict[str, Callable[[str, Pool], dict]] = {
    "choose, no cues": by_choose(None),
    "choose, cues as shipped": by_choose(CueWeights()),
    "first clean (today)": first_clean,
    "groups, mean token logprob": by_groups(
        lambda c: math.exp(c["logprob"] / _tokens(c) - 2 * len(c["warnings"]))),
    "groups, query logprob": by_groups(
        lambda c: math.exp(c["logprob"] - 2 * len(c["warnings"]))),
    "groups, count": by_groups(lambda c: 1.0 - 0.5 * bool(c["warnings"])),
}


def pools(run: Path) -> list[tuple[dict, Pool]]:
    out = []
    engines: dict = {}
    for line in run.read_text().splitlines():
        r = json.loads(line)
        if r.get("correct") is None:
            continue
        db = DATA / ("train_database" if r["id"].startswith("train") else "database") / \
            r["db_id"] / f"{r['db_id']}.sqlite"
        engine = engines.setdefault(db, open_engine(db))
        pool = []
        for i, c in enumerate(r.get("candidates") or []):
            if not c["ok"]:
                continue
            try:
                res = engine.execute(c["sql"], timeout=10, max_rows=100_000)
            except XanderError:  # a candidate that no longer runs is left out
                continue
            ok = evaluate_prediction(engine, r["gold"], c["sql"]).correct
            pool.append({**c, "key": result_key(res.columns, res.rows), "correct": bool(ok),
                         "result": res,
                         "order": i, "warnings": c.get("warnings") or
                         (["empty-result"] if not res.rows else [])})
        out.append((r, pool))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    data = pools(args.run)
    n = len(data)
    print(f"{n} questions; pool oracle {sum(any(c['correct'] for c in p) for _, p in data) / n:.3f}"
          f"; recorded answers {sum(bool(r['correct']) for r, _ in data) / n:.3f}")
    print("| policy | EX |\n|---|---:|")
    for name, policy in POLICIES.items():
        right = sum(bool(p) and policy(r["question"], p)["correct"] for r, p in data)
        print(f"| {name} | {right / n:.3f} |")


if __name__ == "__main__":
    main()
