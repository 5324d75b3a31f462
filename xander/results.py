"""When two query results are the same answer: a hashable key per result.

The candidate pool is grouped by what the queries return, with the official Spider comparison
(test-suite ``result_eq``) for a gold query without ``ORDER BY``: two results are equal when some
permutation of one's columns makes them the same *bag* of rows.  Column names never count, and
any two empty results are equal.  ``result_key`` turns that relation into equality of keys, so a
pool groups with a dict instead of comparing every pair.

How the key reproduces the official test (``xander.bench.metrics.spider_exec_match``):

- Values are compared as Python compares them (``1 == 1.0 == True``; floats exactly), because the
  key keeps the values themselves and only *orders* them.  The order (``_order``) is total and
  agrees with ``==``: numbers by value whatever their type, then strings, bytes, other values.
- Columns are put in a canonical order: by the sorted multiset of their values; columns whose
  multisets tie are tried in every order and the smallest sorted bag of rows is kept.
- The official test also requires the two results' rows, each with its cells sorted by
  ``str(value) + str(type(value))``, to be the same *set*.  A permutation that matches makes
  that true except where ints and floats mix: ``(1.0, '1.0x')`` sorts its float first,
  ``(1, '1.0x')`` its string first, so the official test calls those results different although
  a permutation matches.  The key carries that set as well, and agrees with the official test
  there too.

Where a hash key cannot follow the permutation search: when columns tie in too many ways
(more than ``MAX_ORDERINGS`` orderings to try, or too many rows times orderings), the key uses
one fixed order among the tied columns and says ``exact=False``.  Equal keys still mean equal
results; unequal inexact keys may not mean different ones.  Callers compare such groups'
representatives with ``same_result`` (the permutation search itself) and merge those that match;
``xander.select`` does.  One more difference, deliberately not reproduced: the official test
compares ``NaN`` cells by object identity (``Counter`` keys), as does the key; neither can say
whether two engines' NaNs "are" equal, and SQLite returns no NaN (it stores NULL).

>>> result_key(("a", "b"), [(1, "x"), (2, "y")]) == result_key(("n", "m"), [("y", 2), ("x", 1)])
True
>>> result_key(("a",), [(1,), (1,)]) == result_key(("a",), [(1,)])  # bags, not sets
False
>>> result_key(("a",), []) == result_key(("a", "b"), [])  # every empty result is the same
True
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

Rows = Sequence[Sequence[Any]]

#: Most orderings of tied columns tried for a canonical key; beyond it the key is inexact.
MAX_ORDERINGS = 720
#: Most rows x orderings sorted for one key (a tie among columns of a large result).
MAX_WORK = 2_000_000

_NUMBER = (bool, int, float, Decimal, Fraction)


@dataclass(frozen=True, slots=True)
class ResultKey:
    """What a result is, up to the official comparison: equal keys, equal results.

    ``rows`` is the bag of rows as a sorted tuple, columns in canonical order; ``cells`` the
    set of rows with their cells sorted the official way (see the module docstring).
    """

    width: int
    rows: tuple[tuple[Hashable, ...], ...]
    cells: frozenset[tuple[Hashable, ...]]
    #: False when tied columns kept one fixed order (too many to try): equal keys still mean
    #: equal results, but equal results may have unequal keys; compare with ``same_result``.
    exact: bool = field(default=True, compare=False)


def _hashable(value: Any) -> Hashable:
    """``value`` itself, or a tuple standing in for a list/dict cell (DuckDB LIST, STRUCT)."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _hashable(v)) for k, v in value.items()), key=repr))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _order(value: Any) -> tuple[Any, ...]:
    """A total order on cell values that agrees with ``==`` (equal values, equal keys).

    >>> _order(1) == _order(1.0) == _order(True)
    True
    >>> sorted([None, "b", 2.5, 1, b"x", "a"], key=_order)
    [None, 1, 2.5, 'a', 'b', b'x']
    """
    if value is None:
        return (0,)
    if isinstance(value, _NUMBER):
        if (isinstance(value, float) and math.isnan(value)) or (
            isinstance(value, Decimal) and value.is_nan()
        ):
            return (1, 1)  # NaN: after every number, equal to no number
        return (1, 0, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes):
        return (3, value)
    return (4, type(value).__qualname__, repr(value))


def _cell_key(value: Any) -> str:
    """How the official test sorts a row's cells (``str(value) + str(type(value))``)."""
    return str(value) + str(type(value))


def _tie_classes(columns: list[tuple[Any, ...]]) -> list[list[int]]:
    """Column indices grouped by their sorted multiset of values, classes in that order; within
    a class, columns equal as vectors are kept once (swapping them changes nothing)."""
    orders = [[_order(v) for v in col] for col in columns]
    invariant = [sorted(o) for o in orders]
    by_inv = sorted(range(len(columns)), key=lambda i: (invariant[i], i))
    classes: list[list[int]] = []
    for i in by_inv:
        if classes and invariant[classes[-1][0]] == invariant[i]:
            classes[-1].append(i)
        else:
            classes.append([i])
    return classes


