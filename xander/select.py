"""Choose by results: the candidate pool grouped by what the queries return.

The search gathers several clean candidates; ``choose`` picks the answer by agreement:

1. Candidates spelled the same in Normalized SQL are one query: the best-scoring spelling
   stands for them (the others are its ``duplicates``; they add no weight, so a query the LM
   spells two ways does not vote twice).
2. Each query scores ``scoring.score`` (length-normalised log-probability minus the checkers'
   penalties and the repairs') plus ``cues.cue_score`` when question cues are given; its weight
   is ``exp(sharpness * score)``.
3. The ok queries (they ran, no checker error) are grouped by their result
   (``results.result_key``: the official Spider comparison, rows as a bag, column order free);
   a group's weight is the sum of its members' weights and its share its part of the pool's.
4. The heaviest group wins; its best member is the answer.  No ok candidate: the answer is
   ``scoring.best`` of them all, with confidence 0.

Confidence (in [0, 1]) is the winner's share, times the chance that not every member of the
winning group is wrong, read from their mean token probabilities as if independent
(``1 - prod(1 - p_i)``, ``p_i = exp(mean token log-probability)``), times a factor per doubt the
checkers and cues raised about the answer::

    confidence = share * (1 - prod_i (1 - p_i)) * w ** warnings * r ** repairs * c ** missed_cues

so one clean candidate alone gets its mean token probability, not 1; more agreeing members
raise it, more disagreeing weight lowers it.  ``coverage_table`` turns (confidence, correct)
pairs into accuracy at each threshold, for the runner's report.

>>> from xander.engines.base import QueryResult
>>> def cand(sql, rows, logprob=-1.0):
...     return Candidate(sql, logprob, 10, result=QueryResult(("x",), rows))
>>> pool = [cand("SELECT a FROM t", [(1,)], -0.5),
...         cand("SELECT b FROM t", [(2,)], -1.0), cand("SELECT c FROM t", [(2,)], -1.0)]
>>> sel = choose(pool)
>>> sel.answer.sql, [len(g.members) for g in sel.groups]  # two agree, and outweigh one
('SELECT b FROM t', [2, 1])
>>> round(sel.groups[0].share, 3), round(sel.confidence, 3)
(0.655, 0.65)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from xander.cues import Cues, CueWeights, Shape, cue_score, query_shape, shape_of_sql
from xander.results import ResultKey, result_key, same_result
from xander.scoring import Candidate, Weights, best, mean_logprob, score


@dataclass(frozen=True, slots=True)
class SelectWeights:
    """How the pool is weighed and how sure the answer is."""

    #: the checker and repair penalties of ``scoring.score`` (and the log-probability weight)
    scoring: Weights = Weights()
    #: the question cues' penalties (``cues.CueWeights``); used when ``choose`` gets cues
    cues: CueWeights = field(default_factory=CueWeights)
    #: member weight = exp(sharpness * score).  1 keeps the score in nats: a member's weight is
    #: its geometric-mean token probability times exp(-penalties), so agreement counts about as
    #: much as likelihood; larger values move toward "the single most likely query wins".
    sharpness: float = 1.0
    #: confidence factor per warning on the answer (an empty or all-NULL result: 2 warnings
    #: make a doubtful answer; 0.5 halves the confidence per warning)
    warning_confidence: float = 0.5
    #: confidence factor per repair applied to reach the answer
    repair_confidence: float = 0.8
    #: confidence factor per cue the answer missed (``missed:`` and ``unasked:`` notes)
    cue_confidence: float = 0.8
    #: how many other groups' best members ``Selection.runner_ups`` lists
    runner_ups: int = 3
    #: weight of sampled completions' votes: a query that ``n`` samples wrote (its
    #: ``meta["votes"]``, with its spellings') weighs ``1 + vote * n`` times its own weight.
    #: 0: on Spider train (``benchmarks/sample_votes.py``) votes chose worse than none
    vote: float = 0.0
    #: weight of the reviewer's score: the mean log-probability of the question's tokens given
    #: the query (``meta["review"]``, ``xander.review``), added to a member's log-weight.
    #: Fitted on Spider train (``benchmarks/sample_votes.py``): 4 to 12 choose alike there
    review: float = 6.0


@dataclass(frozen=True, slots=True)
class Member:
    """One query of the pool: its best spelling and what it scored."""

    candidate: Candidate
    #: ``scoring.score`` plus the cue score, in nats
    score: float
    #: the cue score alone (0 without cues) and the cues it met and missed
    cue_score: float = 0.0
    cue_notes: tuple[str, ...] = ()
    #: other candidates with the same Normalized SQL (they add no weight)
    duplicates: tuple[Candidate, ...] = ()
    #: position of the candidate in the pool (ties go to the earliest)
    index: int = 0

    @property
    def missed(self) -> int:
        """Cues the query missed or contradicted."""
        return sum(n.startswith(("missed:", "unasked:")) for n in self.cue_notes)


@dataclass(frozen=True, slots=True)
class Group:
    """Queries that return the same result (the official comparison)."""

    key: ResultKey
    #: best first
    members: tuple[Member, ...]
    #: sum of the members' weights, exp(sharpness * score) each
    weight: float
    #: the group's part of the pool's weight, in [0, 1]
    share: float
    #: the result was cut at the engine's row cap (such groups never merge with complete ones)
    truncated: bool = False

    @property
    def best(self) -> Member:
        return self.members[0]


@dataclass(frozen=True, slots=True)
class Selection:
    """The answer, the groups it was chosen from, and how sure it is."""

    answer: Candidate | None
    #: in [0, 1]; 0 when no candidate was ok (see the module docstring)
    confidence: float
    #: heaviest first; the first is the winner
    groups: tuple[Group, ...] = ()
    #: best members of the next groups, for a "not sure" listing
    runner_ups: tuple[Candidate, ...] = ()
    #: no candidate was ok: the answer is ``scoring.best`` of all of them
    fallback: bool = False
    #: candidates merged into another with the same Normalized SQL
    merged: int = 0
    #: the answer's cue notes
    cue_notes: tuple[str, ...] = ()

    @property
    def winner(self) -> Group | None:
        return self.groups[0] if self.groups else None

    @property
    def representatives(self) -> tuple[Candidate, ...]:
        """One query per distinct result, heaviest first: the pool's oracle is whether any of
        them is right."""
        return tuple(g.best.candidate for g in self.groups)

    def not_sure(self, min_confidence: float) -> bool:
        """Whether the answer falls short of ``min_confidence`` (answer "not sure" then, and
        list the answer and ``runner_ups``)."""
        return self.answer is None or self.confidence < min_confidence


# -- choosing ---------------------------------------------------------------------------------


def _normal_text(c: Candidate, normalize: Callable[[str], str] | None) -> str:
    known = c.meta.get("normalized")
    if isinstance(known, str) and known:
        return known
    if normalize is not None:
        try:
            return normalize(c.sql)
        except Exception:  # noqa: BLE001 - any query the normalizer cannot read stays as it is
            return c.sql
    return c.sql


def _shape(c: Candidate, dialect: str) -> Shape | None:
    tree = c.meta.get("tree")
    if isinstance(tree, exp.Expr):
        return query_shape(tree)
    return shape_of_sql(c.sql, dialect)


def _member(c: Candidate, i: int, weights: SelectWeights, cues: Cues | None,
            dialect: str) -> Member:
    base = score(c, weights.scoring)
    if cues is None:
        return Member(c, base, index=i)
    shape = _shape(c, dialect)
    if shape is None:
        return Member(c, base, 0.0, ("cues:unparsed",), index=i)
    extra, notes = cue_score(cues, shape, weights.cues)
    return Member(c, base + extra, extra, notes, index=i)


def _merge_spellings(members: list[Member], texts: list[str]) -> tuple[list[Member], int]:
    """One member per Normalized SQL: the best-scoring spelling, the others its duplicates."""
    by_text: dict[str, list[Member]] = {}
    for m, text in zip(members, texts, strict=True):
        by_text.setdefault(text, []).append(m)
    merged = []
    for same in by_text.values():
        top = max(same, key=lambda m: (m.score, -m.index))
        others = tuple(m.candidate for m in same if m is not top)
        merged.append(Member(top.candidate, top.score, top.cue_score, top.cue_notes, others,
                             top.index))
    merged.sort(key=lambda m: m.index)
    return merged, len(members) - len(merged)


def votes(m: Member) -> int:
    """Sampled completions that wrote the member's query, in any of its spellings."""
    return sum(len(c.meta.get("votes", ())) for c in (m.candidate, *m.duplicates))


