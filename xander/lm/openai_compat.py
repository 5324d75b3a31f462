"""OpenAI-compatible server backend: ``vllm serve``, llama-cpp-python's server, llama.cpp's server.

The black-box counterpart of ``llamacpp.py``: the model runs in another process (or on another
machine, e.g. a GPU box) and is reached over HTTP (``xander.lm.http``: replicas, retries,
timeouts).  Every LM protocol method maps onto ``POST /v1/completions``
(``xander.lm.openai_wire``: flavors, bodies, log-probabilities):

* ``complete`` sends the prompt and asks for ``logprobs=1`` so the chosen tokens' log-probabilities
  add up to ``Completion.logprob``;
* ``top_k`` asks for one token at temperature 0 with ``logprobs=k`` and reads the alternatives
  (vLLM takes all prefixes in one request, the others get concurrent requests);
* ``top_k_path`` asks for ``n`` greedy tokens with their alternatives (vLLM only: the other
  servers do not name the tokens of a reply by id, so ``supports_paths`` is False there).

The first flavor whose tokenizer endpoint answers is used.  vLLM and llama.cpp's server take token
ids as the prompt; llama-cpp-python's server takes text only, so the ids are turned back into
text, special tokens included, which it tokenizes again (into the same ids unless a search chose
a non-canonical split).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from xander.errors import (
    BackendError,
    LMServerError,
    MissingDependencyError,
    ModelNotFoundError,
)
from xander.lm.base import (
    EOS_STRINGS,
    Completion,
    Grammar,
    LMStats,
    TokenChoice,
    TokenPath,
    chatml,
)
from xander.lm.http import (
    DEFAULT_BACKOFF,
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    DEFAULT_TRIES,
    HTTPClient,
    ProbeFailed,
)
from xander.lm.openai_wire import (
    FLAVORS,
    MAX_LOGPROBS,
    SPECIAL_STRINGS,
    VLLM,
    Choices,
    LogprobEntry,
    ServerFlavor,
    completion_body,
    completions_reader,
    grammar_fields,
    path_fields,
    tokens_of,
    top_k_fields,
)

__all__ = ["OpenAICompatLM", "parse_spec"]


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


class OpenAICompatLM:
    """A model behind one or more OpenAI-compatible ``/v1/completions`` servers (replicas).

    ``supports_paths`` is decided by the server: True for vLLM, whose replies name tokens by id.
    """

    supports_paths = False
    path_tokens = 0
    saves_prompts = False
    scores_text = False

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
        self.http = HTTPClient(base_urls, timeout=timeout, tries=tries, backoff=backoff,
                               concurrency=concurrency, api_key=api_key)
        self.base_urls = self.http.base_urls
        self.max_logprobs = max(1, max_logprobs)
        self._lock = threading.Lock()
        self._stats = {"prompt_tokens": 0, "generated_tokens": 0, "cached_tokens": 0,
                       "calls": 0, "seconds": 0.0}
        self._pieces: dict[int, str] = {}
        self._text_ids: dict[str, int | None] = {}
        self._runs: dict[tuple[int, ...], str] = {}  # detokenized runs of prompt text
        self.model_name = model_name or self._first_model()
        stem = PurePosixPath(self.model_name)
        self.name = stem.stem if stem.suffix.lower() == ".gguf" else self.model_name
        self.flavor = self._detect_flavor()
        # the lookahead (xander.lm.lookahead) needs token ids in the logprobs: vLLM's
        self.supports_paths = self.flavor is VLLM
        self.path_tokens = path_tokens if self.supports_paths else 0
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

    # -- accounting ------------------------------------------------------------------------------
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

        return self.http.request("/v1/models", parse=first)

    def _detect_flavor(self) -> ServerFlavor:
        tried = []
        for flavor in FLAVORS:
            body = flavor.tokenize_body(self.model_name, "SELECT 1")
            try:
                tokens = self.http.request(flavor.tokenize_path, body, parse=tokens_of,
                                           probe=True)
            except ProbeFailed as exc:
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
        return self.http.request(f.tokenize_path, f.tokenize_body(self.model_name, text),
                                 parse=tokens_of)

    def tokenize(self, text: str) -> list[int]:
        tokens = self._raw_tokenize(text)
        n = len(self._bos)
        return tokens[n:] if n and tuple(tokens[:n]) == self._bos else tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        if not tokens:
            return ""
        body = {"model": self.model_name, "tokens": [int(t) for t in tokens]}
        return self.http.request(self.flavor.detokenize_path, body,
                                 parse=self.flavor.detokenized)

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
                props = self.http.request("/props",
                                          parse=lambda d: d.get("chat_template") or "")
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
        return completion_body(self.flavor, self.model_name, prompt, **fields)

    def _completions(self, body: dict[str, Any], n: int = 1) -> Choices:
        """Choices (in prompt order) and usage of one ``/v1/completions`` request."""
        return self.http.request("/v1/completions", body, parse=completions_reader(n))

    def _each(self, prefixes: Sequence[Sequence[int]], fields: dict[str, Any],
              generated: bool) -> list[dict[str, Any]]:
        """The choice for each prefix: one request where the server takes several prompts
        (vLLM), else concurrent requests."""
        if self.flavor.batch_prompts and len(prefixes) > 1:
            prompts = [self._prompt(p) for p in prefixes]
            choices, usage = self._completions(self._body(prompts, **fields), len(prompts))
            self._account(usage, generated=generated)
            return choices

        def one(prefix: Sequence[int]) -> dict[str, Any]:
            (choice,), usage = self._completions(self._body(self._prompt(prefix), **fields))
            self._account(usage, generated=generated)
            return choice

        return self.http.map(one, list(prefixes))

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
        body.update(grammar_fields(self.flavor, grammar))
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
        fields = top_k_fields(self.flavor, min(k, self.max_logprobs), sorted(self.eos_tokens))
        choices = self._each(prefixes, fields, generated=False)
        out = [self._choices_of(c["entries"], k) for c in choices]
        self._timed(len(prefixes), start)
        return out

    def top_k_path(self, prefix: Sequence[int], k: int, n: int) -> TokenPath:
        """Greedy continuation of ``prefix`` for up to ``n`` tokens: at each position the token
        taken and the ``k`` best tokens there, from one request ([] when the server's reply
        does not name its tokens by id)."""
        return self.top_k_paths([prefix], k, n)[0]

    def top_k_paths(self, prefixes: Sequence[Sequence[int]], k: int,
                    n: int) -> list[TokenPath]:
        """``top_k_path`` of several prefixes: one request where the server takes several
        prompts (vLLM), else concurrent requests."""
        if not prefixes:
            return []
        start = time.perf_counter()
        choices = self._each(prefixes, path_fields(n, min(k, self.max_logprobs)),
                             generated=True)
        paths: list[TokenPath] = []
        for choice in choices:
            entries: list[LogprobEntry] = choice["entries"]
            ids = self._ids_of(entries, choice.get("text") or "")
            paths.append([] if ids is None else
                         [(t, self._choices_of([e], k)) for t, e in zip(ids, entries, strict=True)])
        self._timed(len(prefixes), start)
        return paths

    def stats(self) -> LMStats:
        with self._lock:
            return LMStats(**self._stats)

    def metadata(self) -> dict[str, Any]:
        return {"backend": "openai", "servers": list(self.base_urls), "model": self.model_name,
                "flavor": self.flavor.name}

    def close(self) -> None:
        """Stop the request threads."""
        self.http.close()
