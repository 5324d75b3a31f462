"""The benchmark runner: predictions for Spider/BIRD questions, scored with the official metrics.

Each (question, mode) gives one JSON line appended to the run file as soon as it is scored
(flushed and fsynced), so a killed run loses at most the line being written; starting the same
command again skips every (id, mode) already in the file and drops a torn last line.

Modes: ``greedy``; ``search``; ``search-no-<checker>`` and ``search-no-repair`` (ablations);
any mode with ``+examples`` appended is the seed paper's "with examples" setting, in which one
row of the gold result is given as an example tuple.  That uses the gold at inference time and
is reported apart from the standard setting.

Every record carries ``commit``: the code it ran at (``code_commit()``, taken when the run
starts; ``+dirty`` when tracked files differ from that commit).

Parallelism: ``workers`` processes each load their own model (llama.cpp: the cores are split
between them); ``concurrency`` keeps that many questions in flight as threads of one process
sharing one backend, which is what batching backends (vLLM in-process, OpenAI-compatible
servers) need to fill their batches.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from xander.bench.datasets import Example, Skipped, filter_examples, load, sample
from xander.bench.metrics import evaluate_prediction
from xander.checkers import CHECKER_NAMES
from xander.config import Config
from xander.errors import InputError, LMServerError, XanderError

WITH_EXAMPLES = "+examples"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to run.  Every field is a ``xander bench`` option."""

    data: Path
    out: Path
    modes: tuple[str, ...] = ("greedy",)
    file: str | None = None
    limit: int | None = None
    seed: int = 0
    db_filter: tuple[str, ...] = ()
    difficulty: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    """Only these question ids (``dev-30``), taken from the sample ``limit`` and ``seed`` drew:
    the questions a change can affect, rerun (the search is deterministic, so the others keep
    their answers)."""
    model: str = "embedded"
    workers: int = 1
    concurrency: int = 1
    keep_distinct: bool = True
    timeout: float = 30.0
    config: Config = Config()
    target: str = ""
    """Where predictions run: a ``--db`` target in which ``{db_id}`` (``{db_id_lower}``) stands
    for the question's database (``postgresql://127.0.0.1/{db_id_lower}``), or one target for every question (a catalog
    of all the databases); empty: the question's own database file.  The gold always runs on
    the benchmark's own file."""
    schemas: tuple[str, ...] = ()
    """Schemas the target serves (``--schema``; ``{db_id}`` allowed)."""


def mode_config(mode: str, base: Config) -> tuple[str, Config, bool]:
    """``(ask mode, config, with_examples)`` for a mode name.

    >>> mode_config("search-no-repair", Config())[1].search.repair
    False
    >>> mode_config("search-no-identifiers+examples", Config())[1].search.disabled_checkers
    ('identifiers',)
    """
    with_examples = mode.endswith(WITH_EXAMPLES)
    name = mode.removesuffix(WITH_EXAMPLES)
    if name == "greedy":
        return "greedy", base, with_examples
    if name in ("greedy-grammar", "greedy-schema-grammar"):  # constrained decoding
        kind = "sql" if name == "greedy-grammar" else "schema"
        return "greedy", base.with_overrides(lm={"grammar": kind}), with_examples
    if name == "search":
        return "search", base, with_examples
    if name == "search-unchunked":
        return "search", base.with_overrides(search={"chunked": False}), with_examples
    if name.startswith("search-no-"):
        off = name.removeprefix("search-no-")
        if off == "repair":
            return "search", base.with_overrides(search={"repair": False}), with_examples
        if off in CHECKER_NAMES:
            disabled = tuple(dict.fromkeys((*base.search.disabled_checkers, off)))
            return "search", base.with_overrides(search={"disabled_checkers": disabled}), \
                with_examples
    raise InputError(
        f"unknown mode {mode!r}",
        "use greedy, greedy-grammar, greedy-schema-grammar, search, search-unchunked, "
        "search-no-repair or search-no-<checker> "
        f"({', '.join(CHECKER_NAMES)}), optionally with {WITH_EXAMPLES}",
    )


