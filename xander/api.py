"""The Python API: ``Xander(db, model=..., config=...).ask(question) -> Result``.

>>> from xander import Xander                                      # doctest: +SKIP
>>> Xander("shop.duckdb").ask("top 5 customers by revenue").rows   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from xander.checkers import CheckContext, complete_checkers, partial_checkers
from xander.config import Config, load_config
from xander.cues import question_cues
from xander.diagnostic import Diagnostic
from xander.engines import Engine, open_engine
from xander.errors import InputError, XanderError
from xander.grammar import constraint, load_grammar, specialize
from xander.greedy import greedy
from xander.lm.base import LM, Grammar, PromptStateLM
from xander.lm.prompt_cache import PromptCache
from xander.lm.registry import load_lm
from xander.normalize import normalize
from xander.paths import cache_dir
from xander.prompts import CLOSE_FENCE, Prompt, build_prompt, needs_focus
from xander.schema import Schema
from xander.scoring import Candidate
from xander.select import Selection, choose
from xander.task import Task
from xander.trace import Listener
from xander.values import index_for, value_hints

MODES = ("search", "greedy")
GRAMMARS = ("none", "sql", "schema")


def _grammar_kind(kind: str) -> str:
    if kind not in GRAMMARS:
        raise InputError(f"unknown grammar {kind!r}", f"choose from {', '.join(GRAMMARS)}")
    return kind


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to one question."""

    question: str
    sql: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    error: str | None = None
    mode: str = "search"
    model: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    lm_tokens: dict[str, int] = field(default_factory=dict)
    expansions: int = 0
    pruned: int = 0
    stop_reason: str = ""
    truncated: bool = False
    diagnostics: tuple[Diagnostic, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    repairs: tuple[str, ...] = ()
    trace: Any = None
    normalized_sql: str = ""  # the same query in Normalized SQL (xander's output style)
    #: what became of the prompt's shared prefix: loaded (from the prompt cache), saved
    #: (evaluated, then saved), evaluated, held (already in the model's cache), "" (no state kept)
    prompt_state: str = ""
    #: how sure the answer is, in [0, 1] (``xander.select``: the winning group's share of the
    #: pool, its members' token probabilities, the checkers' doubts)
    confidence: float = 0.0
    #: the confidence fell short of ``min_confidence``: no answer is given (sql and rows are
    #: empty) and ``alternatives`` lists the likeliest queries instead
    not_sure: bool = False
    alternatives: tuple[str, ...] = ()
    #: the pool grouped by result, heaviest first: {"share", "rows", "members": [sql, ...]}
    pool: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rows as lists; values that JSON lacks as strings)."""
        return {
            "question": self.question,
            "sql": self.sql,
            "normalized_sql": self.normalized_sql,
            "columns": list(self.columns),
            "rows": [[_jsonable(v) for v in r] for r in self.rows],
            "error": self.error,
            "mode": self.mode,
            "model": self.model,
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "lm_tokens": self.lm_tokens,
            "expansions": self.expansions,
            "pruned": self.pruned,
            "stop_reason": self.stop_reason,
            "prompt_state": self.prompt_state,
            "confidence": round(self.confidence, 4),
            "not_sure": self.not_sure,
            "alternatives": list(self.alternatives),
            "pool": list(self.pool),
            "truncated": self.truncated,
            "repairs": list(self.repairs),
            "diagnostics": [asdict(d) for d in self.diagnostics],
            "candidates": [
                {"sql": c.sql, "ok": c.ok, "error": c.error, "repairs": list(c.repairs),
                 "logprob": round(c.logprob, 4), "n_tokens": c.n_tokens,
                 "warnings": [d.code for d in c.diagnostics if d.severity == "warning"],
                 "rows": None if c.result is None else len(c.result.rows),
                 "origin": c.meta.get("origin", "tree"), "votes": list(c.meta.get("votes", ())),
                 "node": c.node_id, "review": c.meta.get("review")}
                for c in self.candidates
            ],
        }


def _pool(selection: Selection | None) -> tuple[dict[str, Any], ...]:
    if selection is None:
        return ()
    return tuple({"share": round(g.share, 4), "rows": len(g.best.candidate.result.rows)
                  if g.best.candidate.result else 0,
                  "members": [m.candidate.sql for m in g.members]} for g in selection.groups)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


class Xander:
    """Answers questions about one database with one language model.

    ``db`` is a database file, a folder of data files or an open ``Engine``.  ``config`` is the
    configuration; without one, ``load_config()`` reads it: the TOML file named by
    ``$XANDER_CONFIG``, then ``XANDER_<SECTION>_<FIELD>`` environment variables, over the
    defaults.  ``model`` is a model spec (``embedded``, a ``.gguf`` file, a Hugging Face
    directory, ``vllm:...``, ``openai:...``) or a loaded ``LM``; without one, the config's
    ``[lm] model`` (``XANDER_LM_MODEL``) is used.  The model loads at the first question.
    """

    def __init__(
        self,
        db: str | Path | Engine,
        model: str | LM | None = None,
        config: Config | None = None,
        *,
        schemas: Sequence[str] | None = None,
    ) -> None:
        """``schemas``: the database schemas to serve (default ``[engine] schemas``)."""
        self.config = config if config is not None else load_config()
        if model is None:
            model = self.config.lm.model
        wanted = tuple(self.config.engine.schemas if schemas is None else schemas)
        self.engine: Engine = (db if isinstance(db, Engine)
                               else open_engine(db, schemas=wanted) if wanted else open_engine(db))
        self._model_spec = model
        self._lm: LM | None = model if not isinstance(model, str) else None
        self._schema: Schema | None = None
        self._grammars: dict[str, Grammar] = {}
        self._prompt_cache: PromptCache | None = None

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            self._schema = Schema.from_engine(self.engine)
        return self._schema

    def grammar(self, kind: str | None = None) -> Grammar | None:
        """The grammar greedy decoding follows (``kind``: ``config.lm.grammar`` by default)."""
        kind = _grammar_kind(kind or self.config.lm.grammar)
        if kind == "none":
            return None
        if kind not in self._grammars:
            text = load_grammar()
            if kind == "schema":
                text = specialize({t.name: t.column_names for t in self.schema.tables}, text)
            self._grammars[kind] = constraint(text, CLOSE_FENCE)
        return self._grammars[kind]

    def prompt_cache(self, lm: PromptStateLM) -> PromptCache | None:
        """Where ``lm``'s prompt states are saved (None when ``[lm] prompt_cache`` is off)."""
        if not self.config.lm.prompt_cache:
            return None
        if self._prompt_cache is None:
            model, runtime = lm.state_identity()
            self._prompt_cache = PromptCache(cache_dir("prompts"),
                                             self.config.lm.prompt_cache_mb * 2**20,
                                             model=model, runtime=runtime)
        return self._prompt_cache

    def _prime(self, lm: LM, prompt: Prompt) -> str:
        """Load or evaluate (and save) the prompt's shared prefix; what happened, or ``""``.
        A backend with one context starts the question from that prefix (from nothing where the
        prompt shares none), whatever it held before."""
        if not lm.saves_prompts:
            return ""
        stateful = cast(PromptStateLM, lm)
        prefix = prompt.tokens[:prompt.prefix_len]
        state = stateful.prime(prefix, self.prompt_cache(stateful) if prefix else None)
        return state if prefix else ""

    def warm(self, question: str = "How many rows are there?") -> str:
        """Save the prompt state of this database ahead of time (``xander warm``): what
        ``prime`` did (``saved``, ``loaded``, ``held``; ``""`` when the backend keeps none)."""
        shown = self.schema.with_example_rows(self.config.lm.example_rows)
        prompt = build_prompt(self.lm, shown, Task(question), self.config.lm.max_schema_chars,
                              focus_method=self.config.lm.focus,
                              focus_tables=self.config.lm.focus_tables,
                              prompt_dialect=self.config.lm.prompt_dialect)
        return self._prime(self.lm, prompt)

    @property
    def lm(self) -> LM:
        if self._lm is None:
            assert isinstance(self._model_spec, str)
            self._lm = load_lm(self._model_spec, n_ctx=self.config.lm.n_ctx)
        return self._lm

    def ask(
        self,
        question: str,
        *,
        evidence: str = "",
        examples: Iterable[Sequence[str]] = (),
        mode: str | None = None,
        min_confidence: float | None = None,
        on_event: Listener | None = None,
    ) -> Result:
        """Translate ``question`` to SQL, run it read-only, and return the rows.

        With ``min_confidence`` (default ``[search] min_confidence``, 0), an answer less sure
        than that is not given: the result says ``not_sure`` and lists the likeliest queries.
        ``on_event`` is called, in this thread, for every change to the search tree as it
        happens (``xander.trace.Listener``; greedy mode has no tree).
        """
        mode = mode or self.config.search.mode
        floor = self.config.search.min_confidence if min_confidence is None else min_confidence
        if not 0.0 <= floor <= 1.0:
            raise InputError(f"min_confidence must be between 0 and 1, not {floor}",
                             "e.g. --min-confidence 0.5")
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}", f"choose from {', '.join(MODES)}")
        _grammar_kind(self.config.lm.grammar)  # a bad setting fails before the model loads
        task = Task(question, evidence, tuple(tuple(str(c) for c in e) for e in examples))
        start = time.perf_counter()
        schema = self.schema
        lm = self.lm
        held = (cast(PromptStateLM, lm).hold() if lm.saves_prompts
                else contextlib.nullcontext())
        with held:  # a one-context backend answers one question at a time, whole
            return self._ask(task, mode, floor, start, schema, lm, on_event)

    def _ask(self, task: Task, mode: str, floor: float, start: float, schema: Schema,
             lm: LM, on_event: Listener | None) -> Result:
        before = lm.stats()
        t0 = time.perf_counter()
        lm_cfg = self.config.lm
        # a schema over the budget is focused on the question's tables, with the value index;
        # the checkers and repair still see the whole schema
        focused = needs_focus(schema, lm_cfg.max_schema_chars, lm_cfg.focus)
        index = index_for(self.engine, schema) if (focused or lm_cfg.value_hints) else None
        hints = (value_hints(index, task.question, lm_cfg.value_hints)
                 if lm_cfg.value_hints and index is not None else [])
        prompt = build_prompt(lm, schema.with_example_rows(lm_cfg.example_rows), task,
                              lm_cfg.max_schema_chars, hints,
                              index=index if focused else None, focus_method=lm_cfg.focus,
                              focus_tables=lm_cfg.focus_tables,
                              prompt_dialect=lm_cfg.prompt_dialect)
        t_prime = time.perf_counter()
        prompt_state = self._prime(lm, prompt)
        prime_s = time.perf_counter() - t_prime
        ctx = CheckContext(  # a bare table name means the schema the prompt showed bare
            schema.homed(prompt.home), self.engine, task, self.config.engine.timeout,
            self.config.engine.max_rows,
            self.engine.allowed_files,
        )
        disabled = self.config.search.disabled_checkers
        trace = None
        if mode == "greedy":
            cand = greedy(lm, prompt, ctx, complete_checkers(disabled), self.config.lm.max_tokens,
                          self.grammar())
            candidates, expansions, pruned, stop = (cand,), 0, 0, "greedy"
            selection = choose(candidates, cues=question_cues(task.question),
                               dialect=schema.dialect)
        else:
            from xander.search import search

            outcome = search(lm, prompt, ctx, self.config.search, partial_checkers(disabled),
                             complete_checkers(disabled), self.config.lm.max_tokens,
                             on_event=on_event)
            cand, candidates = outcome.best, outcome.candidates
            expansions, pruned, stop, trace = (outcome.expansions, outcome.pruned,
                                               outcome.stop_reason, outcome.trace)
            selection = outcome.selection
        confidence = selection.confidence if selection is not None else 0.0
        not_sure = bool(floor) and confidence < floor
        alternatives: tuple[str, ...] = ()
        if not_sure:
            alternatives = tuple(c.sql for c in (cand, *(selection.runner_ups if selection
                                                         else ())) if c.sql)
        after = lm.stats()
        total = time.perf_counter() - start
        checker_s = sum(ctx.seconds.values())
        result = None if not_sure else cand.result
        normalized = cand.meta.get("normalized", "")  # the search spelled its candidates once
        if cand.sql and not normalized:
            try:
                normalized = normalize(cand.sql, schema.dialect, schema)
            except XanderError:
                normalized = cand.sql
        return Result(
            question=task.question,
            sql="" if not_sure else cand.sql,
            columns=result.columns if result else (),
            rows=result.rows if result else (),
            error=None if cand.ok or not_sure else (cand.error or "no result"),
            mode=mode,
            model=lm.name,
            seconds=total,
            timings={
                "total": total,
                "prepare": t0 - start,
                "prime": prime_s,  # the shared prompt prefix evaluated (and saved) or loaded
                "lm": after.seconds - before.seconds,
                "checkers": checker_s,
                **{f"checker:{k}": v for k, v in ctx.seconds.items()},
            },
            lm_tokens={
                "prompt": len(prompt.tokens),
                "evaluated": after.prompt_tokens - before.prompt_tokens,
                "generated": after.generated_tokens - before.generated_tokens,
                "cached": after.cached_tokens - before.cached_tokens,
                "calls": after.calls - before.calls,
            },
            expansions=expansions,
            pruned=pruned,
            stop_reason=stop,
            prompt_state=prompt_state,
            truncated=bool(result and result.truncated),
            diagnostics=cand.diagnostics,
            candidates=tuple(candidates),
            repairs=cand.repairs,
            trace=trace,
            normalized_sql="" if not_sure else normalized,
            confidence=confidence,
            not_sure=not_sure,
            alternatives=alternatives,
            pool=_pool(selection),
        )

    def close(self) -> None:
        self.engine.close()
