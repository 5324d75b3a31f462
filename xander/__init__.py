"""xander: questions about a database, answered in SQL by a small LM steered by symbolic checks.

>>> from xander import Xander                                  # doctest: +SKIP
>>> Xander("shop.duckdb").ask("top 5 customers by revenue")    # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Config", "Result", "Xander", "XanderError", "load_config"]

if TYPE_CHECKING:
    from xander.api import Result, Xander
    from xander.config import Config, load_config
    from xander.errors import XanderError

_LAZY = {
    "Xander": "xander.api", "Result": "xander.api", "Config": "xander.config",
    "load_config": "xander.config", "XanderError": "xander.errors",
}


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so ``import xander.schema`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xander' has no attribute {name!r}")
