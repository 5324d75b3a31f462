"""Grammar-constrained decoding with the real embedded model (llama.cpp + llguidance masks).

The schema grammar (``xander.grammar.specialize``) with the closing fence (``with_end``) is what
``--greedy --grammar schema`` decodes under; these tests check the masks on the model's own
tokenizer, then what the constraint does to real answers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SPIDER, run_cli, spider_db
from tests.test_grammar import spider_gold, spider_schemas
from xander.errors import BackendError
from xander.grammar import constraint, load_grammar, specialize
from xander.prompts import CLOSE_FENCE

pytestmark = pytest.mark.slow
STADIUM = "How many concerts are there in each stadium? Give the stadium name."


@pytest.fixture(scope="module")
def gold():
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    return spider_gold()


def test_every_gold_query_is_allowed_token_by_token(embedded_lm, gold):
    """The model's own tokens of each Spider dev gold query (and the fence after it) pass the
    masks of that database's grammar: the constraint never forbids a right answer."""
    masks = embedded_lm.masks()
    schemas = spider_schemas()
    grammars = {db: constraint(specialize(schemas[db]), CLOSE_FENCE)
                for db in {db for db, _ in gold}}
    for i, (db, sql) in enumerate(gold):
        m = masks.matcher(grammars[db])
        for tok in embedded_lm.tokenize(" ".join(sql.split()) + "\n" + CLOSE_FENCE):
            if i % 25 == 0:  # the full mask on a sample (about 1 ms each), consume on all
                assert m.allowed()[tok], (sql, embedded_lm.piece(tok))
            m.consume(tok)
        assert m.accepting, sql


def test_largest_schema_masks_stay_under_the_item_limit(embedded_lm, gold):
    """One lexeme per name position: where any column may come, the largest Spider schema
    still gives a mask (one terminal per spelling overflowed llguidance's 50,000 Earley items
    after ``SELECT`` with this tokenizer, and the mask came back almost empty)."""
    schemas = spider_schemas()
    db = max({db for db, _ in gold}, key=lambda d: sum(map(len, schemas[d].values())))
    table = next(iter(schemas[db]))
    grammar = constraint(specialize(schemas[db]), CLOSE_FENCE)
    for prefix in ["SELECT", "SELECT count(*) FROM", f"SELECT * FROM {table} AS T1 WHERE",
                   "SELECT ((", "SELECT T1."]:
        m = embedded_lm.masks().matcher(grammar)
        for tok in embedded_lm.tokenize(prefix):
            m.consume(tok)
        assert m.allowed().sum() > 100, prefix


def test_a_refused_token_is_an_error(embedded_lm):
    m = embedded_lm.masks().matcher(constraint(load_grammar(), CLOSE_FENCE))
    (bad,) = embedded_lm.tokenize("DELETE")[:1]
    assert not m.allowed()[bad]
    with pytest.raises(BackendError, match="refused token"):
        m.consume(bad)


def test_schema_grammar_forces_the_schema_names(embedded_lm):
    """A grammar of a schema whose only table is ``stadium``: asked about singers, the model
    must write ``FROM stadium``.  Unconstrained, it writes ``FROM singer``."""
    from xander.engines import open_engine
    from xander.prompts import build_prompt
    from xander.schema import Schema
    from xander.task import Task

    schema = Schema.from_engine(open_engine(spider_db("concert_singer")))
    prompt = build_prompt(embedded_lm, schema, Task("How many singers are there?"), 12_000)
    free = embedded_lm.complete(prompt.tokens, max_tokens=40, stop=(CLOSE_FENCE,))
    assert "singer" in free.text.lower()
    only_stadium = constraint(specialize({"stadium": ["Stadium_ID", "Name"]}), CLOSE_FENCE)
    forced = embedded_lm.complete(prompt.tokens, max_tokens=40, stop=(CLOSE_FENCE,),
                                  grammar=only_stadium)
    assert "stadium" in forced.text.lower() and "singer" not in forced.text.lower()
    assert forced.finish_reason == "stop"  # it ended at the fence, not at max_tokens
    # log-probabilities stay the model's own: the forced text is less likely than the free one
    assert forced.logprob < free.logprob <= 0
    assert np.isfinite(forced.logprob)


def test_greedy_schema_grammar_fixes_an_invented_column(concert_singer):
    """Unconstrained greedy invents ``T1.Stadium_Name``; under the schema grammar the same
    model can only write a real column, and the query runs."""
    def ask(*extra: str) -> dict:
        proc = run_cli("ask", "--db", str(concert_singer), "--greedy", "--json", *extra, STADIUM)
        return json.loads(proc.stdout)

    free, sql_only, schema = ask(), ask("--grammar", "sql"), ask("--grammar", "schema")
    assert "Stadium_Name" in free["sql"] and "unknown-column" in free["error"]
    assert "Stadium_Name" in sql_only["sql"]  # the plain SQL grammar knows no names
    assert schema["error"] is None and schema["rows"], schema
    assert "Stadium_Name" not in schema["sql"]


def test_grammar_needs_greedy_and_a_known_kind(concert_singer):
    proc = run_cli("ask", "--db", str(concert_singer), "--grammar", "schema", "How many?")
    assert proc.returncode == 2 and "add --greedy" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("ask", "--db", str(concert_singer), "--greedy", "--grammar", "lark", "How?")
    assert proc.returncode != 0 and "unknown grammar 'lark'" in proc.stderr
    assert "Traceback" not in proc.stderr