def _logsumexp(xs: Sequence[float]) -> float:
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs))


def _group(members: list[Member]) -> list[tuple[ResultKey, bool, list[Member]]]:
    """Members by result; groups whose keys are inexact are compared row by row."""
    groups: dict[tuple[ResultKey, bool], list[Member]] = {}
    for m in members:
        r = m.candidate.result
        assert r is not None
        groups.setdefault((result_key(r.columns, r.rows), r.truncated), []).append(m)
    items = [(k, t, ms) for (k, t), ms in groups.items()]
    out: list[tuple[ResultKey, bool, list[Member]]] = []
    for key, truncated, ms in items:
        twin = None
        if not key.exact:
            twin = next((o for o in out if not o[0].exact and o[1] == truncated and
                         o[0].width == key.width and same_result(_rows(o[2][0]), _rows(ms[0]))),
                        None)
        if twin is not None:
            twin[2].extend(ms)
        else:
            out.append((key, truncated, list(ms)))
    return out


def _rows(m: Member) -> Sequence[Sequence[object]]:
    assert m.candidate.result is not None
    return m.candidate.result.rows


def confidence(group: Group, answer: Member, weights: SelectWeights = SelectWeights()) -> float:
    """The module docstring's formula: share x (1 - prod(1 - p_i)) x the answer's doubts.

    >>> c = Candidate("SELECT 1", logprob=-1.0, n_tokens=10)
    >>> g = Group(result_key((), [(1,)]), (Member(c, -0.1),), 1.0, 1.0)
    >>> round(confidence(g, g.best), 3)  # alone: its mean token probability exp(-0.1)
    0.905
    """
    wrong = 1.0
    for m in group.members:
        p = math.exp(mean_logprob(m.candidate.logprob, m.candidate.n_tokens))
        wrong *= 1.0 - min(1.0, p)
    c = answer.candidate
    warnings = sum(d.severity == "warning" for d in c.diagnostics)
    doubt = (weights.warning_confidence ** warnings * weights.repair_confidence ** len(c.repairs)
             * weights.cue_confidence ** answer.missed)
    return max(0.0, min(1.0, group.share * (1.0 - wrong) * doubt))


