"""Prompt construction: schema + question (+ evidence) -> chat prompt tokens.

The assistant turn is opened with a ```sql fence so the model's first token is SQL; generation
stops at the closing fence or the end of turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xander.config import LMConfig
from xander.engines.profile import dialect_profile
from xander.errors import ConfigError
from xander.focus import Embedder, fits, focus
from xander.linking import requalified, spelled, transpiled
from xander.lm.base import LM
from xander.lm.prompt_cache import shared_prefix
from xander.schema import Schema
from xander.task import Task
from xander.ties import stable_ties
from xander.values import ValueIndex

SQL_FENCE = "```sql\n"
FOCUS_METHODS = ("lexical", "embed", "off")
_DEFAULT = LMConfig()
CLOSE_FENCE = "```"

SYSTEM = (
    "You are an expert data analyst. You translate questions about a database into one correct "
    "{dialect} SELECT query. Use only tables and columns that exist in the schema, qualify "
    "columns with the right table alias, and join tables through their foreign keys."
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The rendered prompt and its tokens (the search's root).

    ``tokens[:prefix_len]`` is the part every question about this database shares (system text
    and schema, everything before the question): the part a backend may save and load instead
    of evaluating.  0 when the schema shown depends on the question (a schema over the budget is
    pruned to the question's tables).
    """

    text: str
    tokens: tuple[int, ...]
    prefix_len: int = 0
    dialect: str = ""
    """The sqlglot dialect the prompt asked the model to write (``[lm] prompt_dialect``) when
    it is not the engine's: ``as_run`` transpiles the model's SQL from it.  Empty: the
    engine's own."""
    home: str = ""
    """The named schema whose tables the prompt showed without its name (``Head.home``): the
    checks see the schema ``homed`` there, so a bare table name means that schema's."""

    def as_run(self, sql: str, schema: Schema) -> str:
        """The model's SQL as the engine runs it, in the search and in greedy alike:
        transpiled from the dialect asked for (``xander.linking.transpiled``), bare table
        names qualified with the schema's ``home`` (``requalified``), names spelled as a
        folding engine needs them (``spelled``), ORDER BY ties broken as SQLite breaks them
        (``xander.ties``); the same text where none of them changes anything."""
        sql = requalified(transpiled(sql, self.dialect, schema), schema)
        return stable_ties(spelled(sql, schema), schema)


@dataclass(frozen=True, slots=True)
class Head:
    """The user message up to the question (``schema_head``)."""

    text: str
    shared: bool
    """The same text for every question about the database (its state may be cached)."""
    home: str = ""
    """The one named schema the prompt shows, without its name (see ``schema_head``)."""


def needs_focus(schema: Schema, max_schema_chars: int = 12_000,
                method: str = _DEFAULT.focus) -> bool:
    """Whether the prompt shows ``schema`` focused on the question (``xander.focus``): the whole
    schema does not fit ``max_schema_chars`` and focus is not ``off``.  A caller with a value
    index passes it to ``build_prompt`` then."""
    if method not in FOCUS_METHODS:
        raise ConfigError(f"unknown [lm] focus {method!r}",
                          f"choose from {', '.join(FOCUS_METHODS)}")
    return method != "off" and not fits(schema, max_schema_chars)


def _embedder(method: str) -> Embedder | None:
    if method != "embed":
        return None
    from xander.embed import embedder

    return embedder()


def asked_dialect(schema: Schema, prompt_dialect: str = "") -> str:
    """The sqlglot dialect the prompt asks the model to write: ``prompt_dialect`` (``[lm]
    prompt_dialect``) when given, else the engine profile's choice (``EngineProfile.
    prompt_dialect``: SQLite on PostgreSQL), else the engine's own.

    >>> pg = Schema((), "postgres")
    >>> asked_dialect(pg), asked_dialect(pg, "postgres"), asked_dialect(Schema((), "duckdb"))
    ('sqlite', 'postgres', 'duckdb')
    """
    if prompt_dialect:
        import sqlglot

        try:
            sqlglot.Dialect.get_or_raise(prompt_dialect)
        except ValueError:
            raise ConfigError(f"unknown [lm] prompt_dialect {prompt_dialect!r}",
                              "name a sqlglot dialect (sqlite, postgres, duckdb, mysql), or "
                              "leave it empty for the engine's choice") from None
        return prompt_dialect
    return dialect_profile(schema.dialect).prompt_dialect or schema.dialect


def dialect_name(schema: Schema, prompt_dialect: str = "") -> str:
    """How the prompt names the SQL it asks for (``asked_dialect``'s display name).

    >>> dialect_name(Schema((), "postgres"), "postgres"), dialect_name(Schema((), "postgres"))
    ('PostgreSQL', 'SQLite')
    """
    return dialect_profile(asked_dialect(schema, prompt_dialect)).display_name


