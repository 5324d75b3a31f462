"""What the service's tests share: a scripted model that knows several concert_singer questions
(and can be made slow, or held), and a real uvicorn server on a free loopback port.

``ConcertLM`` is ``tests.scripted.ScriptedLM`` with one script per question: it finds the
question in the prompt (the prompt's text is in the tokens it is asked about) and answers from
that question's table, so one model serves every request, as the one in-process model does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.scripted import ScriptedLM
from xander.config import Config
from xander.lm.base import TokenChoice

END = "\n```"  # the closing fence: the piece that ends a query

COUNT = "How many singers are there?"
BY_COUNTRY = "How many singers are from each country?"
BY_YEAR = "How many concerts are there in each year?"

#: question -> script.  BY_COUNTRY's likeliest first step names a table that does not exist
#: (pruned, with the reason), so the tree has a pruned branch beside the kept one.
SCRIPTS: dict[str, dict[str, list[tuple[str, float]]]] = {
    COUNT: {
        "": [("SELECT count(*) FROM singer", -0.05)],
        "SELECT count(*) FROM singer": [(END, -0.02)],
    },
    BY_COUNTRY: {
        "": [("SELECT", -0.01)],
        "SELECT": [(" Country, count(*) FROM singers", -0.2),
                   (" Country, count(*) FROM singer", -0.6)],
        "SELECT Country, count(*) FROM singers": [(" GROUP BY Country", -0.1)],
        "SELECT Country, count(*) FROM singer": [(" GROUP BY Country", -0.1)],
        "SELECT Country, count(*) FROM singer GROUP BY Country": [(END, -0.05)],
    },
    BY_YEAR: {
        "": [("SELECT Year, count(*) FROM concert GROUP BY Year", -0.1)],
        "SELECT Year, count(*) FROM concert GROUP BY Year": [(END, -0.05)],
    },
}

EXPECTED_ROWS = {
    COUNT: [[6]],
    BY_COUNTRY: [["France", 4], ["Netherlands", 1], ["United States", 1]],
    BY_YEAR: [["2014", 3], ["2015", 3]],
}


class ConcertLM(ScriptedLM):
    """A scripted model for several questions (``SCRIPTS``).

    ``delay_s``: seconds each question takes (slept at its first step, like a model's prompt
    evaluation).  ``gate``: each question waits at its first step until the event is set
    (``entered`` is set when one is waiting), to hold the one answering slot in a test.
    """

    def __init__(self, scripts: Mapping[str, Mapping[str, Sequence[tuple[str, float]]]] = SCRIPTS,
                 *, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        merged = {f"{q}\x00{k}": list(v) for q, t in scripts.items() for k, v in t.items()}
        super().__init__(merged, name="concert-scripted")
        self.scripts = {q: {k: list(v) for k, v in t.items()} for q, t in scripts.items()}
        self.delay_s, self.gate = delay_s, gate
        self.entered = threading.Event()
        self.questions_started = 0
        self._lock = threading.Lock()

    def _script(self, prefix: Sequence[int]) -> dict[str, list[tuple[str, float]]]:
        tokens = list(prefix)
        end = tokens.index(self._prompt_end) if self._prompt_end in tokens else len(tokens)
        prompt = self.detokenize(tokens[:end])
        found = [q for q in self.scripts if q in prompt]
        if not found:
            raise KeyError(f"no script for this prompt: {prompt[-200:]!r}")
        return self.scripts[max(found, key=len)]

    def _choices(self, prefix: Sequence[int], k: int) -> list[TokenChoice] | None:
        table = self._script(prefix)
        written = self.written(prefix)
        if written == "":
            with self._lock:
                self.questions_started += 1
            if self.gate is not None:
                self.entered.set()
                if not self.gate.wait(30):
                    raise TimeoutError("the test never opened the gate")
            if self.delay_s:
                time.sleep(self.delay_s)
        choices = table.get(written)
        if choices is None:
            return None
        return [TokenChoice(self.ids[p], p, lp) for p, lp in choices[:k]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_service(dbs: Mapping[str, Path], lm, *, token: str | None = None, capacity: int = 8,
                 timeout_s: float = 30.0, workers: int = 1, config: Config | None = None):
    """A ``Service`` over ``dbs`` (name -> path) with ``workers`` workers and the model ``lm``."""
    from xander.service.app import Service
    from xander.service.queue import AskQueue
    from xander.service.serve import open_databases

    cfg = config or Config()
    specs = [f"{name}={path}" for name, path in dbs.items()]
    return Service(open_databases(specs, lm, cfg, workers=workers), lm.name,
                   AskQueue(workers, capacity), timeout_s, token)


@contextlib.contextmanager
def running_server(service) -> Iterator[str]:
    """A real uvicorn server for ``service`` on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    from xander.service.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn-test")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        service.close()
