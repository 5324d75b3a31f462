"""llama.cpp context state as bytes, for the prompt cache (``xander.lm.prompt_cache``).

``Llama.save_state()`` is not used: besides the context state it copies ``Llama.scores``, which
with ``logits_all=False`` is an uninitialised ``n_batch x n_vocab`` float array (512 x 151,936 =
311 MB for Qwen2.5; over a second to copy), and ``Llama.load_state`` copies it back (3 s).  xander
never reads those rows: it takes the logits from the context after each ``eval``.  So a blob holds
what restoring needs and nothing else:

- the token ids in the KV cache (``Llama.input_ids[:n_tokens]``), int32;
- llama.cpp's own state (``llama_state_get_data``): the architecture name, the output buffer and
  the KV cache, only the cells in use (about 12 KiB a token for the 0.5B model at f16).

Layout (little-endian), parsed without pickle or any code execution::

    magic b"XLLSTATE"  8 bytes
    format             u32
    header length      u32  (at most 4 KiB)
    header             UTF-8 JSON: n_tokens, n_vocab, ids_dtype ("<i4"), state_bytes
    token ids          4 * n_tokens bytes
    llama.cpp state    state_bytes bytes

``load_state`` leaves ``Llama.scores`` alone (stale rows, as after any rewind) and the sampler
seed as it is; it is meant for contexts with ``logits_all=False``, as xander's are.  Everything
here uses llama-cpp-python's public surface: ``Llama.ctx``, ``input_ids``, ``n_tokens``,
``reset()``, ``n_ctx()``, ``n_vocab()``, ``context_params`` and the ``llama_state_*`` functions.
"""

from __future__ import annotations

import ctypes
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from xander.errors import BackendError

MAGIC = b"XLLSTATE"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 4096
IDS_DTYPE = "<i4"

_PREAMBLE = struct.Struct("<8sII")

# Context parameters that change what the KV cache holds or how it is laid out: a state made
# under other values must not be offered to this context.
_LAYOUT_PARAMS = ("type_k", "type_v", "flash_attn_type", "n_seq_max", "kv_unified", "swa_full",
                  "rope_scaling_type", "rope_freq_base", "rope_freq_scale", "yarn_ext_factor",
                  "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx")


class PromptStateError(BackendError):
    """A state blob is malformed, or llama.cpp refused to load it into this context."""


@dataclass(frozen=True, slots=True)
class DecodedState:
    """A parsed blob: the token ids it holds and llama.cpp's bytes."""

    tokens: np.ndarray
    n_vocab: int
    state: bytes


def runtime_identity(llama: Any) -> str:
    """The runtime part of a prompt-cache key: llama-cpp-python's version and the context
    parameters that shape the KV cache (``PromptCache(runtime=...)``)."""
    import llama_cpp

    params = llama.context_params
    layout = ",".join(f"{name}={getattr(params, name, None)!r}" for name in _LAYOUT_PARAMS)
    return f"llama-cpp-python {llama_cpp.__version__} [{layout}]"


def encode_state(tokens: np.ndarray | list[int], n_vocab: int, state: bytes) -> bytes:
    """The blob for these token ids and llama.cpp state bytes.

    >>> blob = encode_state([5, 6, 7], 10, b"kv")
    >>> d = decode_state(blob)
    >>> d.tokens.tolist(), d.n_vocab, d.state
    ([5, 6, 7], 10, b'kv')
    """
    ids = np.ascontiguousarray(tokens, dtype=IDS_DTYPE)
    header = json.dumps({"n_tokens": int(ids.shape[0]), "n_vocab": int(n_vocab),
                         "ids_dtype": IDS_DTYPE, "state_bytes": len(state)},
                        sort_keys=True).encode()
    return b"".join((_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header)), header, ids.tobytes(),
                     state))


def decode_state(blob: bytes) -> DecodedState:
    """Parse a blob made by :func:`encode_state`; every length is checked.

    >>> decode_state(b"garbage")
    Traceback (most recent call last):
    ...
    xander.lm.llamacpp_state.PromptStateError: not a llama.cpp state blob (short)
    >>> decode_state(encode_state([1, 2], 10, b"kv")[:-1]).state
    Traceback (most recent call last):
    ...
    xander.lm.llamacpp_state.PromptStateError: not a llama.cpp state blob (lengths differ)
    """
    def bad(why: str) -> PromptStateError:
        return PromptStateError(f"not a llama.cpp state blob ({why})")

    if len(blob) < _PREAMBLE.size:
        raise bad("short")
    magic, version, n_header = _PREAMBLE.unpack_from(blob)
    if magic != MAGIC or version != FORMAT_VERSION or n_header > MAX_HEADER_BYTES:
        raise bad("magic, version or header length")
    start = _PREAMBLE.size + n_header
    try:
        header = json.loads(blob[_PREAMBLE.size:start].decode())
        n_tokens, n_vocab, n_state = (header["n_tokens"], header["n_vocab"],
                                      header["state_bytes"])
        dtype = header["ids_dtype"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise bad("header") from exc
    if dtype != IDS_DTYPE or not all(isinstance(v, int) and v >= 0
                                     for v in (n_tokens, n_vocab, n_state)):
        raise bad("header fields")
    n_ids = 4 * n_tokens
    if len(blob) != start + n_ids + n_state:
        raise bad("lengths differ")
    ids = np.frombuffer(blob, dtype=IDS_DTYPE, count=n_tokens, offset=start)
    return DecodedState(ids, n_vocab, bytes(blob[start + n_ids:]))


def save_state(llama: Any) -> bytes:
    """The state of ``llama`` (a ``llama_cpp.Llama``) after the tokens it has evaluated."""
    import llama_cpp

    n = int(llama.n_tokens)
    if n <= 0:
        raise PromptStateError("nothing evaluated: no state to save")
    size = int(llama_cpp.llama_state_get_size(llama.ctx))
    buf = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_get_data(llama.ctx, buf, size))
    if written <= 0 or written > size:
        raise PromptStateError(f"llama.cpp could not copy its state ({written} of {size} bytes)")
    return encode_state(llama.input_ids[:n], llama.n_vocab(), ctypes.string_at(buf, written))


def load_state(llama: Any, blob: bytes) -> list[int]:
    """Restore a state saved by :func:`save_state`; returns the token ids now in the cache.

    On any failure the context is left empty (``n_tokens == 0``, KV cache cleared) and
    :class:`PromptStateError` is raised: the caller evaluates the prompt instead.
    """
    import llama_cpp

    decoded = decode_state(blob)
    n = int(decoded.tokens.shape[0])
    if decoded.n_vocab != llama.n_vocab():
        raise PromptStateError(
            f"state of a vocabulary of {decoded.n_vocab}, model has {llama.n_vocab()}")
    if not 0 < n < llama.n_ctx():
        raise PromptStateError(f"state of {n} tokens does not fit a context of {llama.n_ctx()}")
    llama.reset()  # n_tokens = 0; the next generate() decodes before it samples
    buf = (ctypes.c_uint8 * len(decoded.state)).from_buffer_copy(decoded.state)
    read = int(llama_cpp.llama_state_set_data(llama.ctx, buf, len(decoded.state)))
    if read != len(decoded.state):
        memory = llama_cpp.llama_get_memory(llama.ctx)
        if memory is not None:
            llama_cpp.llama_memory_clear(memory, True)
        llama.reset()
        raise PromptStateError(
            f"llama.cpp refused the state ({read} of {len(decoded.state)} bytes read)",
            "the prompt is evaluated instead")
    llama.input_ids[:n] = decoded.tokens
    llama.n_tokens = n
    return decoded.tokens.tolist()