def select_examples(spec: RunSpec) -> tuple[list[Example], list[Skipped]]:
    examples, skipped = load(spec.data, spec.file)
    examples = filter_examples(examples, spec.db_filter or None, spec.difficulty or None)
    if spec.limit is not None:
        examples = sample(examples, spec.limit, spec.seed)
    if spec.ids:
        wanted = set(spec.ids)
        unknown = sorted(wanted - {e.id for e in examples})
        if unknown:
            raise InputError(f"no question {unknown[0]!r} in {spec.file or 'the question file'}"
                             + (" (or not in the seeded sample)" if spec.limit else ""),
                             "ids are <file stem>-<position>, e.g. dev-30")
        examples = [e for e in examples if e.id in wanted]
    return examples, skipped


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a run file; a torn last line (killed mid-write) is dropped."""
    if not path.is_file():
        return []
    records = []
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _repair_tail(path: Path) -> None:
    """Cut a torn last line so appended records start on a fresh line."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        fh.truncate(data.rfind(b"\n") + 1)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def _checkout() -> Path | None:
    """The git work tree this module is tracked in (None for an installed copy)."""
    here = Path(__file__).resolve()
    try:
        if _git(here.parent, "ls-files", "--error-unmatch", here.name).returncode != 0:
            return None
        top = _git(here.parent, "rev-parse", "--show-toplevel")
    except OSError:
        return None
    return Path(top.stdout.strip()) if top.returncode == 0 else None


def code_commit(root: Path | None = None) -> str:
    """The commit the code runs at, as a short hash; ``+dirty`` when any tracked file outside
    ``benchmarks/results/`` differs from it (code, grammars, configs, scripts: untracked files
    are not counted); ``unknown`` outside a git checkout (e.g. an installed package).

    ``root``: the work tree (default: the one holding this module).
    """
    root = root or _checkout()
    if root is None:
        return "unknown"
    try:
        rev = _git(root, "rev-parse", "--short", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".",
                     ":(exclude)benchmarks/results")
    except OSError:
        return "unknown"
    if rev.returncode != 0 or dirty.returncode != 0:
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# -- prediction (runs in worker processes) ---------------------------------------------------------
#: one per target, schemas served, model and thread (``--schema {db_id}`` on one catalog file
#: serves each question's database: the schemas are part of the key)
_XANDERS: dict[tuple[str, tuple[str, ...], str, int], Any] = {}


