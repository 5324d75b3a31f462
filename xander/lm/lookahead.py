"""The lookahead adapter: ``top_k`` served from greedy paths of a path-capable backend.

A backend that pays per request (vLLM, servers) can return, in one request, the greedy
continuation of a prefix with the top-k at every position (``PathLM.top_k_path``).  A search that
follows the most likely child asks for exactly those distributions, one after the other, so
``Lookahead`` asks for a path once, remembers its distributions, and answers the next ``top_k``
calls from memory; only when a prefix leaves every remembered path does it send a new request.
The answers are the backend's own, so a search builds the same tree with a fraction of the
requests.

With ``prefetch = N``, a request also carries (in one batched ``top_k_paths``) the paths of the
``N`` prefixes the caller expects to need next; ``frontier(N)`` tells the adapter which
(for the search: the best queued nodes).

One adapter serves one prompt (one search): prefixes are remembered by their tokens after it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from xander.lm.base import Completion, Grammar, LMStats, PathLM, TokenChoice, TokenPath

#: ``frontier(n)``: the tokens after the prompt of up to ``n`` prefixes likely to be asked for
#: next, best first.
Frontier = Callable[[int], Sequence[tuple[int, ...]]]


def _no_frontier(n: int) -> Sequence[tuple[int, ...]]:
    return ()


class Lookahead:
    """An ``LM`` whose ``top_k`` walks remembered greedy paths of ``lm`` (see the module doc).

    ``prompt`` starts every prefix asked for; ``max_tokens`` bounds the tokens after it (a path
    is not asked to run past it); ``prefetch`` and ``frontier`` as in the module docstring.
    Everything but ``top_k`` is ``lm``'s own.

    >>> Lookahead.supports_paths  # it spends the paths itself: nothing to wrap it in again
    False
    """

    supports_paths = False
    path_tokens = 0
    saves_prompts = False
    scores_text = False

    def __init__(
        self,
        lm: PathLM,
        prompt: Sequence[int],
        *,
        max_tokens: int,
        prefetch: int = 0,
        frontier: Frontier = _no_frontier,
    ) -> None:
        self.lm = lm
        self.name = lm.name
        self.eos_tokens = lm.eos_tokens
        self.prompt = tuple(prompt)
        self.max_tokens = max_tokens
        self.prefetch = prefetch
        self.frontier = frontier
        #: top-k after the prompt and these tokens, from paths not walked yet
        self.ahead: dict[tuple[int, ...], list[TokenChoice]] = {}
        self._k: int | None = None
        self.served = 0  # top-k answered from a remembered path
        self.requests = 0  # path requests sent (a prefetching batch is one)

    # -- the LM protocol, delegated --------------------------------------------------------------
    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        return self.lm.chat_prompt(system, user, assistant_prefix)

    def tokenize(self, text: str) -> list[int]:
        return self.lm.tokenize(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.lm.detokenize(tokens)

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
        return self.lm.complete(prompt, max_tokens=max_tokens, temperature=temperature,
                                seed=seed, stop=stop, grammar=grammar)

    def stats(self) -> LMStats:
        return self.lm.stats()

    # -- top-k from the paths --------------------------------------------------------------------
    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        if k != self._k:  # remembered distributions hold another k
            self.ahead.clear()
            self._k = k
        return [self._next(prefix, k) for prefix in prefixes]

    def _next(self, prefix: Sequence[int], k: int) -> list[TokenChoice]:
        start = len(self.prompt)
        if tuple(prefix[:start]) != self.prompt:  # not this prompt's: one step, as any backend
            return self.lm.top_k([prefix], k)[0]
        tokens = tuple(prefix[start:])
        choices = self.ahead.pop(tokens, None)
        if choices is not None:
            self.served += 1
            return choices
        n = max(1, min(self.lm.path_tokens, self.max_tokens - len(tokens)))
        batch = [tokens]
        if self.prefetch > 0:
            batch += [t for t in self.frontier(self.prefetch) if t not in self.ahead]
        self.requests += 1
        if len(batch) > 1:
            paths = self.lm.top_k_paths([self.prompt + t for t in batch], k, n)
        else:
            paths = [self.lm.top_k_path(self.prompt + tokens, k, n)]
        for begin, path in zip(batch[1:], paths[1:], strict=True):
            self.remember(begin, path)
        if not paths[0]:  # the backend could not give a path here: one step, as usual
            return self.lm.top_k([prefix], k)[0]
        self.remember(tokens, paths[0])
        return self.ahead.pop(tokens)

    def remember(self, tokens: tuple[int, ...], path: TokenPath) -> None:
        """Keep the top-k along a greedy ``path`` that starts after the prompt and ``tokens``."""
        if not path:
            return
        self.ahead[tokens] = path[0][1]
        key = tokens
        for (token, _), (_, nxt) in itertools.pairwise(path):
            key = (*key, token)
            self.ahead[key] = nxt
