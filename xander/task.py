"""A question to answer: the input of greedy decoding and of the search."""

from __future__ import annotations

from dataclasses import dataclass

from xander.errors import InputError

MAX_QUESTION_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Task:
    """One natural-language question about one database.

    ``examples`` are rows the answer must contain (the paper's optional example tuples), each a
    tuple of strings as the user typed them; ``evidence`` is BIRD-style external knowledge.
    """

    question: str
    evidence: str = ""
    examples: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        q = self.question.strip() if isinstance(self.question, str) else ""
        if not q:
            raise InputError("the question is empty", 'ask something, e.g. "How many rows are in t?"')
        if len(q) > MAX_QUESTION_CHARS:
            raise InputError(
                f"the question is {len(q)} characters long (limit {MAX_QUESTION_CHARS})",
                "ask a shorter question",
            )
        try:
            q.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError("the question is not valid UTF-8 text",
                             "check the terminal's encoding") from exc
        if "\x00" in q:
            raise InputError("the question contains a NUL character", "remove control characters")
        object.__setattr__(self, "question", q)


def parse_example(text: str) -> tuple[str, ...]:
    """Split a ``--example`` value into cells (comma-separated, quotes allowed).

    >>> parse_example('France,3')
    ('France', '3')
    >>> parse_example('"Smith, John",42')
    ('Smith, John', '42')
    """
    import csv

    rows = list(csv.reader([text], skipinitialspace=True))
    if not rows or not rows[0] or all(not c.strip() for c in rows[0]):
        raise InputError(f"empty example row {text!r}", 'give cells separated by commas: "France,3"')
    return tuple(c.strip() for c in rows[0])
