"""Hugging Face model directories run with transformers (PyTorch, CPU or GPU).

Slow on a small CPU (tens of seconds per question for 0.5B in bf16 on 2 cores), so it is the
fallback for model directories, not the default; a directory is better served by vLLM.  The KV
cache of the last sequence is kept and cropped to the shared prefix, as in the llama.cpp
backend.  Nothing is downloaded: the directory must be complete (``local_files_only``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xander.errors import BackendError, MissingDependencyError, ModelNotFoundError
from xander.lm.base import Completion, Grammar, LMStats, TokenChoice
from xander.lm.masks import Masks, choose


class TransformersLM:
    """A causal LM from a local Hugging Face model directory."""

    supports_paths = False  # a step is one cached forward pass: nothing to save per request
    path_tokens = 0
    saves_prompts = False
    scores_text = False

    def __init__(self, path: str | Path, *, dtype: str = "bfloat16", **_: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError(
                "transformers and torch are needed for Hugging Face model directories",
                "pip install '.[hf]'",
            ) from exc
        p = Path(path)
        if not (p / "config.json").is_file():
            raise ModelNotFoundError(f"not a Hugging Face model directory: {p}",
                                     "it needs config.json, tokenizer files and weights")
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(p), local_files_only=True, dtype=getattr(torch, dtype))
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(f"transformers cannot load {p}: {exc}") from exc
        self.model.eval()
        self.name = p.name
        eos = {self.tokenizer.eos_token_id}
        for special in ("<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(special)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                eos.add(tid)
        self.eos_tokens = frozenset(t for t in eos if t is not None)
        self._seq: list[int] = []
        self._cache: Any = None
        self._logprobs: Any = None
        self._masks: Masks | None = None
        self._stats = {"prompt_tokens": 0, "generated_tokens": 0, "cached_tokens": 0,
                       "calls": 0, "seconds": 0.0}

    def chat_prompt(self, system: str, user: str, assistant_prefix: str = "") -> str:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        text = self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return text + assistant_prefix

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens))

    def _advance(self, tokens: Sequence[int]) -> Any:
        torch = self._torch
        tokens = list(tokens)
        if not tokens:
            raise BackendError("empty prompt")
        if tokens == self._seq and self._logprobs is not None:
            self._stats["cached_tokens"] += len(tokens)
            return self._logprobs
        common = 0
        limit = min(len(self._seq), len(tokens))
        while common < limit and self._seq[common] == tokens[common]:
            common += 1
        common = min(common, len(tokens) - 1)
        start = time.perf_counter()
        if self._cache is not None and common > 0:
            if common < len(self._seq):  # transformers 5: a negative crop removes tokens
                self._cache.crop(common - len(self._seq))
        else:
            self._cache, common = None, 0
        with torch.no_grad():
            out = self.model(input_ids=torch.tensor([tokens[common:]]),
                             past_key_values=self._cache, use_cache=True)
        self._cache = out.past_key_values
        self._logprobs = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        self._seq = tokens
        self._stats["prompt_tokens"] += len(tokens) - common
        self._stats["cached_tokens"] += common
        self._stats["seconds"] += time.perf_counter() - start
        return self._logprobs

    def top_k(self, prefixes: Sequence[Sequence[int]], k: int) -> list[list[TokenChoice]]:
        out = []
        for prefix in prefixes:
            self._stats["calls"] += 1
            lp = self._advance(prefix)
            vals, idx = self._torch.topk(lp, k)
            out.append([TokenChoice(int(t), self.tokenizer.decode([int(t)]), float(v))
                        for v, t in zip(vals, idx)])
        return out

    def complete(self, prompt: Sequence[int], *, max_tokens: int = 256, temperature: float = 0.0,
                 seed: int = 0, stop: Sequence[str] = (),
                 grammar: Grammar | None = None) -> Completion:
        torch = self._torch
        self._stats["calls"] += 1
        gen = torch.Generator().manual_seed(seed)

        def pick(scores: Any) -> int:
            scores = torch.as_tensor(scores)
            if temperature <= 0:
                return int(torch.argmax(scores))
            return int(torch.multinomial(torch.softmax(scores / temperature, -1), 1,
                                         generator=gen))

        matcher = self.masks().matcher(grammar) if grammar else None
        seq, out, total, finish, text = list(prompt), [], 0.0, "length", ""
        for _ in range(max_tokens):
            lp = self._advance(seq)
            if matcher is None:
                tok = pick(lp)
            else:  # the grammar steers the choice; the log-probability kept is the model's own
                chosen = choose(lp.float().numpy(), matcher, grammar, text,
                                lambda t: self.tokenizer.decode([t]), pick, self.eos_tokens)
                if chosen is None:
                    finish = "stop"
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
            text = self.detokenize(out)
            if stop and any(s in text for s in stop):
                finish = "stop"
                text = text[:min(text.index(s) for s in stop if s in text)]
                return Completion(text, tuple(out), total, len(prompt), finish)
        return Completion(self.detokenize(out), tuple(out), total, len(prompt), finish)

    def masks(self) -> Masks:
        """Grammar token masks for this tokenizer (built on first use)."""
        if self._masks is None:
            n_vocab = int(self.model.get_output_embeddings().weight.shape[0])
            self._masks = Masks.for_hf(self.tokenizer, n_vocab, self.eos_tokens)
        return self._masks

    def stats(self) -> LMStats:
        return LMStats(**self._stats)
