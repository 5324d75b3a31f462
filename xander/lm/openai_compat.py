"""OpenAI-compatible server backend: ``vllm serve``, llama-cpp-python's server, llama.cpp's server.

The black-box counterpart of ``llamacpp.py``: the model runs in another process (or on another
machine, e.g. a GPU box) and is reached over HTTP with the stdlib only.  Every LM protocol method
maps onto ``POST /v1/completions``:

* ``complete`` sends the prompt and asks for ``logprobs=1`` so the chosen tokens' log-probabilities
  add up to ``Completion.logprob``;
* ``top_k`` asks for one token at temperature 0 with ``logprobs=k`` and reads the alternatives
  (vLLM takes all prefixes in one request, the others get concurrent requests);
* ``score`` echoes the prompt with its log-probabilities (vLLM) or forces each continuation token
  with a logit bias and reads its raw log-probability (the others).

Servers differ in how they tokenize and what a prompt may be; the first one of ``FLAVORS`` whose
tokenizer endpoint answers is used.  vLLM and llama.cpp's server take token ids as the prompt;
llama-cpp-python's server takes text only, so the ids are turned back into text, special tokens
included, which it tokenizes again (into the same ids unless a search chose a non-canonical
split).  Several base URLs are replicas used round-robin.  A server that is down, answers
5xx or times out is retried with exponential backoff; then, as for a 4xx answer or a reply that
is not what the API promises, an ``LMServerError`` names the server and the problem.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

from xander.errors import (
    BackendError,
    LMServerError,
    MissingDependencyError,
    ModelNotFoundError,
)
from xander.lm.base import EOS_STRINGS, Completion, Grammar, LMStats, TokenChoice, chatml

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
DEFAULT_TRIES = 3
DEFAULT_BACKOFF = 0.5  # seconds before the second try; doubled before each later one
DEFAULT_CONCURRENCY = 8
MAX_LOGPROBS = 20  # vLLM's default --max-logprobs
START_HINT = ("start it, e.g. `vllm serve <model>` or `python -m llama_cpp.server --model <gguf>`, "
              "or check --model")
#: Special tokens that may appear in a chat prompt; text-only servers get them back as text.
SPECIAL_STRINGS = (*EOS_STRINGS, "<|im_start|>", "<|begin_of_text|>", "<|start_header_id|>",
                   "<|end_header_id|>")
_BIAS = 100.0  # a logit bias no other token can beat


@dataclass(frozen=True, slots=True)
class ServerFlavor:
    """How one kind of OpenAI-compatible server tokenizes and what its completions accept."""

    name: str
    tokenize_path: str
    tokenize_field: str  # request field holding the text
    tokenize_extra: tuple[tuple[str, Any], ...]
    detokenize_path: str
    detokenize_field: str  # reply field holding the text
    token_prompts: bool  # /v1/completions accepts a list of token ids as the prompt
    batch_prompts: bool  # one request may carry several prompts
    echo_scores: bool  # echo + logprobs scores the prompt tokens (cheaply)
    bias_eos_in_top_k: bool  # an end-of-turn token would end the reply without its logprobs
    completion_extra: tuple[tuple[str, Any], ...]  # sent with every completion request
    grammar_gbnf: bool  # a grammar travels as GBNF in "grammar", else as Lark in structured_outputs


VLLM = ServerFlavor(
    "vllm", "/tokenize", "prompt", (("add_special_tokens", False),), "/detokenize", "prompt",
    token_prompts=True, batch_prompts=True, echo_scores=True, bias_eos_in_top_k=False,
    completion_extra=(("return_tokens_as_token_ids", True),), grammar_gbnf=False,
)
LLAMA_CPP_PYTHON = ServerFlavor(
    "llama-cpp-python", "/extras/tokenize", "input", (), "/extras/detokenize", "text",
    token_prompts=False, batch_prompts=False, echo_scores=False, bias_eos_in_top_k=True,
    # its defaults (repeat penalty 1.1, top-k 40, min-p 0.05) would change greedy output
    completion_extra=(("repeat_penalty", 1.0), ("top_k", 0), ("min_p", 0.0)), grammar_gbnf=True,
)
LLAMA_CPP = ServerFlavor(
    "llama.cpp", "/tokenize", "content", (("add_special", False), ("parse_special", True)),
    "/detokenize", "content",
    token_prompts=True, batch_prompts=False, echo_scores=False, bias_eos_in_top_k=True,
    completion_extra=(("repeat_penalty", 1.0), ("top_k", 0), ("min_p", 0.0)), grammar_gbnf=True,
)
#: Tried in this order; the first whose tokenizer answers with tokens is kept.
FLAVORS = (VLLM, LLAMA_CPP_PYTHON, LLAMA_CPP)


@dataclass(frozen=True, slots=True)
class LogprobEntry:
    """One generated (or echoed) token as a server reports it: an id or only its text."""

    token: int | None
    text: str | None
    logprob: float | None
    top: tuple[tuple[int | None, str | None, float], ...]  # (id, text, logprob) alternatives


class _Retry(Exception):
    """A failure worth another try (connection, timeout, 5xx); ``problem`` completes
    "LM server at <url> ..."."""

    def __init__(self, base: str, problem: str) -> None:
        super().__init__(problem)
        self.base = base
        self.problem = problem


class _Refused(Exception):
    """An HTTP 4xx answer: the request itself is wrong, another try would not help."""

    def __init__(self, base: str, path: str, code: int, detail: str) -> None:
        super().__init__(detail)
        self.base, self.path, self.code, self.detail = base, path, code, detail


class _Garbage(Exception):
    """A reply that does not have the shape the API promises."""


class _BadReply(Exception):
    """A ``_Garbage`` reply, with the server and request it came from."""

    def __init__(self, base: str, path: str, problem: str, raw: bytes) -> None:
        super().__init__(problem)
        self.base, self.path, self.problem, self.raw = base, path, problem, raw


class _NotThisFlavor(Exception):
    """A tokenizer probe found no such endpoint (or one that wants other fields)."""


def parse_spec(rest: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Base URLs and options of an ``openai:<url>[,<url>...][?key=value&...]`` model spec.

    >>> parse_spec("http://127.0.0.1:8000/v1/,http://h:8001?model=qwen&timeout=5")
    (('http://127.0.0.1:8000', 'http://h:8001'), {'model_name': 'qwen', 'timeout': 5.0})
    """
    urls, _, query = rest.strip().partition("?")
    bases = []
    for url in filter(None, (u.strip() for u in urls.split(","))):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelNotFoundError(f"not an http(s) server URL: {url!r}",
                                     "use --model openai:http://host:port[,http://host2:port]")
        base = url.rstrip("/")
        bases.append(base.removesuffix("/v1") if base.endswith("/v1") else base)
    if not bases:
        raise ModelNotFoundError("no server URL after 'openai:'",
                                 "use --model openai:http://host:port")
    types: dict[str, Callable[[str], Any]] = {
        "model": str, "model_name": str, "timeout": float, "tries": int, "backoff": float,
        "concurrency": int, "max_logprobs": int, "path_tokens": int,
    }
    options: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in types:
            raise ModelNotFoundError(f"unknown option {key!r} in the openai model spec",
                                     f"options: {', '.join(sorted(types))}")
        try:
            options["model_name" if key == "model" else key] = types[key](value)
        except ValueError as exc:
            raise ModelNotFoundError(f"bad value {value!r} for {key!r} in the openai model spec"
                                     ) from exc
    return tuple(bases), options


