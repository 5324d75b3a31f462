"""The OpenAI-compatible server backend.

Model-free: a fake server (``http.server`` in a thread, speaking vLLM's or llama-cpp-python's
dialect with a one-character-per-token tokenizer) checks the protocol mapping, retries with
backoff, garbage and 4xx replies, connection failures, round-robin replicas, and that a dead
server stops ``xander bench`` with one line instead of recording wrong answers.
Slow: a real ``python -m llama_cpp.server`` with the embedded model must agree with the
in-process backend, answer ``xander ask`` and ``xander bench``, and a benchmark whose server is
killed mid-run must stop cleanly and resume without loss or duplicates once it is back.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SPIDER, assert_grammar_forces_the_schema, run_cli
from xander.errors import LMServerError, ModelNotFoundError
from xander.lm.base import LM
from xander.lm.openai_compat import OpenAICompatLM, parse_spec
from xander.lm.openai_wire import parse_logprobs
from xander.lm.registry import resolve

# -- a fake server ---------------------------------------------------------------------------------
SPECIALS = {"<|im_start|>": 1000, "<|im_end|>": 1001, "<|endoftext|>": 1002}
NAMES = {v: k for k, v in SPECIALS.items()}
#: The fake model's next-token log-probabilities, whatever the prompt ("1" is always best).
NEXT = {ord("1"): -0.1, ord("2"): -2.5, SPECIALS["<|im_end|>"]: -3.0, ord("3"): -4.0}
OTHER = -9.0


def fake_tokenize(text: str) -> list[int]:
    out, i = [], 0
    while i < len(text):
        special = next((s for s in SPECIALS if text.startswith(s, i)), None)
        if special:
            out.append(SPECIALS[special])
            i += len(special)
        else:
            out.append(ord(text[i]))
            i += 1
    return out


def fake_detokenize(tokens: list[int], special: bool) -> str:
    return "".join(NAMES.get(t, chr(t)) if special or t not in NAMES else "" for t in tokens)


class FakeServer:
    """vLLM (token-id prompts and keys) or llama-cpp-python (text prompts and keys) in a thread.

    ``script`` says what the next ``/v1/completions`` requests get: an HTTP status, ``"garbage"``
    (not JSON), ``"fieldless"`` (JSON without choices), ``"drop"`` (connection closed) or
    ``"slow"`` (an answer after a second); the rest are answered normally.
    """

    def __init__(self, flavor: str = "vllm", port: int = 0) -> None:
        self.flavor = flavor
        self.script: list[Any] = []
        self.requests: list[tuple[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # http.server's naming
                fake.requests.append((self.path, None))
                self._send(200, {"object": "list", "data": [{"id": "fake-model"}]}
                           if self.path == "/v1/models" else {"detail": "Not Found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body))
                if self.path == "/v1/completions" and fake.script:
                    action = fake.script.pop(0)
                    if action == "drop":
                        self.close_connection = True
                        return
                    if action == "garbage":
                        return self._send(200, b"<html>upstream hiccup</html>")
                    if action == "fieldless":
                        return self._send(200, {"object": "text_completion"})
                    if action == "slow":
                        time.sleep(1.0)
                    elif isinstance(action, int):
                        return self._send(action, {"error": {"message": f"scripted {action}: "
                                                             "prompt is too long"}})
                self._send(*fake.answer(self.path, body))

            def _send(self, status: int, payload: Any) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self, path: str) -> list[Any]:
        return [b for p, b in self.requests if p == path]

    # -- the two dialects ------------------------------------------------------------------------
    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        vllm = self.flavor == "vllm"
        if path == ("/tokenize" if vllm else "/extras/tokenize"):
            if vllm and body.get("model") != "fake-model":
                return 404, {"error": {"message": f"model {body.get('model')} does not exist"}}
            return 200, {"tokens": fake_tokenize(body["prompt" if vllm else "input"])}
        if path == ("/detokenize" if vllm else "/extras/detokenize"):
            return 200, {("prompt" if vllm else "text"): fake_detokenize(body["tokens"], vllm)}
        if path != "/v1/completions":
            return 404, {"detail": "Not Found"}
        prompt = body["prompt"]
        if vllm:
            prompts = prompt if prompt and isinstance(prompt[0], list) else [prompt]
        elif isinstance(prompt, str):
            prompts = [fake_tokenize(prompt)]
        else:
            return 422, {"detail": [{"msg": "Input should be a valid string"}]}
        choices = [self.choice(i, p, body) for i, p in enumerate(prompts)]
        n = sum(len(p) for p in prompts)
        return 200, {"object": "text_completion", "model": "fake-model", "choices": choices,
                     "usage": {"prompt_tokens": n, "completion_tokens": len(prompts)}}

    def choice(self, index: int, prompt: list[int], body: dict[str, Any]) -> dict[str, Any]:
        bias = {int(k): v for k, v in (body.get("logit_bias") or {}).items()}
        forced = [t for t, v in bias.items() if v > 50]
        banned = {t for t, v in bias.items() if v < -50}
        out: list[int] = []
        for _ in range(body.get("max_tokens", 16)):
            tok = forced[0] if forced else ord("1") if len(out) < 3 else SPECIALS["<|im_end|>"]
            if tok in banned:
                tok = ord("1")
            out.append(tok)
            if tok in NAMES:
                break
        finish = "stop" if out[-1] in NAMES else "length"
        shown = out if self.flavor == "vllm" else [t for t in out if t not in NAMES]
        k = body.get("logprobs")
        entries = [*([(t, None) for t in prompt] if body.get("echo") else []),
                   *[(t, NEXT.get(t, OTHER)) for t in shown]]
        if body.get("echo") and entries:
            entries[0] = (entries[0][0], None)
        logprobs = None
        if k is not None:
            key = ((lambda t: f"token_id:{t}") if self.flavor == "vllm"
                   else (lambda t: fake_detokenize([t], False)))
            top = dict(sorted(NEXT.items(), key=lambda kv: -kv[1])[:k])
            logprobs = {
                "tokens": [key(t) for t, _ in entries],
                "token_logprobs": [-1.0 if lp is None and i else lp
                                   for i, (_, lp) in enumerate(entries)],
                "top_logprobs": [{key(t): v for t, v in top.items()} for _ in entries],
                "text_offset": [0] * len(entries),
            }
        text = fake_detokenize([t for t in out if t not in NAMES], False)
        return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}


@pytest.fixture
def fake():
    server = FakeServer()
    yield server
    server.close()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- model-free tests ------------------------------------------------------------------------------
def test_spec_parsing_and_registry():
    assert resolve("openai:http://127.0.0.1:8000") == ("openai", "http://127.0.0.1:8000")
    urls, opts = parse_spec("http://a:1/v1,https://b:2/?model=m&tries=5&backoff=0.1")
    assert urls == ("http://a:1", "https://b:2")
    assert opts == {"model_name": "m", "tries": 5, "backoff": 0.1}
    for bad, words in [("openai:", "no server URL"), ("openai:ftp://x", "not an http"),
                       ("openai:http://a:1?colour=red", "unknown option 'colour'"),
                       ("openai:http://a:1?tries=many", "bad value 'many'")]:
        with pytest.raises(ModelNotFoundError, match=words):
            from xander.lm.registry import load_lm

            load_lm(bad)


def test_protocol_against_a_vllm_like_server(fake):
    lm = OpenAICompatLM(fake.url)
    assert isinstance(lm, LM) and lm.name == "fake-model" and lm.flavor.name == "vllm"
    assert lm.supports_paths and lm.path_tokens == 24  # replies name their tokens by id
    assert lm.eos_tokens == {1001, 1002}
    text = lm.chat_prompt("sys", "q?", "```sql\n")
    assert text == ("<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nq?<|im_end|>\n"
                    "<|im_start|>assistant\n```sql\n")
    ids = lm.tokenize(text)
    assert ids == fake_tokenize(text) and lm.detokenize(ids) == text
    fake.requests.clear()
    (a, b) = lm.top_k([ids, [*ids, 49]], 3)
    assert len(fake.paths("/v1/completions")) == 1  # vLLM gets the prefixes in one request
    assert fake.paths("/v1/completions")[0]["prompt"] == [ids, [*ids, 49]]
    assert [(c.token, c.text, c.logprob) for c in a] == [(49, "1", -0.1), (50, "2", -2.5),
                                                         (1001, "<|im_end|>", -3.0)]
    assert a == b
    done = lm.complete(ids, max_tokens=10)
    # the end-of-turn token vLLM reports is neither a completion token nor in the sum
    assert (done.text, done.tokens, done.finish_reason) == ("111", (49, 49, 49), "stop")
    assert done.logprob == pytest.approx(-0.3) and done.prompt_tokens == len(ids)
    assert lm.complete(ids, max_tokens=2).finish_reason == "length"
    st = lm.stats()
    assert st.calls == 4 and st.generated_tokens == 2 and st.prompt_tokens > 4 * len(ids)
    assert st.seconds > 0
    fake.requests.clear()
    paths = lm.top_k_paths([ids, [*ids, 49]], 2, 4)  # greedy paths, one request for both
    assert len(fake.paths("/v1/completions")) == 1
    assert [[t for t, _ in p] for p in paths] == [[49, 49, 49, 1001]] * 2
    assert [(c.token, c.logprob) for c in paths[0][0][1]] == [(49, -0.1), (50, -2.5)]


def test_text_only_server_gets_text_prompts_and_text_keys():
    fake = FakeServer("llama-cpp-python")
    try:
        lm = OpenAICompatLM(fake.url, model_name="anything")
        assert lm.flavor.name == "llama-cpp-python"
        assert not lm.supports_paths and lm.path_tokens == 0  # its replies name tokens by text
        text = lm.chat_prompt("sys", "q?", "")
        ids = lm.tokenize(text)
        # its detokenizer drops special tokens
        assert lm.detokenize(ids) == "system\nsys\nuser\nq?\nassistant\n"
        fake.requests.clear()
        (choices,) = lm.top_k([ids], 4)
        body = fake.paths("/v1/completions")[0]
        assert body["prompt"] == text  # special tokens spelled out again
        assert body["repeat_penalty"] == 1.0  # its 1.1 default would change greedy output
        assert set(body["logit_bias"]) == {"1001", "1002"}  # keeps the logprobs in the reply
        # the empty text key of a control token is read as the end-of-turn token
        assert [(c.token, c.logprob) for c in choices] == [(49, -0.1), (50, -2.5),
                                                           (1001, -3.0), (51, -4.0)]
        done = lm.complete(ids, max_tokens=10)
        assert (done.text, done.tokens, done.logprob) == ("111", (49, 49, 49), -0.1 * 3)
    finally:
        fake.close()


def test_retries_with_backoff_on_5xx_and_dropped_connections(fake):
    lm = OpenAICompatLM(fake.url, tries=3, backoff=0.2)
    ids = lm.tokenize("SELECT")
    fake.requests.clear()
    fake.script = [503, "drop"]
    start = time.perf_counter()
    assert lm.top_k([ids], 2)[0][0].token == 49
    assert time.perf_counter() - start >= 0.2 + 0.4  # waited 0.2 s, then 0.4 s
    assert len(fake.paths("/v1/completions")) == 3
    fake.script = [500, 502, 503]
    with pytest.raises(LMServerError) as err:
        lm.top_k([ids], 2)
    assert f"LM server at {fake.url} failed on /v1/completions: HTTP 503" in str(err.value)


def test_garbage_and_4xx_are_not_retried(fake):
    lm = OpenAICompatLM(fake.url, tries=3, backoff=0.01)
    ids = lm.tokenize("SELECT")
    for action, words in [("garbage", "returned garbage for /v1/completions: not JSON"),
                          ("fieldless", "returned garbage for /v1/completions: KeyError"),
                          (400, ("refused /v1/completions: HTTP 400: scripted 400: prompt is "
                                 "too long"))]:
        fake.requests.clear()
        fake.script = [action]
        with pytest.raises(LMServerError) as err:
            lm.complete(ids)
        assert f"LM server at {fake.url} {words}" in err.value.message
        assert len(fake.paths("/v1/completions")) == 1


def test_unknown_model_name_shows_the_servers_words(fake):
    with pytest.raises(LMServerError) as err:
        OpenAICompatLM(fake.url, model_name="nope")
    assert "no tokenizer endpoint" in err.value.message
    assert "/tokenize (vllm): HTTP 404: model nope does not exist" in err.value.message


def test_connection_refused_names_the_server_and_what_to_do():
    url = _dead_url()
    start = time.perf_counter()
    with pytest.raises(LMServerError) as err:
        OpenAICompatLM(url, tries=2, backoff=0.05)
    assert time.perf_counter() - start >= 0.05
    assert err.value.message == f"LM server at {url} is not answering: connection refused"
    assert "vllm serve" in err.value.hint and "llama_cpp.server" in err.value.hint
    copy = pickle.loads(pickle.dumps(err.value))  # crosses process pools with its hint
    assert (type(copy), copy.message, copy.hint) == (LMServerError, err.value.message,
                                                     err.value.hint)


def test_timeout(fake):
    lm = OpenAICompatLM(fake.url, timeout=0.3, tries=2, backoff=0.01)
    ids = lm.tokenize("SELECT")
    fake.script = ["slow", "slow"]
    with pytest.raises(LMServerError, match=r"did not answer within 0\.3 s"):
        lm.complete(ids)


def test_replicas_are_used_round_robin():
    a, b = FakeServer(), FakeServer()
    try:
        lm = OpenAICompatLM([a.url, b.url], concurrency=2)
        ids = lm.tokenize("SELECT")
        a.requests.clear()
        b.requests.clear()
        for _ in range(4):
            lm.complete(ids)
        assert len(a.paths("/v1/completions")) == len(b.paths("/v1/completions")) == 2
        b.close()  # one replica down: the retry goes to the other
        for _ in range(2):
            assert lm.complete(ids).text == "111"
    finally:
        a.close()


def test_parse_logprobs_shapes():
    chat_shape = {"content": [{"id": 7, "token": "x", "logprob": -0.5,
                               "top_logprobs": [{"id": 7, "token": "x", "logprob": -0.5}]}]}
    (e,) = parse_logprobs(chat_shape)
    assert (e.token, e.text, e.logprob, e.top) == (7, "x", -0.5, ((7, "x", -0.5),))
    assert parse_logprobs(None) == []


def _spider_or_skip() -> None:
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("Spider data not available")


def test_runner_stops_on_a_dead_server_and_records_nothing(tmp_path):
    from xander.bench.runner import RunSpec, read_records, run

    _spider_or_skip()
    url = _dead_url()
    spec = RunSpec(data=SPIDER, out=tmp_path / "run.jsonl", limit=2,
                   model=f"openai:{url}?tries=1")
    with pytest.raises(LMServerError, match="not answering"):
        run(spec, progress=False)
    assert read_records(spec.out) == []


def test_bench_with_a_dead_server_prints_one_line(tmp_path):
    _spider_or_skip()
    url = _dead_url()
    out = tmp_path / "run.jsonl"
    proc = run_cli("bench", "--data", str(SPIDER), "--out", str(out), "--limit", "2",
                   "--model", f"openai:{url}?tries=2&backoff=0.01", timeout=120)
    _assert_one_error_line(proc, url)
    assert out.read_text() == ""


def _assert_one_error_line(proc: subprocess.CompletedProcess[str], url: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"error: LM server at {url} is not answering: "), errors[0]
    assert "vllm serve" in errors[0]


# -- a real llama-cpp-python server ----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gguf() -> Path:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] not installed")
    from xander.lm.embedded import DEFAULT_EMBEDDED, ensure_embedded

    return ensure_embedded(DEFAULT_EMBEDDED)


def _start_server(path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m llama_cpp.server`` on ``port``, once it answers ``GET /v1/models``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "8192", "--n_threads", str(os.cpu_count() or 2),
         "--n_threads_batch", str(os.cpu_count() or 2)],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    """URL of a real llama-cpp-python server running the embedded model."""
    path = _gguf()
    port = _free_port()
    proc = _start_server(path, port, tmp_path_factory.mktemp("server") / "server.log")
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


@pytest.mark.slow
def test_server_agrees_with_the_in_process_model(llama_server, embedded_lm):
    lm = OpenAICompatLM(llama_server)
    assert lm.flavor.name == "llama-cpp-python" and lm.eos_tokens == embedded_lm.eos_tokens
    system, user = "You write SQLite SQL.", "Table singer(Singer_ID, Name). How many singers?"
    text = lm.chat_prompt(system, user, "```sql\n")
    assert text == embedded_lm.chat_prompt(system, user, "```sql\n")
    ids = lm.tokenize(text)
    assert ids == embedded_lm.tokenize(text)
    for prefix in (ids, [*ids, *lm.tokenize("SELECT count(*)")]):
        (remote,), (local,) = lm.top_k([prefix], 4), embedded_lm.top_k([prefix], 4)
        assert remote[0].token == local[0].token and remote[0].text == local[0].text
        local_lp = {c.token: c.logprob for c in local}
        shared = [c for c in remote if c.token in local_lp]
        assert len(shared) >= 3
        for c in shared:
            # The server evaluates the prompt in other batches than the in-process cache does, and
            # Q4 matmuls round differently per batch split: log-probabilities of the runners-up
            # move by up to ~0.14 (seen: -2.60 vs -2.73, -9.03 vs -8.95), so compare probabilities.
            assert math.exp(c.logprob) == pytest.approx(math.exp(local_lp[c.token]), abs=0.03)
    remote_done = lm.complete(ids, max_tokens=12, stop=("```",))
    local_done = embedded_lm.complete(ids, max_tokens=12, stop=("```",))
    assert remote_done.text == local_done.text
    assert remote_done.text.strip().upper().startswith("SELECT COUNT(*) FROM SINGER")
    assert remote_done.logprob == pytest.approx(local_done.logprob, abs=0.1)
    assert lm.stats().calls == 3 and lm.stats().generated_tokens > 0


@pytest.mark.slow
def test_ask_through_the_server(llama_server, concert_singer):
    proc = run_cli("ask", "--db", str(concert_singer), "--model", f"openai:{llama_server}",
                   "--json", "How many singers are there?")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"] == [[6]] and out["error"] is None
    assert out["model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m"


@pytest.mark.slow
def test_bench_through_the_server(llama_server, tmp_path):
    _spider_or_skip()
    out = tmp_path / "run.jsonl"
    # One small schema (concert_singer, ~650 prompt tokens) and easy questions (short queries):
    # the server re-evaluates each prompt, and llama-cpp-python's server sorts the whole
    # vocabulary in Python for every token whose log-probability is asked (~0.35 s a token on
    # the Xeon here, against 0.04 s in-process), so a 71-token answer alone took 25 s.
    proc = run_cli("bench", "--data", str(SPIDER), "--mode", "greedy", "--limit", "3",
                   "--db-filter", "concert_singer", "--difficulty", "easy", "--out", str(out),
                   "--model", f"openai:{llama_server}")
    assert proc.returncode == 0, proc.stderr
    from xander.bench.runner import read_records

    records = read_records(out)
    assert len(records) == 3 and len({r["id"] for r in records}) == 3
    assert all(r["pred"] for r in records) and "EX=" in proc.stdout
    assert all(r["lm_tokens"]["generated"] > 0 for r in records if r["pred"])


@pytest.mark.slow
def test_killed_server_stops_the_bench_and_a_rerun_resumes(tmp_path):
    from xander.bench.runner import read_records

    _spider_or_skip()
    path = _gguf()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    out = tmp_path / "run.jsonl"
    # the four easy questions of concert_singer (short answers; see test_bench_through_the_server)
    cmd = [sys.executable, "-m", "xander.cli", "bench", "--data", str(SPIDER), "--mode",
           "greedy", "--limit", "4", "--db-filter", "concert_singer", "--difficulty", "easy",
           "--out", str(out), "--model", f"openai:{url}"]
    server = _start_server(path, port, log)
    try:
        bench = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.time() + 600
        while time.time() < deadline and len(read_records(out)) < 1 and bench.poll() is None:
            time.sleep(0.2)
        _stop(server)  # the server dies mid-run
        stdout, stderr = bench.communicate(timeout=120)
        _assert_one_error_line(subprocess.CompletedProcess(cmd, bench.returncode, stdout,
                                                           stderr), url)
        text = out.read_text()
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
        first = read_records(out)
        assert 1 <= len(first) < 4
        server = _start_server(path, port, log)  # back on the same port
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                              check=False)
        assert done.returncode == 0, done.stderr
    finally:
        _stop(server)
    records = read_records(out)
    ids = [r["id"] for r in records]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert records[: len(first)] == first  # nothing redone or rewritten
    assert all(json.loads(line) for line in out.read_text().splitlines())



@pytest.mark.slow
def test_gbnf_grammar_through_the_llama_server(llama_server):
    assert_grammar_forces_the_schema(OpenAICompatLM(llama_server))
