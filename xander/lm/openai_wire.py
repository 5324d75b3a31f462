"""The wire format of OpenAI-compatible servers: server flavors, request bodies, reply parsing.

Servers differ in how they tokenize and what a prompt may be (``ServerFlavor``): vLLM and
llama.cpp's server take token ids as the prompt, llama-cpp-python's server takes text only.
Replies report log-probabilities in the completions shape (``tokens``, ``token_logprobs``,
``top_logprobs``) or the chat shape llama.cpp's server uses (``content``); ``parse_logprobs``
reads both into ``LogprobEntry`` values.  Parsers raise ``BadShape`` on a reply that does not
have the promised shape; the HTTP layer turns that into an ``LMServerError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xander.lm.base import EOS_STRINGS, Grammar
from xander.lm.http import BadShape

MAX_LOGPROBS = 20  # vLLM's default --max-logprobs
#: Special tokens that may appear in a chat prompt; text-only servers get them back as text.
SPECIAL_STRINGS = (*EOS_STRINGS, "<|im_start|>", "<|begin_of_text|>", "<|start_header_id|>",
                   "<|end_header_id|>")
BIAS = 100.0  # a logit bias no other token can beat


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
    bias_eos_in_top_k: bool  # an end-of-turn token would end the reply without its logprobs
    completion_extra: tuple[tuple[str, Any], ...]  # sent with every completion request
    grammar_gbnf: bool  # a grammar travels as GBNF in "grammar", else as Lark in structured_outputs

    def tokenize_body(self, model: str, text: str) -> dict[str, Any]:
        """The body of a tokenize request for ``text``."""
        return {"model": model, self.tokenize_field: text, **dict(self.tokenize_extra)}

    def detokenized(self, data: Any) -> str:
        """The text in a detokenize reply."""
        text = data[self.detokenize_field]
        if not isinstance(text, str):
            raise BadShape(f"{self.detokenize_field!r} is not text")
        return text


VLLM = ServerFlavor(
    "vllm", "/tokenize", "prompt", (("add_special_tokens", False),), "/detokenize", "prompt",
    token_prompts=True, batch_prompts=True, bias_eos_in_top_k=False,
    completion_extra=(("return_tokens_as_token_ids", True),), grammar_gbnf=False,
)
LLAMA_CPP_PYTHON = ServerFlavor(
    "llama-cpp-python", "/extras/tokenize", "input", (), "/extras/detokenize", "text",
    token_prompts=False, batch_prompts=False, bias_eos_in_top_k=True,
    # its defaults (repeat penalty 1.1, top-k 40, min-p 0.05) would change greedy output
    completion_extra=(("repeat_penalty", 1.0), ("top_k", 0), ("min_p", 0.0)), grammar_gbnf=True,
)
LLAMA_CPP = ServerFlavor(
    "llama.cpp", "/tokenize", "content", (("add_special", False), ("parse_special", True)),
    "/detokenize", "content",
    token_prompts=True, batch_prompts=False, bias_eos_in_top_k=True,
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


def tokens_of(data: Any) -> list[int]:
    """The token ids in a tokenize reply.

    >>> tokens_of({"tokens": [1, 2]}), tokens_of({"tokens": [{"id": 7, "piece": "a"}]})
    ([1, 2], [7])
    """
    tokens = data["tokens"]
    if not isinstance(tokens, list):
        raise BadShape("'tokens' is not a list")
    # llama.cpp's server may answer [{"id": .., "piece": ..}] when pieces are asked for
    return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]


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
    ``id``, ``token``, ``logprob``, ``top_logprobs``).  Raises ``BadShape`` on anything else."""
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
            raise BadShape("logprobs lists of different lengths")
        out = []
        for tok, lp, top in zip(tokens, lps, tops, strict=True):
            tid, text = _key(tok)
            alts = tuple((*_key(k), float(v)) for k, v in (top or {}).items())
            out.append(LogprobEntry(tid, text, None if lp is None else float(lp), alts))
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadShape(f"unreadable logprobs ({type(exc).__name__}: {exc})") from exc


def completion_body(flavor: ServerFlavor, model: str, prompt: Any, **fields: Any
                    ) -> dict[str, Any]:
    """The body of a ``/v1/completions`` request: ``prompt`` (ids or text, one or a list)."""
    return {"model": model, "prompt": prompt, "top_p": 1.0, **dict(flavor.completion_extra),
            **fields}


def top_k_fields(flavor: ServerFlavor, n: int, eos_tokens: Sequence[int]) -> dict[str, Any]:
    """Fields of a request for the ``n`` best next tokens (one token at temperature 0)."""
    fields: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logprobs": n}
    if flavor.bias_eos_in_top_k and eos_tokens:
        # logprobs are read before sampling; the bias only keeps the reply from ending on an
        # end-of-turn token, which these servers leave out of the logprobs
        fields["logit_bias"] = {str(t): -BIAS for t in eos_tokens}
    return fields


def path_fields(n: int, k: int) -> dict[str, Any]:
    """Fields of a request for the greedy path of ``n`` tokens with the ``k`` best at each."""
    return {"max_tokens": max(1, n), "temperature": 0.0, "logprobs": k}


def grammar_fields(flavor: ServerFlavor, grammar: Grammar | None) -> dict[str, Any]:
    """Fields that make a completion follow ``grammar``: GBNF for llama.cpp's grammar sampler,
    Lark in vLLM's structured outputs (xgrammar or llguidance)."""
    if grammar is None:
        return {}
    if flavor.grammar_gbnf:
        return {"grammar": grammar.gbnf}
    return {"structured_outputs": {"grammar": grammar.lark}}


Choices = tuple[list[dict[str, Any]], Any]


def completions_reader(n: int) -> Callable[[Any], Choices]:
    """A parser of a ``/v1/completions`` reply to ``n`` prompts: the choices in prompt order,
    each with its ``entries`` (``parse_logprobs``), and the reply's ``usage``."""

    def read(data: Any) -> Choices:
        choices = sorted(data["choices"], key=lambda c: int(c.get("index", 0)))
        if len(choices) != n:
            raise BadShape(f"{len(choices)} choices for {n} prompts")
        for c in choices:
            c["entries"] = parse_logprobs(c.get("logprobs"))
            if not isinstance(c.get("text", ""), str):
                raise BadShape("choice text is not text")
        return choices, data.get("usage")

    return read
