"""The persistent prompt cache: files, checks, eviction (no model), and one round trip of a real
llama.cpp state (slow)."""

from __future__ import annotations

import doctest
import os
import time
from pathlib import Path

import numpy as np
import pytest

from xander.lm import llamacpp_state, prompt_cache
from xander.lm.llamacpp_state import PromptStateError, decode_state, encode_state
from xander.lm.prompt_cache import (
    SUFFIX,
    CacheEntry,
    PromptCache,
    PromptCacheError,
    cache_key,
    shared_prefix,
)

MODEL = "sha256:" + "ab" * 32
RUNTIME = "llama-cpp-python 0.3.36"
PREFIX = (151644, 8948, 198, 2610, 525, 458, 6203)


def cache(tmp_path: Path, max_bytes: int = 1 << 20, **kw: str) -> PromptCache:
    return PromptCache(tmp_path / "prompts", max_bytes, model=kw.get("model", MODEL),
                       runtime=kw.get("runtime", RUNTIME))


def only_file(c: PromptCache) -> Path:
    (path,) = c.directory.glob(f"*{SUFFIX}")
    return path


@pytest.mark.parametrize("module", [prompt_cache, llamacpp_state])
def test_doctests(module) -> None:
    assert doctest.testmod(module).failed == 0


def test_put_then_get(tmp_path: Path) -> None:
    c = cache(tmp_path)
    assert c.get(PREFIX) is None
    assert c.put(PREFIX, b"state bytes")
    assert c.get(PREFIX) == b"state bytes"
    assert c.get(list(PREFIX)) == b"state bytes"  # a list and a tuple are the same prefix
    assert c.get(PREFIX[:-1]) is None  # exact match only: no prefix of a stored prefix
    assert c.get(PREFIX + (13,)) is None
    assert only_file(c).name == cache_key(MODEL, RUNTIME, PREFIX) + SUFFIX


def test_put_replaces_an_entry(tmp_path: Path) -> None:
    c = cache(tmp_path)
    c.put(PREFIX, b"old")
    c.put(PREFIX, b"new")
    assert c.get(PREFIX) == b"new"
    assert len(c.entries()) == 1


def test_a_fresh_cache_object_reads_what_another_wrote(tmp_path: Path) -> None:
    cache(tmp_path).put(PREFIX, b"x" * 1000)
    assert cache(tmp_path).get(PREFIX) == b"x" * 1000


def test_leftover_temp_file_is_ignored(tmp_path: Path) -> None:
    c = cache(tmp_path)
    c.put(PREFIX, b"good")
    key = cache_key(MODEL, RUNTIME, PREFIX)
    # a writer that died between write and replace leaves its temporary file behind
    (c.directory / f".{key[:16]}-dead.tmp").write_bytes(b"half a sta")
    assert c.get(PREFIX) == b"good"
    assert [e.key for e in c.entries()] == [key]
    other = (1, 2, 3)
    (c.directory / f".{cache_key(MODEL, RUNTIME, other)[:16]}-x.tmp").write_bytes(b"junk")
    assert c.get(other) is None
    assert c.total_bytes() == only_file(c).stat().st_size


def test_stale_temp_files_are_removed_on_put(tmp_path: Path) -> None:
    c = cache(tmp_path)
    c.directory.mkdir(parents=True)
    stale, fresh = c.directory / ".dead-1.tmp", c.directory / ".live-2.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = time.time() - 2 * prompt_cache.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    c.put(PREFIX, b"state")
    assert not stale.exists() and fresh.exists()  # a writer may still be busy with the fresh one


@pytest.mark.parametrize("damage", ["truncate", "flip payload", "flip header", "empty", "junk"])
def test_a_corrupt_file_is_a_miss_and_is_deleted(tmp_path: Path, damage: str) -> None:
    c = cache(tmp_path)
    c.put(PREFIX, bytes(range(256)) * 4)
    path = only_file(c)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-10]
    elif damage == "flip payload":
        data[-100] ^= 0x01
    elif damage == "flip header":
        data[30] ^= 0x20
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"\x80" * 64)
    path.write_bytes(bytes(data))
    assert c.get(PREFIX) is None
    assert not path.exists()
    assert c.put(PREFIX, b"rebuilt") and c.get(PREFIX) == b"rebuilt"


