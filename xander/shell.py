"""``xander shell``: one database, one model loaded once, questions asked one after another.

A plain line is a question, answered as ``xander ask`` prints it; a line starting with ``.`` is a
command (``.help`` lists them).  Ctrl-C while a question is answered stops that question and
keeps the session: the SIGINT handler only sets a flag, and the search's progress hook
(``Xander.ask(on_event=...)``) raises ``Cancelled`` at its next tree event, so the model's
held context is let go the ordinary way (as the service stops a question).  Greedy mode has no
tree events: its answer is dropped when it comes.  A second Ctrl-C before the question stops
ends the session (``KeyboardInterrupt``, exit 130).  At the prompt, Ctrl-C clears the line and
Ctrl-D (or ``.quit``) ends the session.

The loop takes a ``Xander`` and text streams, so it runs on pipes too (no prompt, no greeting);
the greeting, line editing and history (stdlib ``readline``, kept in ``paths.cache_dir("shell")``)
come when it reads a terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from xander.api import Result, Xander
from xander.errors import XanderError
from xander.paths import cache_dir
from xander.service.payload import answer_payload
from xander.service.queue import Cancelled

PROMPT = "xander> "
HISTORY_LENGTH = 1000  # lines kept in the history file

#: command -> what it does (``.help`` prints these with the toggles' state)
COMMANDS: dict[str, str] = {
    ".schema": "the schema, as `xander schema` prints it",
    ".explain": "print the search tree after each answer (as --explain)",
    ".greedy": "greedy mode: one completion, no search (as --greedy)",
    ".json": "print each answer as `xander ask --json` does",
    ".help": "this list",
    ".quit": "end the session (also .exit, or Ctrl-D)",
}
ALIASES = {".exit": ".quit"}


def history_path() -> Path:
    """Where the shell's history is kept: ``<cache root>/shell/history``."""
    return cache_dir("shell") / "history"


