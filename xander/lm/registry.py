"""Backends by name: ``--model`` values resolve here.

Forms: ``embedded`` (the default, Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the registry
packages), ``embedded:<key>``, a path to a ``.gguf`` file (llama.cpp), a Hugging Face model
directory (transformers; slow on a CPU).  A new backend is one module plus one ``register`` line.
Loaded models are kept per process, so a benchmark run or an API user pays the load once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xander.errors import ModelNotFoundError
from xander.lm.base import LM

Factory = Callable[[str, dict], LM]
_FACTORIES: dict[str, Factory] = {}
_LOADED: dict[tuple[str, tuple], LM] = {}


def register(prefix: str, factory: Factory) -> None:
    """Make ``<prefix>:<rest>`` model specs load with ``factory(rest, options)``."""
    _FACTORIES[prefix] = factory


def _embedded(rest: str, options: dict) -> LM:
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, ensure_embedded
    from xander.lm.llamacpp import LlamaCppLM

    key = rest or DEFAULT_EMBEDDED
    path = ensure_embedded(key)
    return LlamaCppLM(path, name=EMBEDDED_MODELS[key].name, **options)


def _gguf(rest: str, options: dict) -> LM:
    from xander.lm.llamacpp import LlamaCppLM

    return LlamaCppLM(rest, **options)


def _hf(rest: str, options: dict) -> LM:
    from xander.lm.transformers import TransformersLM

    return TransformersLM(rest)


register("embedded", _embedded)
register("gguf", _gguf)
register("hf", _hf)


def resolve(spec: str) -> tuple[str, str]:
    """``(backend, argument)`` for a ``--model`` value.

    >>> resolve("embedded")
    ('embedded', '')
    >>> resolve("gguf:/m/x.gguf")
    ('gguf', '/m/x.gguf')
    """
    spec = spec.strip()
    if not spec:
        raise ModelNotFoundError("empty model name", "use --model embedded or a path")
    if spec == "embedded":
        return "embedded", ""
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in _FACTORIES and len(prefix) > 1:
        return prefix, rest
    p = Path(spec).expanduser()
    if p.is_file() and p.suffix.lower() == ".gguf":
        return "gguf", str(p)
    if p.is_dir() and (p / "config.json").is_file():
        return "hf", str(p)
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return "gguf", str(ggufs[0])
    raise ModelNotFoundError(
        f"unknown model {spec!r}",
        "use 'embedded', a .gguf file, or a Hugging Face model directory "
        f"(backends: {', '.join(sorted(_FACTORIES))})",
    )


def load_lm(spec: str = "embedded", **options: object) -> LM:
    """The backend for ``spec`` (loaded once per process and options)."""
    backend, rest = resolve(spec)
    key = (f"{backend}:{rest}", tuple(sorted(options.items())))
    if key not in _LOADED:
        _LOADED[key] = _FACTORIES[backend](rest, dict(options))
    return _LOADED[key]