def schema_head(schema: Schema, question: str, max_schema_chars: int = 12_000, *,
                index: ValueIndex | None = None, focus_method: str = _DEFAULT.focus,
                focus_tables: int = _DEFAULT.focus_tables,
                prompt_dialect: str = "") -> Head:
    """The user message up to the question.

    A schema that fits is shown whole (the same text for every question).  One that does not
    is focused on the question: its tables that the question names, the values it names
    (``index``), the join steps between them (``xander.focus``), at most ``focus_tables`` by
    score; with ``focus_method = "off"`` the older pruning by shared words applies.

    When every table the focus keeps lives in one named schema (a catalog of databases, one
    per schema, asked about one of them), the prompt shows that schema as a database of its
    own: its tables without the schema's name (``Schema.part``), all of them when they fit
    (then the text is the same for every question routed there), else the focused ones.  The
    ``home`` says which; the model's bare names are qualified with it (``Prompt.as_run``).
    """
    dialect = dialect_name(schema, prompt_dialect)
    if focus_method not in FOCUS_METHODS:
        raise ConfigError(f"unknown [lm] focus {focus_method!r}",
                          f"choose from {', '.join(FOCUS_METHODS)}")
    home = ""
    if fits(schema, max_schema_chars):  # shown whole, with example rows when they fit too
        shown, shared = schema.render(max_chars=max_schema_chars), True
    elif focus_method == "off":
        shown = schema.render(question=question, max_chars=max_schema_chars)
        shared = shown == schema.render(max_chars=max_schema_chars)
    else:
        chosen = focus(schema, question, max_schema_chars, index=index,
                       embedder=_embedder(focus_method), max_tables=focus_tables).schema
        shared = False
        if len(homes := {t.db.lower(): t.db for t in chosen.tables}) == 1 and "" not in homes:
            home = next(iter(homes.values()))
            whole = schema.part(home)
            shared = fits(whole, max_schema_chars)
            chosen = whole if shared else chosen.part(home)
        shown = chosen.render(max_chars=max_schema_chars)
    return Head(f"Database schema ({dialect}):\n{shown}\n\n", shared, home)


def user_message(schema: Schema, task: Task, max_schema_chars: int = 12_000,
                 values: Sequence[str] = (), head: Head | None = None, *,
                 index: ValueIndex | None = None, focus_method: str = _DEFAULT.focus,
                 focus_tables: int = _DEFAULT.focus_tables, prompt_dialect: str = "") -> str:
    """The user turn: the schema, then the question, the evidence, and ``values``: lines such as
    ``singer.Country = 'France'`` for values of the database the question names (after the
    question, so the part before it stays the same for every question).  ``head`` is
    ``schema_head``'s when the caller has it already."""
    dialect = dialect_name(schema, prompt_dialect)
    if head is None:
        head = schema_head(schema, task.question, max_schema_chars, index=index,
                           focus_method=focus_method, focus_tables=focus_tables,
                           prompt_dialect=prompt_dialect)
    parts = [f"Question: {task.question}"]
    if task.evidence:
        parts.append(f"Hint: {task.evidence}")
    if values:
        if head.home:  # named as the prompt shows its tables
            cut = len(head.home) + 1
            values = [v[cut:] if v.lower().startswith(f"{head.home.lower()}.") else v
                      for v in values]
        parts.append("Values in the database that the question names: " + "; ".join(values))
    parts.append(f"Write one {dialect} SELECT query that answers the question.")
    return head.text + "\n".join(parts)


def build_prompt(lm: LM, schema: Schema, task: Task, max_schema_chars: int = 12_000,
                 values: Sequence[str] = (), *, index: ValueIndex | None = None,
                 focus_method: str = _DEFAULT.focus,
                 focus_tables: int = _DEFAULT.focus_tables, prompt_dialect: str = "") -> Prompt:
    """The chat prompt for ``task``, ending inside an opened ```sql fence.

    ``schema`` stays whole for the checkers and repair; only the prompt is focused when it does
    not fit (``schema_head``), and then ``prefix_len`` is 0: the schema shown depends on the
    question (unless it is one named schema shown whole: ``Prompt.home``; the checks then take
    ``schema.homed(prompt.home)``).  ``prompt_dialect`` names the dialect asked for
    (``dialect_name``)."""
    asked = asked_dialect(schema, prompt_dialect)
    system = SYSTEM.format(dialect=dialect_profile(asked).display_name)
    head = schema_head(schema, task.question, max_schema_chars, index=index,
                       focus_method=focus_method, focus_tables=focus_tables,
                       prompt_dialect=prompt_dialect)
    user = user_message(schema, task, max_schema_chars, values, head,
                        prompt_dialect=prompt_dialect)
    text = lm.chat_prompt(system, user, SQL_FENCE)
    tokens = tuple(lm.tokenize(text))
    prefix_len = 0
    if head.shared and head.text in text:
        cut = text.index(head.text) + len(head.text)
        # a BPE merge across the cut can change the last tokens: keep what the prompt shares
        prefix_len = shared_prefix(tokens, lm.tokenize(text[:cut]))
    return Prompt(text, tokens, prefix_len, asked if asked != schema.dialect else "", head.home)
