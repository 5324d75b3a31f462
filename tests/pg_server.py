"""A throwaway PostgreSQL server for the test session (a pytest plugin, named in conftest.py).

``pg_server`` runs ``initdb`` and ``pg_ctl`` from the PostgreSQL binaries on this machine
(``/usr/lib/postgresql/*/bin`` or ``PATH``) in a fresh temporary folder: the server listens only
on 127.0.0.1 on a free port, its unix socket lies in that folder, TCP logins need a password
(scram-sha-256; the socket trusts, for the fixtures' own setup), and ``fsync`` is off (nothing
here needs to survive a crash).  Run as root, the server runs as the ``postgres`` user, which
owns the folder.  It stops at the end of the session, also when tests fail, and the folder goes.
Without PostgreSQL binaries the tests that ask for it skip and say why.

>>> find_bin_dir() is None or (find_bin_dir() / "initdb").is_file()
True
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

SUPERUSER = "postgres"
#: the superuser's password over TCP (the socket trusts; nothing but 127.0.0.1 listens)
SUPERUSER_PASSWORD = "xander-test-superuser"
_START_TIMEOUT_S = 60


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest version first)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                        key=lambda p: _version(p.parent.name), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for d in candidates:
        if all((d / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PGServer:
    """A running server: where it listens and how to reach it."""

    bin_dir: Path
    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def url(self, dbname: str = "postgres", user: str = SUPERUSER,
            password: str | None = SUPERUSER_PASSWORD, **params: str) -> str:
        """A ``postgresql://`` URL for ``user`` on ``dbname`` over TCP."""
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return (f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname, safe='')}"
                + ("?" + query if query else ""))

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run ``sql`` as the superuser through the unix socket (the fixtures' setup)."""
        out = _run_as_owner([str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                             "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
                             "-d", dbname, "-At", "-c", sql])
        return out.stdout


def _owner() -> str | None:
    """The user the server runs as: ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        return None
    return SUPERUSER


def _run_as_owner(cmd: Sequence[str], timeout: float = _START_TIMEOUT_S
                  ) -> subprocess.CompletedProcess[str]:
    owner = _owner()
    if owner is not None:
        cmd = ["runuser", "-u", owner, "--", *cmd]
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    return done


@contextlib.contextmanager
def running_server(bin_dir: Path) -> Iterator[PGServer]:
    """Start a server in a new temporary folder, yield it, stop it and remove the folder."""
    if os.geteuid() == 0 and _owner() is None:
        raise RuntimeError("running as root and there is no 'postgres' user to run the server")
    root = Path(tempfile.mkdtemp(prefix="xander-pg-"))
    started = False
    try:
        (root / "sock").mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        owner = _owner()
        if owner is not None:
            info = pwd.getpwnam(owner)
            for p in (root, root / "sock", pwfile):
                os.chown(p, info.pw_uid, info.pw_gid)
        data = root / "data"
        _run_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER,
                       "--pwfile", str(pwfile), "--auth-local=trust",
                       "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                       "--no-sync"])
        pwfile.unlink()
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} "
                   f"-c unix_socket_directories={root / 'sock'} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        _run_as_owner([str(bin_dir / "pg_ctl"), "start", "-w", "-t", str(_START_TIMEOUT_S),
                       "-D", str(data), "-l", str(root / "server.log"), "-o", options])
        started = True
        yield PGServer(bin_dir, root, port)
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run_as_owner([str(bin_dir / "pg_ctl"), "stop", "-D", str(root / "data"),
                               "-m", "fast", "-w", "-t", "30"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PGServer]:
    """A PostgreSQL server of this test session (skips when PostgreSQL is not installed)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl, postgres) in "
                    "/usr/lib/postgresql/*/bin or on PATH: install Debian's postgresql")
    with running_server(bin_dir) as server:
        yield server
