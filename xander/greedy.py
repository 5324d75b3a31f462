"""The plain LM baseline: one greedy completion, extracted, checked and executed."""

from __future__ import annotations

from collections.abc import Sequence

from xander.checkers import CheckContext, Checker, run_checkers
from xander.engines import QueryResult
from xander.lm.base import LM, Grammar
from xander.prompts import CLOSE_FENCE, Prompt
from xander.scoring import Candidate
from xander.sqlparse import extract_sql


def greedy(
    lm: LM, prompt: Prompt, ctx: CheckContext, checkers: Sequence[Checker], max_tokens: int = 256,
    grammar: Grammar | None = None,
) -> Candidate:
    """Complete ``prompt`` greedily (under ``grammar``, if given: it must end with the closing
    fence, see ``xander.grammar.with_end``) and run the complete-query checkers on the SQL."""
    completion = lm.complete(prompt.tokens, max_tokens=max_tokens, stop=(CLOSE_FENCE,),
                             grammar=grammar)
    sql = prompt.as_run(extract_sql(completion.text), ctx.schema)  # as the search does
    diags = run_checkers(checkers, sql, ctx) if sql else []
    result = ctx.results.get(sql)
    return Candidate(
        sql=sql,
        logprob=completion.logprob,
        n_tokens=len(completion.tokens),
        diagnostics=tuple(diags),
        result=result if isinstance(result, QueryResult) else None,
        meta={"raw": completion.text, "finish": completion.finish_reason},
    )
