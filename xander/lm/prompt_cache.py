"""Persistent prompt cache: model states after a shared prompt prefix, kept on disk.

A fresh process pays the whole prompt (system text and schema, 650-2,000 tokens) before its first
token.  The state after that prefix is the same for every question about one database, so the
backend saves it here once and later processes load it instead of evaluating the prompt.

What is stored is an opaque blob (``xander.lm.llamacpp_state`` makes and reads llama.cpp's);
this module knows only files.  One file per entry, named by its key:

    key = SHA-256(model identity, runtime version, prefix token ids)

Lookup is by the *exact* prefix tokens: the caller decides where the shared prefix ends (the
tokens before ``Question:``) and asks for exactly those; there is no longest-prefix search over
stored entries.  :func:`shared_prefix` helps the caller cut the prefix at a token boundary that
the full prompt really has.

A file is trusted only when everything in it agrees: magic, format version, the model identity
and runtime version this cache was opened with, the token count, the key, the payload length and
its SHA-256.  Anything else (a truncated or torn write, a flipped byte, a file of another model or
llama.cpp version under a colliding name) is a miss, and the file is deleted so that the next
``put`` rebuilds it.  Writes go to a temporary file in the same directory, then ``os.replace``:
readers see the old file or the new one, never half of one.  Use is recorded in the file's mtime
(touched on every hit); when the directory holds more than ``max_bytes``, the least recently used
entries go first.  Entries of other models share the directory and the budget and age out the
same way.

File layout (little-endian)::

    magic  b"XPCACHE\\n"  8 bytes
    format             u32  (FORMAT_VERSION)
    header length      u32  (at most MAX_HEADER_BYTES)
    header             UTF-8 JSON: key, model, runtime, n_tokens, payload_bytes, payload_sha256,
                       created
    payload            payload_bytes bytes
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from xander.errors import BackendError
from xander.paths import cache_dir

MAGIC = b"XPCACHE\n"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 64 * 1024
SUFFIX = ".xpc"
TEMP_SUFFIX = ".tmp"
DEFAULT_MAX_BYTES = 1 << 30
"""1 GiB: about 100 schemas of the 0.5B model (12 KiB a token), 40 of the 1.5B (28 KiB)."""
STALE_TEMP_SECONDS = 3600.0
"""A temporary file this old belongs to a writer that died; ``put`` removes it."""

_PREAMBLE = struct.Struct("<8sII")


class PromptCacheError(BackendError):
    """The prompt cache directory cannot be written (permissions, full disk).

    A cache that fails is no reason to fail a question: callers catch it, say so once, and
    evaluate the prompt as if the cache were empty.
    """


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored state, as ``xander cache`` lists it."""

    key: str
    """Hex SHA-256 of (model, runtime, tokens); also the file name without its suffix."""
    path: Path
    model: str
    """Model identity the state was made with (the GGUF's SHA-256, or path:size:mtime)."""
    runtime: str
    """Runtime that made it, e.g. ``llama-cpp-python 0.3.36``."""
    n_tokens: int
    """Length of the prompt prefix the state holds."""
    n_bytes: int
    """Size of the file on disk."""
    last_used: float
    """Seconds since the epoch of the last ``put`` or hit (the file's mtime)."""


def default_directory(env: Mapping[str, str] | None = None) -> Path:
    """``prompts/`` under xander's cache root (``xander.paths``; ``env`` defaults to
    ``os.environ``).

    >>> str(default_directory({"XANDER_CACHE": "/c", "XDG_CACHE_HOME": "/x"}))
    '/c/prompts'
    """
    return cache_dir("prompts", env)


