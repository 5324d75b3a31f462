"""Shared fixtures: the real benchmark data (read-only, never copied), a DuckDB shop database
built per session, and the real embedded model (loaded once)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ("tests.pg_server",)  # the throwaway PostgreSQL server (pg_server fixture)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XANDER_DATA", ROOT.parent / "shared" / "data"))
SPIDER = DATA / "spider"
BIRD = DATA / "bird"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """xander's cache root is a directory of the test run (value indexes, prompt states), never
    the user's; its ``models/`` links to the user's, so the embedded model is not rebuilt."""
    from xander.paths import cache_dir

    models = cache_dir("models")
    models.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("XANDER_CACHE")
    root = tmp_path_factory.mktemp("xander-cache")
    (root / "models").symlink_to(models.resolve(), target_is_directory=True)
    os.environ["XANDER_CACHE"] = str(root)
    yield
    if old is None:
        os.environ.pop("XANDER_CACHE", None)
    else:
        os.environ["XANDER_CACHE"] = old


def spider_db(db_id: str) -> Path:
    path = SPIDER / "database" / db_id / f"{db_id}.sqlite"
    if not path.is_file():
        pytest.skip(f"Spider database {db_id} not available at {path}")
    return path


def spider_context(db_id: str, question: str):
    """A ``CheckContext`` for ``question`` on Spider's ``db_id`` (the checkers' and repairs'
    view of one question)."""
    from xander.checkers import CheckContext
    from xander.engines import open_engine
    from xander.schema import Schema
    from xander.task import Task

    engine = open_engine(spider_db(db_id))
    return CheckContext(Schema.from_engine(engine), engine, Task(question))


@pytest.fixture(scope="session")
def concert_singer() -> Path:
    return spider_db("concert_singer")


@pytest.fixture(scope="session")
def shop_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small shop database with keys: customers, products, orders."""
    import duckdb

    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR, country VARCHAR);
        CREATE TABLE products (product_id INTEGER PRIMARY KEY, title VARCHAR, price DECIMAL(10,2));
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
            customer_id INTEGER REFERENCES customers(customer_id),
            product_id INTEGER REFERENCES products(product_id), quantity INTEGER,
            order_date DATE);
        INSERT INTO customers VALUES (1,'Ada','France'),(2,'Bo','Spain'),(3,'Cy','France'),
            (4,'Di','Italy');
        INSERT INTO products VALUES (1,'Lamp',20.00),(2,'Desk',150.00),(3,'Chair',45.50);
        INSERT INTO orders VALUES (1,1,2,1,'2024-01-05'),(2,1,1,3,'2024-02-10'),
            (3,2,3,4,'2024-02-11'),(4,3,2,2,'2024-03-01'),(5,4,1,1,'2024-03-02'),
            (6,3,3,1,'2024-03-03');
    """)
    con.close()
    return path


@pytest.fixture(scope="session")
def embedded_lm():
    """The real embedded model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) via llama.cpp."""
    pytest.importorskip("llama_cpp", reason="the local extra is not installed")
    from xander.lm.registry import load_lm

    lm = load_lm("embedded")
    yield lm
    lm.close()


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xander.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def assert_grammar_forces_the_schema(lm) -> None:
    """Structured outputs are applied: under a grammar whose only table is ``stadium``, the
    model asked about singers writes ``FROM stadium``; unconstrained it writes ``FROM singer``."""
    from xander.grammar import constraint, specialize

    prompt = lm.tokenize(lm.chat_prompt(
        "You write SQLite SQL.", "Tables: singer(Singer_ID, Name), stadium(Stadium_ID, Name). "
        "How many singers are there?", "```sql\n"))
    free = lm.complete(prompt, max_tokens=30, stop=("```",))
    grammar = constraint(specialize({"stadium": ["Stadium_ID", "Name"]}), "```")
    forced = lm.complete(prompt, max_tokens=30, stop=("```",), grammar=grammar)
    assert "singer" in free.text.lower(), free.text
    assert "stadium" in forced.text.lower() and "singer" not in forced.text.lower(), forced.text
    assert forced.finish_reason == "stop", forced.text
