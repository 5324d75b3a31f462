"""What every repair rule shares: the ``Rule`` protocol, its ``Fix``, scope look-ups, and the
one writer of foreign-key joins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from xander.engines import ForeignKey
from xander.engines.profile import profile

if TYPE_CHECKING:  # only for annotations: repair sits below the checkers and the search
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate


@dataclass(frozen=True, slots=True)
class Fix:
    """A repaired tree and a short description of what the repair did."""

    tree: exp.Expression
    what: str


class Rule(Protocol):
    """One repair: a failed candidate's tree in, repaired trees out.

    ``answers`` holds the diagnostic codes the rule responds to; ``repairs_for`` asks a rule
    only when the candidate has one of them.  ``apply`` never changes ``tree``: each ``Fix``
    holds a repaired copy.  It may yield nothing.
    """

    name: str
    answers: frozenset[str]

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterable[Fix]:
        """Repaired copies of ``tree`` (the parse of ``cand.sql``), best first."""
        ...


def engine_errors(cand: Candidate, ctx: CheckContext, kind: str,
                  codes: frozenset[str]) -> Iterator[re.Match[str]]:
    """Matches of the engine profile's ``kind`` error pattern in ``cand``'s diagnostics with one
    of ``codes``; none when the engine has no such pattern."""
    pattern = profile(ctx.schema.dialect).error_patterns.get(kind)
    if not pattern:
        return
    for d in cand.diagnostics:
        if d.code in codes and (m := re.search(pattern, d.message)):
            yield m


def scope_of(tree: exp.Expression, node: exp.Expression) -> Scope | None:
    """The scope of ``tree`` whose columns include ``node`` (by identity)."""
    for scope in traverse_scope(tree):
        if any(c is node for c in scope.columns):
            return scope
    return None


def tables_in_scope(scope: Scope) -> list[tuple[str, exp.Table]]:
    """(alias, table) of every base table ``scope`` and its outer scopes select from."""
    out = []
    s: Scope | None = scope
    while s is not None:
        for alias, src in s.selected_sources.items():
            node = src[1] if isinstance(src, tuple) else src
            if isinstance(node, exp.Table):
                out.append((alias, node))
        s = s.parent
    return out


def fresh_alias(taken: set[str]) -> str:
    """A new alias ``T<n>`` whose lower case is not in ``taken`` (which gains it).

    >>> taken = {"t1", "t3"}
    >>> fresh_alias(taken), sorted(taken)
    ('T4', ['t1', 't3', 't4'])
    """
    n = len(taken) + 1
    while f"t{n}" in taken:
        n += 1
    alias = f"T{n}"
    taken.add(alias.lower())
    return alias


def join_along(path: Sequence[ForeignKey], joined: dict[str, str], taken: set[str],
               last: str | None = None) -> list[exp.Join]:
    """The joins that walk the foreign keys of ``path`` from the tables already ``joined``.

    ``joined`` maps each lower-case table name the query already has to its alias and gains the
    tables joined here; each gets a ``fresh_alias`` of ``taken``, except the last one, which is
    called ``last`` when given.

    >>> fk = ForeignKey("orders", ("customer_id",), "customers", ("id",))
    >>> joined = {"customers": "T1"}
    >>> [j.sql() for j in join_along([fk], joined, {"t1"})], joined["orders"]
    (['JOIN orders AS T2 ON T1.id = T2.customer_id'], 'T2')
    """
    joins = []
    for k, fk in enumerate(path):
        here, there = (fk.table, fk.ref_table) if fk.table.lower() in joined else (
            fk.ref_table, fk.table)
        here_cols, there_cols = (fk.columns, fk.ref_columns) if here == fk.table else (
            fk.ref_columns, fk.columns)
        alias = last if last is not None and k == len(path) - 1 else fresh_alias(taken)
        on = exp.and_(*[
            exp.EQ(this=exp.column(hc, joined[here.lower()]), expression=exp.column(tc, alias))
            for hc, tc in zip(here_cols, there_cols)
        ])
        table = exp.to_table(there) if alias == there else exp.alias_(
            exp.to_table(there), alias, table=True)
        joins.append(exp.Join(this=table, on=on))
        joined[there.lower()] = alias
    return joins