def _reason(exc: BaseException) -> str:
    """Words for a connection failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead,
                        BrokenPipeError, ConnectionAbortedError)):
        return "connection closed mid-reply"
    return str(exc) or type(exc).__name__


def _server_message(raw: bytes) -> str:
    """The error message in an error reply (OpenAI, FastAPI and llama.cpp shapes)."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300] or "no details"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return (err if isinstance(err, str) else json.dumps(err))[:300]
    return text[:300]


def _key(key: str) -> tuple[int | None, str | None]:
    """A logprobs key: ``token_id:N`` (vLLM's ``return_tokens_as_token_ids``) or token text.

    >>> _key("token_id:42"), _key(" FROM")
    ((42, None), (None, ' FROM'))
    """
    if key.startswith("token_id:") and key[9:].lstrip("-").isdigit():
        return int(key[9:]), None
    return None, key


def parse_logprobs(logprobs: Any) -> list[LogprobEntry]:
    """Entries of a choice's ``logprobs``: the OpenAI completions shape (``tokens``,
    ``token_logprobs``, ``top_logprobs``) or the chat shape llama.cpp's server uses (``content``:
    ``id``, ``token``, ``logprob``, ``top_logprobs``).  Raises ``_Garbage`` on anything else."""
    if logprobs is None:
        return []
    try:
        if "content" in logprobs:
            return [LogprobEntry(
                item.get("id"), item.get("token"), float(item["logprob"]),
                tuple((t.get("id"), t.get("token"), float(t["logprob"]))
                      for t in item.get("top_logprobs") or ()),
            ) for item in logprobs["content"] or ()]
        tokens = logprobs["tokens"]
        lps = logprobs["token_logprobs"]
        tops = logprobs.get("top_logprobs") or [None] * len(tokens)
        if not (len(tokens) == len(lps) == len(tops)):
            raise _Garbage("logprobs lists of different lengths")
        out = []
        for tok, lp, top in zip(tokens, lps, tops, strict=True):
            tid, text = _key(tok)
            alts = tuple((*_key(k), float(v)) for k, v in (top or {}).items())
            out.append(LogprobEntry(tid, text, None if lp is None else float(lp), alts))
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Garbage(f"unreadable logprobs ({type(exc).__name__}: {exc})") from exc


