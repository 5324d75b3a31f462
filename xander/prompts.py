"""Prompt construction: schema + question (+ evidence) -> chat prompt tokens.

The assistant turn is opened with a ```sql fence so the model's first token is SQL; generation
stops at the closing fence or the end of turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from xander.engines.profile import dialect_profile
from xander.lm.base import LM
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
    """The rendered prompt and its tokens (the search's root)."""

    text: str
    tokens: tuple[int, ...]


def user_message(schema: Schema, task: Task, max_schema_chars: int = 12_000) -> str:
    dialect = dialect_profile(schema.dialect).display_name
    parts = [
        f"Database schema ({dialect}):",
        schema.render(question=task.question, max_chars=max_schema_chars),
        "",
        f"Question: {task.question}",
    ]
    if task.evidence:
        parts.append(f"Hint: {task.evidence}")
    parts.append(f"Write one {dialect} SELECT query that answers the question.")
    return "\n".join(parts)


def build_prompt(lm: LM, schema: Schema, task: Task, max_schema_chars: int = 12_000) -> Prompt:
    """The chat prompt for ``task``, ending inside an opened ```sql fence."""
    system = SYSTEM.format(dialect=dialect_profile(schema.dialect).display_name)
    text = lm.chat_prompt(system, user_message(schema, task, max_schema_chars), SQL_FENCE)
    return Prompt(text, tuple(lm.tokenize(text)))
