"""Where xander keeps what it builds: one cache root, one folder per kind.

The root is ``$XANDER_CACHE``, else ``$XDG_CACHE_HOME/xander``, else ``~/.cache/xander``; the
kinds are ``models`` (embedded GGUF files), ``values`` (value indexes), ``prompts`` (saved
prompt states) and ``grammars`` (the search grammar's parse table).

>>> str(cache_dir("values", {"XANDER_CACHE": "/c"}))
'/c/values'
>>> str(cache_dir("prompts", {"XDG_CACHE_HOME": "/x"}))
'/x/xander/prompts'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """xander's cache root (``env`` defaults to ``os.environ``)."""
    env = os.environ if env is None else env
    if env.get("XANDER_CACHE"):
        return Path(env["XANDER_CACHE"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xander"


def cache_dir(kind: str, env: Mapping[str, str] | None = None) -> Path:
    """The folder of one kind of cached thing under the root."""
    return cache_root(env) / kind
