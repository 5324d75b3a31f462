"""Check xander's Spider and BIRD execution metrics against the official evaluators, pair by pair.

    PYTHONPATH=/tmp/official/pylib python benchmarks/official_agreement.py \\
        --run benchmarks/results/search_vs_greedy_200/run.jsonl \\
        --spider-eval /tmp/official/spider --bird-eval /tmp/official/bird/evaluation

``--spider-eval``: a checkout of github.com/taoyds/test-suite-sql-eval (its ``exec_eval.py`` and
``parse.py``).  ``--bird-eval``: the ``evaluation/`` folder of github.com/bird-bench/mini_dev
(``evaluation_ex.py``, ``evaluation_f1.py``, ``evaluation_utils.py``).  Their modules are imported
from those folders at run time; this file holds none of their code.  Their own requirements must
be importable (``sqlparse`` and ``tqdm`` for Spider, ``func_timeout`` for BIRD; e.g. installed
with ``pip install --target DIR`` and put on ``PYTHONPATH``).  ``psycopg2`` / ``pymysql``, which
``evaluation_utils`` imports for its PostgreSQL / MySQL modes only, are stubbed when missing.

Three comparisons, each with DISTINCT kept and removed where Spider is concerned:

1. the run file: official ``eval_exec_match`` vs ``evaluate_prediction`` on every record (the
   prediction is passed as ``evaluation.py`` reads it from its one-line-per-query file, with
   ``value`` -> ``1``), plus the run's recorded ``correct`` vs our recomputed verdict;
2. Spider probes: perturbations of dev gold queries (itself, DISTINCT added / removed, ORDER BY
   dropped / flipped, LIMIT changed, columns reversed, another gold, spaced operators, ``value``,
   a second statement, trailing junk);
3. BIRD probes: the same kind of perturbations of the gold queries on every BIRD database present,
   scored by the official ``calculate_ex`` (set equality) and Mini-Dev ``calculate_f1_score``.

Writes ``benchmarks/results/official_agreement/report.md`` (``--out``); exits 1 when any pair
disagrees.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import sys
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlglot

from xander.bench.metrics import evaluate_prediction, remove_distinct
from xander.engines import open_engine
from xander.engines.base import Engine

DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data"))
EMPTY_PRED = "SELECT NULL WHERE 0"  # what the runner scores when the model gave no SQL
MAX_LISTED = 25
PER_KIND = 4


# -- loading the official code ----------------------------------------------------------------------
def _import_from(folder: Path, *names: str) -> list[types.ModuleType]:
    if not folder.is_dir():
        sys.exit(f"error: {folder} is not a folder")
    sys.path.insert(0, str(folder))
    try:
        return [importlib.import_module(n) for n in names]
    except ModuleNotFoundError as exc:
        sys.exit(f"error: cannot import the official evaluator from {folder}: {exc}\n"
                 "  install its requirements (sqlparse, tqdm, func_timeout) somewhere on PYTHONPATH")


def load_spider_eval(folder: Path) -> tuple[Callable[..., int], Callable[[str], str]]:
    exec_eval, parse = _import_from(folder, "exec_eval", "parse")
    return exec_eval.eval_exec_match, parse.remove_distinct


def load_bird_eval(folder: Path) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    if (folder / "evaluation" / "evaluation_ex.py").exists():
        folder = folder / "evaluation"
    for name in ("psycopg2", "pymysql"):  # imported at the top, used only for PostgreSQL / MySQL
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    utils, ex, f1 = _import_from(folder, "evaluation_utils", "evaluation_ex", "evaluation_f1")
    return utils.execute_sql, ex.calculate_ex, f1.calculate_f1_score


# -- perturbations --------------------------------------------------------------------------------
def _reverse_columns(sql: str) -> str | None:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:  # noqa: BLE001 - a probe we cannot build is skipped
        return None
    if not isinstance(tree, sqlglot.exp.Select) or len(tree.expressions) < 2:
        return None
    tree.set("expressions", list(reversed(tree.expressions)))
    return tree.sql(dialect="sqlite")


def _select_head(prefix: str, sql: str) -> str:
    return re.sub(r"(?i)^\s*select\s+(distinct\s+)?", prefix, sql, count=1)


def probes(gold: str, other: str) -> Iterator[tuple[str, str]]:
    """(kind, prediction) pairs built from one gold query; ``other`` is another question's gold."""
    base = gold.rstrip().rstrip(";")
    order = re.search(r"(?i)\border\s+by\b", gold)
    yield "same", gold
    yield "add_distinct", _select_head("SELECT DISTINCT ", gold)
    yield "del_distinct", re.sub(r"(?i)\bdistinct\b", "", gold)
    if order:
        yield "no_order", re.sub(r"(?i)\border\s+by\b.*?(?=\blimit\b|\)|$)", "", gold, count=1)
        yield "flip_order", (re.sub(r"(?i)\bdesc\b", "ASC", gold) if re.search(r"(?i)\bdesc\b", gold)
                             else re.sub(r"(?i)(\border\s+by\b.*?)(?=\blimit\b|\)|;|$)", r"\1 DESC ",
                                         gold, count=1))
    yield "limit", (re.sub(r"(?i)\blimit\s+\d+", "LIMIT 3", gold) if re.search(r"(?i)\blimit\b", gold)
                    else base + " LIMIT 1")
    swapped = _reverse_columns(gold)
    if swapped:
        yield "reverse_columns", swapped
    yield "extra_column", _select_head(r"SELECT \g<1>1, ", gold)
    yield "duplicate_rows", f"SELECT * FROM ({base}) UNION ALL SELECT * FROM ({base})"
    yield "other_gold", other
    yield "spaced_operators", gold.replace(">=", "> =").replace("<=", "< =").replace("!=", "! =")
    number = re.sub(r"([=<>]\s*)\d+\b", r"\1value", gold, count=1)
    if number != gold:
        yield "value_placeholder", number
    yield "second_statement", base + "; SELECT 1"
    yield "trailing_junk", gold + " junk"


