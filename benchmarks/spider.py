"""Run xander on Spider (or BIRD) and write a report under benchmarks/results/<name>/.

Examples (the commands behind the committed reports):

    python benchmarks/spider.py --name search_vs_greedy_200 --limit 200 \\
        --mode greedy --mode search --mode search-no-identifiers --mode search-no-repair
    python benchmarks/spider.py --name spider_dev_full --mode greedy --mode search

The run file (JSONL) is resumable: run the same command again after an interruption.  The
report states the command, model, machine and commit that produced it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xander.bench.report import coverage, cpu_name, write_report
from xander.bench.runner import RunSpec, code_commit, run, select_examples, summarize
from xander.config import load_config

DEFAULT_DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data")) / "spider"


def _machine() -> str:
    cpu = cpu_name() or platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, no GPU"


def _backend(spec: str) -> str:
    if spec.startswith("openai:"):
        return "OpenAI-compatible server " + spec.removeprefix("openai:")
    if spec.startswith("vllm:"):
        return "vLLM in-process"
    return "llama.cpp in-process"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--file", default=None)
    ap.add_argument("--mode", action="append", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db-filter", action="append", default=None,
                    help="only questions about these db_ids (repeatable)")
    ap.add_argument("--id", action="append", default=None, dest="ids",
                    help="only these question ids (dev-30), from the sample (repeatable)")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=1,
                    help="questions in flight (threads sharing one backend: vLLM, servers)")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--target", default="",
                    help="where predictions run: a --db target, {db_id} ({db_id_lower}) for the question's "
                         "database (postgresql://127.0.0.1:5432/{db_id}); the gold runs on "
                         "the benchmark's own file")
    ap.add_argument("--schema", action="append", default=None,
                    help="schemas the target serves (repeatable; {db_id} allowed; 'dev' = "
                         "every database of the question file)")
    args = ap.parse_args()
    commit = code_commit(ROOT)  # the code that runs (any tracked change but results: +dirty)
    out_dir = ROOT / "benchmarks" / "results" / args.name
    cfg = load_config(args.config)
    spec = RunSpec(data=args.data, out=out_dir / "run.jsonl", modes=tuple(args.mode or ["greedy"]),
                   file=args.file, limit=args.limit, seed=args.seed, model=args.model,
                   db_filter=tuple(args.db_filter or ()), ids=tuple(args.ids or ()),
                   workers=args.workers, concurrency=args.concurrency, config=cfg,
                   target=args.target)
    schemas = tuple(args.schema or ())
    if schemas == ("dev",):  # every database the questions are about: a catalog of them all
        every, _ = select_examples(replace(spec, limit=None, db_filter=()))
        schemas = tuple(sorted({e.db_id for e in every}))
    spec = replace(spec, schemas=schemas)
    from xander.bench.runner import read_records

    before = len(read_records(spec.out))
    start = time.perf_counter()
    records = run(spec)
    wall = time.perf_counter() - start
    command = "python benchmarks/spider.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    from xander.lm.registry import load_lm

    model = load_lm(args.model).name if args.model else args.model
    n_q = len({r["id"] for r in records})
    if args.ids:
        questions = (f"{n_q} questions chosen by id"
                     + (f" from a seeded sample (seed {args.seed})" if args.limit else ""))
    elif args.limit:
        questions = f"{n_q} questions, seeded sample (seed {args.seed})"
    else:
        examples, skipped = select_examples(spec)
        questions = coverage(n_q, len(examples) + len(skipped), [asdict(s) for s in skipped])
    header = "\n".join([
        f"- command: `{command}`",
        f"- data: `{args.data}` ({args.file or 'dev.json'}), {questions}",
        f"- model: {model} ({_backend(args.model)}, CPU)",
        *([f"- predictions run on: `{args.target}`"
           + (f", schemas {', '.join(spec.schemas)}" if spec.schemas else "")
           + "; gold on the benchmark's SQLite files"] if args.target else []),
        f"- machine: {_machine()}",
        f"- commit: {commit}",
        ("- metric: Spider test-suite execution accuracy (multiset; order only when the gold has "
        "ORDER BY; columns matched by permutation; DISTINCT kept) / BIRD EX for BIRD data"),
        (f"- this invocation: {len(records) - before} records in {wall / 60:.1f} min wall clock "
        f"(model load included), concurrency {args.concurrency}, workers {args.workers}"),
        ("- modes ending in +examples get one gold result row as an example tuple (the seed "
        "paper's setting); all other modes never see the gold."),
    ])
    path = write_report(records, out_dir, f"xander on {args.data.name}: {args.name}", header)
    for m, s in summarize(records).items():
        print(f"{m:28s} n={s['n']:4d} EX={s['ex']:.3f} exec_err={s['exec_error']:.3f} "
              f"median={s['median_s']:.2f}s p90={s['p90_s']:.2f}s tokens={s['lm_tokens']:.0f} "
              f"checkers={s['checker_share']:.1%}")
    print(f"report: {path}")


if __name__ == "__main__":
    main()
