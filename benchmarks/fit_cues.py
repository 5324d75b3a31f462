"""Fit the question cues (xander/cue_words.py, xander/cues.py) on Spider train; check on dev.

For every cue: how often it fires on the questions, how often the gold query then has the
construct it asks for (precision), how often a gold query with the construct had the cue fire
(recall), and how often a gold query has the construct when the cue does not fire (the rate the
``unasked`` penalty reads).  The suggested penalties are the log-odds of those rates; the ones
``CueWeights`` uses are next to them.  Per-phrase precision shows which words earn their place.

    python benchmarks/fit_cues.py [--train PATH] [--dev PATH] [--check-run run.jsonl]
                                  [--out report.md]

Pure Python and sqlglot, no database; about a minute on one core.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlglot
from sqlglot import exp

from xander import cue_words as words
from xander.conditions import conflicts
from xander.cues import (
    CONSTRUCTS,
    MEETS,
    Cues,
    CueWeights,
    Shape,
    blank,
    clean,
    cue_score,
    find_phrase,
    fired,
    number_stated,
    question_cues,
    shape_of_sql,
    value_stated,
)

#: a cue that fires fewer times on train is not fitted (its weights stay 0)
MIN_FIRES = 30
DATA = ROOT.parent / "shared" / "data" / "spider"
PHRASES = {
    "count": words.COUNT, "superlative": words.SUPERLATIVE, "group": words.PER_GROUP,
    "negation": words.NEGATION, "both": words.BOTH, "distinct": words.DISTINCT,
    "average": words.AVERAGE, "total": words.TOTAL, "order": words.ORDER,
    "descending": words.DESCENDING, "pattern": words.PATTERN, "percentage": words.PERCENTAGE,
    "name": words.NAME,
}


@dataclass
class Tally:
    """Counts for one cue on one split."""

    fired: int = 0
    hit: int = 0  # fired and the gold has the construct
    has: int = 0  # the gold has the construct
    n: int = 0

    @property
    def precision(self) -> float | None:
        return self.hit / self.fired if self.fired else None

    @property
    def recall(self) -> float | None:
        return self.hit / self.has if self.has else None

    @property
    def false_alarms(self) -> float | None:
        """How often the cue fires when the gold query lacks the construct."""
        lacks = self.n - self.has
        return (self.fired - self.hit) / lacks if lacks else None


@dataclass
class Split:
    name: str
    questions: int = 0
    unparsed: int = 0
    cues: dict[str, Tally] = field(default_factory=dict)
    phrases: dict[tuple[str, str], Tally] = field(default_factory=dict)
    outputs: Counter = field(default_factory=Counter)  # (estimate bucket, right?) -> count
    rounding: Tally = field(default_factory=Tally)
    #: questions stating numbers / quoting values (fired), and whose gold states them all (hit)
    numbers: Tally = field(default_factory=Tally)
    values: Tally = field(default_factory=Tally)
    #: gold queries whose WHERE has a conflict (``xander.conditions``), by kind
    conflicts: Counter = field(default_factory=Counter)


def _bucket(n: int) -> str:
    return "3+" if n >= 3 else str(n)


def measure(name: str, examples: Iterable[dict]) -> Split:
    split = Split(name)
    for ex in examples:
        split.questions += 1
        shape = shape_of_sql(ex["query"])
        if shape is None:
            split.unparsed += 1
            continue
        cues = question_cues(ex["question"])
        _tally_cues(split, cues, shape)
        _tally_phrases(split, ex["question"], shape)
        if cues.n_outputs is not None and shape.n_outputs is not None:
            split.outputs[(_bucket(cues.n_outputs), cues.n_outputs == shape.n_outputs)] += 1
        if cues.rounding is not None:
            split.rounding.fired += 1
            split.rounding.hit += "round" in shape.constructs
        if cues.numbers:
            split.numbers.fired += 1
            split.numbers.hit += all(number_stated(n, shape) for n in cues.numbers)
        if cues.values:
            split.values.fired += 1
            split.values.hit += all(value_stated(v, shape) for v in cues.values)
        tree = sqlglot.parse_one(ex["query"], read="sqlite")
        for kind in {c.kind for s in tree.find_all(exp.Select) for c in conflicts(s)}:
            split.conflicts[kind] += 1
    return split


def _count(tally: Tally, on: bool, has: bool) -> None:
    tally.n += 1
    tally.fired += on
    tally.has += has
    tally.hit += on and has


def _tally_cues(split: Split, cues: Cues, shape: Shape) -> None:
    for cue, meets in MEETS:
        has = any(c in shape.constructs for c in meets)
        _count(split.cues.setdefault(cue, Tally()), fired(cues, cue) is not None, has)
    ops = {op for op, _ in cues.directions}
    for op in ("<", ">"):
        _count(split.cues.setdefault(op, Tally()), op in ops, op in shape.constructs)


def _tally_phrases(split: Split, question: str, shape: Shape) -> None:
    text = clean(question)
    rest = blank(text, words.DIRECTION)
    for cue, meets in MEETS:
        has = any(c in shape.constructs for c in meets)
        tried = [(p, "") for p in PHRASES[cue]] + [(p, " (dropped)") for p in
                                                   words.DROPPED.get(cue, ())]
        read = blank(rest, words.TOTAL_NOT) if cue == "total" else rest  # as question_cues
        for phrase, mark in tried:
            if find_phrase(read, (phrase,)) is not None:
                _count(split.phrases.setdefault((cue, phrase + mark), Tally()), True, has)
    tried_ops = [(p, op, "") for p, op in words.DIRECTION.items()]
    tried_ops += [(p, op, " (dropped)") for p, op in words.DROPPED_DIRECTION.items()]
    for phrase, op, mark in tried_ops:
        if find_phrase(text, (phrase,)) is not None:
            key = (op, phrase + mark)
            _count(split.phrases.setdefault(key, Tally()), True, op in shape.constructs)


# -- the report -------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


#: a kept cue's precision on train is at least this
MIN_PRECISION = 0.8
#: no penalty is larger (what a checker warning costs, scoring.Weights.warning)
CAP = 2.0
#: weaker evidence is dropped: ln 3, a Bayes factor of 3 (Jeffreys' "substantial")
FLOOR = round(math.log(3), 1)


def _ln_capped(ratio: float) -> float:
    if ratio <= 0 or math.log(ratio) >= CAP:
        return CAP
    nats = round(math.log(ratio), 1)
    return nats if nats >= FLOOR else 0.0


def rule(t: Tally) -> tuple[float, float]:
    """``CueWeights``' rule: the log likelihood ratios of the cue firing (or not) under "the gold
    query has the construct" against "it lacks it", capped; 0 for a cue that fires fewer than
    ``MIN_FIRES`` times, 0 where the evidence is under ``FLOOR`` nats, and no ``miss`` side for
    a cue whose precision is under ``MIN_PRECISION``.

    miss = ln(recall / false alarms); unasked = ln((1 - false alarms) / (1 - recall)).
    """
    r, f, p = t.recall, t.false_alarms, t.precision
    if t.fired < MIN_FIRES or r is None or f is None or p is None:
        return 0.0, 0.0
    miss = (CAP if f == 0 else _ln_capped(r / f)) if p >= MIN_PRECISION else 0.0
    unasked = CAP if r >= 1 else _ln_capped((1 - f) / (1 - r))
    return miss, unasked


def _used(cue: str) -> tuple[float, float | None]:
    w = CueWeights()
    if cue in ("<", ">"):
        return w.direction_miss, None
    cw = getattr(w, cue)
    return cw.miss, cw.unasked


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    mine = ["xander/cues.py", "xander/cue_words.py", "benchmarks/fit_cues.py"]
    dirty = git("status", "--porcelain", "--", *mine).strip()
    return head + ("+dirty (cue files changed since)" if dirty else "")


def report(train: Split, dev: Split, command: str) -> str:
    out = [
        "# Question cues fitted on Spider train, checked on dev",
        "",
        f"- command: `{command}`",
        f"- commit: {_commit()}",
        (f"- data: train `{train.name}` ({train.questions} questions, {train.unparsed} gold "
         f"queries sqlglot could not parse, skipped); dev `{dev.name}` ({dev.questions}, "
         f"{dev.unparsed} skipped)"),
        ("- precision: of the questions where the cue fires, the share whose gold query has "
         "the construct; recall: of the gold queries with the construct, the share whose "
         "question fired the cue; false alarms: of the gold queries without the construct, the "
         "share whose question fired the cue."),
        ("- rule = `CueWeights`' rule, the log likelihood ratio of the question's wording "
         "under 'the gold has the construct' against 'it lacks it': miss = ln(recall / false "
         "alarms) for a query without the construct when the cue fires, unasked = "
         "ln((1 - false alarms) / (1 - recall)) for a query with it when the cue does not "
         f"fire; capped at {CAP:g} nats, and 0 under {FLOOR:g} (ln 3: weaker evidence is "
         f"dropped); no miss side below {MIN_PRECISION:.0%} train "
         f"precision; 0 for a cue that fires fewer than {MIN_FIRES} times.  used = the "
         "`CueWeights` defaults, marked * where they differ from the rule."),
        "",
        "## Cues",
        "",
        ("| cue | construct | train fires | train precision | train recall | train false alarms "
         "| dev fires | dev precision | dev recall | rule miss / unasked | used miss / unasked |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    meets = dict(MEETS)
    for cue in [c for c, _ in MEETS] + ["<", ">"]:
        t, d = train.cues[cue], dev.cues[cue]
        construct = CONSTRUCTS[cue] if cue in ("<", ">") else " or ".join(meets[cue])
        fit = rule(t)
        miss, unasked = _used(cue)
        rule_text = f"{fit[0]:g} / {fit[1]:g}"
        used = f"{miss:g}{'*' if miss != fit[0] else ''} / "
        if unasked is None:  # directions: the unasked side counts only as the "other way"
            other = CueWeights().direction_opposite
            used += f"{other:g}{'*' if other != fit[1] else ''} (as the other way)"
        else:
            used += f"{unasked:g}{'*' if unasked != fit[1] else ''}"
        out.append(
            f"| {cue} | {construct} | {t.fired} | {_pct(t.precision)} | {_pct(t.recall)} | "
            f"{_pct(t.false_alarms)} | {d.fired} | {_pct(d.precision)} | {_pct(d.recall)} | "
            f"{rule_text} | {used} |"
        )
    out += [
        "",
        "## Number of outputs (the question's estimate against the gold query's columns)",
        "",
        "| estimate | train n | train right | dev n | dev right |",
        "|---|---:|---:|---:|---:|",
    ]
    right = sum(train.outputs[(b, True)] for b in ("1", "2", "3+"))
    estimated = sum(train.outputs.values())
    for b in ("1", "2", "3+"):
        tn = train.outputs[(b, True)] + train.outputs[(b, False)]
        dn = dev.outputs[(b, True)] + dev.outputs[(b, False)]
        out.append(f"| {b} | {tn} | {_pct(train.outputs[(b, True)] / tn if tn else None)} | "
                   f"{dn} | {_pct(dev.outputs[(b, True)] / dn if dn else None)} |")
    p = right / estimated if estimated else None
    odds = CAP if p is None or p >= 1 else _ln_capped(p / (1 - p))
    out += [
        "",
        (f"Rule: ln(p / (1 - p)) of the estimate's train accuracy p, capped: {odds:g} nats "
         f"for a query whose outputs differ in number from the estimate; used: "
         f"{CueWeights().n_outputs:g}.  Questions with no estimate (none of the openings "
         "matched) and gold queries with `SELECT *` are left out."),
    ]
    out += [
        "",
        "## Rounding",
        "",
        (f"Fires on {train.rounding.fired} train questions (ROUND in the gold: "
         f"{_pct(train.rounding.precision)}) and {dev.rounding.fired} dev questions "
         f"({_pct(dev.rounding.precision)}): Spider does not ask for it, so it is not fitted "
         f"and its weight is {CueWeights().rounding:g} (as is the percentage cue's) until a "
         "data set that asks (BIRD has no train split here) fits it."),
        "",
        "## Stated literals (the `stated` checker, xander/checkers/stated.py)",
        "",
        ("Questions that state a number outside quotes, or quote a value, and the share whose "
         "gold query states every one of them (`cues.number_stated`, `cues.value_stated`).  A "
         "query that leaves one out gets a warning, not an error: the rest are mostly "
         "annotation slips and notes that explain a code."),
        "",
        "| literal | train questions | train gold states all | dev questions | dev gold states all |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {t.fired} | {t.hit} ({_pct(t.precision)}) | {d.fired} | "
          f"{d.hit} ({_pct(d.precision)}) |"
          for name, t, d in (("numbers", train.numbers, dev.numbers),
                             ("quoted values", train.values, dev.values))),
        "",
        "## Conditions that cannot all hold (the `conditions` checker, xander/conditions.py)",
        "",
        ("Gold queries with a SELECT whose WHERE compares a column with literals that no row "
         "can satisfy together (`never-true`) or excludes a value besides the one it equals "
         "(`redundant-exclusion`); both are warnings on a candidate."),
        "",
        "| conflict | train gold queries | dev gold queries |",
        "|---|---:|---:|",
        *(f"| {kind} | {train.conflicts[kind]} of {train.questions - train.unparsed} | "
          f"{dev.conflicts[kind]} of {dev.questions - dev.unparsed} |"
          for kind in ("never-true", "redundant-exclusion")),
        "",
        ("## Phrases (each on its own; train precision decided what stays in cue_words.py, "
         "the dropped ones are measured too)"),
        "",
        "| cue | phrase | train fires | train precision | dev fires | dev precision |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key in sorted(train.phrases, key=lambda k: (k[0], -train.phrases[k].fired)):
        t = train.phrases[key]
        d = dev.phrases.get(key, Tally())
        out.append(f"| {key[0]} | {key[1]} | {t.fired} | {_pct(t.precision)} | {d.fired} | "
                   f"{_pct(d.precision)} |")
    return "\n".join(out) + "\n"


def check_run(path: Path) -> Counter:
    """Cue scores of a runner's answers against their gold queries: (right?, which scores
    higher) -> count.  No database; questions whose gold was not run are left out."""
    out: Counter = Counter()
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("correct") is None or not rec.get("pred"):
            continue
        pred, gold = shape_of_sql(rec["pred"]), shape_of_sql(rec["gold"])
        if pred is None or gold is None:
            continue
        cues = question_cues(rec["question"])
        p, g = cue_score(cues, pred)[0], cue_score(cues, gold)[0]
        side = "gold" if g > p else "answer" if p > g else "tie"
        out[("right" if rec["correct"] else "wrong", side)] += 1
    return out


def check_section(path: Path, counts: Counter) -> list[str]:
    rows = []
    for kind in ("wrong", "right"):
        n = sum(v for (k, _), v in counts.items() if k == kind)
        rows.append(f"| {kind} | {n} | {counts[(kind, 'gold')]} | {counts[(kind, 'tie')]} | "
                    f"{counts[(kind, 'answer')]} |")
    return [
        "",
        "## Check: the LM's dev answers against gold",
        "",
        (f"`{path}`: each answer's cue score against its gold query's (no database).  Where "
         "the answer is wrong, the cues should prefer gold; where it is right, they should "
         "tie (two right spellings may differ in form).  A check only: the rule's 1.1-nat "
         "floor was added after an earlier version of this check (likelihood ratios without a "
         "floor: wrong answers 80 prefer gold / 83 prefer the answer), so this split is no "
         "longer untouched."),
        "",
        "| answer | n | cues prefer gold | tie | cues prefer the answer |",
        "|---|---:|---:|---:|---:|",
        *rows,
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=DATA / "train_spider.json")
    ap.add_argument("--dev", type=Path, default=DATA / "dev.json")
    ap.add_argument("--out", type=Path, help="write the report here as well as to stdout")
    ap.add_argument("--check-run", type=Path,
                    help="a runner's run.jsonl on dev: compare its answers' cue scores to gold's")
    args = ap.parse_args(argv)
    train = measure(args.train.name, json.loads(args.train.read_text()))
    dev = measure(args.dev.name, json.loads(args.dev.read_text()))
    command = "python benchmarks/fit_cues.py"
    if args.check_run:
        command += f" --check-run {args.check_run}"
    if args.out:
        command += f" --out {args.out}"
    text = report(train, dev, command)
    if args.check_run:
        text += "\n".join(check_section(args.check_run, check_run(args.check_run))) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