class OpenAICompatLM:
    """A model behind one or more OpenAI-compatible ``/v1/completions`` servers (replicas)."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        model_name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        tries: int = DEFAULT_TRIES,
        backoff: float = DEFAULT_BACKOFF,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_logprobs: int = MAX_LOGPROBS,
        api_key: str | None = None,
        path_tokens: int = 24,
        n_ctx: int | None = None,  # accepted for load_lm; the server sets its own context
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ModelNotFoundError("no server URL given", "use --model openai:http://host:port")
        self.base_urls = tuple(u.rstrip("/") for u in urls)
        self.timeout = timeout
        self.tries = max(1, tries)
        self.backoff = backoff
        self.concurrency = max(1, concurrency)
        self.max_logprobs = max(1, max_logprobs)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._cycle: Iterator[str] = itertools.cycle(self.base_urls)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stats = {"prompt_tokens": 0, "generated_tokens": 0, "cached_tokens": 0,
                       "calls": 0, "seconds": 0.0}
        self._pieces: dict[int, str] = {}
        self._text_ids: dict[str, int | None] = {}
        self._runs: dict[tuple[int, ...], str] = {}  # detokenized runs of prompt text
        self.model_name = model_name or self._first_model()
        stem = PurePosixPath(self.model_name)
        self.name = stem.stem if stem.suffix.lower() == ".gguf" else self.model_name
        self.flavor = self._detect_flavor()
        # search lookahead per request (see xander.search): needs token ids in the logprobs
        self.path_tokens = path_tokens if self.flavor is VLLM else 0
        self._bos = tuple(self._raw_tokenize(""))  # what the tokenizer adds to any text
        self._specials: dict[int, str] = {}
        for special in SPECIAL_STRINGS:
            ids = self.tokenize(special)
            if len(ids) == 1:
                self._specials[ids[0]] = special
        self.eos_tokens = frozenset(t for t, s in self._specials.items() if s in EOS_STRINGS)
        ends = [t for t, s in self._specials.items() if s in EOS_STRINGS]
        self._end_of_turn = ends[0] if ends else None
        self._chatml = "<|im_start|>" in self._specials.values()
        self._template: str | None = None

    # -- HTTP ------------------------------------------------------------------------------------
    def _next_base(self) -> str:
        with self._lock:
            return next(self._cycle)

    def _request(self, path: str, body: dict[str, Any] | None = None,
                 parse: Callable[[Any], T] = lambda data: data, probe: bool = False) -> T:
        """``parse(reply JSON)`` of ``POST path`` (``GET`` without a body) on the next replica,
        retried on connection failures, timeouts and 5xx answers.  With ``probe``, a 4xx answer
        or an unreadable reply raises ``_NotThisFlavor`` instead of ``LMServerError``."""
        failure: _Retry | None = None
        for attempt in range(self.tries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            base = self._next_base()
            try:
                return self._once(base, path, body, parse)
            except _Retry as exc:
                failure = exc
            except _Refused as exc:
                if probe and exc.code in (400, 404, 405, 422):
                    raise _NotThisFlavor(f"HTTP {exc.code}: {exc.detail}") from exc
                raise LMServerError(
                    f"LM server at {exc.base} refused {exc.path}: HTTP {exc.code}: {exc.detail}",
                    "check --model (URL and ?model=<name>) and the server's options",
                ) from exc
            except _BadReply as exc:
                if probe:
                    raise _NotThisFlavor(exc.problem) from exc
                shown = exc.raw[:120].decode("utf-8", errors="replace")
                raise LMServerError(
                    f"LM server at {exc.base} returned garbage for {exc.path}: {exc.problem} "
                    f"(reply: {shown!r})",
                    "is it an OpenAI-compatible server (vLLM, llama-cpp-python, llama.cpp)?",
                ) from exc
        assert failure is not None
        raise LMServerError(f"LM server at {failure.base} {failure.problem}", START_HINT)

    def _once(self, base: str, path: str, body: dict[str, Any] | None,
              parse: Callable[[Any], T]) -> T:
        """One request; failures become ``_Retry``, ``_Refused`` or ``_BadReply``."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(base + path, data=data, headers=self._headers,
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = _server_message(exc.read())
            except (OSError, http.client.HTTPException):
                detail = str(exc.reason or "no details")
            if exc.code >= 500:
                raise _Retry(base, f"failed on {path}: HTTP {exc.code}: {detail}") from exc
            raise _Refused(base, path, exc.code, detail) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason if isinstance(exc.reason, BaseException) else OSError(exc.reason)
            if isinstance(reason, TimeoutError):
                raise _Retry(base, f"did not answer within {self.timeout:g} s") from exc
            raise _Retry(base, f"is not answering: {_reason(reason)}") from exc
        except TimeoutError as exc:
            raise _Retry(base, f"did not answer within {self.timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise _Retry(base, f"is not answering: {_reason(exc)}") from exc
        try:
            return parse(json.loads(raw))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, _Garbage) as exc:
            problem = ("not JSON" if isinstance(exc, json.JSONDecodeError)
                       else f"{type(exc).__name__}: {exc}")
            raise _BadReply(base, path, problem, raw) from exc

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``fn`` over ``items``, concurrently when there are several."""
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="xander-lm")
            pool = self._pool
        return list(pool.map(fn, items))

    def _account(self, usage: Any, generated: bool) -> None:
        if not isinstance(usage, dict):
            return
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        with self._lock:
            self._stats["prompt_tokens"] += int(usage.get("prompt_tokens") or 0) - cached
            self._stats["cached_tokens"] += cached
            if generated:
                self._stats["generated_tokens"] += int(usage.get("completion_tokens") or 0)

    def _timed(self, calls: int, start: float) -> None:
        with self._lock:
            self._stats["calls"] += calls
            self._stats["seconds"] += time.perf_counter() - start

    # -- discovery -------------------------------------------------------------------------------
    def _first_model(self) -> str:
        def first(data: Any) -> str:
            return str(data["data"][0]["id"])

        return self._request("/v1/models", parse=first)

    def _detect_flavor(self) -> ServerFlavor:
        tried = []
        for flavor in FLAVORS:
            body = {"model": self.model_name, flavor.tokenize_field: "SELECT 1",
                    **dict(flavor.tokenize_extra)}
            try:
                tokens = self._request(flavor.tokenize_path, body, parse=_tokens_of, probe=True)
            except _NotThisFlavor as exc:
                tried.append(f"{flavor.tokenize_path} ({flavor.name}): {exc}")
                continue
            if tokens:
                return flavor
            # llama.cpp's /tokenize answers [] to a vLLM-shaped body
            tried.append(f"{flavor.tokenize_path} ({flavor.name}): no tokens")
        raise LMServerError(
            f"LM server at {self.base_urls[0]} has no tokenizer endpoint xander knows for model "
            f"{self.model_name!r} (tried {'; '.join(tried)})",
            "check ?model=<name> in --model; xander needs vLLM, llama-cpp-python's server or "
            "llama.cpp's llama-server",
        )

    # -- text ------------------------------------------------------------------------------------
    def _raw_tokenize(self, text: str) -> list[int]:
        f = self.flavor
        body = {"model": self.model_name, f.tokenize_field: text, **dict(f.tokenize_extra)}
        return self._request(f.tokenize_path, body, parse=_tokens_of)

    def tokenize(self, text: str) -> list[int]:
        tokens = self._raw_tokenize(text)
        n = len(self._bos)
        return tokens[n:] if n and tuple(tokens[:n]) == self._bos else tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        if not tokens:
            return ""
        f = self.flavor

        def text_of(data: Any) -> str:
            text = data[f.detokenize_field]
            if not isinstance(text, str):
                raise _Garbage(f"{f.detokenize_field!r} is not text")
            return text

        body = {"model": self.model_name, "tokens": [int(t) for t in tokens]}
        return self._request(f.detokenize_path, body, parse=text_of)

    def piece(self, token: int) -> str:
        """Text of one token (cached)."""
        text = self._pieces.get(token)
        if text is None:
            text = self._pieces[token] = self.detokenize([token])
        return text

    def _prompt_text(self, tokens: Sequence[int]) -> str:
        """Text that the server tokenizes back into ``tokens``: special tokens are spelled out
        (detokenizers may drop them) and the runs between them detokenized."""
        parts: list[str] = []
        run: list[int] = []
        for t in [*tokens, None]:
            if t is None or t in self._specials:
                key = tuple(run)
                text = self._runs.get(key)
                if text is None:  # the system and user runs repeat in every search request
                    text = self.detokenize(run)
                    if len(self._runs) >= 256:
                        self._runs.clear()
                    self._runs[key] = text
                parts.append(text)
                if t is not None:
                    parts.append(self._specials[t])
                run = []
            else:
                run.append(t)
        return "".join(parts)

    def _prompt(self, tokens: Sequence[int]) -> list[int] | str:
        tokens = [int(t) for t in tokens]
        if not tokens:
            raise BackendError("empty prompt", "give the model at least one token")
        return tokens if self.flavor.token_prompts else self._prompt_text(tokens)

    def _token_of(self, token: int | None, text: str | None, empty_is_eot: bool = False
                  ) -> int | None:
        """A token id for a logprobs entry: its id, else the one token its text is.

        Servers that report only text (llama-cpp-python) render every control token as empty
        text; with ``empty_is_eot`` the empty key is read as the end-of-turn token, the only
        control token a prompt invites."""
        if token is not None:
            return token
        if text is None:
            return None
        if text == "":
            return self._end_of_turn if empty_is_eot else None
        if text not in self._text_ids:
            ids = self.tokenize(text)
            self._text_ids[text] = ids[0] if len(ids) == 1 else None
        return self._text_ids[text]

    def _ids_of(self, entries: Sequence[LogprobEntry], text: str) -> list[int] | None:
        """Token ids of generated entries; None when the texts do not give them one to one."""
        if all(e.token is not None for e in entries):
            return [int(e.token) for e in entries if e.token is not None]
        texts = [e.text or "" for e in entries]
        if all(texts):
            joined = self.tokenize("".join(texts))  # one request, right nearly always
            if len(joined) == len(entries):
                return joined
        ids = [self._token_of(e.token, e.text) for e in entries]
        return None if any(t is None for t in ids) else [int(t) for t in ids if t is not None]

    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        if self._chatml:  # Qwen and other ChatML models: exactly what llamacpp.py writes
            return chatml(system, user, assistant_prefix)
        template = self._chat_template()
        try:
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError as exc:
            raise MissingDependencyError("jinja2 is needed to render the model's chat template",
                                         "pip install jinja2") from exc

        tpl = ImmutableSandboxedEnvironment().from_string(template)
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tpl.render(messages=msgs, add_generation_prompt=True, bos_token="",
                          eos_token="") + assistant_prefix

    def _chat_template(self) -> str:
        """The model's chat template from llama.cpp's ``/props`` (other servers do not say)."""
        if self._template is None:
            try:
                props = self._request("/props", parse=lambda d: d.get("chat_template") or "")
            except LMServerError:
                props = ""
            if not props:
                raise BackendError(
                    f"cannot tell the chat format of {self.model_name!r} on {self.base_urls[0]}",
                    "xander speaks ChatML (Qwen) to servers; serve a ChatML model or use a GGUF "
                    "in-process",
                )
            self._template = props
        return self._template

    # -- completions -----------------------------------------------------------------------------
    def _body(self, prompt: Any, **fields: Any) -> dict[str, Any]:
        return {"model": self.model_name, "prompt": prompt, "top_p": 1.0,
                **dict(self.flavor.completion_extra), **fields}

    def _completions(self, body: dict[str, Any], n: int = 1) -> tuple[list[dict[str, Any]], Any]:
        """Choices (in prompt order) and usage of one ``/v1/completions`` request."""

        def read(data: Any) -> tuple[list[dict[str, Any]], Any]:
            choices = sorted(data["choices"], key=lambda c: int(c.get("index", 0)))
            if len(choices) != n:
                raise _Garbage(f"{len(choices)} choices for {n} prompts")
            for c in choices:
                c["entries"] = parse_logprobs(c.get("logprobs"))
                if not isinstance(c.get("text", ""), str):
                    raise _Garbage("choice text is not text")
            return choices, data.get("usage")

        return self._request("/v1/completions", body, parse=read)

    def complete(
        self,
        prompt: Sequence[int],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        grammar: Grammar | None = None,
    ) -> Completion:
        start = time.perf_counter()
        body = self._body(self._prompt(prompt), max_tokens=max_tokens, temperature=temperature,
                          seed=seed, logprobs=1)
        if stop:
            body["stop"] = list(stop)
        if grammar is not None and self.flavor.grammar_gbnf:  # llama.cpp's grammar sampler
            body["grammar"] = grammar.gbnf
        elif grammar is not None:  # vLLM: structured outputs (xgrammar or llguidance)
            body["structured_outputs"] = {"grammar": grammar.lark}
        (choice,), usage = self._completions(body)
        self._account(usage, generated=True)
        entries: list[LogprobEntry] = choice["entries"]
        text = choice.get("text") or ""
        ids = self._ids_of(entries, text)
        if ids is None:  # pieces that are not whole tokens: the text's own tokens
            tokens = self.tokenize(text) if text else []
            logprob = sum(e.logprob or 0.0 for e in entries)
        else:  # vLLM reports the end-of-turn token; the in-process backend does not count it
            kept = [(t, e) for t, e in zip(ids, entries, strict=True) if t not in self.eos_tokens]
            tokens = [t for t, _ in kept]
            logprob = sum(e.logprob or 0.0 for _, e in kept)
        finish = choice.get("finish_reason") or "stop"
        self._timed(1, start)
        return Completion(text, tuple(tokens), float(logprob), len(prompt),
                          "length" if finish == "length" else "stop")

    def _choices_of(self, entries: list[LogprobEntry], k: int) -> list[TokenChoice]:
        """The ``k`` best alternatives of the first generated token, best first.  A reply that
        ended on an unreported end-of-turn token gives that token alone, with log-probability 0
        (unknown, but it was the best)."""
        if not entries:  # the reply ended on an end-of-turn token it does not report
            eot = self._end_of_turn
            return [] if eot is None else [TokenChoice(eot, self.piece(eot), 0.0)]
        best: dict[int, float] = {}
        texts: dict[int, str] = {}
        for tid, text, lp in entries[0].top:
            t = self._token_of(tid, text, empty_is_eot=True)
            if t is not None and (t not in best or lp > best[t]):
                best[t] = lp
                if text is not None:
                    texts[t] = text
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        return [TokenChoice(t, texts[t] if t in texts else self.piece(t), float(lp))
                for t, lp in ranked]

    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        if not prefixes:
            return []
        start = time.perf_counter()
        n = min(k, self.max_logprobs)
        fields: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logprobs": n}
        if self.flavor.bias_eos_in_top_k and self.eos_tokens:
            # logprobs are read before sampling; the bias only keeps the reply from ending on an
            # end-of-turn token, which these servers leave out of the logprobs
            fields["logit_bias"] = {str(t): -_BIAS for t in self.eos_tokens}
        if self.flavor.batch_prompts and len(prefixes) > 1:
            prompts = [self._prompt(p) for p in prefixes]
            choices, usage = self._completions(self._body(prompts, **fields), len(prompts))
            self._account(usage, generated=False)
            entries = [c["entries"] for c in choices]
        else:
            def one(prefix: Sequence[int]) -> list[LogprobEntry]:
                (choice,), usage = self._completions(self._body(self._prompt(prefix), **fields))
                self._account(usage, generated=False)
                return choice["entries"]

            entries = self._map(one, list(prefixes))
        out = [self._choices_of(e, k) for e in entries]
        self._timed(len(prefixes), start)
        return out

    def top_k_path(self, prefix: Sequence[int], k: int,
                   n: int) -> list[tuple[int, list[TokenChoice]]]:
        """Greedy continuation of ``prefix`` for up to ``n`` tokens: at each position the token
        taken and the ``k`` best tokens there, from one request ([] when the server's reply
        does not name its tokens by id)."""
        return self.top_k_paths([prefix], k, n)[0]

    def top_k_paths(self, prefixes: Sequence[Sequence[int]], k: int,
                    n: int) -> list[list[tuple[int, list[TokenChoice]]]]:
        """``top_k_path`` of several prefixes: one request where the server takes several
        prompts (vLLM), else concurrent requests."""
        if not prefixes:
            return []
        start = time.perf_counter()
        fields: dict[str, Any] = {"max_tokens": max(1, n), "temperature": 0.0,
                                  "logprobs": min(k, self.max_logprobs)}
        if self.flavor.batch_prompts and len(prefixes) > 1:
            prompts = [self._prompt(p) for p in prefixes]
            choices, usage = self._completions(self._body(prompts, **fields), len(prompts))
            self._account(usage, generated=True)
        else:
            def one(prefix: Sequence[int]) -> dict[str, Any]:
                (choice,), usage = self._completions(self._body(self._prompt(prefix), **fields))
                self._account(usage, generated=True)
                return choice

            choices = self._map(one, list(prefixes))
        paths = []
        for choice in choices:
            entries: list[LogprobEntry] = choice["entries"]
            ids = self._ids_of(entries, choice.get("text") or "")
            paths.append([] if ids is None else
                         [(t, self._choices_of([e], k)) for t, e in zip(ids, entries, strict=True)])
        self._timed(len(prefixes), start)
        return paths

    def score(self, prefix: Sequence[int], continuation: Sequence[int]) -> list[float]:
        cont = [int(t) for t in continuation]
        if not cont:
            return []
        start = time.perf_counter()
        if self.flavor.echo_scores:
            full = [*map(int, prefix), *cont]
            body = self._body(self._prompt(full), max_tokens=1, temperature=0.0, logprobs=1,
                              echo=True)
            (choice,), usage = self._completions(body)
            self._account(usage, generated=False)
            entries = choice["entries"][len(prefix):len(full)]
            if len(entries) != len(cont) or any(
                    e.token is not None and e.token != t for e, t in zip(entries, cont,
                                                                         strict=True)):
                raise BackendError("the server's echo does not line up with the continuation",
                                   f"server flavor {self.flavor.name}")
            scores = [e.logprob for e in entries]
        else:
            def forced(i: int) -> float | None:
                # the bias makes the token the reply; its reported logprob is the raw one
                body = self._body(self._prompt([*prefix, *cont[:i]]), max_tokens=1,
                                  temperature=0.0, logprobs=1,
                                  logit_bias={str(cont[i]): _BIAS})
                (choice,), usage = self._completions(body)
                self._account(usage, generated=False)
                entries = choice["entries"]
                if not entries or self._token_of(entries[0].token, entries[0].text) != cont[i]:
                    return None
                return entries[0].logprob

            scores = self._map(forced, list(range(len(cont))))
        self._timed(0, start)  # as in-process, scoring is not a call
        if any(s is None for s in scores):
            raise BackendError(f"the server at {self.base_urls[0]} cannot score these tokens",
                               "end-of-turn and multi-piece tokens need a vLLM server")
        return [float(s) for s in scores if s is not None]

    def stats(self) -> LMStats:
        with self._lock:
            return LMStats(**self._stats)

    def metadata(self) -> dict[str, Any]:
        return {"backend": "openai", "servers": list(self.base_urls), "model": self.model_name,
                "flavor": self.flavor.name}

    def close(self) -> None:
        """Stop the request threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def _tokens_of(data: Any) -> list[int]:
    tokens = data["tokens"]
    if not isinstance(tokens, list):
        raise _Garbage("'tokens' is not a list")
    # llama.cpp's server may answer [{"id": .., "piece": ..}] when pieces are asked for
    return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]
