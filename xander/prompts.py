"""Prompt construction: schema + question (+ evidence) -> chat prompt tokens.

The assistant turn is opened with a ```sql fence so the model's first token is SQL; generation
stops at the closing fence or the end of turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xander.engines.profile import dialect_profile
from xander.lm.base import LM
from xander.lm.prompt_cache import shared_prefix
from xander.schema import Schema
from xander.task import Task

SQL_FENCE = "```sql\n"
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


def schema_head(schema: Schema, question: str, max_schema_chars: int = 12_000) -> tuple[str, bool]:
    """The user message up to the question, and whether it is the same for every question."""
    dialect = dialect_profile(schema.dialect).display_name
    shown = schema.render(question=question, max_chars=max_schema_chars)
    shared = shown == schema.render(max_chars=max_schema_chars)
    return f"Database schema ({dialect}):\n{shown}\n\n", shared


def user_message(schema: Schema, task: Task, max_schema_chars: int = 12_000,
                 values: Sequence[str] = (), head: str | None = None) -> str:
    """The user turn: the schema, then the question, the evidence, and ``values``: lines such as
    ``singer.Country = 'France'`` for values of the database the question names (after the
    question, so the part before it stays the same for every question).  ``head`` is
    ``schema_head``'s text when the caller has it already."""
    dialect = dialect_profile(schema.dialect).display_name
    if head is None:
        head, _ = schema_head(schema, task.question, max_schema_chars)
    parts = [f"Question: {task.question}"]
    if task.evidence:
        parts.append(f"Hint: {task.evidence}")
    if values:
        parts.append("Values in the database that the question names: " + "; ".join(values))
    parts.append(f"Write one {dialect} SELECT query that answers the question.")
    return head + "\n".join(parts)


def build_prompt(lm: LM, schema: Schema, task: Task, max_schema_chars: int = 12_000,
                 values: Sequence[str] = ()) -> Prompt:
    """The chat prompt for ``task``, ending inside an opened ```sql fence."""
    system = SYSTEM.format(dialect=dialect_profile(schema.dialect).display_name)
    head, shared = schema_head(schema, task.question, max_schema_chars)
    user = user_message(schema, task, max_schema_chars, values, head)
    text = lm.chat_prompt(system, user, SQL_FENCE)
    tokens = tuple(lm.tokenize(text))
    prefix_len = 0
    if shared and head in text:
        cut = text.index(head) + len(head)
        # a BPE merge across the cut can change the last tokens: keep what the prompt shares
        prefix_len = shared_prefix(tokens, lm.tokenize(text[:cut]))
    return Prompt(text, tokens, prefix_len)