def _distinct_perms(labels: list[int]) -> Iterator[list[int]]:
    """The distinct orderings of a multiset of labels (each once), smallest first."""
    left = Counter(labels)
    out: list[int] = []

    def extend() -> Iterator[list[int]]:
        if len(out) == len(labels):
            yield list(out)
            return
        for label in sorted(left):
            if left[label]:
                left[label] -= 1
                out.append(label)
                yield from extend()
                out.pop()
                left[label] += 1

    return extend()


def _class_options(cls: list[int], columns: list[tuple[Any, ...]]) -> list[list[int]]:
    """The orders of one class of tied columns that differ (identical columns swap once)."""
    shapes: dict[tuple[Any, ...], list[int]] = {}
    for i in cls:
        shapes.setdefault(tuple(_order(v) for v in columns[i]), []).append(i)
    groups = list(shapes.values())
    labels = [g for g, members in enumerate(groups) for _ in members]
    options = []
    for perm in _distinct_perms(labels):
        taken = [0] * len(groups)
        order = []
        for g in perm:
            order.append(groups[g][taken[g]])
            taken[g] += 1
        options.append(order)
    return options


def _count_orderings(classes: list[list[int]], columns: list[tuple[Any, ...]]) -> int:
    """How many column orders ``_orderings`` would try (distinct ones only)."""
    total = 1
    for cls in classes:
        sizes = Counter(tuple(_order(v) for v in columns[i]) for i in cls).values()
        total *= math.factorial(len(cls)) // math.prod(math.factorial(m) for m in sizes)
    return total


def _orderings(classes: list[list[int]], columns: list[tuple[Any, ...]]) -> Iterator[list[int]]:
    """Every column order that keeps the classes in place, tied columns in every distinct order."""
    per_class = [_class_options(cls, columns) if len(cls) > 1 else [cls] for cls in classes]
    for combo in itertools.product(*per_class):
        yield [i for part in combo for i in part]


def result_key(columns: Sequence[str], rows: Rows) -> ResultKey:
    """The key of one result: equal keys exactly when the official Spider comparison without
    ``ORDER BY`` calls the results equal (see the module docstring for the inexact case).

    ``columns`` (the names) do not count, as in the official test; they are taken so callers can
    pass a ``QueryResult``'s fields as they are.

    >>> k = result_key(("id", "n"), [(1, 2.0), (3, 4)])
    >>> k == result_key(("n", "id"), [(4.0, 3), (2, 1)])  # columns and rows permuted, 2 == 2.0
    True
    >>> k == result_key(("id", "n"), [(1, 2), (4, 3)])  # a row of its own
    False
    >>> k.exact
    True
    """
    del columns  # the official comparison ignores names
    table = [tuple(_hashable(v) for v in r) for r in rows]
    if not table:
        return ResultKey(0, (), frozenset())
    width = len(table[0])
    cells = frozenset(tuple(sorted(r, key=_cell_key)) for r in table)
    cols = [tuple(r[j] for r in table) for j in range(width)]
    classes = _tie_classes(cols)
    n = _count_orderings(classes, cols)
    exact = n <= MAX_ORDERINGS and n * len(table) <= MAX_WORK
    if exact:
        orderings: Iterator[list[int]] = _orderings(classes, cols)
    else:
        orderings = iter([[i for cls in classes for i in cls]])
    best: tuple[tuple[Any, ...], ...] | None = None
    best_rows: tuple[tuple[Hashable, ...], ...] = ()
    for order in orderings:
        permuted = sorted((tuple(r[j] for j in order) for r in table),
                          key=lambda row: tuple(_order(v) for v in row))
        shape = tuple(tuple(_order(v) for v in row) for row in permuted)
        if best is None or shape < best:
            best, best_rows = shape, tuple(permuted)
    return ResultKey(width, best_rows, cells, exact)


def same_result(a: Rows, b: Rows) -> bool:
    """The official comparison without ``ORDER BY``, by permutation search: some order of
    ``b``'s columns makes the two the same bag of rows (and the official cell test holds).

    Columns are matched only to columns with the same multiset of values, a necessary condition,
    so the search tries few maps.  Use it for keys that are not ``exact``.

    >>> same_result([(1, "a"), (2, "b")], [("b", 2), ("a", 1)])
    True
    >>> same_result([(1, 2), (3, 4)], [(2, 1), (3, 4)])  # no one order of columns fits both
    False
    """
    left = [tuple(_hashable(v) for v in r) for r in a]
    right = [tuple(_hashable(v) for v in r) for r in b]
    if not left and not right:
        return True
    if len(left) != len(right) or len(left[0]) != len(right[0]):
        return False
    if {tuple(sorted(r, key=_cell_key)) for r in left} != {
        tuple(sorted(r, key=_cell_key)) for r in right
    }:
        return False
    width = len(left[0])
    left_inv = [sorted(_order(r[i]) for r in left) for i in range(width)]
    right_inv = [sorted(_order(r[j]) for r in right) for j in range(width)]
    fits = [[j for j in range(width) if right_inv[j] == left_inv[i]] for i in range(width)]
    bag = Counter(left)
    chosen: list[int] = []

    def extend(i: int) -> bool:
        if i == width:
            return Counter(tuple(r[j] for j in chosen) for r in right) == bag
        for j in fits[i]:
            if j not in chosen:
                chosen.append(j)
                if extend(i + 1):
                    return True
                chosen.pop()
        return False

    return extend(0)
