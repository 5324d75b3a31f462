"""Grammar token masks for the in-process backends (llguidance).

A backend that computes logits itself (llama.cpp, transformers) constrains decoding with a
grammar this way: ``Masks`` wraps one tokenizer in llguidance's form (built once per model,
under a second); ``masks.matcher(grammar)`` gives a fresh ``GrammarMatcher`` for one
completion; before each step ``allowed()`` says which tokens the grammar lets come next, and
``consume(token)`` moves past the token taken.

``grammar`` is a ``Grammar`` (``xander.grammar.constraint(...)``); its llguidance Lark text is
compiled once per text.  vLLM and the servers get the grammar in their requests instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from xander.errors import BackendError, MissingDependencyError
from xander.lm.base import Grammar


def _llguidance() -> Any:
    try:
        import llguidance
    except ImportError as exc:
        raise MissingDependencyError(
            "llguidance is not installed (grammar-constrained decoding needs it)",
            "install the local extra: see README.md",
        ) from exc
    return llguidance


@lru_cache(maxsize=32)
def compiled(lark: str) -> str:
    """llguidance's serialised form of a grammar in its Lark dialect, checked once."""
    llg = _llguidance()
    spec = llg.grammar_from("lark", lark)
    error = llg.LLMatcher.validate_grammar(spec)
    if error:
        raise BackendError(f"llguidance cannot compile the grammar: {error}",
                           "check the grammar with xander.grammar.to_llguidance")
    return spec


class GrammarMatcher:
    """Where one completion stands in the grammar."""

    def __init__(self, matcher: Any, n_vocab: int) -> None:
        self._m = matcher
        self._n_vocab = n_vocab

    def allowed(self) -> np.ndarray:
        """Boolean mask over the vocabulary: the tokens the grammar allows next."""
        bits = np.frombuffer(self._m.compute_bitmask(), dtype=np.uint8)
        mask = np.unpackbits(bits, bitorder="little")[: self._n_vocab].astype(bool)
        if mask.shape[0] < self._n_vocab:  # the model has more logits than the tokenizer tokens
            mask = np.pad(mask, (0, self._n_vocab - mask.shape[0]))
        return mask

    def consume(self, token: int) -> None:
        if not self._m.consume_token(token):
            raise BackendError(f"the grammar matcher refused token {token}: {self._m.get_error()}")

    @property
    def accepting(self) -> bool:
        """The text so far is a whole sentence of the grammar."""
        return bool(self._m.is_accepting())


#: Tokens tried, best first, when the masks let through one the exact prefix test refuses.
VIABLE_TRIES = 16


def choose(
    logprobs: np.ndarray,
    matcher: GrammarMatcher,
    grammar: Grammar,
    text: str,
    piece: Callable[[int], str],
    pick: Callable[[np.ndarray], int],
    eos_tokens: frozenset[int],
) -> int | None:
    """The next token under ``grammar``: ``pick`` (argmax or a sample) among the tokens the
    masks allow, then ``grammar.viable`` on ``text`` plus its piece; a refused token is struck
    and ``pick`` runs again.  None when the grammar allows nothing."""
    scores = np.where(matcher.allowed(), logprobs, -np.inf)
    tok = None
    for _ in range(VIABLE_TRIES):
        if not np.isfinite(scores.max()):
            return tok
        tok = pick(scores)
        if grammar.viable is None or tok in eos_tokens or grammar.viable(text + piece(tok)):
            return tok
        scores[tok] = -np.inf
    return tok


class Masks:
    """llguidance's view of one model's tokenizer; makes matchers for grammars."""

    def __init__(self, tokenizer: Any, n_vocab: int) -> None:
        self.tokenizer = tokenizer
        self.n_vocab = n_vocab

    @classmethod
    def for_llama(cls, llama: Any, n_vocab: int, eos_tokens: frozenset[int]) -> Masks:
        """From a ``llama_cpp.Llama`` (reads its vocabulary: about 0.6 s for 150k tokens)."""
        llg = _llguidance()
        import llama_cpp
        from llguidance.llamacpp import lltokenizer_from_vocab

        vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        with warnings.catch_warnings():  # llguidance calls a deprecated alias once per token
            warnings.simplefilter("ignore", DeprecationWarning)
            tok = lltokenizer_from_vocab(vocab, n_vocab=n_vocab, eos_token=sorted(eos_tokens))
        assert isinstance(tok, llg.LLTokenizer)
        return cls(tok, n_vocab)

    @classmethod
    def for_hf(cls, hf_tokenizer: Any, n_vocab: int, eos_tokens: frozenset[int]) -> Masks:
        """From a Hugging Face (fast) tokenizer."""
        _llguidance()
        from llguidance.hf import from_tokenizer

        return cls(from_tokenizer(hf_tokenizer, n_vocab=n_vocab,
                                  eos_token=sorted(eos_tokens)), n_vocab)

    def matcher(self, grammar: Grammar) -> GrammarMatcher:
        llg = _llguidance()
        m = llg.LLMatcher(self.tokenizer, compiled(grammar.lark), log_level=0)
        if m.is_error():
            raise BackendError(f"llguidance cannot use the grammar: {m.get_error()}",
                               "check the grammar with xander.grammar.to_llguidance")
        return GrammarMatcher(m, self.n_vocab)
