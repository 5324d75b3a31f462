"""The reviewer: how well a query explains the question, read from the LM the other way round.

The search's LM writes SQL given the question; the reviewer asks the same LM for the question
given the SQL and reads how likely the user's own words are (the mean log-probability of the
question's tokens).  A query that answers something else makes the question less likely: a
wrong join, a condition the question never states, a column it never asks for.  This is the
"reviewer" half of Coder-Reviewer reranking (Zhang et al., 2022), on the chat template of the
model at hand.  It costs one batched evaluation of about a hundred tokens per query, and no
decoding.
"""

from __future__ import annotations

from xander.lm.base import LM, ScoringLM

#: the reviewer's system text
SYSTEM = ("You are given a SQL query. Write the question, in plain English, that the query "
          "answers.")


def review_prompt(lm: LM, sql: str) -> list[int]:
    """Tokens of the reviewer's prompt for ``sql``, ending where the question starts."""
    user = f"```sql\n{' '.join(sql.split())}\n```"
    return lm.tokenize(lm.chat_prompt(SYSTEM, user))


def review(lm: ScoringLM, sql: str, question: str) -> float:
    """Mean log-probability (nats per token) of ``question`` given ``sql``."""
    tokens = lm.tokenize(question.strip())
    if not tokens:
        return 0.0
    lps = lm.continuation_logprobs(review_prompt(lm, sql), tokens)
    return sum(lps) / len(lps)
