"""Benchmark questions (Spider 1.0, BIRD dev / Mini-Dev) as ``Example`` rows, plus a sampler.

Loaders read the official JSON layouts and point every question at its SQLite file.  A question
whose database file is missing is not dropped silently: it comes back as a ``Skipped`` row, so
reports can say how many were left out and why.

Spider has no difficulty field; its official hardness (easy / medium / hard / extra) is computed
from the parsed ``sql`` field with the counting rules of the official ``evaluation.py``
(``spider_hardness``), quirks included: the numbers must match published breakdowns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xander.errors import InputError

SPIDER_HARDNESS = ("easy", "medium", "hard", "extra")
BIRD_DIFFICULTY = ("simple", "moderate", "challenging")
BIRD_FILES = ("dev.json", "mini_dev_sqlite.json")

# Index of ``like`` in the official WHERE_OPS table
# (not, between, =, >, <, >=, <=, !=, in, like, is, exists) used in the parsed ``sql`` field.
_OP_LIKE = 9


@dataclass(frozen=True, slots=True)
class Example:
    """One benchmark question with its gold SQL and the database it runs on."""

    id: str
    db_id: str
    question: str
    gold_sql: str
    db_path: Path
    evidence: str = ""
    difficulty: str = ""
    benchmark: str = "spider"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A question that cannot be run, with the reason (e.g. its database file is missing)."""

    id: str
    db_id: str
    reason: str


# -- Spider hardness ------------------------------------------------------------------------------
def _cond_units(cond: list[Any]) -> list[Any]:
    return cond[::2]  # a condition alternates cond_unit, 'and'/'or', cond_unit, ...


def _conjunctions(cond: list[Any]) -> list[Any]:
    return cond[1::2]


def _conditions(sql: dict[str, Any]) -> tuple[list[Any], ...]:
    return sql["from"]["conds"], sql["where"], sql["having"]


def _all_units(sql: dict[str, Any]) -> list[Any]:
    """Cond units of the join (FROM), WHERE and HAVING conditions, each list strided apart."""
    return [u for cond in _conditions(sql) for u in _cond_units(cond)]


def _all_conjunctions(sql: dict[str, Any]) -> list[Any]:
    return [c for cond in _conditions(sql) for c in _conjunctions(cond)]


def _first_is_not_zero(units: Iterable[Any]) -> int:
    """How many units have a first element that is not 0 (the official ``count_agg``).

    For select / group-by / order-by units the first element is the aggregate id.  The official
    code also applies it to WHERE cond units (first element: the NOT flag) and to the whole
    HAVING list, where every 'and'/'or' string counts; we keep both quirks on purpose.
    """
    return sum(1 for u in units if u[0] != 0)


def _component1(sql: dict[str, Any]) -> int:
    n = sum(1 for key in ("where", "groupBy", "orderBy") if sql[key])
    n += sql["limit"] is not None
    n += max(len(sql["from"]["table_units"]) - 1, 0)  # joins
    n += sum(1 for c in _all_conjunctions(sql) if c == "or")
    n += sum(1 for u in _all_units(sql) if u[1] == _OP_LIKE)
    return n


def _component2(sql: dict[str, Any]) -> int:
    """Nested queries: sub-queries as condition values, and INTERSECT / EXCEPT / UNION."""
    n = 0
    for unit in _all_units(sql):
        n += isinstance(unit[3], dict) + isinstance(unit[4], dict)
    return n + sum(sql[k] is not None for k in ("intersect", "except", "union"))


def _others(sql: dict[str, Any]) -> int:
    aggs = _first_is_not_zero(sql["select"][1])
    aggs += _first_is_not_zero(_cond_units(sql["where"]))
    aggs += _first_is_not_zero(sql["groupBy"])
    if sql["orderBy"]:
        val_units = sql["orderBy"][1]
        col_units = [v[1] for v in val_units if v[1]] + [v[2] for v in val_units if v[2]]
        aggs += _first_is_not_zero(col_units)
    aggs += _first_is_not_zero(sql["having"])
    return sum((aggs > 1, len(sql["select"][1]) > 1, len(sql["where"]) > 1,
                len(sql["groupBy"]) > 1))


def spider_hardness(sql: dict[str, Any]) -> str:
    """The official Spider hardness of a parsed query (the ``sql`` field of ``dev.json``).

    >>> q = {"select": [False, [[3, [0, [0, 0, False], None]]]], "from": {"table_units":
    ...      [["table_unit", 1]], "conds": []}, "where": [], "groupBy": [], "having": [],
    ...      "orderBy": [], "limit": None, "intersect": None, "union": None, "except": None}
    >>> spider_hardness(q)
    'easy'
    >>> spider_hardness({**q, "union": q})
    'hard'
    """
    c1, c2, others = _component1(sql), _component2(sql), _others(sql)
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if c2 == 0 and ((others <= 2 and c1 <= 1) or (c1 <= 2 and others < 2)):
        return "medium"
    if (c2 == 0 and ((others > 2 and c1 <= 2) or (2 < c1 <= 3 and others <= 2))) or (
        c1 <= 1 and others == 0 and c2 <= 1
    ):
        return "hard"
    return "extra"


# -- loaders --------------------------------------------------------------------------------------
def _read_json_list(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"benchmark file not found: {path}", "check the benchmark root folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}", "re-download the file") from exc
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise InputError(f"{path} is not a list of questions", "give a Spider or BIRD json file")
    return data


def _field(item: dict[str, Any], key: str, path: Path, index: int) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise InputError(f"{path}: question {index} has no {key!r} string", "check the file")
    return value


