"""What sampled completions and the reviewer would choose, replayed from a run's records.

    python benchmarks/sample_votes.py RUN.jsonl [RUN.jsonl ...] [--data DIR] [--file F]
        [--samples 0 2 4 8] [--below 1.0 0.9] [--review CACHE.json --review-weight 0 6]
        [--vote 0 1] [--resolve own clean] [--sharpness 1 2]

A run made with ``[search] samples = N`` (and ``sample_below = 1``) keeps every candidate with
where it came from (the tree or a sample), the seeds of the samples that wrote it, its score
inputs and its node.  This replays ``xander.select.choose`` on those pools: every ok candidate
is run again on the question's database for its result and compared with the gold (the
runner's metric), and for each setting the chosen answer's accuracy is counted:

- ``--samples n``: only the first ``n`` samples (seeds below ``n``) and the candidates they
  brought; 0 is the tree alone;
- ``--below c``: samples only where the tree's answer had confidence under ``c``
  (``[search] sample_below``);
- ``--review FILE``, ``--review-weight w``: the reviewer's score of every ok query
  (``xander.review``, computed with the embedded model and cached in FILE) weighed by ``w``
  (``SelectWeights.review``);
- ``--vote v``: ``SelectWeights.vote``; ``--resolve``: a sample whose query is not clean votes
  for it (``own``) or for its clean repair (``clean``); ``--sharpness``.

Prints EX, the pool oracle and the samples drawn per question (each costs its tokens in LM
steps: the mean sampled length is printed).  Without ``--review`` it needs no model.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.datasets import load
from xander.bench.metrics import evaluate_prediction
from xander.cues import question_cues
from xander.diagnostic import Diagnostic
from xander.engines import open_engine
from xander.errors import XanderError
from xander.scoring import Candidate
from xander.select import SelectWeights, choose

DATA = ROOT.parent / "shared" / "data" / "spider"


@dataclass
class Pool:
    rec: dict[str, Any]
    cands: list[Candidate]
    right: dict[str, bool]  # by SQL, for the ok candidates
    seed_of: dict[int, int]  # node -> the seed whose sample made it (sample nodes only)


def _candidate(c: dict[str, Any], engine: Any) -> Candidate:
    diags = [Diagnostic("replay", w, w, "warning") for w in c.get("warnings") or []]
    result = None
    if c["ok"]:
        try:
            result = engine.execute(c["sql"], timeout=10.0, max_rows=10_000)
        except XanderError as exc:
            diags.append(Diagnostic("replay", "error", str(exc)))
    elif c.get("error"):
        diags.append(Diagnostic("replay", "error", c["error"]))
    return Candidate(c["sql"], c["logprob"], c["n_tokens"], tuple(diags), result,
                     tuple(c.get("repairs") or ()), c.get("node", -1),
                     meta={"origin": c.get("origin", "tree"), "seeds": tuple(c.get("votes") or ())})


def load_pools(runs: Sequence[Path], data: Path, file: str | None) -> list[Pool]:
    examples, _ = load(data, file)
    by_id = {e.id: e for e in examples}
    pools = []
    engines: dict[str, Any] = {}
    for run in runs:
        for line in run.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("correct") is None or "candidates" not in rec:
                continue
            ex = by_id[rec["id"]]
            if ex.db_id not in engines:
                engines[ex.db_id] = open_engine(ex.db_path)
            engine = engines[ex.db_id]
            cands = [_candidate(c, engine) for c in rec["candidates"]]
            right = {}
            for c in cands:
                if c.ok and c.sql not in right:
                    right[c.sql] = bool(evaluate_prediction(engine, ex.gold_sql, c.sql,
                                                               keep_distinct=True).correct)
            seed_of = {}
            for c in cands:
                if c.meta["origin"] == "sample" and not c.repairs and c.meta["seeds"]:
                    seed_of[c.node_id] = min(c.meta["seeds"])
            pools.append(Pool(rec, cands, right, seed_of))
    return pools


def _clean(c: Candidate) -> bool:
    return c.ok and not any(d.severity == "warning" for d in c.diagnostics)


def reviews(pools: Sequence[Pool], path: Path) -> dict[str, float]:
    """``xander.review.review`` of every ok candidate, cached in ``path`` (the embedded model
    computes what the cache lacks)."""
    cache: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    todo = [(p.rec["question"], c.sql) for p in pools for c in p.cands if c.ok]
    todo = [(q, sql) for q, sql in dict.fromkeys(todo) if f"{q}\n{sql}" not in cache]
    if todo:
        from xander.lm.registry import load_lm
        from xander.review import review

        lm = load_lm("embedded")
        for i, (q, sql) in enumerate(todo):
            cache[f"{q}\n{sql}"] = review(lm, sql, q)  # type: ignore[arg-type]
            if i % 200 == 199:
                path.write_text(json.dumps(cache))
        path.write_text(json.dumps(cache))
    return cache


def pick(pool: Pool, n: int, vote: float, below: float, resolve: str, sharpness: float = 1.0,
         review: float = 0.0,
         scores: dict[str, float] | None = None) -> tuple[Candidate | None, bool, int]:
    """(answer, some kept candidate right, samples drawn) under one setting."""
    tree = [c for c in pool.cands if c.meta["origin"] == "tree"]
    question = pool.rec["question"]
    cues = question_cues(question)
    first = choose(tree, SelectWeights(), cues)
    if n == 0 or first.confidence >= below:
        kept, n = tree, 0
    else:
        kept = [c for c in pool.cands
                if c.meta["origin"] == "tree" or pool.seed_of.get(c.node_id, 99) < n]
    votes: dict[int, list[int]] = {}
    for i, c in enumerate(kept):
        seeds = [s for s in c.meta["seeds"] if s < n]
        if not seeds:
            continue
        target = i
        if resolve == "clean" and not _clean(c):
            fixes = [j for j, f in enumerate(kept) if _clean(f) and f.node_id == c.node_id
                     and f.repairs[:len(c.repairs)] == c.repairs
                     and len(f.repairs) > len(c.repairs)]
            if fixes:
                target = fixes[0]
        votes.setdefault(target, []).extend(seeds)
    cands = [Candidate(c.sql, c.logprob, c.n_tokens, c.diagnostics, c.result, c.repairs,
                       c.node_id, meta={"votes": tuple(votes.get(i, ())),
                                        "review": (scores or {}).get(f"{question}\n{c.sql}",
                                                                     0.0)})
             for i, c in enumerate(kept)]
    sel = choose(cands, SelectWeights(vote=vote, sharpness=sharpness, review=review), cues)
    oracle = any(pool.right.get(c.sql, False) for c in cands if c.ok)
    return sel.answer, oracle, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--file", default=None)
    ap.add_argument("--vote", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--samples", type=int, nargs="+", default=[0, 2, 4, 8])
    ap.add_argument("--below", type=float, nargs="+", default=[1.0])
    ap.add_argument("--resolve", nargs="+", default=["own", "clean"])
    ap.add_argument("--sharpness", type=float, nargs="+", default=[1.0])
    ap.add_argument("--review", type=Path, default=None,
                    help="cache of reviewer scores (computed with the embedded model if absent)")
    ap.add_argument("--review-weight", type=float, nargs="+", default=[0.0])
    args = ap.parse_args()
    pools = load_pools(args.runs, args.data, args.file)
    scores = reviews(pools, args.review) if args.review else None
    n_q = len(pools)
    run_right = sum(bool(p.rec["correct"]) for p in pools)
    mean_len = [c.n_tokens for p in pools for c in p.cands if c.meta["origin"] == "sample"]
    per_sample = sum(mean_len) / len(mean_len) if mean_len else 0.0
    steps = sum(p.rec.get("expansions", 0) for p in pools) / max(1, n_q)
    print(f"{n_q} questions from {', '.join(str(r) for r in args.runs)}")
    print(f"the run's own answers: EX {run_right / n_q:.3f}; LM steps/q in the run {steps:.1f}, "
          f"a sampled query ~{per_sample:.0f} tokens\n")
    print("| samples | vote | below | resolve | sharpness | review | EX | oracle | sampled/q |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for n, vote, below, resolve, sharp, rw in itertools.product(
            args.samples, args.vote, args.below, args.resolve, args.sharpness,
            args.review_weight):
        if n == 0 and (vote, below, resolve) != (args.vote[0], args.below[0], args.resolve[0]):
            continue
        right = oracle = drawn = 0
        for p in pools:
            ans, orc, k = pick(p, n, vote, below, resolve, sharp, rw, scores)
            right += bool(ans is not None and ans.ok and p.right.get(ans.sql, False))
            oracle += orc
            drawn += k
        print(f"| {n} | {vote:g} | {below:g} | {resolve} | {sharp:g} | {rw:g} | "
              f"{right / n_q:.3f} | "
              f"{oracle / n_q:.3f} | {drawn / n_q:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