def test_entries_drop_truncated_files(tmp_path: Path) -> None:
    c = cache(tmp_path)
    c.put(PREFIX, b"a" * 500)
    c.put((1, 2), b"b" * 500)
    victim = c.directory / (cache_key(MODEL, RUNTIME, (1, 2)) + SUFFIX)
    victim.write_bytes(victim.read_bytes()[:-1])
    assert [e.n_tokens for e in c.entries()] == [len(PREFIX)]
    assert not victim.exists()


def test_another_model_or_runtime_misses(tmp_path: Path) -> None:
    cache(tmp_path).put(PREFIX, b"state of model ab")
    assert cache(tmp_path, model="sha256:" + "cd" * 32).get(PREFIX) is None
    assert cache(tmp_path, runtime="llama-cpp-python 0.3.37").get(PREFIX) is None
    assert cache(tmp_path).get(PREFIX) == b"state of model ab"  # still there for its own model


def test_a_foreign_file_under_our_name_is_rejected(tmp_path: Path) -> None:
    """A file whose header names another model (copied or renamed in) is not trusted."""
    mine, theirs = cache(tmp_path), cache(tmp_path, model="other")
    theirs.put(PREFIX, b"their state")
    foreign = only_file(theirs)
    target = mine.directory / (mine.key(PREFIX) + SUFFIX)
    foreign.rename(target)
    assert mine.get(PREFIX) is None
    assert not target.exists()


def test_lru_eviction_under_max_bytes(tmp_path: Path) -> None:
    blob = b"z" * 1000
    probe = cache(tmp_path, max_bytes=10_000)
    probe.put((0,), blob)
    size = probe.total_bytes()
    probe.clear()
    # room for three entries and not four (headers differ by a few bytes: the creation time)
    c = cache(tmp_path, max_bytes=3 * size + 64)
    a, b, d, e = (1,), (2,), (3,), (4,)
    for tokens in (a, b, d):
        assert c.put(tokens, blob)
    assert c.get(a) == blob  # a is now the most recently used; b the least
    c.put(e, blob)
    assert c.get(b) is None
    assert all(c.get(t) == blob for t in (a, d, e))
    assert c.total_bytes() <= c.max_bytes
    c.get(a)
    c.get(e)  # d is now the oldest
    c.put((5,), blob)
    assert sorted(x.n_tokens for x in c.entries()) == [1, 1, 1]
    assert c.get(d) is None and c.get(a) == blob


def test_a_blob_larger_than_the_budget_is_not_stored(tmp_path: Path) -> None:
    c = cache(tmp_path, max_bytes=500)
    c.put((1,), b"small")
    assert not c.put(PREFIX, b"x" * 1000)
    assert c.get(PREFIX) is None
    assert c.get((1,)) == b"small"  # nothing else was evicted for it


def test_the_new_entry_survives_its_own_eviction(tmp_path: Path) -> None:
    c = cache(tmp_path, max_bytes=1500)
    c.put((1,), b"a" * 1000)
    c.put((2,), b"b" * 1000)
    assert c.get((2,)) == b"b" * 1000 and c.get((1,)) is None


def test_entries_and_clear(tmp_path: Path) -> None:
    c = cache(tmp_path)
    assert c.entries() == [] and c.total_bytes() == 0 and c.clear() == 0  # no directory yet
    c.put(PREFIX, b"1" * 100)
    c.put((9, 9), b"2" * 200)
    cache(tmp_path, model="other").put((7,), b"3")
    entries = c.entries()
    assert all(isinstance(e, CacheEntry) for e in entries)
    assert [(e.model, e.n_tokens) for e in entries] == [("other", 1), (MODEL, 2),
                                                        (MODEL, len(PREFIX))]
    assert entries[0].last_used >= entries[1].last_used >= entries[2].last_used
    assert sum(e.n_bytes for e in entries) == c.total_bytes()
    assert all(e.path.stat().st_size == e.n_bytes and e.runtime == RUNTIME for e in entries)
    assert entries[1].key == c.key((9, 9))
    (c.directory / ".half.tmp").write_bytes(b"x")
    (c.directory / "notes.txt").write_text("not ours")
    assert c.clear() == 3
    assert c.entries() == [] and c.get(PREFIX) is None
    assert sorted(p.name for p in c.directory.iterdir()) == ["notes.txt"]