def _another(golds: list[str], gold: str, i: int) -> str:
    """A gold query of the same database that is not ``gold`` (``gold`` if there is none)."""
    others = [g for g in dict.fromkeys(golds) if _flat(g) != _flat(gold)]
    return others[i % len(others)] if others else gold


def _flat(sql: str) -> str:
    return " ".join(sql.split())


# -- Spider -----------------------------------------------------------------------------------------
class SpiderCheck:
    def __init__(self, folder: Path, database: Path, timeout: float) -> None:
        self.eval_exec_match, self.official_remove_distinct = load_spider_eval(folder)
        self.database = database
        self.timeout = timeout
        self.engines: dict[str, Engine] = {}

    def db_path(self, db_id: str) -> Path:
        return self.database / db_id / f"{db_id}.sqlite"

    def official(self, db_id: str, gold: str, pred: str, keep_distinct: bool) -> bool | str:
        # evaluation.py reads one query a line and replaces 'value' by '1' before the call.
        p_str = _flat(pred).replace("value", "1")
        try:
            return bool(self.eval_exec_match(str(self.db_path(db_id)), p_str, gold, False,
                                             keep_distinct, False))
        except Exception as exc:  # noqa: BLE001 - e.g. its assertion that the gold runs
            return f"official error: {type(exc).__name__}: {exc}"

    def ours(self, db_id: str, gold: str, pred: str, keep_distinct: bool) -> bool | None:
        path = str(self.db_path(db_id))
        if path not in self.engines:
            self.engines[path] = open_engine(path)
        return evaluate_prediction(self.engines[path], gold, pred, benchmark="spider",
                                   timeout=self.timeout, keep_distinct=keep_distinct).correct

    def explain(self, gold: str, pred: str, keep_distinct: bool) -> str:
        if not keep_distinct:
            for name, sql in (("prediction", _flat(pred).replace("value", "1")), ("gold", gold)):
                try:
                    theirs = self.official_remove_distinct(sql)
                except Exception as exc:  # noqa: BLE001
                    return f"official DISTINCT removal fails on the {name}: {exc}"
                if _flat(theirs) != _flat(remove_distinct(sql)):
                    return (f"DISTINCT removal of the {name} differs: official {theirs!r}, "
                            f"ours {remove_distinct(sql)!r}")
        if "--" in pred and "\n" in pred:
            return "the prediction has a '--' comment and is flattened to one line for evaluation.py"
        return "unexplained"

    def test_suite_folders(self) -> int:
        return sum(1 for d in self.database.iterdir()
                   if d.is_dir() and len(list(d.glob("*.sqlite"))) > 1)


