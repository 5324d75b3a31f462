"""The Python API end to end with the real embedded model, on SQLite and on DuckDB."""

from __future__ import annotations

import hashlib

import pytest

from xander import Xander
from xander.errors import InputError

pytestmark = pytest.mark.slow


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_question_rows_and_timings(concert_singer, embedded_lm):
    before = _sha(concert_singer)
    r = Xander(concert_singer, model=embedded_lm).ask("How many singers are there?")
    assert r.error is None and r.rows == ((6,),)
    assert r.timings["lm"] > 0 and r.timings["checkers"] >= 0
    assert r.lm_tokens["prompt"] > 100
    assert _sha(concert_singer) == before


def test_duckdb_question_greedy_and_search(shop_duckdb, embedded_lm):
    x = Xander(shop_duckdb, model=embedded_lm)
    for mode in ("greedy", "search"):
        r = x.ask("How many customers are from France?", mode=mode)
        assert r.error is None, r.sql
        assert r.rows == ((2,),), r.sql


def test_csv_folder_question(tmp_path, embedded_lm):
    (tmp_path / "people.csv").write_text("name,age\nAda,36\nBo,25\nCy,41\n")
    r = Xander(tmp_path, model=embedded_lm).ask("How many people are older than 30?")
    assert r.error is None and r.rows == ((2,),), r.sql


def test_bad_mode(concert_singer, embedded_lm):
    with pytest.raises(InputError, match="unknown mode"):
        Xander(concert_singer, model=embedded_lm).ask("How many singers?", mode="magic")
