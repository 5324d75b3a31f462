"""The command line: user errors are one clear line and a non-zero exit, never a traceback;
a real question is answered end to end by the embedded model."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli


def _one_line_error(proc, *words: str) -> None:
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    for w in words:
        assert w in err, err


def test_missing_database(tmp_path):
    proc = run_cli("ask", "--db", str(tmp_path / "nope.sqlite"), "How many?")
    _one_line_error(proc, "database not found", "nope.sqlite")
    assert proc.returncode == 2


def test_not_a_database(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not SQLite")
    _one_line_error(run_cli("ask", "--db", str(bad), "How many?"), "not a database")


def test_corrupt_sqlite(tmp_path, concert_singer):
    bad = tmp_path / "broken.sqlite"
    bad.write_bytes(concert_singer.read_bytes()[:100] + b"\x00garbage" * 100)
    _one_line_error(run_cli("schema", "--db", str(bad)), "broken.sqlite")


def test_empty_question(concert_singer):
    proc = run_cli("ask", "--db", str(concert_singer), "   ")
    _one_line_error(proc, "question is empty")
    assert proc.returncode == 2


def test_unknown_model(concert_singer):
    _one_line_error(run_cli("ask", "--db", str(concert_singer), "--model", "gpt-17", "How many?"),
                    "unknown model 'gpt-17'")


def test_unknown_checker(concert_singer):
    _one_line_error(run_cli("ask", "--db", str(concert_singer), "--disable", "magic",
                            "How many?"), "unknown checker 'magic'")


def test_row_options_are_parsed(concert_singer):
    """``--show-rows`` (rows printed) and ``--max-rows`` (rows kept: [engine] max_rows) are
    accepted; the run gets as far as the bogus model."""
    proc = run_cli("ask", "--db", str(concert_singer), "--show-rows", "3", "--max-rows", "10",
                   "--model", "gpt-17", "How many?")
    _one_line_error(proc, "unknown model 'gpt-17'")


def test_samples_option_is_parsed_and_checked(concert_singer):
    """``--samples N`` ([search] samples) is accepted; a negative count is refused by name."""
    proc = run_cli("ask", "--db", str(concert_singer), "--samples", "2", "--model", "gpt-17",
                   "How many?")
    _one_line_error(proc, "unknown model 'gpt-17'")
    bad = run_cli("ask", "--db", str(concert_singer), "--samples", "-1", "How many?")
    assert bad.returncode == 2 and "--samples" in bad.stderr and "Traceback" not in bad.stderr


def test_show_rows_prints_that_many(capsys):
    from xander.api import Result
    from xander.cli import _print_result

    rows = tuple((f"name{i}",) for i in range(5))
    _print_result(Result("q", "SELECT name FROM t", columns=("name",), rows=rows), 2)
    out = capsys.readouterr().out
    assert "name1" in out and "name2" not in out
    assert "... 3 more rows" in out and "5 rows," in out


def test_schema_command(concert_singer):
    proc = run_cli("schema", "--db", str(concert_singer))
    assert proc.returncode == 0
    assert "CREATE TABLE singer_in_concert (" in proc.stdout
    data = json.loads(run_cli("schema", "--db", str(concert_singer), "--json").stdout)
    assert [t["name"] for t in data["tables"]] == [
        "stadium", "singer", "concert", "singer_in_concert"]


@pytest.mark.slow
def test_ask_json_end_to_end(concert_singer):
    proc = run_cli("ask", "--db", str(concert_singer), "--json", "How many singers are there?")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"] == [[6]] and out["error"] is None
    assert out["sql"].upper().startswith("SELECT COUNT(*)")
    assert out["mode"] == "search" and out["expansions"] > 0
    assert out["lm_tokens"]["prompt"] > 100 and out["seconds"] > 0
    assert set(out) >= {"sql", "columns", "rows", "seconds", "lm_tokens", "error", "pruned"}


@pytest.mark.slow
def test_ask_pretty_output_and_trace(concert_singer, tmp_path):
    trace = tmp_path / "tree.json"
    proc = run_cli("ask", "--db", str(concert_singer), "--explain", "--trace", str(trace),
                   "What is the name of the youngest singer?")
    assert proc.returncode == 0, proc.stderr
    assert "Tribal King" in proc.stdout and "[expanded]" in proc.stdout
    # the pool: each complete node's score and group, then the groups and their queries
    assert re.search(r"\[complete\] .* \(score [-+]\d\.\d{3}, group 0: share", proc.stdout)
    assert re.search(r"^pool: \d+ candidates? in \d+ groups? by result", proc.stdout, re.MULTILINE)
    assert " s (search, Qwen2.5-Coder-0.5B-Instruct-Q4_K_M" in proc.stdout
    assert json.loads(trace.read_text())["nodes"]


def test_models_lists_each_embedded_model_with_its_state():
    from xander.lm.embedded import EMBEDDED_MODELS, model_status

    out = run_cli("models", timeout=120)
    assert out.returncode == 0, out.stderr
    for key, model in EMBEDDED_MODELS.items():
        st = model_status(key)
        assert f"{key}" in out.stdout and model.name in out.stdout
        assert f"--model {key}" in out.stdout
        assert 0 <= st.parts_installed <= model.parts and st.state in out.stdout
    assert "(default)" in out.stdout.splitlines()[0]
    # the default model's parts come with the local extra, which the tests run with
    assert model_status("qwen2.5-coder-0.5b").parts_installed == 6
