"""``registry.preload``: the model loads in the background while a fresh process does the rest,
and the first ``load_lm`` (``Xander.lm``) waits for that load instead of starting another."""

from __future__ import annotations

import threading

import pytest

from tests.scripted import ScriptedLM
from xander.api import Xander
from xander.config import load_config
from xander.errors import ModelNotFoundError
from xander.lm import registry

SQL = "SELECT COUNT(*) FROM singer"


def _slow_factory(prefix: str, release: threading.Event, calls: list[str]) -> None:
    def make(rest: str, options: dict) -> ScriptedLM:
        calls.append(threading.current_thread().name)
        release.wait(10)  # loading: the caller goes on meanwhile
        return ScriptedLM({"": [(SQL, -0.1)], SQL: [("\n```", -0.1)]})

    registry.register(prefix, make)


def test_xander_waits_for_the_preloaded_model_and_loads_it_once(concert_singer):
    release, calls = threading.Event(), []
    _slow_factory("slow-preload", release, calls)
    cfg = load_config(None).with_overrides(lm={"model": "slow-preload:a"})
    thread = registry.preload(cfg.lm.model, **registry.config_options(cfg))
    assert thread is not None and thread.is_alive() and not thread.daemon
    x = Xander(concert_singer, model=cfg.lm.model, config=cfg)
    assert x.schema.tables  # the schema is read while the model is still loading
    release.set()
    result = x.ask("How many singers are there?", mode="greedy")
    thread.join(10)
    assert result.rows == ((6,),) and result.sql == SQL
    assert calls == ["xander-preload"]  # one load, in the background thread
    assert registry.preload(cfg.lm.model, **registry.config_options(cfg)) is None  # loaded


def test_a_failing_preload_raises_where_the_model_is_asked_for():
    def broken(rest: str, options: dict) -> ScriptedLM:
        raise ModelNotFoundError(f"no model {rest!r} here", "use another")

    registry.register("broken-preload", broken)
    thread = registry.preload("broken-preload:x", n_ctx=512)
    assert thread is not None
    thread.join(10)  # the background load failed quietly
    with pytest.raises(ModelNotFoundError, match="no model 'x' here"):
        registry.load_lm("broken-preload:x", n_ctx=512)


def test_a_spec_that_names_no_backend_starts_nothing():
    assert registry.preload("no-such-backend-or-file") is None
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        registry.load_lm("no-such-backend-or-file")


def test_a_server_client_is_not_preloaded():
    calls = []
    registry.register("remote-preload", lambda rest, options: calls.append(rest), local=False)
    assert registry.preload("remote-preload:http://127.0.0.1:9") is None
    assert calls == []  # nothing connects until a question needs the model
