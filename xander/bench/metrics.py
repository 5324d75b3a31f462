"""Official execution metrics of Spider and BIRD, as pure functions on result rows.

* Spider (test-suite ``exec_eval.py``): two results are equal when some permutation of the
  predicted columns makes them the same *bag* of rows; row order counts only when the gold SQL
  contains ``order by``.  Before running, both queries get the official rewrites: spaced
  comparison operators are joined, ``DISTINCT`` is removed (its default, ``keep_distinct=False``),
  ``YEAR(CURDATE())`` becomes 2020, and in the prediction ``value`` becomes ``1``.
* BIRD (``evaluation_ex.py``): ``set(pred) == set(gold)``; Mini-Dev adds soft F1 and R-VES.

Values are compared as Python values, so ``1 == 1.0`` and floats must match exactly, as in the
official scripts.  ``evaluate_prediction`` runs both queries on an ``Engine``; a gold query that
fails is reported (``correct=None``), never counted against the model.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from xander.engines.base import Engine
from xander.errors import InputError, QueryTimeoutError, XanderError

Rows = Sequence[Sequence[Any]]

# Tokens that keep their text when DISTINCT is removed: strings, quoted names, comments; then
# bare words, the only candidates for removal.
_SQL_TOKEN = re.compile(
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`|\[[^\]\[]*\]"""  # strings, quoted names
    r"""|--[^\n]*|/\*.*?\*/"""  # comments
    r"""|\w+|;""",  # words, and the end of a statement
    re.DOTALL,
)
_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


# -- Spider ---------------------------------------------------------------------------------------
def gold_has_order_by(sql: str) -> bool:
    """Whether row order counts: the official test is a plain substring test on the gold SQL.

    >>> gold_has_order_by("SELECT name FROM t ORDER BY age DESC")
    True
    >>> gold_has_order_by("SELECT name FROM t ORDER\\nBY age")  # not 'order by' verbatim
    False
    """
    return "order by" in sql.lower()


def remove_distinct(sql: str) -> str:
    """Drop every bare ``DISTINCT`` word, leaving strings, quoted names and comments alone, and
    keep only the first statement (the official evaluator rebuilds the query from
    ``sqlparse.parse(sql)[0]``, so ``SELECT ...; junk`` is scored on ``SELECT ...;``).

    >>> remove_distinct("SELECT DISTINCT a, count(DISTINCT b) FROM t WHERE c = 'distinct'")
    "SELECT  a, count( b) FROM t WHERE c = 'distinct'"
    >>> remove_distinct("SELECT a FROM t WHERE b = ';'; DROP TABLE t")
    "SELECT a FROM t WHERE b = ';';"
    """
    out: list[str] = []
    last = 0
    for m in _SQL_TOKEN.finditer(sql):
        out.append(sql[last:m.start()])
        last = m.end()
        token = m.group()
        if token == ";":
            out.append(";")
            return "".join(out)
        if token.lower() != "distinct":
            out.append(token)
    out.append(sql[last:])
    return "".join(out)


def spider_prepare(sql: str, *, prediction: bool = False, keep_distinct: bool = False) -> str:
    """The rewrites the official Spider evaluator applies to a query before running it.

    >>> spider_prepare("SELECT DISTINCT a FROM t WHERE b > = YEAR(CURDATE())")
    'SELECT  a FROM t WHERE b >= 2020'
    >>> spider_prepare("SELECT a FROM t WHERE b = value", prediction=True)
    'SELECT a FROM t WHERE b = 1'
    """
    if prediction:  # evaluate() turns the placeholder 'value' into 1 (substring, case-sensitive)
        sql = sql.replace("value", "1")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    if not keep_distinct:
        sql = remove_distinct(sql)
    return _CUR_YEAR.sub("2020", sql)


def _cell_key(value: Any) -> str:
    return str(value) + str(type(value))