def predict(example: Example, mode: str, spec: RunSpec) -> dict[str, Any]:
    """Answer one question in one mode and score it; never raises for a model failure, but an
    ``LMServerError`` (the server is down or broken) stops the run so a rerun resumes it."""
    from xander.api import Xander

    ask_mode, cfg, with_examples = mode_config(mode, spec.config)
    target = _fill(spec.target, example.db_id)
    schemas = tuple(_fill(s, example.db_id) for s in spec.schemas)
    key = (target or str(example.db_path), schemas, spec.model, threading.get_ident())
    if key not in _XANDERS:
        _XANDERS[key] = Xander(target or example.db_path, model=spec.model, config=cfg,
                               schemas=schemas or None)
    xander = _XANDERS[key]
    xander.config = cfg
    gold_engine = _gold_engine(example) if target else xander.engine
    examples: list[tuple[str, ...]] = []
    if with_examples:  # the paper's setting: one gold row is given (uses the gold!)
        try:
            gold = gold_engine.execute(example.gold_sql, timeout=spec.timeout, max_rows=1)
            if gold.rows:
                examples = [tuple("NULL" if v is None else str(v) for v in gold.rows[0])]
        except XanderError:
            pass
    start = time.perf_counter()
    try:
        result = xander.ask(example.question, evidence=example.evidence, examples=examples,
                            mode=ask_mode)
        pred, res = result.sql, result.to_dict()
        res.pop("rows", None)
        res.pop("columns", None)
    except LMServerError:
        raise  # not the question's fault: no record, the same command resumes it later
    except XanderError as exc:
        pred, res = "", {"error": str(exc), "seconds": time.perf_counter() - start}
    except Exception as exc:  # noqa: BLE001 - one bad question must not end a long run
        pred, res = "", {"error": f"internal error: {type(exc).__name__}: {exc}",
                         "seconds": time.perf_counter() - start}
    outcome = evaluate_prediction(
        xander.engine, example.gold_sql, pred or "SELECT NULL WHERE 0",
        benchmark="bird" if example.benchmark == "bird" else "spider",
        timeout=spec.timeout, keep_distinct=spec.keep_distinct, gold_engine=gold_engine,
    )
    res["ask_mode"] = res.pop("mode", ask_mode)  # the run's mode name below must win
    # the pool's oracle: some distinct result of the pool is right (its best member each)
    oracle = bool(outcome.correct)
    for group in res.get("pool") or []:
        if oracle:
            break
        sql = group["members"][0]
        if sql != pred:
            oracle = bool(evaluate_prediction(
                xander.engine, example.gold_sql, sql,
                benchmark="bird" if example.benchmark == "bird" else "spider",
                timeout=spec.timeout, keep_distinct=spec.keep_distinct,
                gold_engine=gold_engine).correct)
    res["oracle"] = oracle
    return {
        "id": example.id, "mode": mode, "db_id": example.db_id,
        "difficulty": example.difficulty, "question": example.question,
        "evidence": example.evidence, "gold": example.gold_sql, "pred": pred,
        "correct": outcome.correct, "exec_error": outcome.pred_error,
        "gold_error": outcome.gold_error, "soft_f1": outcome.soft_f1,
        "pred_seconds": outcome.pred_seconds, "gold_seconds": outcome.gold_seconds,
        "examples_given": examples,
        **{k: v for k, v in res.items() if k not in ("question", "mode", "id")},
    }


def _fill(template: str, db_id: str) -> str:
    """``template`` with ``{db_id}`` (or ``{db_id_lower}``: PostgreSQL copies are named in lower
    case by benchmarks/pg_load.py) replaced by the question's database.

    >>> _fill("postgresql://127.0.0.1/{db_id_lower}", "cre_Doc_Template_Mgt")
    'postgresql://127.0.0.1/cre_doc_template_mgt'
    """
    return template.replace("{db_id_lower}", db_id.lower()).replace("{db_id}", db_id)


_GOLD: dict[tuple[str, int], Any] = {}  # the benchmark's own database, per file and thread


def _gold_engine(example: Example) -> Any:
    """The question's own database (where the gold runs when predictions run elsewhere)."""
    from xander.engines import open_engine

    key = (str(example.db_path), threading.get_ident())
    if key not in _GOLD:
        _GOLD[key] = open_engine(example.db_path)
    return _GOLD[key]


def _worker_init(threads: int) -> None:
    os.environ.setdefault("XANDER_THREADS", str(threads))


# -- the run ---------------------------------------------------------------------------------------
def pending(spec: RunSpec, examples: Sequence[Example]) -> list[tuple[Example, str]]:
    """(question, mode) pairs not yet in the run file, grouped by database within each mode so
    consecutive questions share the prompt's schema prefix in the LM's cache."""
    done = {(r["id"], r["mode"]) for r in read_records(spec.out)}
    order = {db: i for i, db in enumerate(dict.fromkeys(ex.db_id for ex in examples))}
    return [(ex, m) for m in spec.modes
            for ex in sorted(examples, key=lambda e: order[e.db_id])
            if (ex.id, m) not in done]


