"""A scripted LM for fast search tests: a table says what the model would propose next.

``ScriptedLM(table)`` maps the text written after the prompt to the next pieces, best first,
each with its log-probability::

    ScriptedLM({"": [("SELECT", -0.1)], "SELECT": [(" name", -0.2), (" age", -1.5)], ...})

Tokens are ids of a tiny vocabulary: the pieces of the table plus ``END`` (end of turn) and
``PROMPT_END`` (where the prompt stops: ``chat_prompt`` puts it last, so the table keys are the
SQL alone); other characters (a schema in a prompt) are one token each.  A prefix the table does
not know is a ``KeyError`` in ``top_k``: a test says everything its search may ask.

With ``paths=N`` the model is path-capable (``supports_paths``, ``path_tokens = N``):
``top_k_path`` walks the table greedily, so the lookahead adapter can be tested against the same
table stepped one request at a time.  ``requests`` records every request (one per call, however
many prefixes it carries), ``stats().calls`` counts them.

``samples`` scripts sampled completions: ``complete(..., temperature > 0, seed=s)`` returns
``samples[s]`` (a text and its log-probability, one token per character), and a seed the script
lacks is a ``KeyError``, as an unknown prefix is.

``reviews`` makes it a scoring model (``scores_text``): ``continuation_logprobs`` gives every
token of the continuation ``reviews[sql]``, where ``sql`` is the query in the prompt's fence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xander.lm.base import Completion, Grammar, LMStats, TokenChoice, TokenPath

END = "<|end|>"
PROMPT_END = "<|prompt-end|>"
_CHARS = 1_000  # ids of single characters outside the vocabulary: _CHARS + ord(ch)


class ScriptedLM:
    """An LM that answers from ``table`` (see the module docstring)."""

    supports_paths = False
    path_tokens = 0
    saves_prompts = False
    scores_text = False

    def __init__(self, table: Mapping[str, Sequence[tuple[str, float]]], *, paths: int = 0,
                 name: str = "scripted",
                 samples: Mapping[int, tuple[str, float]] | None = None,
                 reviews: Mapping[str, float] | None = None) -> None:
        self.name = name
        self.table = {key: list(choices) for key, choices in table.items()}
        pieces = [END, PROMPT_END]
        for choices in self.table.values():
            pieces += [p for p, _ in choices if p not in pieces]
        self.vocab = pieces
        self.ids = {p: i for i, p in enumerate(pieces)}
        self.eos_tokens = frozenset({self.ids[END]})
        self._prompt_end = self.ids[PROMPT_END]
        if paths:
            self.supports_paths = True
            self.path_tokens = paths
        self.samples = dict(samples or {})
        self.reviews = dict(reviews or {})
        self.scores_text = bool(reviews)
        self.requests: list[tuple[str, int]] = []  # (method, prefixes in the request)
        self._generated = 0

    # -- text ------------------------------------------------------------------------------------
    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        return f"{system}\n{user}\n{assistant_prefix}{PROMPT_END}"

    def tokenize(self, text: str) -> list[int]:
        """Longest vocabulary piece first, else one character."""
        out, i = [], 0
        longest = sorted(self.vocab, key=len, reverse=True)
        while i < len(text):
            piece = next((p for p in longest if p and text.startswith(p, i)), None)
            if piece is None:
                out.append(_CHARS + ord(text[i]))
                i += 1
            else:
                out.append(self.ids[piece])
                i += len(piece)
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self.vocab[t] if t < _CHARS else chr(t - _CHARS) for t in tokens)

    def written(self, prefix: Sequence[int]) -> str:
        """The text after the prompt: the table's key for ``prefix``."""
        tokens = list(prefix)
        start = (len(tokens) - tokens[::-1].index(self._prompt_end)
                 if self._prompt_end in tokens else 0)
        return self.detokenize(tokens[start:])

    # -- the script ------------------------------------------------------------------------------
    def _choices(self, prefix: Sequence[int], k: int) -> list[TokenChoice] | None:
        choices = self.table.get(self.written(prefix))
        if choices is None:
            return None
        return [TokenChoice(self.ids[p], p, lp) for p, lp in choices[:k]]

    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        self.requests.append(("top_k", len(prefixes)))
        out = []
        for prefix in prefixes:
            choices = self._choices(prefix, k)
            if choices is None:
                raise KeyError(f"the script has no next pieces after {self.written(prefix)!r}")
            out.append(choices)
        return out

    def _path(self, prefix: Sequence[int], k: int, n: int) -> TokenPath:
        path: TokenPath = []
        seq = list(prefix)
        for _ in range(max(1, n)):
            choices = self._choices(seq, k)
            if not choices:  # the script ends here: so does the greedy continuation
                break
            token = choices[0].token
            path.append((token, choices))
            self._generated += 1
            if token in self.eos_tokens:
                break
            seq.append(token)
        return path

    def top_k_path(self, prefix: Sequence[int], k: int, n: int) -> TokenPath:
        assert self.supports_paths, "paths asked of a model that does not declare them"
        self.requests.append(("top_k_path", 1))
        return self._path(prefix, k, n)

    def top_k_paths(self, prefixes: Sequence[Sequence[int]], k: int, n: int) -> list[TokenPath]:
        assert self.supports_paths, "paths asked of a model that does not declare them"
        self.requests.append(("top_k_paths", len(prefixes)))
        return [self._path(p, k, n) for p in prefixes]

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
        """The greedy continuation (the script's first pieces) up to the end or a stop string;
        at a temperature, the scripted sample of ``seed``."""
        self.requests.append(("complete", 1))
        if temperature > 0:
            if seed not in self.samples:
                raise KeyError(f"the script has no sample for seed {seed}")
            text, logprob = self.samples[seed]
            tokens = tuple(_CHARS + ord(ch) for ch in text)
            self._generated += len(tokens)
            return Completion(text, tokens, logprob, len(prompt), "stop")
        seq, out, logprob, text = list(prompt), [], 0.0, ""
        for _ in range(max_tokens):
            choices = self._choices(seq, 1)
            if not choices or choices[0].token in self.eos_tokens:
                return Completion(text, tuple(out), logprob, len(prompt), "stop")
            best = choices[0]
            seq.append(best.token)
            out.append(best.token)
            logprob += best.logprob
            text += best.text
            self._generated += 1
            hit = [text.index(s) for s in stop if s in text]
            if hit:
                return Completion(text[:min(hit)], tuple(out), logprob, len(prompt), "stop")
        return Completion(text, tuple(out), logprob, len(prompt), "length")

    def continuation_logprobs(self, prefix: Sequence[int],
                              continuation: Sequence[int]) -> list[float]:
        assert self.scores_text, "a review asked of a model that does not declare it"
        self.requests.append(("continuation_logprobs", 1))
        prompt = self.detokenize(prefix)
        sql = prompt.split("```sql\n", 1)[1].split("\n```", 1)[0]
        if sql not in self.reviews:
            raise KeyError(f"the script has no review of {sql!r}")
        return [self.reviews[sql]] * len(continuation)

    def stats(self) -> LMStats:
        return LMStats(generated_tokens=self._generated, calls=len(self.requests))