def _sorted_cells(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(sorted(row, key=_cell_key))


def _column_maps(gold: list[tuple[Any, ...]], pred: list[tuple[Any, ...]]) -> Iterator[list[int]]:
    """Every one-to-one map gold column -> pred column whose pred values all occur in the gold
    column (any map that makes the results equal passes this test, so pruning is safe)."""
    width = len(gold[0])
    gold_values = [{row[i] for row in gold} for i in range(width)]
    pred_values = [{row[j] for row in pred} for j in range(width)]
    fits = [[j for j in range(width) if pred_values[j] <= gold_values[i]] for i in range(width)]
    chosen: list[int] = []

    def extend(i: int) -> Iterator[list[int]]:
        if i == width:
            yield list(chosen)
            return
        for j in fits[i]:
            if j not in chosen:
                chosen.append(j)
                yield from extend(i + 1)
                chosen.pop()

    return extend(0)


def spider_exec_match(gold_rows: Rows, pred_rows: Rows, order_matters: bool) -> bool:
    """Spider test-suite result equality (``result_eq``).

    >>> spider_exec_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=False)
    True
    >>> spider_exec_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=True)
    False
    >>> spider_exec_match([(1,), (1,)], [(1,)], order_matters=False)  # bags, not sets
    False
    >>> spider_exec_match([], [], order_matters=False)
    True
    """
    gold = [tuple(r) for r in gold_rows]
    pred = [tuple(r) for r in pred_rows]
    if not gold and not pred:
        return True
    if len(gold) != len(pred) or len(gold[0]) != len(pred[0]):
        return False
    # Cheap necessary test: rows with their cells sorted must agree (as a list or as a set).
    gold_cells = [_sorted_cells(r) for r in gold]
    pred_cells = [_sorted_cells(r) for r in pred]
    if gold_cells != pred_cells if order_matters else set(gold_cells) != set(pred_cells):
        return False
    gold_set, gold_bag = set(gold), Counter(gold)
    for cols in _column_maps(gold, pred):
        permuted = [tuple(r[j] for j in cols) for r in pred]
        if order_matters:
            if permuted == gold:
                return True
        elif set(permuted) == gold_set and Counter(permuted) == gold_bag:
            return True
    return False


# -- BIRD -----------------------------------------------------------------------------------------
def bird_ex(gold_rows: Rows, pred_rows: Rows) -> bool:
    """BIRD execution accuracy: the two results hold the same *set* of rows (order, duplicates
    and nothing else ignored; column order counts).

    >>> bird_ex([(1, "a"), (1, "a")], [(1, "a")])
    True
    >>> bird_ex([(1, "a")], [("a", 1)])
    False
    """
    return {tuple(r) for r in pred_rows} == {tuple(r) for r in gold_rows}


def _row_scores(pred: tuple[Any, ...], gold: tuple[Any, ...]) -> tuple[float, float, float]:
    width = len(gold)
    hits = sum(1 for v in pred if v in gold)
    pred_only = len(pred) - hits
    gold_only = sum(1 for v in gold if v not in pred)
    return hits / width, pred_only / width, gold_only / width


def bird_soft_f1(gold_rows: Rows, pred_rows: Rows) -> float:
    """BIRD Mini-Dev soft F1: rows are de-duplicated (first occurrence kept), then the i-th
    predicted row is scored against the i-th gold row cell by cell.

    >>> bird_soft_f1([(1, "a"), (2, "b")], [(1, "a"), (2, "b")])
    1.0
    >>> round(bird_soft_f1([(1, "a"), (2, "b")], [(1, "x")]), 4)  # tp .5, fp .5, fn 1.5
    0.3333
    >>> bird_soft_f1([], [])
    1.0
    """
    if not gold_rows and not pred_rows:
        return 1.0
    gold = list(dict.fromkeys(tuple(r) for r in gold_rows))
    pred = list(dict.fromkeys(tuple(r) for r in pred_rows))
    tp = fp = fn = 0.0
    for i, gold_row in enumerate(gold):
        if i >= len(pred):
            fn += 1
            continue
        hit, pred_only, gold_only = _row_scores(pred[i], gold_row)
        tp, fp, fn = tp + hit, fp + pred_only, fn + gold_only
    for _ in range(len(pred) - len(gold)):  # one by one: float sums must match the official
        fp += 1
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rves_reward(time_ratio: float) -> float:
    """The R-VES reward for a correct prediction whose gold/pred time ratio is ``time_ratio``
    (0 means incorrect).

    >>> [rves_reward(r) for r in (0, 0.1, 0.25, 0.5, 1, 1.99, 2, 10)]
    [0, 0.25, 0.5, 0.75, 1, 1, 1.25, 1.25]
    """
    if time_ratio == 0:
        return 0
    for bound, reward in ((2, 1.25), (1, 1), (0.5, 0.75), (0.25, 0.5)):
        if time_ratio >= bound:
            return reward
    return 0.25


def bird_time_ratio(gold_times: Sequence[float], pred_times: Sequence[float]) -> float:
    """Mean gold/pred time ratio over repeated runs, after dropping ratios outside 3 standard
    deviations (population) of the mean.

    The official script divides by zero, and scores 0, when that filter leaves nothing, which
    happens when every ratio is the same (always with one run); we keep all ratios instead.

    >>> bird_time_ratio([2.0, 2.0], [1.0, 1.0])
    2.0
    >>> round(bird_time_ratio([1.0] * 20 + [1.0], [1.0] * 20 + [0.001]), 3)
    1.0
    """
    if not gold_times or len(gold_times) != len(pred_times):
        raise ValueError("give one gold and one prediction time per run")
    if min(pred_times) <= 0:
        raise ValueError("prediction times must be positive")
    ratios = [g / p for g, p in zip(gold_times, pred_times, strict=True)]
    mean, std = statistics.fmean(ratios), statistics.pstdev(ratios)
    kept = [r for r in ratios if mean - 3 * std < r < mean + 3 * std] or ratios
    return sum(kept) / len(kept)


def bird_rves(
    gold_rows: Rows, pred_rows: Rows, gold_times: Sequence[float], pred_times: Sequence[float]
) -> float:
    """R-VES reward of one prediction: 0 unless ``bird_ex``; else the reward of the time ratio.

    >>> bird_rves([(1,)], [(1,)], [0.3, 0.3], [0.1, 0.1])
    1.25
    >>> bird_rves([(1,)], [(2,)], [0.3], [0.1])
    0
    """
    if not bird_ex(gold_rows, pred_rows):
        return 0
    return rves_reward(bird_time_ratio(gold_times, pred_times))


def rves_score(rewards: Sequence[float]) -> float:
    """The R-VES of a set of questions: mean of sqrt(reward), times 100.

    >>> rves_score([1, 0.25, 0])
    50.0
    """
    return sum(math.sqrt(r) * 100 for r in rewards) / len(rewards) if rewards else 0.0


# -- running a pair -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExecOutcome:
    """Gold and prediction run on one database.

    ``correct`` is None when the gold query itself could not be run (error, timeout, too many
    rows): that question says nothing about the model.  A failing prediction is ``False``.
    """

    correct: bool | None
    gold_error: str | None = None
    pred_error: str | None = None
    pred_rows_count: int | None = None
    gold_rows_count: int | None = None
    pred_seconds: float | None = None
    gold_seconds: float | None = None
    pred_timed_out: bool = False
    #: BIRD Mini-Dev soft F1 of the two results (None when either did not run).
    soft_f1: float | None = None


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def evaluate_prediction(
    engine: Engine,
    gold_sql: str,
    pred_sql: str,
    *,
    benchmark: Literal["spider", "bird"] = "spider",
    timeout: float = 30.0,
    max_rows: int = 1_000_000,
    keep_distinct: bool = False,
    gold_engine: Engine | None = None,
) -> ExecOutcome:
    """Run gold then prediction on ``engine`` and compare them with ``benchmark``'s metric.

    ``gold_engine``: where the gold runs when it is another engine (the benchmark's own SQLite
    file, while predictions run on PostgreSQL or on a catalog of many databases).
    A result over ``max_rows`` rows is an error (the comparison needs every row).
    """
    if benchmark == "spider":
        gold_sql = spider_prepare(gold_sql, keep_distinct=keep_distinct)
        pred_sql = spider_prepare(pred_sql, prediction=True, keep_distinct=keep_distinct)
    elif benchmark != "bird":
        raise InputError(f"unknown benchmark {benchmark!r}", "use 'spider' or 'bird'")
    try:
        gold = (gold_engine or engine).execute(gold_sql, timeout=timeout, max_rows=max_rows)
    except XanderError as exc:
        return ExecOutcome(None, gold_error=_error(exc))
    if gold.truncated:
        return ExecOutcome(None, gold_error=f"gold returns more than {max_rows} rows",
                           gold_seconds=gold.seconds)
    wrong = ExecOutcome(False, gold_rows_count=len(gold.rows), gold_seconds=gold.seconds)
    try:
        pred = engine.execute(pred_sql, timeout=timeout, max_rows=max_rows)
    except XanderError as exc:
        timed_out = isinstance(exc, QueryTimeoutError)
        return replace(wrong, pred_error=_error(exc), pred_timed_out=timed_out)
    if pred.truncated:
        return replace(wrong, pred_error=f"prediction returns more than {max_rows} rows",
                       pred_seconds=pred.seconds)
    if benchmark == "spider":
        correct = spider_exec_match(gold.rows, pred.rows, gold_has_order_by(gold_sql))
    else:
        correct = bird_ex(gold.rows, pred.rows)
    return replace(wrong, correct=correct, pred_rows_count=len(pred.rows),
                   pred_seconds=pred.seconds, soft_f1=bird_soft_f1(gold.rows, pred.rows))