def check_run(sp: SpiderCheck, records: list[dict[str, Any]], run_keep_distinct: bool
              ) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    diffs = []
    for r in records:
        if not sp.db_path(r["db_id"]).exists():
            stats[r["mode"]]["skipped (no database)"] += 1
            continue
        pred = r["pred"] or EMPTY_PRED
        s = stats[r["mode"]]
        s["n"] += 1
        for kd in (True, False):
            tag = "kept" if kd else "removed"
            off, ours = sp.official(r["db_id"], r["gold"], pred, kd), sp.ours(
                r["db_id"], r["gold"], pred, kd)
            s[f"agree_{tag}"] += off == ours
            s[f"off_{tag}"] += off is True
            s[f"ours_{tag}"] += ours is True
            if off != ours:
                diffs.append({"where": f"run {r['mode']} {r['id']}", "distinct": tag,
                              "gold": r["gold"], "pred": pred, "official": off, "ours": ours,
                              "why": sp.explain(r["gold"], pred, kd)})
            if kd == run_keep_distinct:
                s["recorded_agree"] += r["correct"] == ours
                if r["correct"] != ours:
                    diffs.append({"where": f"run {r['mode']} {r['id']}", "distinct": tag,
                                  "gold": r["gold"], "pred": pred, "official": off, "ours": ours,
                                  "why": f"recorded correct={r['correct']} differs from recomputed"})
    rows = [[m, s["n"], f"{s['recorded_agree']}/{s['n']}", f"{s['agree_kept']}/{s['n']}",
             f"{s['agree_removed']}/{s['n']}", f"{s['off_kept']} / {s['ours_kept']}",
             f"{s['off_removed']} / {s['ours_removed']}"] for m, s in stats.items()]
    return rows, diffs


def check_spider_probes(sp: SpiderCheck, dev: list[dict[str, Any]], stride: int
                        ) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    by_db: dict[str, list[str]] = defaultdict(list)
    for q in dev:
        by_db[q["db_id"]].append(q["query"])
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    diffs = []
    for i in range(0, len(dev), stride):
        q = dev[i]
        if not sp.db_path(q["db_id"]).exists():
            continue
        for kind, pred in probes(q["query"], _another(by_db[q["db_id"]], q["query"], i)):
            s = stats[kind]
            for kd in (True, False):
                tag = "kept" if kd else "removed"
                off, ours = sp.official(q["db_id"], q["query"], pred, kd), sp.ours(
                    q["db_id"], q["query"], pred, kd)
                s[f"n_{tag}"] += 1
                s[f"agree_{tag}"] += off == ours
                s[f"off_{tag}"] += off is True
                if off != ours:
                    diffs.append({"where": f"probe {kind} dev-{i}", "distinct": tag,
                                  "gold": q["query"], "pred": pred, "official": off,
                                  "ours": ours, "why": sp.explain(q["query"], pred, kd)})
    rows = [[k, s["n_kept"], f"{s['agree_kept']}/{s['n_kept']}", s["off_kept"],
             f"{s['agree_removed']}/{s['n_removed']}", s["off_removed"]] for k, s in stats.items()]
    return rows, diffs


