"""The Python API end to end with the real embedded model, on SQLite and on DuckDB; which model
``Xander(db)`` takes from the config file and the environment (no model loaded)."""

from __future__ import annotations

import hashlib

import pytest

from xander import Xander
from xander.config import Config, LMConfig
from xander.errors import InputError, ModelNotFoundError


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_sqlite_question_rows_and_timings(concert_singer, embedded_lm):
    before = _sha(concert_singer)
    r = Xander(concert_singer, model=embedded_lm).ask("How many singers are there?")
    assert r.error is None and r.rows == ((6,),)
    assert r.timings["lm"] > 0 and r.timings["checkers"] >= 0
    assert r.lm_tokens["prompt"] > 100
    assert _sha(concert_singer) == before


@pytest.mark.slow
def test_duckdb_question_greedy_and_search(shop_duckdb, embedded_lm):
    x = Xander(shop_duckdb, model=embedded_lm)
    for mode in ("greedy", "search"):
        r = x.ask("How many customers are from France?", mode=mode)
        assert r.error is None, r.sql
        assert r.rows == ((2,),), r.sql


@pytest.mark.slow
def test_csv_folder_question(tmp_path, embedded_lm):
    (tmp_path / "people.csv").write_text("name,age\nAda,36\nBo,25\nCy,41\n")
    r = Xander(tmp_path, model=embedded_lm).ask("How many people are older than 30?")
    assert r.error is None and r.rows == ((2,),), r.sql


@pytest.mark.slow
def test_bad_mode(concert_singer, embedded_lm):
    with pytest.raises(InputError, match="unknown mode"):
        Xander(concert_singer, model=embedded_lm).ask("How many singers?", mode="magic")


# -- the model comes from the config (a bogus path: the API tries it and fails clearly) ---------
def _bogus(tmp_path, name: str):
    return tmp_path / "models" / name


def _ask_fails_on(x: Xander, bogus) -> None:
    with pytest.raises(ModelNotFoundError, match=str(bogus.name)):
        x.ask("How many singers are there?")


def test_model_from_the_environment(concert_singer, tmp_path, monkeypatch):
    bogus = _bogus(tmp_path, "from-env.gguf")
    monkeypatch.delenv("XANDER_CONFIG", raising=False)
    monkeypatch.setenv("XANDER_LM_MODEL", str(bogus))
    x = Xander(concert_singer)
    assert x.config.lm.model == str(bogus)
    _ask_fails_on(x, bogus)


def test_model_from_the_config_file(concert_singer, tmp_path, monkeypatch):
    bogus = _bogus(tmp_path, "from-file.gguf")
    toml = tmp_path / "xander.toml"
    toml.write_text(f'[lm]\nmodel = "{bogus}"\n[engine]\nmax_rows = 7\n')
    monkeypatch.delenv("XANDER_LM_MODEL", raising=False)
    monkeypatch.setenv("XANDER_CONFIG", str(toml))
    x = Xander(concert_singer)
    assert x.config.engine.max_rows == 7
    _ask_fails_on(x, bogus)


def test_model_from_a_given_config_and_an_explicit_model_wins(concert_singer, tmp_path,
                                                              monkeypatch):
    from_config, explicit = _bogus(tmp_path, "given.gguf"), _bogus(tmp_path, "explicit.gguf")
    monkeypatch.setenv("XANDER_LM_MODEL", str(_bogus(tmp_path, "env-ignored.gguf")))
    cfg = Config(lm=LMConfig(model=str(from_config)))
    _ask_fails_on(Xander(concert_singer, config=cfg), from_config)
    _ask_fails_on(Xander(concert_singer, model=str(explicit), config=cfg), explicit)