def _split(
    rows: Iterable[tuple[Example, Path]],
) -> tuple[list[Example], list[Skipped]]:
    found: list[Example] = []
    skipped: list[Skipped] = []
    for ex, db in rows:
        if db.is_file():
            found.append(ex)
        else:
            skipped.append(Skipped(ex.id, ex.db_id, f"database file missing: {db}"))
    return found, skipped


def load_spider(
    root: str | Path, split_file: str = "dev.json"
) -> tuple[list[Example], list[Skipped]]:
    """Spider questions from ``<root>/<split_file>``; databases at
    ``<root>/database/<db>/<db>.sqlite`` (for a ``train*`` file, ``<root>/train_database/``
    when that folder exists: the train databases).

    Ids are ``"<split>-<index>"`` (e.g. ``dev-0``), the position in the file; difficulty is the
    official hardness when the file carries the parsed ``sql`` field, else ``""``.
    """
    root = Path(root)
    path = root / split_file
    stem = Path(split_file).stem
    databases = root / "database"
    if stem.startswith("train") and (root / "train_database").is_dir():
        databases = root / "train_database"
    rows = []
    for i, item in enumerate(_read_json_list(path)):
        db_id = _field(item, "db_id", path, i)
        db = databases / db_id / f"{db_id}.sqlite"
        sql = item.get("sql")
        hardness = spider_hardness(sql) if isinstance(sql, dict) else ""
        ex = Example(f"{stem}-{i}", db_id, _field(item, "question", path, i),
                     _field(item, "query", path, i), db, difficulty=hardness, benchmark="spider")
        rows.append((ex, db))
    return _split(rows)


def load_bird(
    root: str | Path, file: str = "dev.json"
) -> tuple[list[Example], list[Skipped]]:
    """BIRD questions (``dev.json`` or ``mini_dev_sqlite.json``), databases at
    ``<root>/dev_databases/<db>/<db>.sqlite``.

    Ids are the ``question_id``; the Mini-Dev release lists two ids twice, and a repeat gets a
    ``#2`` suffix so that ids stay unique.
    """
    root = Path(root)
    path = root / file
    rows = []
    seen: dict[str, int] = {}
    for i, item in enumerate(_read_json_list(path)):
        qid = str(item.get("question_id", i))
        seen[qid] = seen.get(qid, 0) + 1
        ex_id = qid if seen[qid] == 1 else f"{qid}#{seen[qid]}"
        db_id = _field(item, "db_id", path, i)
        db = root / "dev_databases" / db_id / f"{db_id}.sqlite"
        ex = Example(ex_id, db_id, _field(item, "question", path, i),
                     _field(item, "SQL", path, i), db, evidence=str(item.get("evidence") or ""),
                     difficulty=str(item.get("difficulty") or ""), benchmark="bird")
        rows.append((ex, db))
    return _split(rows)


def load(root: str | Path, file: str | None = None) -> tuple[list[Example], list[Skipped]]:
    """Load a benchmark folder, telling Spider from BIRD by its layout.

    BIRD has ``dev_databases/``; Spider has ``database/``.  ``file`` picks the question file
    (default ``dev.json``; for BIRD, ``mini_dev_sqlite.json`` when it is the only one there).
    """
    root = Path(root)
    if (root / "dev_databases").is_dir() or any((root / f).is_file() for f in BIRD_FILES[1:]):
        if file is None:
            file = next((f for f in BIRD_FILES if (root / f).is_file()), BIRD_FILES[0])
        return load_bird(root, file)
    if (root / "database").is_dir():
        return load_spider(root, file or "dev.json")
    raise InputError(
        f"{root} is neither a Spider nor a BIRD folder",
        "give the folder holding dev.json and database/ (Spider) or dev_databases/ (BIRD)",
    )


# -- selection ------------------------------------------------------------------------------------
def _rank(seed: int, ex: Example) -> str:
    return hashlib.sha256(f"{seed}\x00{ex.benchmark}\x00{ex.id}".encode()).hexdigest()


def sample(examples: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """``n`` examples chosen by ``seed`` alone, returned in their original order.

    Each example gets a rank from a hash of (seed, id), so the choice does not depend on the
    order of ``examples``, and a smaller ``n`` picks a subset of a larger one.

    >>> exs = [Example(str(i), "db", "q", "SELECT 1", Path("x")) for i in range(10)]
    >>> [e.id for e in sample(exs, 3, seed=1)] == [e.id for e in sample(exs[::-1], 3, 1)][::-1]
    True
    >>> {e.id for e in sample(exs, 2, seed=1)} <= {e.id for e in sample(exs, 5, seed=1)}
    True
    """
    if n < 0:
        raise InputError(f"sample size must be >= 0, not {n}", "give a positive number")
    chosen = {id(ex) for ex in sorted(examples, key=lambda e: _rank(seed, e))[:n]}
    return [ex for ex in examples if id(ex) in chosen]


def filter_examples(
    examples: Iterable[Example],
    db_ids: Iterable[str] | None = None,
    difficulties: Iterable[str] | None = None,
) -> list[Example]:
    """Keep the examples on one of ``db_ids`` and with one of ``difficulties`` (None: any).

    >>> exs = [Example("1", "a", "q", "s", Path("x"), difficulty="easy"),
    ...        Example("2", "b", "q", "s", Path("x"), difficulty="hard")]
    >>> [e.id for e in filter_examples(exs, difficulties=["hard"])]
    ['2']
    >>> [e.id for e in filter_examples(exs, db_ids=["a", "b"], difficulties=["easy", "hard"])]
    ['1', '2']
    """
    dbs = None if db_ids is None else set(db_ids)
    levels = None if difficulties is None else set(difficulties)
    return [
        ex for ex in examples
        if (dbs is None or ex.db_id in dbs) and (levels is None or ex.difficulty in levels)
    ]