# -- BIRD -------------------------------------------------------------------------------------------
def check_bird(folder: Path, data: Path, timeout: float
               ) -> tuple[list[list[Any]], list[dict[str, Any]], dict[str, Any]]:
    execute_sql, calculate_ex, calculate_f1 = load_bird_eval(folder)
    questions: dict[tuple[str, str], str] = {}
    for name in ("dev.json", "mini_dev_sqlite.json"):
        if (data / name).exists():
            for q in json.loads((data / name).read_text()):
                questions.setdefault((q["db_id"], q["SQL"]), f"{name}:{q['question_id']}")
    by_db: dict[str, list[str]] = defaultdict(list)
    for db_id, sql in questions:
        if (data / "dev_databases" / db_id / f"{db_id}.sqlite").exists():
            by_db[db_id].append(sql)
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    diffs, totals = [], Counter()
    f1_sum_off = f1_sum_ours = max_gap = 0.0
    for db_id, golds in by_db.items():
        path = str(data / "dev_databases" / db_id / f"{db_id}.sqlite")
        engine = open_engine(path)
        for i, gold in enumerate(golds):
            for kind, pred in probes(gold, _another(golds, gold, i)):
                scores = []
                for fn in (calculate_ex, calculate_f1):  # execute_model: an exception scores 0
                    try:
                        scores.append(execute_sql(pred, gold, path, "SQLite", fn))
                    except Exception:  # noqa: BLE001
                        scores.append(0)
                off_ex, off_f1 = scores
                o = evaluate_prediction(engine, gold, pred, benchmark="bird", timeout=timeout)
                ours_ex, ours_f1 = o.correct, (o.soft_f1 if o.soft_f1 is not None else 0)
                s = stats[kind]
                s["n"] += 1
                s["ex_agree"] += bool(off_ex) == (ours_ex is True) and ours_ex is not None
                s["f1_agree"] += off_f1 == ours_f1
                s["off_ex"] += bool(off_ex)
                s["partial"] += 0 < off_f1 < 1
                totals["n"] += 1
                totals["off_ex"] += bool(off_ex)
                totals["ours_ex"] += ours_ex is True
                f1_sum_off += off_f1
                f1_sum_ours += ours_f1
                max_gap = max(max_gap, abs(off_f1 - ours_f1))
                if bool(off_ex) != (ours_ex is True) or ours_ex is None or off_f1 != ours_f1:
                    diffs.append({"where": f"bird {kind} {questions[(db_id, gold)]}",
                                  "distinct": "-", "gold": gold, "pred": pred,
                                  "official": f"EX {off_ex}, F1 {off_f1}",
                                  "ours": f"EX {ours_ex}, F1 {ours_f1}",
                                  "why": o.gold_error or o.pred_error or "unexplained"})
        engine.close()
    rows = [[k, s["n"], f"{s['ex_agree']}/{s['n']}", s["off_ex"], f"{s['f1_agree']}/{s['n']}",
             s["partial"]] for k, s in stats.items()]
    n = max(totals["n"], 1)
    summary = {"databases": sorted(by_db), "questions": sum(len(g) for g in by_db.values()),
               "pairs": totals["n"], "official EX %": round(100 * totals["off_ex"] / n, 2),
               "our EX %": round(100 * totals["ours_ex"] / n, 2),
               "official Soft-F1 %": round(100 * f1_sum_off / n, 4),
               "our Soft-F1 %": round(100 * f1_sum_ours / n, 4),
               "max |Soft-F1 gap|": max_gap}
    return rows, diffs, summary


NOTES = """\
- Spider: `evaluation.py` reads one query a line, so predictions are flattened to one line (a
  `--` comment would then swallow the rest; the report flags it). The official code has no working
  time limit (`asyncio.wait_for` around a synchronous sqlite call) and asserts that the gold runs;
  ours stops at `--timeout` and scores a failing gold `None`. It decodes TEXT with
  `errors="ignore"`, our engine with `errors="replace"`: only byte strings that differ solely in
  invalid UTF-8 could be told apart differently. With test-suite databases (several .sqlite in a
  folder) it checks every copy; `evaluate_prediction` checks one engine.
- Spider, DISTINCT removed: the official `parse.remove_distinct` returns
  `''.join(tokens of sqlparse.parse(s)[0])`, i.e. only the FIRST statement of a query, so
  `SELECT ...; junk` is scored on `SELECT ...;`. Ours keeps the whole text (sqlite then refuses
  a second statement). With DISTINCT kept both send the whole text and agree.
- BIRD: the official script opens a read-write connection with default text decoding (a decode
  error scores 0) and a 30 s `func_timeout`; ours is read-only, `errors="replace"`, `--timeout`.
  A failing gold scores 0 there and `None` here.
"""