def run(spec: RunSpec, on_record: Callable[[dict[str, Any]], None] | None = None,
        progress: bool = True) -> list[dict[str, Any]]:
    """Run what is missing from ``spec.out``; return every record of the file."""
    for m in spec.modes:
        mode_config(m, spec.config)  # fail early on a bad mode name
    commit = code_commit()  # the code that runs, taken before the run
    examples, skipped = select_examples(spec)
    todo = pending(spec, examples)
    spec.out.parent.mkdir(parents=True, exist_ok=True)
    _repair_tail(spec.out)
    meta = spec.out.with_suffix(".meta.json")
    if not meta.exists():
        meta.write_text(json.dumps({
            "spec": {k: str(v) for k, v in asdict(replace(spec, config=Config())).items()},
            "config": asdict(spec.config),
            "skipped": [asdict(s) for s in skipped],
            "n_examples": len(examples),
        }, indent=1, default=str))
    bar = _progress(len(todo), progress)
    correct = total = 0
    try:
        with spec.out.open("a", encoding="utf-8") as fh:
            for record in _results(todo, spec):
                record["commit"] = commit
                fh.write(json.dumps(record, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
                total += 1
                correct += bool(record["correct"])
                if bar is not None:
                    bar.set_postfix_str(f"EX {correct / total:.3f} ({record['mode']})")
                    bar.update(1)
                if on_record is not None:
                    on_record(record)
    finally:
        if bar is not None:
            bar.close()  # ends the bar's line, so an error message gets a line of its own
    return read_records(spec.out)


def _progress(n: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=n, unit="q", dynamic_ncols=True)


def _results(todo: list[tuple[Example, str]], spec: RunSpec) -> Iterator[dict[str, Any]]:
    if spec.concurrency <= 1 and spec.workers <= 1:
        for ex, mode in todo:
            yield predict(ex, mode, spec)
        return
    pool: ThreadPoolExecutor | ProcessPoolExecutor
    if spec.concurrency > 1:  # threads sharing one backend; records in finishing order
        pool, order = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="xander-q"), as_completed
    else:  # processes, each with its own model and a share of the cores
        threads = max(1, (os.cpu_count() or 2) // spec.workers)
        pool = ProcessPoolExecutor(spec.workers, initializer=_worker_init, initargs=(threads,))
        order = iter
    with pool:
        futures: list[Future] = [pool.submit(predict, ex, mode, spec) for ex, mode in todo]
        try:
            for fut in order(futures):
                yield fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # a dead server: stop, do not drain
            raise


# -- summaries -------------------------------------------------------------------------------------
def summarize(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mode: n, EX, execution-error rate, time percentiles, LM tokens, checker share."""
    out: dict[str, dict[str, Any]] = {}
    for mode in dict.fromkeys(r["mode"] for r in records):
        rs = [r for r in records if r["mode"] == mode and r["correct"] is not None]
        if not rs:
            continue
        secs = sorted(float(r.get("seconds") or 0.0) for r in rs)
        timings = [r.get("timings") or {} for r in rs]
        total_s = sum(t.get("total", 0.0) for t in timings) or 1e-9
        tokens = [r.get("lm_tokens") or {} for r in rs]
        out[mode] = {
            "n": len(rs),
            "ex": sum(bool(r["correct"]) for r in rs) / len(rs),
            "exec_error": sum(r["exec_error"] is not None for r in rs) / len(rs),
            "median_s": statistics.median(secs),
            "p90_s": secs[min(len(secs) - 1, int(0.9 * len(secs)))],
            "mean_s": sum(secs) / len(secs),
            "lm_tokens": sum(t.get("evaluated", 0) for t in tokens)
            / len(rs),
            "lm_share": sum(t.get("lm", 0.0) for t in timings) / total_s,
            "checker_share": sum(t.get("checkers", 0.0) for t in timings) / total_s,
            "gold_errors": sum(r["gold_error"] is not None for r in records
                               if r["mode"] == mode),
            # the pool's oracle (some candidate's result is right): records before it was kept
            # count their answer alone
            "oracle": sum(bool(r.get("oracle", r["correct"])) for r in rs) / len(rs),
            "expansions": sum(int(r.get("expansions") or 0) for r in rs) / len(rs),
            # BIRD's Soft-F1 (row/cell overlap with the gold); a prediction that fails scores 0,
            # as in BIRD's evaluator (its error row matches no gold cell)
            "soft_f1": (sum(float(r.get("soft_f1") or 0.0) for r in rs) / len(rs)
                        if any(r.get("soft_f1") is not None for r in rs) else None),
        }
    return out
