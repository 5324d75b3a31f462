"""In-process llama.cpp backend (llama-cpp-python), the steerable local model.

One llama.cpp context holds the KV cache of the last sequence evaluated.  Every request rewinds
the cache to the longest prefix it shares with that sequence and evaluates only the new tokens,
so a search child (parent + one token) costs one decoding step, and a sibling costs the tokens
after the branch point.  ``llama_cpp`` is imported in the constructor: importing xander does not
need the ``local`` extra.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xander.errors import BackendError, MissingDependencyError, ModelNotFoundError
from xander.lm.base import EOS_STRINGS, Completion, Grammar, LMStats, TokenChoice, chatml
from xander.lm.masks import Masks, choose

if TYPE_CHECKING:
    from xander.lm.prompt_cache import PromptCache

DEFAULT_N_CTX = 8192


def _locked(method):
    """One request at a time: the context holds one sequence (threads share a backend when the
    benchmark runner keeps several questions in flight)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max()
    return logits - (m + np.log(np.exp(logits - m).sum()))


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, a container's cpuset), not the machine's:
    two threads pinned to one core take turns and run slower than one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 2


class LlamaCppLM:
    """A GGUF model run in-process by llama.cpp on the CPU."""

    supports_paths = False  # a step is one cached decoding step: nothing to save per request
    path_tokens = 0
    saves_prompts = True  # the state after a prompt prefix is saved and loaded (prime)
    scores_text = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_batch: int = 512,
        identity: str | None = None,
    ) -> None:
        """``identity`` names the model file for saved prompt states (the embedded models pass
        their pinned SHA-256); by default the file's path, size and modification time."""
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependencyError(
                "llama-cpp-python is not installed", "install the local extra: see README.md"
            ) from exc
        path = Path(model_path)
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}", "check the --model path")
        self.name = name or path.stem
        self.path = path
        self._identity = identity
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=n_threads or int(os.environ.get("XANDER_THREADS", "0")) or usable_cores(),
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFoundError(
                f"llama.cpp cannot load {path}: {exc}", "is it a valid GGUF file?"
            ) from exc
        self._n_vocab = self._llm.n_vocab()
        self.n_ctx = n_ctx
        eos = {self._llm.token_eos()}
        for special in EOS_STRINGS:
            ids = self._llm.tokenize(special.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                eos.add(ids[0])
        self.eos_tokens = frozenset(t for t in eos if t >= 0)
        self._template = self._llm.metadata.get("tokenizer.chat_template", "")
        self._pieces: dict[int, str] = {}
        self._logprobs: np.ndarray | None = None  # log-softmax after the current sequence
        self._seq: list[int] = []  # tokens in the KV cache
        self._lock = threading.RLock()
        self._masks: Masks | None = None
        self._stats = {"prompt_tokens": 0, "generated_tokens": 0, "cached_tokens": 0,
                       "calls": 0, "seconds": 0.0}

    def close(self) -> None:
        """Free the model now (else llama.cpp frees it at interpreter exit, noisily)."""
        with self._lock:
            self._llm.close()

    # -- text ------------------------------------------------------------------------------------
    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        if "<|im_start|>" in self._template or not self._template:
            return chatml(system, user, assistant_prefix)
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        tpl = ImmutableSandboxedEnvironment().from_string(self._template)
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tpl.render(messages=msgs, add_generation_prompt=True, bos_token="",
                          eos_token="") + assistant_prefix

    def tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._llm.detokenize(list(tokens)).decode("utf-8", errors="replace")

    def piece(self, token: int) -> str:
        """Text of one token (cached)."""
        text = self._pieces.get(token)
        if text is None:
            text = self._llm.detokenize([token]).decode("utf-8", errors="replace")
            self._pieces[token] = text
        return text

    # -- KV cache --------------------------------------------------------------------------------
    def _advance(self, tokens: Sequence[int]) -> np.ndarray:
        """Make the cache hold exactly ``tokens``; return the next-token log-probabilities."""
        tokens = list(tokens)
        if not tokens:
            raise BackendError("empty prompt", "give the model at least one token")
        if len(tokens) >= self.n_ctx:
            raise BackendError(
                f"prompt of {len(tokens)} tokens exceeds the context of {self.n_ctx}",
                "use a smaller schema budget or a larger n_ctx",
            )
        seq = self._seq
        if tokens == seq and self._logprobs is not None:
            self._stats["cached_tokens"] += len(tokens)
            return self._logprobs
        common = 0
        limit = min(len(seq), len(tokens))
        while common < limit and seq[common] == tokens[common]:
            common += 1
        common = min(common, len(tokens) - 1)  # re-evaluate at least one token for its logits
        start = time.perf_counter()
        self._llm.n_tokens = common
        try:
            self._llm.eval(tokens[common:])
        except RuntimeError as exc:
            self._seq, self._logprobs = [], None
            self._llm.n_tokens = 0
            raise BackendError(f"llama.cpp failed to evaluate: {exc}") from exc
        logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._n_vocab,))
        self._logprobs = _log_softmax(logits.astype(np.float64))
        self._seq = tokens
        self._stats["prompt_tokens"] += len(tokens) - common
        self._stats["cached_tokens"] += common
        self._stats["seconds"] += time.perf_counter() - start
        return self._logprobs

    # -- saved prompt states (PromptStateLM) ----------------------------------------------------
    def state_identity(self) -> tuple[str, str]:
        from xander.lm.llamacpp_state import runtime_identity
        from xander.lm.prompt_cache import file_identity

        return self._identity or file_identity(self.path), runtime_identity(self._llm)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the context for one question: other threads wait until it is done, so questions
        in flight take turns whole and none evicts another's sequence halfway (which would
        re-evaluate it in batches of another shape, and move its numbers)."""
        with self._lock:
            yield

    @_locked
    def prime(self, prefix: Sequence[int], cache: PromptCache | None) -> str:
        """Hold ``prefix`` in the KV cache: loaded from ``cache`` when it has it, else evaluated
        on its own (so a loaded and an evaluated prefix give the same numbers) and saved there.
        A cache that cannot be read or written is no reason to fail: the prefix is evaluated.

        Whatever the cache held after ``prefix`` (the previous question's tokens) is dropped,
        even where it matches: the question's own tokens are then evaluated from the end of the
        prefix in one batch, whichever question came before (an empty ``prefix`` drops it all)."""
        from xander.lm.llamacpp_state import PromptStateError, load_state, save_state
        from xander.lm.prompt_cache import PromptCacheError

        prefix = list(prefix)
        if self._seq[:len(prefix)] == prefix:
            self._seq, self._logprobs = self._seq[:len(prefix)], None
            return "held"
        if len(prefix) >= self.n_ctx:
            return "held"  # _advance reports the overflow with its own message
        start = time.perf_counter()
        blob = cache.get(prefix) if cache is not None else None
        if blob is not None:
            try:
                load_state(self._llm, blob)
            except PromptStateError:
                pass  # evaluated below, and saved again
            else:
                self._seq, self._logprobs = prefix, None
                self._stats["cached_tokens"] += len(prefix)
                self._stats["seconds"] += time.perf_counter() - start
                return "loaded"
        self._llm.n_tokens = 0
        try:
            self._llm.eval(prefix)
        except RuntimeError as exc:
            self._seq, self._logprobs = [], None
            self._llm.n_tokens = 0
            raise BackendError(f"llama.cpp failed to evaluate: {exc}") from exc
        self._seq, self._logprobs = prefix, None
        self._stats["prompt_tokens"] += len(prefix)
        self._stats["seconds"] += time.perf_counter() - start
        if cache is None:
            return "evaluated"
        try:
            cache.put(prefix, save_state(self._llm))
        except (PromptCacheError, PromptStateError):
            return "evaluated"
        return "saved"

    # -- protocol --------------------------------------------------------------------------------
    @_locked
    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        out = []
        for prefix in prefixes:
            self._stats["calls"] += 1
            lp = self._advance(prefix)
            k_eff = min(k, lp.shape[0])
            idx = np.argpartition(-lp, k_eff - 1)[:k_eff]
            idx = idx[np.argsort(-lp[idx])]
            out.append([TokenChoice(int(t), self.piece(int(t)), float(lp[t])) for t in idx])
        return out

    @_locked
    def continuation_logprobs(self, prefix: Sequence[int],
                              continuation: Sequence[int]) -> list[float]:
        """The log-probability of each token of ``continuation`` after ``prefix``, from one
        batched evaluation (logits kept for every position of the batch)."""
        cont = list(continuation)
        if not cont:
            return []
        lp0 = self._advance(prefix)
        out = [float(lp0[cont[0]])]
        rest = cont[:-1]
        if not rest:
            return out
        n_past = len(self._seq)
        if n_past + len(rest) >= self.n_ctx:
            raise BackendError(f"{n_past + len(rest)} tokens exceed the context of {self.n_ctx}",
                               "score a shorter text")
        start = time.perf_counter()
        llm = self._llm
        for i in range(0, len(rest), llm.n_batch):
            chunk = rest[i:i + llm.n_batch]
            past = n_past + i
            llm._ctx.kv_cache_seq_rm(-1, past, -1)
            llm._batch.set_batch(batch=chunk, n_past=past, logits_all=True)
            llm._ctx.decode(llm._batch)
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(),
                                           shape=(len(chunk), self._n_vocab))
            for row, tok in zip(logits, cont[i + 1:i + 1 + len(chunk)], strict=True):
                last = _log_softmax(row.astype(np.float64))
                out.append(float(last[tok]))
            llm.input_ids[past:past + len(chunk)] = chunk
            llm.n_tokens = past + len(chunk)
        self._seq = [*self._seq, *rest]
        self._logprobs = last
        self._stats["prompt_tokens"] += len(rest)
        self._stats["seconds"] += time.perf_counter() - start
        return out

    @_locked
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
        self._stats["calls"] += 1
        rng = np.random.default_rng(seed)

        def pick(scores: np.ndarray) -> int:
            if temperature <= 0:
                return int(np.argmax(scores))
            z = scores / temperature
            p = np.exp(z - z.max())
            return int(rng.choice(len(p), p=p / p.sum()))

        matcher = self.masks().matcher(grammar) if grammar else None
        seq = list(prompt)
        out: list[int] = []
        total = 0.0
        text = ""
        finish = "length"
        for _ in range(max_tokens):
            if len(seq) >= self.n_ctx - 1:
                break
            lp = self._advance(seq)
            if matcher is None:
                tok = pick(lp)
            else:  # the grammar steers the choice; the log-probability kept is the model's own
                chosen = choose(lp, matcher, grammar, text, self.piece, pick, self.eos_tokens)
                if chosen is None:
                    finish = "stop"  # the grammar allows nothing more
                    break
                tok = chosen
            if tok in self.eos_tokens:
                finish = "stop"
                break
            if matcher is not None:
                matcher.consume(tok)
            total += float(lp[tok])
            seq.append(tok)
            out.append(tok)
            self._stats["generated_tokens"] += 1
            text += self.piece(tok)
            if stop and any(s in text for s in stop):
                cut = min(text.index(s) for s in stop if s in text)
                text = text[:cut]
                finish = "stop"
                break
        return Completion(self.detokenize(out) if finish != "stop" or not stop else text,
                          tuple(out), total, len(prompt), finish)

    def masks(self) -> Masks:
        """Grammar token masks for this model's vocabulary (built on first use)."""
        if self._masks is None:
            self._masks = Masks.for_llama(self._llm, self._n_vocab, self.eos_tokens)
        return self._masks

    def stats(self) -> LMStats:
        return LMStats(**self._stats)

    def metadata(self) -> dict[str, Any]:
        return {"backend": "llama.cpp", "path": str(self.path), "n_ctx": self.n_ctx}
