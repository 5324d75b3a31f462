"""The LM protocol: what search and greedy decoding need from a language model.

Everything works on token ids so a search node can extend its parent by one token and a backend
can reuse its KV cache for the shared prefix.  Text-level helpers (chat template, tokenize) are
part of the protocol because prompts are built before the search starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from xander.lm.prompt_cache import PromptCache

#: End-of-turn markers of the chat formats xander knows (ChatML as in Qwen, Llama 3).
EOS_STRINGS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


def chatml(system: str, user: str, assistant_prefix: str = "") -> str:
    r"""One ChatML chat turn (Qwen's format), ending where the assistant starts writing.

    Every backend writes a ChatML model's prompt with this, so the same model gets the same
    tokens whichever backend runs it.

    >>> chatml("S", "U", "```sql")
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n```sql'
    """
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n{assistant_prefix}")


@dataclass(frozen=True, slots=True)
class TokenChoice:
    """One candidate next token with its log-probability under the model."""

    token: int
    text: str
    logprob: float


@dataclass(frozen=True, slots=True)
class Grammar:
    """A grammar a completion must follow, in the two forms backends take.

    Built by ``xander.grammar.constraint``; backends pick the form their decoder reads.
    """

    lark: str  # llguidance's Lark dialect: in-process token masks, vLLM structured outputs
    gbnf: str  # GBNF: llama.cpp servers (and xgrammar)
    #: Exact test of the text written so far, which in-process backends apply to the token the
    #: masks let through: llguidance's lexer lets two words run together (``T2.ContinentName``
    #: read as column ``Continent`` plus alias ``Name``), Lark's basic lexer does not.
    viable: Callable[[str], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Completion:
    """A continuation of a prompt."""

    text: str
    tokens: tuple[int, ...]
    logprob: float  # sum of the chosen tokens' log-probabilities
    prompt_tokens: int
    finish_reason: str  # "stop" | "length"


@dataclass(frozen=True, slots=True)
class LMStats:
    """Counters a backend keeps since it was created (for timings and token accounting)."""

    prompt_tokens: int = 0  # tokens fed through the model (after prefix-cache reuse)
    generated_tokens: int = 0  # tokens produced by decoding steps
    cached_tokens: int = 0  # prompt tokens served from the KV / prefix cache
    calls: int = 0
    seconds: float = 0.0


#: A greedy path: for each position of the greedy continuation, the token taken there and the
#: top-k at that position (the token's own choice included).
TokenPath = list[tuple[int, list[TokenChoice]]]


@runtime_checkable
class LM(Protocol):
    """A language model backend.

    Capabilities are declared as attributes, never probed: ``supports_paths`` says whether the
    backend is also a ``PathLM`` whose paths are worth asking for.
    """

    #: Human-readable model name (for reports).
    name: str
    #: Token id that ends generation (end of turn).
    eos_tokens: frozenset[int]
    #: True for a backend that pays per request (vLLM, servers) and returns, in one request, a
    #: greedy path with its top-k at every position: it implements ``PathLM``, and the search
    #: walks those paths through ``xander.lm.lookahead.Lookahead``.  False in-process, where a
    #: step is one cached decoding step anyway.
    supports_paths: bool
    #: Positions per path request (0: no paths, even where ``supports_paths``).
    path_tokens: int
    #: True for a backend that can save its state after a prompt prefix and load it in another
    #: process (llama.cpp in-process): it implements ``PromptStateLM``.  Servers keep their own
    #: prefix caches.
    saves_prompts: bool
    #: True for a backend that scores a given continuation in one evaluation (llama.cpp
    #: in-process): it implements ``ScoringLM``, and the reviewer (``xander.review``) can read
    #: how likely the question is given a query.
    scores_text: bool

    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        """The raw prompt text for one chat turn, ending where the assistant starts writing."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` (no BOS added; special tokens in the text are parsed)."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of ``tokens``."""
        ...

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
        """Greedy (``temperature=0``) or sampled continuation of ``prompt``; with ``grammar``,
        only tokens the grammar allows are chosen (log-probabilities stay the model's own)."""
        ...

    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        """For each prefix, the ``k`` most likely next tokens (best first).

        Backends batch the prefixes and reuse cached prefix computation.
        """
        ...

    def stats(self) -> LMStats:
        """Counters since creation."""
        ...


@runtime_checkable
class ScoringLM(LM, Protocol):
    """A backend that scores a given continuation (``scores_text = True``)."""

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuation: Sequence[int]) -> list[float]:
        """The log-probability of each token of ``continuation`` after ``prefix``, from one
        batched evaluation."""
        ...


@runtime_checkable
class PromptStateLM(LM, Protocol):
    """A backend whose state after a prompt prefix can be saved and loaded
    (``saves_prompts = True``), through ``xander.lm.prompt_cache.PromptCache``."""

    def state_identity(self) -> tuple[str, str]:
        """``(model, runtime)``: what a saved state is only valid for (the model file's identity;
        the runtime's version and the settings that shape its state)."""
        ...

    def prime(self, prefix: Sequence[int], cache: PromptCache | None) -> str:
        """Make the backend hold ``prefix`` and nothing after it: already held (``"held"``),
        loaded from ``cache`` (``"loaded"``), or evaluated and then saved there (``"saved"``;
        ``"evaluated"`` without a cache or when saving failed).  A question starts from here,
        so its numbers do not depend on the question before it."""
        ...

    def hold(self) -> AbstractContextManager[None]:
        """Keep the backend for one question (its one context): other threads wait."""
        ...


@runtime_checkable
class PathLM(LM, Protocol):
    """A backend that returns greedy paths (those with ``supports_paths = True``)."""

    def top_k_path(self, prefix: Sequence[int], k: int, n: int) -> TokenPath:
        """Greedy continuation of ``prefix`` for up to ``n`` tokens: at each position the token
        taken and the ``k`` most likely tokens there, in one request ([] when the backend
        cannot give one here: the caller then steps with ``top_k``)."""
        ...

    def top_k_paths(self, prefixes: Sequence[Sequence[int]], k: int, n: int) -> list[TokenPath]:
        """``top_k_path`` of several prefixes, in one batch (one request where it can)."""
        ...