def choose(
    candidates: Sequence[Candidate],
    weights: SelectWeights = SelectWeights(),
    cues: Cues | None = None,
    *,
    normalize: Callable[[str], str] | None = None,
    dialect: str = "sqlite",
) -> Selection:
    """Group ``candidates`` by result and choose the answer (see the module docstring).

    ``normalize`` spells a query in Normalized SQL (e.g. ``functools.partial(normalize,
    dialect=..., schema=...)``); a candidate's ``meta["normalized"]`` is used first, and without
    either the SQL text itself is compared.  ``cues`` (``cues.question_cues``) add their soft
    scores; queries are parsed with ``dialect`` for them (or ``meta["tree"]``).  Nothing here
    runs a query: results come from the candidates.
    """
    if not candidates:
        return Selection(None, 0.0)
    members = [_member(c, i, weights, cues, dialect) for i, c in enumerate(candidates)]
    texts = [_normal_text(m.candidate, normalize) for m in members]
    members, merged = _merge_spellings(members, texts)
    ok = [m for m in members if m.candidate.ok]
    if not ok:
        chosen = best(candidates, weights.scoring)
        return Selection(chosen, 0.0, fallback=True, merged=merged)
    logw = {id(m): weights.sharpness * m.score + math.log1p(weights.vote * votes(m))
            + weights.review * float(m.candidate.meta.get("review", 0.0)) for m in ok}
    total = _logsumexp(list(logw.values()))
    groups = []
    for key, truncated, ms in _group(ok):
        ms.sort(key=lambda m: (-m.score, m.index))
        lw = _logsumexp([logw[id(m)] for m in ms])
        share = min(1.0, math.exp(lw - total))  # rounding may pass 1 by an ulp
        groups.append(Group(key, tuple(ms), math.exp(lw), share, truncated))
    groups.sort(key=lambda g: (-g.share, g.best.index))
    winner = groups[0]
    answer = winner.best
    return Selection(
        answer.candidate,
        confidence(winner, answer, weights),
        tuple(groups),
        tuple(g.best.candidate for g in groups[1 : 1 + weights.runner_ups]),
        merged=merged,
        cue_notes=answer.cue_notes,
    )


# -- coverage ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Answering only at ``confidence >= threshold``."""

    threshold: float
    answered: int
    #: answered / all
    coverage: float
    #: right / answered (None when nothing is answered)
    accuracy: float | None


@dataclass(frozen=True, slots=True)
class CoverageTable:
    """Accuracy against coverage, and the accuracy of the most confident ``target`` share."""

    rows: tuple[CoverageRow, ...]
    n: int
    #: the coverage aimed at (0.8: answer the 80% the selector is surest of)
    target: float
    #: accuracy of the ceil(target * n) most confident answers (None without records)
    target_accuracy: float | None
    #: the confidence of the last of them (answer at or above it)
    target_threshold: float | None


def coverage_table(
    records: Sequence[tuple[float, bool | None]],
    thresholds: Sequence[float] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9),
    target: float = 0.8,
) -> CoverageTable:
    """Accuracy and coverage at each confidence threshold, from (confidence, correct) pairs.

    Pairs whose ``correct`` is None (the gold query failed) are left out.  At the target
    coverage the ceil(target * n) most confident answers count (ties in the order given).

    >>> t = coverage_table([(0.9, True), (0.8, True), (0.3, False), (0.1, True)], (0.0, 0.5))
    >>> [(r.threshold, r.answered, r.coverage, r.accuracy) for r in t.rows]
    [(0.0, 4, 1.0, 0.75), (0.5, 2, 0.5, 1.0)]
    >>> round(t.target_accuracy, 3), t.target_threshold  # the 4 * 0.8 -> 4 surest: all
    (0.75, 0.1)
    """
    kept = [(float(c), bool(ok)) for c, ok in records if ok is not None]
    n = len(kept)
    rows = []
    for t in thresholds:
        answered = [ok for c, ok in kept if c >= t]
        rows.append(CoverageRow(t, len(answered), len(answered) / n if n else 0.0,
                                sum(answered) / len(answered) if answered else None))
    if not n:
        return CoverageTable(tuple(rows), 0, target, None, None)
    ranked = sorted(range(n), key=lambda i: -kept[i][0])
    k = max(1, math.ceil(target * n - 1e-9))
    top = ranked[:k]
    return CoverageTable(tuple(rows), n, target, sum(kept[i][1] for i in top) / k,
                         kept[top[-1]][0])
