"""Backends by name: ``--model`` values resolve here.

Forms: ``embedded`` (the default, Qwen2.5-Coder-0.5B-Instruct Q4_K_M from the registry
packages), ``embedded:<key>`` or the key alone (``qwen2.5-coder-1.5b``), a path to a ``.gguf``
file (llama.cpp), a Hugging Face model directory (transformers; slow on a CPU),
``openai:<base_url>[,<base_url>...][?model=<name>]`` (OpenAI-compatible servers: vLLM,
llama-cpp-python, llama.cpp; several URLs are replicas), ``vllm:<HF dir>`` or
``vllm:embedded`` (vLLM in-process; the embedded GGUF is converted once; options as
``vllm:embedded?enforce_eager=1``).
A new backend is one module plus one ``register`` line.
Loaded models are kept per process, so a benchmark run or an API user pays the load once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from xander.errors import ModelNotFoundError
from xander.lm.base import LM

Factory = Callable[[str, dict], LM]
_FACTORIES: dict[str, Factory] = {}
_LOADED: dict[tuple[str, tuple], LM] = {}
_LOAD_LOCK = threading.Lock()  # concurrent questions load a model once


def register(prefix: str, factory: Factory) -> None:
    """Make ``<prefix>:<rest>`` model specs load with ``factory(rest, options)``."""
    _FACTORIES[prefix] = factory


def _embedded(rest: str, options: dict) -> LM:
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, ensure_embedded
    from xander.lm.llamacpp import LlamaCppLM

    key = rest or DEFAULT_EMBEDDED
    path = ensure_embedded(key)
    model = EMBEDDED_MODELS[key]
    return LlamaCppLM(path, name=model.name, identity=f"sha256:{model.sha256}", **options)


def _gguf(rest: str, options: dict) -> LM:
    from xander.lm.llamacpp import LlamaCppLM

    return LlamaCppLM(rest, **options)


def _hf(rest: str, options: dict) -> LM:
    from xander.lm.transformers import TransformersLM

    return TransformersLM(rest)


def _openai(rest: str, options: dict) -> LM:
    from xander.lm.openai_compat import OpenAICompatLM, parse_spec

    urls, spec_options = parse_spec(rest)
    return OpenAICompatLM(urls, **{**spec_options, **options})


def _vllm(rest: str, options: dict) -> LM:
    from xander.lm.vllm import DEFAULT_MAX_MODEL_LEN, VLLMLM, parse_spec

    rest, spec_options = parse_spec(rest)
    options = {**spec_options, **options}
    max_len = int(options.pop("n_ctx", DEFAULT_MAX_MODEL_LEN))
    key = rest.partition(":")[2] if rest.startswith("embedded") else None
    if key is None:
        return VLLMLM(rest, max_model_len=max_len, **options)
    from xander.lm.convert import convert_gguf
    from xander.lm.embedded import DEFAULT_EMBEDDED, EMBEDDED_MODELS, ensure_embedded

    model = EMBEDDED_MODELS[key or DEFAULT_EMBEDDED]
    path = convert_gguf(ensure_embedded(key or DEFAULT_EMBEDDED), model.sha256)
    return VLLMLM(path, name=model.name, max_model_len=max_len, **options)


register("embedded", _embedded)
register("gguf", _gguf)
register("hf", _hf)
register("openai", _openai)
register("vllm", _vllm)


def _embedded_keys() -> tuple[str, ...]:
    from xander.lm.embedded import EMBEDDED_MODELS

    return tuple(EMBEDDED_MODELS)


def resolve(spec: str) -> tuple[str, str]:
    """``(backend, argument)`` for a ``--model`` value.

    >>> resolve("embedded")
    ('embedded', '')
    >>> resolve("qwen2.5-coder-1.5b")
    ('embedded', 'qwen2.5-coder-1.5b')
    >>> resolve("gguf:/m/x.gguf")
    ('gguf', '/m/x.gguf')
    >>> resolve("openai:http://127.0.0.1:8000,http://127.0.0.1:8001")
    ('openai', 'http://127.0.0.1:8000,http://127.0.0.1:8001')
    """
    spec = spec.strip()
    if not spec:
        raise ModelNotFoundError("empty model name", "use --model embedded or a path")
    if spec == "embedded":
        return "embedded", ""
    if spec in _embedded_keys():  # a key of the embedded models: --model qwen2.5-coder-1.5b
        return "embedded", spec
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in _FACTORIES and len(prefix) > 1:
        if prefix == "openai" and not rest.strip():
            raise ModelNotFoundError("no server URL after 'openai:'",
                                     "use --model openai:http://host:port")
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
        "use 'embedded', a .gguf file, a Hugging Face model directory or openai:<server URL> "
        f"(backends: {', '.join(sorted(_FACTORIES))})",
    )


def load_lm(spec: str = "embedded", **options: object) -> LM:
    """The backend for ``spec`` (loaded once per process and options)."""
    backend, rest = resolve(spec)
    key = (f"{backend}:{rest}", tuple(sorted(options.items())))
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _FACTORIES[backend](rest, dict(options))
        return _LOADED[key]