class Shell:
    """The read-answer loop over one ``Xander``.

    ``stdin`` / ``stdout``: the streams (default ``sys.stdin`` / ``sys.stdout``); the prompt,
    line editing and history are used when ``stdin`` is the process's terminal.  ``history``:
    the history file (default ``history_path()``).  ``show_rows``: rows
    printed per answer.  ``greedy``, ``explain``, ``as_json``: the toggles' starting state.
    """

    def __init__(self, xander: Xander, *, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, history: Path | None = None,
                 show_rows: int = 20, greedy: bool = False, explain: bool = False,
                 as_json: bool = False) -> None:
        self.xander = xander
        self.stdin = stdin if stdin is not None else sys.stdin
        self.out = stdout if stdout is not None else sys.stdout
        self.history = history if history is not None else history_path()
        self.show_rows = show_rows
        self.greedy, self.explain, self.as_json = greedy, explain, as_json
        self.interactive = self.stdin is sys.stdin and _isatty(self.stdin)
        self._readline: Any = None
        self._cancel = False

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        """Read and answer lines until end of input or ``.quit``; the exit code (0).  A model or
        schema that cannot be loaded raises here, before the first prompt."""
        greeting = self.greeting()
        if self.interactive:
            self._say(greeting)
        self._open_history()
        try:
            while True:
                line = self._read()
                if line is None:  # end of input (Ctrl-D)
                    if self.interactive:
                        self._say("")
                    return 0
                if not self.handle(line):
                    return 0
        finally:
            self._save_history()

    def greeting(self) -> str:
        """Load the schema and the model (errors surface now, not at the first question)."""
        schema, lm = self.xander.schema, self.xander.lm
        db = Path(str(self.xander.engine.path)).name or str(self.xander.engine.path)
        return (f"xander shell: {db} ({schema.dialect}, {len(schema.tables)} tables), model "
                f"{lm.name}, {self._mode()} mode.  A question, or .help; Ctrl-D ends.")

    def handle(self, line: str) -> bool:
        """Answer one line; False when the session should end."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("."):
            return self.command(line)
        self.answer(line)
        return True

    # -- commands ---------------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a dot command; False for ``.quit``."""
        name = line.split()[0].lower()
        name = ALIASES.get(name, name)
        if name == ".quit":
            return False
        if name == ".help":
            self._say(self.help())
        elif name == ".schema":
            self._say(self.xander.schema.render(max_chars=10**9))
        elif name == ".explain":
            self.explain = not self.explain
            self._say(f"explain: {_on(self.explain)}")
        elif name == ".greedy":
            self.greedy = not self.greedy
            self._say(f"greedy: {_on(self.greedy)} ({self._mode()} mode)")
        elif name == ".json":
            self.as_json = not self.as_json
            self._say(f"json: {_on(self.as_json)}")
        else:
            self._say(f"error: unknown command {name} (the commands: "
                      f"{', '.join([*COMMANDS, *ALIASES])}; .help says what they do)")
        return True

    def help(self) -> str:
        state = {".explain": self.explain, ".greedy": self.greedy, ".json": self.as_json}
        lines = ["A line is a question about the database, answered as `xander ask` does.",
                 "Commands:"]
        for name, what in COMMANDS.items():
            now = f"  [{_on(state[name])}]" if name in state else ""
            lines.append(f"  {name:<9} {what:<54}{now}".rstrip())
        lines.append("Ctrl-C stops the question being answered (twice: ends the session); at "
                     "the prompt it clears the line.")
        return "\n".join(lines)

    # -- questions --------------------------------------------------------------------------------
    def answer(self, question: str) -> Result | None:
        """Ask, print the answer; None when it was cancelled or failed (the message is printed)."""
        try:
            with self._sigint_cancels():
                result = self.xander.ask(question, mode=self._mode(), on_event=self._check)
                if self._cancel:  # greedy mode, or pressed after the last tree event
                    raise Cancelled
        except Cancelled:
            self._say(("\r" if self.interactive else "") + "cancelled")  # \r: over the ^C echoed
            return None
        except XanderError as exc:
            self._say(f"error: {exc}")
            return None
        except OSError as exc:
            self._say(f"error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})")
            return None
        except Exception as exc:  # noqa: BLE001 - a bug costs the question, not the session
            if os.environ.get("XANDER_DEBUG"):
                traceback.print_exc()
            self._say(f"error: unexpected {type(exc).__name__}: {exc} (a bug in xander; "
                      "XANDER_DEBUG=1 shows the traceback)")
            return None
        self._print(result)
        return result

    def _print(self, result: Result) -> None:
        from xander.cli import _print_result  # the floor's own printer: `xander ask`'s output

        if self.as_json:
            self._say(json.dumps(answer_payload(result), default=str))
        else:
            with self._stdout():
                _print_result(result, self.show_rows)
            if result.error:
                self._say("(no query ran cleanly: rephrase the question, or turn on .explain to "
                          "see what the search tried)")
        if self.explain:
            self._say(result.trace.explain() if result.trace is not None
                      else "(greedy mode has no search tree: .greedy switches back to search)")

    def _mode(self) -> str:
        return "greedy" if self.greedy else "search"

    def _check(self, event: dict[str, Any]) -> None:
        """The search's progress hook: stop at the next tree event once Ctrl-C was pressed."""
        if self._cancel:
            raise Cancelled

    @contextlib.contextmanager
    def _sigint_cancels(self) -> Iterator[None]:
        """While a question is answered, Ctrl-C sets the cancel flag (a second one, before the
        question stops, is a ``KeyboardInterrupt``)."""
        self._cancel = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self._cancel:
                raise KeyboardInterrupt
            self._cancel = True

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- reading and writing ----------------------------------------------------------------------
    def _read(self) -> str | None:
        """The next line (None at end of input); Ctrl-C at the prompt gives an empty line."""
        try:
            if self.interactive:
                self.out.flush()
                return input(PROMPT)
            line = self.stdin.readline()
            return line if line else None
        except EOFError:
            return None
        except KeyboardInterrupt:
            if self.interactive:
                self._say("")
            return ""
        except UnicodeError as exc:
            self._say(f"error: text is not valid UTF-8 ({exc.reason}); type it again")
            return ""

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    @contextlib.contextmanager
    def _stdout(self) -> Iterator[None]:
        """``sys.stdout`` is ``self.out`` (``_print_result`` prints to ``sys.stdout``)."""
        self.out.flush()
        if self.out is sys.stdout:
            yield
        else:
            with contextlib.redirect_stdout(self.out):
                yield

    def _open_history(self) -> None:
        if not self.interactive:
            return
        try:
            import readline
        except ImportError:  # no line editing here (e.g. Windows without pyreadline)
            return
        self._readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if self.history is not None and self.history.is_file():
            with contextlib.suppress(OSError):
                readline.read_history_file(self.history)

    def _save_history(self) -> None:
        """Write the history (bounded by ``HISTORY_LENGTH``); a cache that cannot be written
        is no reason to fail."""
        if self._readline is None or self.history is None:
            return
        with contextlib.suppress(OSError):
            self.history.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self.history)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