def test_an_unwritable_directory_raises_a_cache_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    c = PromptCache(blocker / "prompts", model=MODEL, runtime=RUNTIME)
    assert c.get(PREFIX) is None
    with pytest.raises(PromptCacheError):
        c.put(PREFIX, b"state")


def test_shared_prefix_cuts_at_a_real_boundary() -> None:
    prompt, head = [1, 2, 3, 40, 5], [1, 2, 3, 4]  # "4" merged with the question's first token
    assert prompt[:shared_prefix(prompt, head)] == [1, 2, 3]


def test_state_blob_checks() -> None:
    blob = encode_state(np.arange(5), 151_936, b"\x00" * 64)
    d = decode_state(blob)
    assert d.tokens.dtype == np.dtype("<i4") and d.tokens.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(PromptStateError):
        decode_state(blob + b"x")
    bad = bytearray(blob)
    bad[:8] = b"PICKLE\x00\x00"
    with pytest.raises(PromptStateError):
        decode_state(bytes(bad))
    forged = blob.replace(b'"<i4"', b'"|O8"')  # an object dtype must never be read
    with pytest.raises(PromptStateError):
        decode_state(forged)


@pytest.mark.slow
def test_a_loaded_state_gives_the_same_next_tokens(embedded_lm, concert_singer, tmp_path):
    """Evaluate a schema prefix, save, empty the context, load: the next-token top-k after
    prefix + question matches the one computed without the cache, and loading is faster."""
    from xander.engines import open_engine
    from xander.lm.llamacpp_state import load_state, runtime_identity, save_state
    from xander.prompts import build_prompt
    from xander.schema import Schema
    from xander.task import Task

    lm = embedded_lm
    llama = lm._llm
    schema = Schema.from_engine(open_engine(concert_singer))
    prompt = build_prompt(lm, schema, Task("How many singers are there?"))
    full = list(prompt.tokens)
    head = lm.tokenize(prompt.text[: prompt.text.index("Question:")])
    prefix = full[: shared_prefix(full, head)]
    assert 200 < len(prefix) < len(full)

    llama.reset()
    t0 = time.perf_counter()
    llama.eval(prefix)
    evaluate_s = time.perf_counter() - t0
    blob = save_state(llama)
    c = PromptCache(tmp_path, model=str(lm.path), runtime=runtime_identity(llama))
    assert c.put(prefix, blob)
    # the backend takes the context as holding the prefix and evaluates the question's tokens
    # in one batch, as it will after a load (so both ways do the same arithmetic)
    lm._seq, lm._logprobs = list(prefix), None
    want = lm.top_k([full], 10)[0]  # computed without the cache

    llama.reset()
    lm._seq, lm._logprobs = [], None  # the backend's view of the context: empty
    t0 = time.perf_counter()
    stored = PromptCache(tmp_path, model=str(lm.path), runtime=runtime_identity(llama)).get(prefix)
    assert stored is not None
    assert load_state(llama, stored) == prefix
    load_s = time.perf_counter() - t0
    lm._seq, lm._logprobs = list(prefix), None
    got = lm.top_k([full], 10)[0]

    print(f"\nprefix {len(prefix)} tokens, blob {len(blob):,} bytes: evaluate {evaluate_s:.2f} s, "
          f"read + load {load_s:.3f} s")
    assert [t.token for t in got] == [t.token for t in want]
    assert np.allclose([t.logprob for t in got], [t.logprob for t in want], atol=1e-4)
    assert load_s < evaluate_s / 5
    lm._seq, lm._logprobs = [], None
    llama.reset()