def cache_key(model: str, runtime: str, tokens: Sequence[int]) -> str:
    """Hex SHA-256 over the model identity, the runtime version and the token ids.

    Each part is length-prefixed, so no two different triples hash the same bytes.

    >>> cache_key("m", "r", [1, 2, 3]) == cache_key("m", "r", (1, 2, 3))
    True
    >>> cache_key("m", "r", [1, 2, 3]) == cache_key("m", "r", [1, 2])
    False
    >>> cache_key("ab", "c", []) == cache_key("a", "bc", [])
    False
    >>> len(cache_key("m", "r", []))
    64
    """
    h = hashlib.sha256()
    for part in (model.encode(), runtime.encode()):
        h.update(struct.pack("<Q", len(part)))
        h.update(part)
    ids = [int(t) for t in tokens]
    h.update(struct.pack("<Q", len(ids)))
    h.update(struct.pack(f"<{len(ids)}q", *ids))
    return h.hexdigest()


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences.

    The caller tokenizes the whole prompt and, separately, the text before the question; a BPE
    merge across the boundary can make the second differ from the first in its last tokens.
    ``prompt[:shared_prefix(prompt, head)]`` is then a prefix the prompt really starts with.

    >>> shared_prefix([1, 2, 3, 4], [1, 2, 3])
    3
    >>> shared_prefix([1, 2, 3, 4], [1, 2, 9])
    2
    >>> shared_prefix([], [1])
    0
    """
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def file_identity(path: str | Path) -> str:
    """A cheap model identity: resolved path, size and mtime (nanoseconds).

    Any rewrite of the file changes it.  Prefer the GGUF's SHA-256 where it is known (the
    embedded models have it pinned): that one survives a move or a copy.
    """
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}:{st.st_size}:{st.st_mtime_ns}"


def encode_entry(key: str, model: str, runtime: str, n_tokens: int, blob: bytes) -> bytes:
    """The bytes of one cache file.

    >>> data = encode_entry("k", "m", "r", 3, b"state")
    >>> data[:8], decode_entry(data).payload
    (b'XPCACHE\\n', b'state')
    """
    header = json.dumps({
        "key": key, "model": model, "runtime": runtime, "n_tokens": int(n_tokens),
        "payload_bytes": len(blob), "payload_sha256": hashlib.sha256(blob).hexdigest(),
        "created": time.time(),
    }, sort_keys=True).encode()
    return _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header)) + header + blob


@dataclass(frozen=True, slots=True)
class _Decoded:
    header: dict
    payload: bytes


class _Corrupt(Exception):
    """Internal: a file that is not a valid entry (never leaves this module)."""


def _read_header(raw: bytes) -> tuple[dict, int]:
    """Header and payload offset from the first bytes of a file; ``_Corrupt`` if malformed."""
    if len(raw) < _PREAMBLE.size:
        raise _Corrupt("short file")
    magic, version, n_header = _PREAMBLE.unpack_from(raw)
    if magic != MAGIC or version != FORMAT_VERSION or n_header > MAX_HEADER_BYTES:
        raise _Corrupt("bad magic, version or header length")
    end = _PREAMBLE.size + n_header
    if len(raw) < end:
        raise _Corrupt("truncated header")
    try:
        header = json.loads(raw[_PREAMBLE.size:end].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Corrupt("header is not JSON") from exc
    fields = {"key": str, "model": str, "runtime": str, "n_tokens": int, "payload_bytes": int,
              "payload_sha256": str}
    if not isinstance(header, dict) or any(
        not isinstance(header.get(name), kind) for name, kind in fields.items()
    ):
        raise _Corrupt("header lacks a field")
    return header, end


def decode_entry(data: bytes) -> _Decoded:
    """Parse and verify a whole cache file (length and checksum); ``_Corrupt`` if it fails."""
    header, start = _read_header(data)
    payload = data[start:]
    if len(payload) != header["payload_bytes"]:
        raise _Corrupt("payload length differs")
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise _Corrupt("payload checksum differs")
    return _Decoded(header, payload)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a read-only cache: the bad file stays, and stays ignored


class PromptCache:
    """States after prompt prefixes, one file each, for one model and runtime.

    ``model`` and ``runtime`` are part of every key and checked in every header: a cache opened
    for another model or llama.cpp version never returns this one's states.
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        model: str,
        runtime: str,
    ) -> None:
        if max_bytes <= 0:
            raise PromptCacheError(f"prompt cache size must be positive, not {max_bytes}")
        self.directory = Path(directory) if directory is not None else default_directory()
        self.max_bytes = int(max_bytes)
        self.model = model
        self.runtime = runtime

    def key(self, tokens: Sequence[int]) -> str:
        return cache_key(self.model, self.runtime, tokens)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    # -- lookup ----------------------------------------------------------------------------------
    def get(self, tokens: Sequence[int]) -> bytes | None:
        """The blob stored for exactly these prefix tokens, or None.

        A hit marks the entry as used now.  A file that fails any check is deleted.
        """
        key = self.key(tokens)
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            entry = decode_entry(data)
            h = entry.header
            if (h["key"], h["model"], h["runtime"], h["n_tokens"]) != (
                key, self.model, self.runtime, len(tokens)
            ):
                raise _Corrupt("entry of another model, runtime or prefix")
        except _Corrupt:
            _unlink(path)
            return None
        self._touch(path)
        return entry.payload

    def __contains__(self, tokens: Sequence[int]) -> bool:
        """Whether a file exists for these tokens (unverified, and not a use)."""
        return self._path(self.key(tokens)).is_file()

    # -- store -----------------------------------------------------------------------------------
    def put(self, tokens: Sequence[int], blob: bytes) -> bool:
        """Store ``blob`` for these prefix tokens, then evict down to ``max_bytes``.

        Returns False (and stores nothing) when the entry alone would exceed the budget.
        Raises :class:`PromptCacheError` when the directory cannot be written.
        """
        key = self.key(tokens)
        data = encode_entry(key, self.model, self.runtime, len(tokens), bytes(blob))
        if len(data) > self.max_bytes:
            return False
        path = self._path(key)
        tmp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}-", suffix=TEMP_SUFFIX,
                                            dir=self.directory)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp_name, path)
            tmp_name = None
            self._touch(path)
        except OSError as exc:
            raise PromptCacheError(
                f"cannot write the prompt cache at {self.directory}: {exc}",
                "free some disk space, or point XANDER_CACHE at a writable directory",
            ) from exc
        finally:
            if tmp_name is not None:
                _unlink(Path(tmp_name))
        self._remove_stale_temps()
        self.evict(keep=path)
        return True

    def evict(self, *, keep: Path | None = None) -> list[CacheEntry]:
        """Delete least recently used entries until the total is at most ``max_bytes``.

        ``keep`` (the entry just written) goes last of all.  Returns the evicted entries.
        """
        entries = self.entries()
        total = sum(e.n_bytes for e in entries)
        evicted = []
        for entry in sorted(entries, key=lambda e: (e.path == keep, e.last_used, e.key)):
            if total <= self.max_bytes:
                break
            _unlink(entry.path)
            total -= entry.n_bytes
            evicted.append(entry)
        return evicted

    def _touch(self, path: Path) -> None:
        # time.time_ns, not the kernel's coarse file clock: two uses in one tick stay ordered
        now = time.time_ns()
        try:
            os.utime(path, ns=(now, now))
        except OSError:
            pass  # a read-only cache still serves hits; it just forgets their order

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        try:
            temps = list(self.directory.glob(f".*{TEMP_SUFFIX}"))
        except OSError:
            return
        for tmp in temps:
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                pass

    # -- listing ---------------------------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Every entry in the directory (all models), most recently used first.

        Headers and lengths are checked, not checksums (that would read every payload); a file
        that fails is deleted.  Temporary files of writers in flight are not entries.
        """
        try:
            paths = [p for p in self.directory.iterdir()
                     if p.suffix == SUFFIX and not p.name.startswith(".")]
        except OSError:
            return []
        out = []
        for path in paths:
            try:
                st = path.stat()
                with path.open("rb") as f:
                    head = f.read(_PREAMBLE.size + MAX_HEADER_BYTES)
            except OSError:
                continue  # deleted meanwhile
            try:
                header, start = _read_header(head)
                if path.stem != header["key"] or st.st_size != start + header["payload_bytes"]:
                    raise _Corrupt("name or length differs")
            except _Corrupt:
                _unlink(path)
                continue
            out.append(CacheEntry(header["key"], path, header["model"], header["runtime"],
                                  header["n_tokens"], st.st_size, st.st_mtime))
        out.sort(key=lambda e: (-e.last_used, e.key))
        return out

    def total_bytes(self) -> int:
        """Bytes held by valid entries (all models)."""
        return sum(e.n_bytes for e in self.entries())

    def clear(self) -> int:
        """Delete every entry and temporary file; returns the number of entries deleted."""
        try:
            paths = list(self.directory.iterdir())
        except OSError:
            return 0
        n = 0
        for path in paths:
            if path.suffix == SUFFIX or path.name.endswith(TEMP_SUFFIX):
                n += path.suffix == SUFFIX
                _unlink(path)
        return n
