"""``xander shell``'s loop on concert_singer with a scripted model, for tests/test_shell.py to run
in a terminal: ``python -m tests.shell_scripted DB``.

The model (``tests.service_support.ConcertLM``) knows the service's questions and ``SLOW``, which
it answers one piece at a time with ``SLOW_STEP_S`` seconds per step, so a test has time to
press Ctrl-C; it touches ``$SHELL_TEST_STARTED`` when that question starts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.service_support import END, SCRIPTS, ConcertLM
from xander.lm.base import TokenChoice

SLOW = "What are the names of all singers, slowly?"
SLOW_STEP_S = 1.5
SLOW_SCRIPT = {
    "": [("SELECT", -0.01)],
    "SELECT": [(" Name", -0.01)],
    "SELECT Name": [(" FROM", -0.01)],
    "SELECT Name FROM": [(" singer", -0.01)],
    "SELECT Name FROM singer": [(END, -0.01)],
}


class ShellLM(ConcertLM):
    """``ConcertLM`` plus ``SLOW``: each of its steps sleeps ``SLOW_STEP_S``."""

    def __init__(self) -> None:
        super().__init__({**SCRIPTS, SLOW: SLOW_SCRIPT})

    def _choices(self, prefix: Sequence[int], k: int) -> list[TokenChoice] | None:
        if self._script(prefix) is self.scripts[SLOW]:
            marker = os.environ.get("SHELL_TEST_STARTED")
            if marker and self.written(prefix) == "":
                Path(marker).touch()
            time.sleep(SLOW_STEP_S)
        return super()._choices(prefix, k)


def main(argv: list[str]) -> int:
    from xander.api import Xander
    from xander.shell import Shell

    return Shell(Xander(argv[0], model=ShellLM())).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
