"""Best-first search over partial SQL queries (the Xander algorithm, done for speed).

The tree's root is the empty query after the prompt; a node's children are the LM's top-k next
tokens.  Expansion is *chunked*: from a popped node the search follows the most likely surviving
child token by token (one cached LM step each: the KV cache holds the parent) and queues the
other children whose step log-probability is within ``branch_logprob`` of the best.  Partial
checkers prune children as soon as the prefix they finish cannot be right (an identifier that
does not exist, a column the alias's table lacks); when no child survives, the branch dies and
the search backtracks to the best queued node.  A finished query (its names first spelled as
the schema has them where unquoted names fold, ``xander.linking.spelled``) goes through the
complete checkers; failures are sent to ``repair`` and repaired queries compete as candidates
with a penalty.  Candidates are merged when they are the same query in Normalized SQL.  The
search stops once it holds ``candidates`` clean ones (no error, no warning; the first, by default) or
``pool_expansions`` after the first clean one, or when a budget runs out; then the answer is
chosen from the pool by what the queries return (``xander.select``: the heaviest group of equal
results wins) or, with ``select = "score"``, by the best single score.  Alternatives that only
respell the chosen token (case, spaces) are not queued (``branch_on_meaning``): the tree forks
where the meaning does.

Budgets are LM work first: ``max_expansions`` (next-token distributions asked for) and
``max_candidates`` (complete queries the LM proposed; their repairs are checker work and do not
count).  The wall-clock ``deadline_s`` is a last resort, and its clock starts only once
the prompt has been evaluated (the first LM call returned), so a slow machine spends its seconds
on the search, not on the prompt.  When a budget stops the search before any query ran, the most
likely open branch is completed greedily (one completion) and checked like any other candidate,
so the search never answers with nothing where greedy decoding would answer; the stop reason
then ends in ``+greedy``.

Backends that pay per request (vLLM, servers) declare ``supports_paths``: one request gives the
greedy continuation with the top-k at every position.  The search then asks through
``xander.lm.lookahead.Lookahead``, which walks those distributions while the search follows the
most likely child and asks again only when it leaves the path; the tree is the same.  With
``prefetch``, the search tells it the best queued nodes, whose paths come in the same batch.

With ``samples`` (off by default), when the tree's answer is less sure than ``sample_below``,
that many completions of the prompt are sampled after the tree search (seeds 0, 1, ...), checked
and repaired like any candidate; each sampled token counts as an expansion.  When the pool's
queries then return different results, the reviewer (``xander.review``, ``review``) scores the
question given each query, and ``xander.select`` weighs that in.

Priority is the prefix's summed log-probability (the paper's product of probabilities), ties
broken by creation order, so the search is deterministic.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from xander.checkers import CheckContext, Checker, has_error, run_checkers
from xander.config import SearchConfig
from xander.cues import question_cues
from xander.diagnostic import Diagnostic
from xander.engines import QueryResult
from xander.lm.base import LM, PathLM, ScoringLM
from xander.lm.lookahead import Lookahead
from xander.normalize import normalize
from xander.prompts import CLOSE_FENCE, Prompt
from xander.repair import repairs_for
from xander.review import review
from xander.scoring import Candidate, Weights, best, score
from xander.select import Selection, SelectWeights, choose
from xander.sqlparse import extract_sql
from xander.trace import Listener, Node, Trace

# a piece that continues the current word, its qualifier (".") or makes it a function ("(")
_IDENT_START = re.compile(r"^[A-Za-z0-9_.(]")


@dataclass(frozen=True)
class SearchOutcome:
    """What the search found and why it stopped."""

    best: Candidate
    candidates: tuple[Candidate, ...]
    expansions: int
    pruned: int
    stop_reason: str
    trace: Trace
    #: how the answer was chosen from the pool (None with ``select = "score"``)
    selection: Selection | None = None

    @property
    def confidence(self) -> float:
        """How sure the answer is, in [0, 1] (``xander.select``; 0 without a selection)."""
        return self.selection.confidence if self.selection is not None else 0.0


def _ends_query(lm: LM, token: int, text: str) -> bool:
    return token in lm.eos_tokens or "`" in text or ";" in text


#: failed repairs of one candidate that are repaired again
REPAIR_BRANCHES = 2


def _clean(c: Candidate) -> bool:
    return c.ok and not any(d.severity == "warning" for d in c.diagnostics)


def _spelling(piece: str) -> str:
    """What is left of a token when case and spaces are not meaning.

    >>> _spelling(" COUNT") == _spelling("count"), _spelling(" ") == _spelling("\\n")
    (True, True)
    """
    return piece.strip().lower()


class _Search:
    def __init__(
        self,
        lm: LM,
        prompt: Prompt,
        ctx: CheckContext,
        cfg: SearchConfig,
        partial: Sequence[Checker],
        complete: Sequence[Checker],
        max_tokens: int,
        weights: Weights,
        on_event: Listener | None = None,
    ) -> None:
        if lm.supports_paths and lm.path_tokens > 0:
            lm = Lookahead(cast(PathLM, lm), prompt.tokens, max_tokens=max_tokens,
                           prefetch=cfg.prefetch, frontier=self.frontier)
        self.lm, self.prompt, self.ctx, self.cfg = lm, prompt, ctx, cfg
        self.partial, self.complete = list(partial), list(complete)
        self.max_tokens = max_tokens
        self.weights = weights
        self.trace = Trace(on_event)
        self.heap: list[tuple[float, int, Node]] = []
        self.next_id = 0
        self.expansions = 0
        self.pruned = 0
        self.candidates: list[Candidate] = []
        self.proposed = 0  # distinct complete queries the LM proposed (their repairs aside)
        #: every query seen, as written and in Normalized SQL: the candidate it became
        self.by_text: dict[str, Candidate] = {}
        self.sampled = 0  # completions sampled (``samples``)
        self.clean: list[Candidate] = []
        self.first_clean_at: int | None = None  # expansions when the first clean one came
        self.cues = question_cues(ctx.task.question)
        #: set when the first LM call returns: the prompt's evaluation is not the search's time
        self.deadline: float | None = None

    # -- nodes -----------------------------------------------------------------------------------
    def node(self, parent: Node | None, token: int | None, piece: str, logprob: float) -> Node:
        self.next_id += 1
        if parent is None:
            return Node(0, -1, (), "", 0.0, 0)
        return Node(self.next_id, parent.id, (*parent.tokens, token), parent.text + piece,
                    parent.logprob + logprob, parent.depth + 1)

    def push(self, node: Node) -> None:
        heapq.heappush(self.heap, (-node.logprob, node.id, node))

    def partial_diagnostics(self, parent: Node, piece: str) -> list[Diagnostic]:
        """Partial checks of the child ``parent.text + piece``.

        Word-end checkers (``trigger = "word-end"``) see the parent's text, and only when the
        child starts a new word (its word is then finished); the others see the child's text.
        """
        found: list[Diagnostic] = []
        for checker in self.partial:
            if checker.trigger == "word-end":
                if not piece or _IDENT_START.match(piece):
                    continue
                found += run_checkers([checker], parent.text, self.ctx)
            else:
                found += run_checkers([checker], parent.text + piece, self.ctx)
            if has_error(found):
                break
        return found

    # -- candidates ------------------------------------------------------------------------------
    def normalized(self, sql: str) -> str:
        try:
            return normalize(sql, self.ctx.schema.dialect, self.ctx.schema)
        except Exception:  # noqa: BLE001 - a query the normalizer cannot read stays as written
            return sql

    def evaluate(self, sql: str, node: Node, repairs: tuple[str, ...] = ()) -> Candidate | None:
        sql = self.prompt.as_run(sql, self.ctx.schema)
        if not sql or sql in self.by_text:
            return None
        norm = self.normalized(sql)
        if norm != sql and norm in self.by_text:  # the same query, spelled otherwise
            self.by_text[sql] = self.by_text[norm]
            self.trace.mark(node.id, "complete", sql=sql, reason=f"same query as {norm}")
            return None
        diags = run_checkers(self.complete, sql, self.ctx)
        result = self.ctx.results.get(sql)
        cand = Candidate(
            sql, node.logprob, max(1, len(node.tokens)), tuple(diags),
            result if isinstance(result, QueryResult) else None, repairs, node.id,
            meta={"normalized": norm},
        )
        self.candidates.append(cand)
        self.by_text[sql] = self.by_text[norm] = cand
        if _clean(cand):
            if not cand.repairs or (self.cfg.stop_on_repair and not self.fallback(cand)):
                self.clean.append(cand)  # a repaired one is a fallback otherwise
            if self.first_clean_at is None:
                self.first_clean_at = self.expansions
        self.trace.mark(node.id, "complete", sql=sql, ok=cand.ok, score=round(score(cand), 3),
                        reason="; ".join(str(d) for d in diags))
        return cand

    def fallback(self, cand: Candidate) -> bool:
        """Reached through a repair that does not end the search (``fallback_repairs``)."""
        return any(r.split(" ", 1)[0] in self.cfg.fallback_repairs for r in cand.repairs)

    def finish(self, node: Node) -> bool:
        """Evaluate the query ``node`` spells (and its repairs); True when the pool is full."""
        sql = extract_sql(node.text)
        cand = self.evaluate(sql, node)
        if cand is None:
            return self.pool_full()
        self.proposed += 1
        if self.cfg.repair:
            self.repair(cand, node, self.cfg.repair_rounds)
        return self.pool_full()

    def repair(self, cand: Candidate, node: Node, rounds: int) -> bool:
        """Evaluate the repairs of a candidate that is not clean until one is clean.  A repair
        that fails with an error of its own is repaired in turn (PostgreSQL refuses
        ``avg(age)`` on text, then the repaired ``age < AVG(CAST(age AS ...))``), ``rounds``
        rules deep in all (``[search] repair_rounds``), the first ``REPAIR_BRANCHES`` such
        failures only.  True when a clean one came."""
        if _clean(cand) or rounds == 0:
            return _clean(cand)
        failed: list[Candidate] = []
        fallback = False  # a clean one through a fallback repair: the next repairs are tried too
        for fixed, what in repairs_for(cand, self.ctx):
            rep = self.evaluate(fixed, node, (*cand.repairs, what))
            if rep is None:
                continue
            if _clean(rep):
                if not self.fallback(rep):
                    return True
                fallback = True
            elif rep.error is not None and rep.error != cand.error:
                failed.append(rep)
        return any(self.repair(rep, node, rounds - 1)
                   for rep in failed[:REPAIR_BRANCHES]) or fallback

    def pool_full(self) -> bool:
        return len(self.clean) >= max(1, self.cfg.candidates)

    def frontier(self, n: int) -> list[tuple[int, ...]]:
        """Tokens of the ``n`` best queued nodes that are still open (the lookahead's prefetch)."""
        return [node.tokens for _, _, node in heapq.nsmallest(n, self.heap) if not node.done]

    def late(self) -> bool:
        """The wall-clock deadline (counted from the prompt's evaluation) has passed."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def out_of_budget(self) -> str | None:
        if self.expansions >= self.cfg.max_expansions:
            return "max-expansions"
        if (self.first_clean_at is not None
                and self.expansions >= self.first_clean_at + self.cfg.pool_expansions):
            return "pool-expansions"
        if self.late():
            return "deadline"
        return None

    def answer(self, review: bool = True) -> tuple[Candidate | None, Selection | None]:
        if self.cfg.select == "score":
            return best(self.candidates, self.weights), None
        weights = SelectWeights(scoring=self.weights)
        sel = choose(self.candidates, weights, self.cues, dialect=self.ctx.schema.dialect)
        if (review and self.cfg.review and self.sampled and self.lm.scores_text
                and len(sel.groups) > 1):
            self.review_pool(sel)
            sel = choose(self.candidates, weights, self.cues, dialect=self.ctx.schema.dialect)
        return sel.answer, sel

    def review_pool(self, sel: Selection) -> None:
        """The reviewer's score of every ok query of the pool (``meta["review"]``)."""
        lm = cast(ScoringLM, self.lm)
        for group in sel.groups:
            for m in group.members:
                if "review" not in m.candidate.meta:
                    m.candidate.meta["review"] = review(lm, m.candidate.sql,
                                                        self.ctx.task.question)

    def rescue(self, root: Node) -> bool:
        """Complete the most likely open branch greedily in one LM call and evaluate the query it
        spells like any other candidate; with no open branch and no candidate at all, complete the
        root (greedy decoding).  True when that gave a new candidate."""
        open_nodes = [n for _, _, n in sorted(self.heap) if not n.done]
        if not open_nodes and self.candidates:
            return False  # the tree is spent: greedy decoding would repeat its first path
        start = open_nodes[0] if open_nodes else root
        room = max(1, self.max_tokens - len(start.tokens))
        done = self.lm.complete(self.prompt.tokens + start.tokens, max_tokens=room,
                                stop=(CLOSE_FENCE,))
        self.next_id += 1
        node = Node(self.next_id, start.id, (*start.tokens, *done.tokens), start.text + done.text,
                    start.logprob + done.logprob, start.depth + len(done.tokens), done=True)
        self.trace.add(node, "end", rescued=True)
        before = len(self.candidates)
        self.finish(node)
        return len(self.candidates) > before

    # -- sampled completions ---------------------------------------------------------------------
    def wants_samples(self) -> bool:
        """Whether to sample: ``samples`` is set and the tree's answer is less sure than
        ``sample_below``."""
        if self.cfg.samples <= 0:
            return False
        _, selection = self.answer(review=False)
        return selection is None or selection.confidence < self.cfg.sample_below

    def sample(self, root: Node) -> None:
        """Draw ``samples`` completions of the prompt (seeds 0, 1, ...) and let each vote for the
        candidate its query is (a new one is evaluated and repaired like any other):
        ``meta["votes"]`` holds the seeds that wrote it."""
        for seed in range(self.cfg.samples):
            if self.late():
                break
            done = self.lm.complete(self.prompt.tokens, max_tokens=self.max_tokens,
                                    temperature=self.cfg.sample_temperature, seed=seed,
                                    stop=(CLOSE_FENCE,))
            self.expansions += max(1, len(done.tokens))
            self.sampled += 1
            self.next_id += 1
            node = Node(self.next_id, root.id, tuple(done.tokens), done.text, done.logprob,
                        len(done.tokens), done=True)
            self.trace.add(node, "end", sampled=seed)
            sql = self.prompt.as_run(extract_sql(node.text), self.ctx.schema)
            if not sql:
                continue
            if sql not in self.by_text:  # a new query (or a new spelling, mapped by evaluate)
                before = len(self.candidates)
                self.finish(node)
                for cand in self.candidates[before:]:
                    cand.meta["origin"] = "sample"
            known = self.by_text.get(sql)
            if known is not None:
                known.meta["votes"] = (*known.meta.get("votes", ()), seed)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        root = self.node(None, None, "", 0.0)
        self.trace.add(root)
        self.push(root)
        stop = "exhausted"
        while self.heap:
            spent = self.out_of_budget()
            if spent:
                stop = spent
                break
            _, _, node = heapq.heappop(self.heap)
            if self.extend(node):
                stop = "found"
                break
            if self.proposed >= self.cfg.max_candidates:
                stop = "max-candidates"
                break
        if not any(c.ok for c in self.candidates) and self.rescue(root):
            stop += "+greedy"
        if self.wants_samples():
            self.sample(root)
        chosen, selection = self.answer()
        if chosen is None:
            chosen = Candidate("", diagnostics=(Diagnostic(
                "search", "no-candidate", f"no complete query within the budget ({stop})"),))
        if selection is not None:
            for rank, group in enumerate(selection.groups):
                for m in group.members:
                    self.trace.mark(m.candidate.node_id, "complete", group=rank,
                                    share=round(group.share, 3))
        return SearchOutcome(chosen, tuple(self.candidates), self.expansions, self.pruned, stop,
                             self.trace, selection)

    def extend(self, node: Node) -> bool:
        """Follow the best surviving child from ``node``; queue the rest.  True: stop search."""
        if node.done:
            return self.finish(node)
        cur = node
        while True:
            if len(cur.tokens) >= self.max_tokens:
                self.trace.mark(cur.id, "pruned", reason="search/length: query too long")
                return False
            if self.out_of_budget():
                self.push(cur)
                return False
            self.expansions += 1
            self.trace.mark(cur.id, "expanded")
            choices = self.lm.top_k([self.prompt.tokens + cur.tokens], self.cfg.top_k)[0]
            if self.deadline is None:
                self.deadline = time.monotonic() + self.cfg.deadline_s
            best_lp = choices[0].logprob if choices else 0.0
            survivors: list[Node] = []
            for ch in choices:
                if survivors and ch.logprob < best_lp + self.cfg.branch_logprob:
                    break
                if _ends_query(self.lm, ch.token, ch.text):
                    piece = "" if ch.token in self.lm.eos_tokens else re.split(
                        r"[`;]", ch.text, maxsplit=1)[0]
                    child = self.node(cur, ch.token, piece, ch.logprob)
                    child = Node(child.id, child.parent, child.tokens, child.text,
                                 child.logprob, child.depth, done=True)
                    piece = ""  # finished queries go to the complete checkers instead
                else:
                    piece = ch.text
                    child = self.node(cur, ch.token, ch.text, ch.logprob)
                diags = self.partial_diagnostics(cur, piece)
                if has_error(diags):
                    self.pruned += 1
                    self.trace.prune(child, diags)
                    continue
                self.trace.add(child, "end" if child.done else "open")
                survivors.append(child)
            if not survivors:
                self.trace.mark(cur.id, "dead", reason="every child was pruned")
                return False
            if not self.cfg.chunked:  # the paper's expansion: queue every child, pop the best
                for child in survivors:
                    self.push(child)
                return False
            chosen = _spelling(survivors[0].text[len(cur.text):])
            # inside a string literal case is meaning ('France' is not 'france')
            respell = self.cfg.branch_on_meaning and cur.text.count("'") % 2 == 0
            for alt in survivors[1:]:
                if (respell and not alt.done
                        and _spelling(alt.text[len(cur.text):]) == chosen):
                    self.trace.mark(alt.id, "merged", reason="respells the chosen token")
                    continue
                self.push(alt)
            cur = survivors[0]
            if cur.done:
                return self.finish(cur)


def search(
    lm: LM,
    prompt: Prompt,
    ctx: CheckContext,
    cfg: SearchConfig,
    partial: Sequence[Checker],
    complete: Sequence[Checker],
    max_tokens: int = 256,
    weights: Weights = Weights(),
    on_event: Listener | None = None,
) -> SearchOutcome:
    """Best-first search for the query that answers ``ctx.task``; see the module docstring.
    ``on_event`` is told of every change to the search tree as it happens."""
    return _Search(lm, prompt, ctx, cfg, partial, complete, max_tokens, weights,
                   on_event).run()