# -- report -----------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def diff_section(diffs: list[dict[str, Any]]) -> str:
    if not diffs:
        return "No disagreement.\n"
    why = Counter(d["why"].split(":")[0] for d in diffs)
    out = [f"{len(diffs)} disagreeing pairs; causes: "
           + "; ".join(f"{k} ({v})" for k, v in why.most_common()), ""]
    shown: Counter[str] = Counter()
    listed = 0
    for d in diffs:
        kind = " ".join(d["where"].split()[:2])
        if shown[kind] >= PER_KIND or listed >= MAX_LISTED:
            continue
        shown[kind] += 1
        listed += 1
        out.append(f"- **{d['where']}** (DISTINCT {d['distinct']}): official `{d['official']}`, "
                   f"ours `{d['ours']}`\n  - gold: `{_flat(d['gold'])}`\n"
                   f"  - pred: `{_flat(d['pred'])}`\n  - cause: {d['why']}")
    if len(diffs) > listed:
        out.append(f"- ... {len(diffs) - listed} more not listed")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run", type=Path, help="a Spider run file (JSONL) written by spider.py")
    ap.add_argument("--spider-eval", type=Path, help="checkout of taoyds/test-suite-sql-eval")
    ap.add_argument("--spider-data", type=Path, default=DATA / "spider")
    ap.add_argument("--probe-stride", type=int, default=3,
                    help="probe every Nth Spider dev question (0: no Spider probes)")
    ap.add_argument("--bird-eval", type=Path, help="bird-bench/mini_dev evaluation/ folder")
    ap.add_argument("--bird-data", type=Path, default=DATA / "bird")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "benchmarks" / "results" / "official_agreement" / "report.md")
    args = ap.parse_args()
    if not (args.spider_eval or args.bird_eval):
        ap.error("give --spider-eval and/or --bird-eval")

    command = "python benchmarks/official_agreement.py " + shlex.join(sys.argv[1:])
    parts = ["# Agreement with the official evaluators", "", f"Command: `{command}`", ""]
    all_diffs = 0
    if args.spider_eval:
        sp = SpiderCheck(args.spider_eval, args.spider_data / "database", args.timeout)
        parts += ["## Spider (test-suite `exec_eval.eval_exec_match`)", ""]
        suites = sp.test_suite_folders()
        parts += [f"Database folders holding more than one .sqlite (test-suite copies): {suites}."
                  + (" The official code checks every copy; ours checks only `<db_id>.sqlite`."
                     if suites else " The official code and ours both check `<db_id>.sqlite`."),
                  ""]
        if args.run:
            records = [json.loads(line) for line in args.run.read_text().splitlines() if line]
            meta = args.run.with_suffix(".meta.json")
            kd = True
            if meta.exists():
                kd = json.loads(meta.read_text())["spec"].get("keep_distinct", "True") == "True"
            rows, diffs = check_run(sp, records, kd)
            all_diffs += len(diffs)
            header = ["mode", "n", f"recorded = ours (DISTINCT {'kept' if kd else 'removed'})",
                      "official = ours, DISTINCT kept", "official = ours, DISTINCT removed",
                      "correct kept: official / ours", "correct removed: official / ours"]
            parts += [f"### Run file `{os.path.relpath(args.run, ROOT)}`", "",
                      (f"{len(records)} records; an empty prediction is scored as "
                       f"`{EMPTY_PRED}`, as the runner does."), "", table(header, rows), "", diff_section(diffs)]
            print(table(header, rows))
        if args.probe_stride > 0:
            dev = json.loads((args.spider_data / "dev.json").read_text())
            rows, diffs = check_spider_probes(sp, dev, args.probe_stride)
            all_diffs += len(diffs)
            header = ["probe", "n", "agree, DISTINCT kept", "official correct",
                      "agree, DISTINCT removed", "official correct"]
            parts += [(f"### Probes: perturbed gold queries (every question in "
                       f"{args.probe_stride} that has a database)"), "", table(header, rows), "",
                      diff_section(diffs)]
            print(table(header, rows))
    if args.bird_eval:
        rows, diffs, summary = check_bird(args.bird_eval, args.bird_data, args.timeout)
        all_diffs += len(diffs)
        header = ["probe", "n", "EX agree", "official EX", "Soft-F1 identical",
                  "official 0<F1<1"]
        parts += ["## BIRD (`evaluation_ex.calculate_ex`, `evaluation_f1.calculate_f1_score`)", "",
                  ", ".join(f"{k}: {v}" for k, v in summary.items()) + ".", "",
                  table(header, rows), "", diff_section(diffs)]
        print(table(header, rows))
        print(summary)
    parts += ["## What the pairs above do not exercise", "", NOTES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(parts))
    print(f"{all_diffs} disagreeing pairs; report: {args.out}")
    sys.exit(1 if all_diffs else 0)


if __name__ == "__main__":
    main()
