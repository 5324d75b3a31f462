"""``xander serve``: open the databases once, load the model once, run the app under uvicorn.

Kept apart from ``app`` so that what the command line decides (names, the host rule, the
token) is plain Python the tests call without a server.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from xander.api import Xander
from xander.config import Config
from xander.errors import InputError
from xander.lm.base import LM

if TYPE_CHECKING:
    from xander.service.app import Database

#: What a database may be called on the server (the ``db`` field of a request).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def default_name(target: str) -> str:
    """A database's name on the server when ``--db`` gives none: a file's stem, a folder's
    name, a URL's database (its last path segment).

    >>> default_name("data/shop.duckdb"), default_name("csv/"), default_name(
    ...     "postgresql://reader@127.0.0.1:5432/sales?sslmode=require")
    ('shop', 'csv', 'sales')
    """
    if "://" in target:
        parts = urllib.parse.urlsplit(target)
        return parts.path.strip("/").split("/")[-1] or parts.hostname or ""
    path = Path(target)
    return path.stem if path.suffix else path.name


def database_specs(specs: Sequence[str]) -> dict[str, str]:
    """``--db`` values as names and targets (paths or URLs, kept as written): a target is
    named by ``default_name``, ``NAME=TARGET`` chooses the name.

    >>> database_specs(["data/shop.duckdb", "music=../x/concert_singer.sqlite"])
    {'shop': 'data/shop.duckdb', 'music': '../x/concert_singer.sqlite'}
    """
    out: dict[str, str] = {}
    if not specs:
        raise InputError("no database to serve", "give one or more --db PATH (or NAME=PATH)")
    for spec in specs:
        name, eq, rest = spec.partition("=")
        if eq and NAME.match(name) and not Path(spec).exists():
            target = rest
        else:
            target, name = spec, default_name(spec)
        if not NAME.match(name):
            raise InputError(f"{name!r} cannot name a database on the server",
                             "use letters, digits, '_', '.' and '-' (--db NAME=PATH)")
        if name in out:
            raise InputError(f"two databases are named {name!r}",
                             f"name one of them: --db other_name={spec}")
        out[name] = target
    return out


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token: the databases would be open to anyone
    who reaches the port."""
    if not is_loopback(host) and not token:
        raise InputError(f"--host {host} serves your databases to the network without a token",
                         "set --token (or XANDER_TOKEN), or keep the default --host 127.0.0.1")


def open_databases(specs: Sequence[str], lm: LM | str, config: Config, *, workers: int = 1,
                   schemas: Sequence[str] | None = None) -> dict[str, Database]:
    """Each database opened read-only, ``workers`` times (one ``Xander`` per worker thread,
    all sharing ``lm``: a loaded model, or a spec the registry loads once for all), its schema
    read now so that the first question does not pay for it."""
    from xander.service.app import Database

    out: dict[str, Database] = {}
    try:
        for name, target in database_specs(specs).items():
            xs = [Xander(target, model=lm, config=config, schemas=schemas)
                  for _ in range(workers)]
            out[name] = Database(name, target, xs)
            for x in xs:
                _ = x.schema
    except BaseException:
        for db in out.values():
            for x in db.xanders:
                x.close()
        raise
    return out


def serve(specs: Sequence[str], *, config: Config, host: str = "127.0.0.1", port: int = 8000,
          token: str | None = None, capacity: int = 8, workers: int = 1,
          timeout_s: float = 60.0, schemas: Sequence[str] | None = None,
          log_level: str = "info") -> None:
    """Run the service until interrupted (``xander serve``)."""
    import uvicorn

    from xander.lm.registry import load_lm
    from xander.service.app import Service, create_app
    from xander.service.queue import AskQueue

    check_exposure(host, token)
    if workers < 1 or capacity < 0 or timeout_s <= 0:
        raise InputError("--workers must be at least 1, --queue at least 0 and --timeout "
                         "positive")
    # the databases first (a wrong --db fails before a model loads), then the one model; every
    # Xander gets the registry's one instance of it
    databases = open_databases(specs, config.lm.model, config, workers=workers, schemas=schemas)
    lm = load_lm(config.lm.model, n_ctx=config.lm.n_ctx)
    if any(x.lm is not lm for d in databases.values() for x in d.xanders):
        raise RuntimeError("the databases do not share one model")
    service = Service(databases, lm.name, AskQueue(workers, capacity), timeout_s, token)
    print(f"xander: {', '.join(databases)} with {lm.name} on http://{host}:{port}/ "
          f"({'token required, ' if token else ''}{workers} at once, {capacity} may wait, "
          f"{timeout_s:g} s a question)", file=sys.stderr, flush=True)
    try:
        uvicorn.run(create_app(service), host=host, port=port, log_level=log_level,
                    timeout_graceful_shutdown=5)
    finally:
        service.close()
