"""`xander shell` through a real terminal (tmux): questions answered as `xander ask` prints them,
the dot commands, history (Up arrow, kept across sessions, bounded), Ctrl-C stopping a question
and keeping the session, Ctrl-C clearing the prompt's line, Ctrl-D ending with exit code 0; the
scripted model on the real concert_singer database (tests/shell_scripted.py).  Also the loop on
pipes, a bad --db (exit code 2 before any prompt), and one slow test of the real command with
the embedded model."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.service_support import BY_COUNTRY, BY_YEAR, COUNT, END, ConcertLM
from tests.shell_scripted import SLOW, SLOW_SCRIPT, SLOW_STEP_S

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")

PROMPT = "xander>"
SIX = re.compile(r"[│|]\s*6\s*[│|]")  # the one cell of the count's table


class Terminal:
    """One command in a tmux session of its own server (``-S``: its own socket, a fresh
    environment, nothing shared with other tmux users), 200 columns by 50 lines."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self._dir = tempfile.mkdtemp(prefix="xander-tmux-")  # short: a socket path is <108 bytes
        self.socket = os.path.join(self._dir, "socket")
        self.env = env
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # the exit code is printed, and the pane kept a while, so a test can read it
        script = (f'cd {shlex.quote(str(ROOT))} && env {exports} {command}; '
                  'echo "[exit $?]"; sleep 600')
        self._tmux("new-session", "-d", "-s", "shell", "-x", "200", "-y", "50", script)

    def _tmux(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-S", self.socket, "-f", "/dev/null", *args],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def screen(self) -> str:
        """Everything the pane shows and scrolled past, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "shell")

    def wait(self, test, timeout: float = 30, what: str = "") -> str:
        """Poll the screen until ``test(screen)`` holds (a string: it is on the screen)."""
        check = (lambda s: test in s) if isinstance(test, str) else test
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen in {timeout} s: {what or test!r}\n{screen}")
            time.sleep(0.05)

    def prompts(self) -> int:
        return self.screen().count(PROMPT)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "shell", "-l", text)

    def key(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "shell", *keys)

    def line(self, text: str, timeout: float = 30) -> str:
        """Type a line, press Enter, wait for the next prompt; what the line printed."""
        before = self.screen()
        n = before.count(PROMPT)
        self.type(text)
        self.key("Enter")
        screen = self.wait(lambda s: s.count(PROMPT) > n, timeout, f"a prompt after {text!r}")
        out = screen.removeprefix(before.rstrip())
        return out.rsplit(PROMPT, 1)[0]

    def last_line(self) -> str:
        return self.screen().rstrip().splitlines()[-1]

    def close(self) -> None:
        subprocess.run([TMUX, "-S", self.socket, "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def terminals(tmp_path):
    """Start terminals (``open(command)``); every one's tmux server is killed afterwards."""
    opened: list[Terminal] = []
    env = {"XANDER_CACHE": str(tmp_path / "cache"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONPATH": str(ROOT), "SHELL_TEST_STARTED": str(tmp_path / "slow-started")}
    models = Path(os.environ["XANDER_CACHE"]) / "models"  # the session's link to the models
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models.resolve(), target_is_directory=True)

    def open_terminal(command: str) -> Terminal:
        t = Terminal(command, env)
        opened.append(t)
        return t

    yield open_terminal
    for t in opened:
        t.close()


def _scripted(terminals, concert_singer) -> Terminal:
    t = terminals(f"{shlex.quote(sys.executable)} -m tests.shell_scripted "
                  f"{shlex.quote(str(concert_singer))}")
    t.wait(PROMPT, 60, "the first prompt")
    return t


def _history(t: Terminal) -> Path:
    return Path(t.env["XANDER_CACHE"]) / "shell" / "history"


# -- through a terminal -------------------------------------------------------------------------
def test_questions_and_commands(terminals, concert_singer):
    t = _scripted(terminals, concert_singer)
    assert ("xander shell: concert_singer.sqlite (sqlite, 4 tables), model concert-scripted, "
            "search mode") in t.screen()

    out = t.line(COUNT)
    assert "SELECT COUNT(*) FROM SINGER" in out.upper(), out
    assert SIX.search(out), out
    assert "1 rows, confidence" in out and "(search, concert-scripted" in out

    assert "json: on" in t.line(".json")
    out = t.line(COUNT)
    payload = json.loads(next(ln for ln in out.splitlines() if ln.startswith("{")))
    assert payload["rows"] == [[6]] and payload["mode"] == "search" and "chart" in payload
    assert "json: off" in t.line(".json")

    assert "greedy: on (greedy mode)" in t.line(".greedy")
    out = t.line(BY_YEAR)
    assert "2014" in out and "2 rows" in out and "(greedy, concert-scripted" in out
    assert "greedy: off (search mode)" in t.line(".greedy")

    assert "explain: on" in t.line(".explain")
    out = t.line(BY_COUNTRY)
    assert "France" in out and "3 rows" in out
    assert "[pruned]" in out and "singers" in out and "[complete]" in out  # the tree follows

    out = t.line(".schema")
    assert "CREATE TABLE singer_in_concert (" in out and "CREATE TABLE stadium (" in out

    out = t.line(".help")
    for name in (".schema", ".explain", ".greedy", ".json", ".help", ".quit"):
        assert name in out
    assert re.search(r"\.explain .*\[on\]", out) and re.search(r"\.greedy .*\[off\]", out)
    assert re.search(r"\.json .*\[off\]", out)

    out = t.line(".frobnicate")
    assert "error: unknown command .frobnicate (the commands: .schema, .explain" in out
    assert "Traceback" not in t.screen()

    t.key("C-d")
    t.wait("[exit 0]", 20, "exit code 0 after Ctrl-D")


def test_ctrl_c_cancels_the_question_and_keeps_the_session(terminals, concert_singer, tmp_path):
    t = _scripted(terminals, concert_singer)
    started = Path(t.env["SHELL_TEST_STARTED"])
    n = t.prompts()
    t.type(SLOW)
    t.key("Enter")
    deadline = time.monotonic() + 30
    while not started.exists():  # the slow question is being answered
        assert time.monotonic() < deadline, t.screen()
        time.sleep(0.02)
    pressed = time.monotonic()
    t.key("C-c")
    screen = t.wait("cancelled", 20, "cancelled after Ctrl-C")
    took = time.monotonic() - pressed
    whole = SLOW_STEP_S * len(SLOW_SCRIPT)
    assert took < whole - SLOW_STEP_S, f"the question ran on for {took:.1f} s"
    t.wait(lambda s: s.count(PROMPT) > n, 10, "the prompt after cancelling")
    assert "Joe Sharp" not in screen and "Traceback" not in screen  # no answer to it

    out = t.line(COUNT)  # the next question is answered
    assert SIX.search(out) and "1 rows" in out, out

    # Ctrl-C at the prompt clears the line and keeps the session
    n = t.prompts()
    t.type("half a question")
    t.key("C-c")
    t.wait(lambda s: s.count(PROMPT) > n, 10, "a fresh prompt after Ctrl-C")
    assert t.last_line().strip() == PROMPT
    out = t.line(COUNT)
    assert SIX.search(out), out

    t.key("C-d")
    t.wait("[exit 0]", 20, "exit code 0 after Ctrl-D")


def test_history_recalls_questions_across_sessions_and_is_bounded(terminals, concert_singer):
    from xander.shell import HISTORY_LENGTH

    t = _scripted(terminals, concert_singer)
    t.line(COUNT)
    t.line(".help")
    t.key("Up")
    t.wait(lambda s: s.rstrip().endswith(f"{PROMPT} .help"), 10, "Up recalls .help")
    t.key("Up")
    t.wait(lambda s: s.rstrip().endswith(f"{PROMPT} {COUNT}"), 10, "Up again recalls the question")
    n = t.prompts()
    t.key("Enter")
    screen = t.wait(lambda s: s.count(PROMPT) > n, 30, "the recalled question answered")
    assert screen.count("1 rows, confidence") == 2
    t.key("C-d")
    t.wait("[exit 0]", 20)
    history = _history(t)
    assert history.read_text().splitlines()[-3:] == [COUNT, ".help", COUNT]

    # a second session starts with the file's lines; the file keeps the last HISTORY_LENGTH
    history.write_text("".join(f"question {i}\n" for i in range(HISTORY_LENGTH + 200))
                       + BY_YEAR + "\n")
    t2 = _scripted(terminals, concert_singer)
    t2.key("Up")
    t2.wait(lambda s: s.rstrip().endswith(f"{PROMPT} {BY_YEAR}"), 10, "Up recalls the file's")
    t2.key("C-u")  # clear the line, then end
    t2.key("C-d")
    t2.wait("[exit 0]", 20)
    lines = history.read_text().splitlines()
    assert len(lines) == HISTORY_LENGTH and lines[-1] == BY_YEAR


def test_a_bad_database_fails_before_the_prompt(tmp_path):
    proc = run_cli("shell", "--db", str(tmp_path / "nope.sqlite"), timeout=120)
    assert proc.returncode == 2
    assert PROMPT not in proc.stdout and "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "database not found" in err and "nope.sqlite" in err


# -- on pipes -----------------------------------------------------------------------------------
def test_on_pipes_lines_are_answered_without_a_prompt(concert_singer):
    proc = subprocess.run([sys.executable, "-m", "tests.shell_scripted", str(concert_singer)],
                          input=f"{COUNT}\n\n.nope\n.json\n{COUNT}\n.quit\n{BY_YEAR}\n",
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert PROMPT not in proc.stdout and "xander shell:" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert SIX.search(proc.stdout) and "1 rows, confidence" in proc.stdout
    assert any(ln.startswith("error: unknown command .nope") for ln in lines)
    assert json.loads(next(ln for ln in lines if ln.startswith("{")))["rows"] == [[6]]
    assert "2014" not in proc.stdout  # nothing after .quit


class _DownLM(ConcertLM):
    """The concert model, but its server is down for one question."""

    DOWN = "Is the server up?"

    def _choices(self, prefix, k):
        if self._script(prefix) is self.scripts[self.DOWN]:
            from xander.errors import LMServerError

            raise LMServerError("the LM server at http://127.0.0.1:9 refused the connection",
                                "start it, or pass another --model")
        return super()._choices(prefix, k)


def test_errors_are_one_line_and_the_session_goes_on(concert_singer):
    """An answer that fails on the engine, an error xander raises, and a bug in a backend each
    print one line with what to do; the next question is still answered."""
    from xander.api import Xander
    from xander.shell import Shell

    bad = "What is the singers' shoe size?"
    lm = _DownLM({COUNT: {"": [("SELECT count(*) FROM singer", -0.05)],
                          "SELECT count(*) FROM singer": [(END, -0.02)]},
                  bad: {"": [("SELECT shoe_size FROM singer", -0.05)],
                        "SELECT shoe_size FROM singer": [(END, -0.02)]},
                  _DownLM.DOWN: {}})
    out = io.StringIO()
    stdin = io.StringIO(f"{bad}\n{_DownLM.DOWN}\n???\n{COUNT}\n")
    shell = Shell(Xander(concert_singer, model=lm), stdin=stdin, stdout=out)
    assert shell.run() == 0
    lines = out.getvalue().splitlines()
    assert "Traceback" not in out.getvalue()
    assert "error: identifiers/unknown-column: no table in scope has a column 'shoe_size'" in lines
    assert "(no query ran cleanly: rephrase the question, or turn on .explain to see what the " \
           "search tried)" in lines
    assert ("error: the LM server at http://127.0.0.1:9 refused the connection (start it, or "
            "pass another --model)") in lines
    # the script knows no '???': a bug, said in one line
    assert any(ln.startswith("error: unexpected KeyError: ") and "XANDER_DEBUG=1" in ln
               for ln in lines)
    assert SIX.search(lines[-3]) and lines[-1].startswith("1 rows, confidence"), lines


# -- the real model -----------------------------------------------------------------------------
@pytest.mark.slow
def test_shell_with_the_embedded_model(terminals, concert_singer):
    pytest.importorskip("llama_cpp", reason="the local extra is not installed")
    t = terminals(f"{shlex.quote(sys.executable)} -m xander.cli shell --db "
                  f"{shlex.quote(str(concert_singer))}")
    t.wait(PROMPT, 300, "the first prompt (the model loads first)")
    assert "model qwen2.5-coder-0.5b-instruct" in t.screen().lower()

    # a question stopped while the model evaluates its prompt; the next one is answered right
    n = t.prompts()
    t.type("List the names of the singers who sang in concerts of 2014, oldest first")
    t.key("Enter")
    time.sleep(0.3)  # the schema's prompt alone takes the model longer than this
    t.key("C-c")
    t.wait(lambda s: s.count(PROMPT) > n, 300, "the prompt after Ctrl-C")
    assert "cancelled" in t.screen()

    out = t.line("How many singers are there?", timeout=300)
    assert SIX.search(out) and "1 rows" in out, out
    assert "(search, qwen2.5-coder-0.5b-instruct" in out.lower()
    t.key("C-d")
    t.wait("[exit 0]", 60, "exit code 0 after Ctrl-D")
