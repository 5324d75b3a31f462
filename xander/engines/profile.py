"""Engine profiles: what the rest of xander may know about an engine, as data.

Each engine module declares its ``EngineProfile`` and registers it (one line); prompts, the
safety gate, Normalized SQL and repair read the profile of ``schema.dialect`` instead of
testing engine names, and ``open_engine`` offers a ``--db`` target to the registered profiles.
A new engine is its module, one ``register(...)`` line in it, and one entry in ``BUILTIN``.

>>> from xander.engines import profile
>>> profile("sqlite").display_name, profile("duckdb").caseless_names
('SQLite', True)
>>> [p.name for p in profiles()]
['postgres', 'duckdb-files', 'sqlite', 'duckdb']
>>> dialect_profile("postgres") is profile("postgres"), dialect_profile("oracle").display_name
(True, 'oracle')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xander.errors import EngineError, InputError

if TYPE_CHECKING:
    from xander.engines.base import Engine

#: the modules of the built-in engines; each registers its profiles when imported.
BUILTIN = ("xander.engines.duckdb", "xander.engines.sqlite", "xander.engines.postgres")


@dataclass(frozen=True, slots=True)
class EngineProfile:
    """One engine's facts, read by every room above the engines."""

    name: str
    """Registry name (``sqlite``, ``duckdb``, ``duckdb-files``)."""
    dialect: str
    """sqlglot dialect name used to parse, check and print SQL for this engine."""
    display_name: str
    """How prompts and messages name the SQL dialect (``SQLite``)."""
    recognizes: Callable[[str], bool]
    """True when a ``--db`` target (a path or URL, as given) is this engine's to open.  Never
    raises: a target no profile recognizes gets ``open_engine``'s own explanation."""
    opener: Callable[..., Engine]
    """Opens a recognised target read-only: ``opener(target)``, and where ``named_schemas``,
    ``opener(target, schemas=("public", "sales"))``."""
    caseless_names: bool = False
    """Identifiers match without regard to case, quoted or not (Normalized SQL may respell
    them as the schema does and drop quotes around mixed-case names)."""
    double_quoted_strings: bool = False
    """A double-quoted name that names no column is a string literal (SQLite's ``"France"``):
    Normalized SQL keeps its quotes, or with a schema turns it into ``'France'``."""
    read_starts: frozenset[str] = frozenset()
    """Words beyond ``SELECT`` / ``WITH`` / ``(`` that may begin a read query (DuckDB's
    ``FROM t SELECT ...``); the safety gate refuses any other first word."""
    statement_types: Callable[[str], tuple[str, ...]] | None = None
    """The engine's own parser: the types (``SELECT``, ``CALL``, ...) of the statements it sees
    in a string, raising ``QueryError`` when it cannot parse it.  The safety gate and the
    engine itself run a string only when this is exactly ``("SELECT",)``.  None: no parser."""
    function_spellings: Mapping[str, str] = field(default_factory=dict, hash=False)
    """sqlglot expression class name -> the function name Normalized SQL prints for it
    (SQLite's own ``SUBSTR`` for ``Substring``)."""
    error_patterns: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Regular expressions (for ``re.search``) over the engine's error text, each with a
    ``name`` group, by kind: ``ambiguous-column`` (an unqualified column several tables have),
    ``no-such-column``, ``no-such-table``, ``not-grouped`` (a column neither grouped nor
    aggregated), ``text-aggregate`` (an aggregate, the ``name``, refused on a text column that
    SQLite would read as numbers), ``text-compare`` (a text value compared with a number, which
    SQLite answers by type affinity; the ``name`` is the operator or the types).  A kind the
    engine never reports is absent."""
    named_schemas: bool = False
    """The database has named schemas that ``--schema`` chooses among (PostgreSQL, DuckDB): the
    opener takes ``schemas=``, and with more than one, tables are named ``schema.table``."""
    prompt_dialect: str = ""
    """The sqlglot dialect prompts ask the model to write on this engine when it is not the
    engine's own (``[lm] prompt_dialect`` overrides it): the model's SQL is transpiled from it
    (``xander.linking.transpiled``).  Empty: the engine's own dialect."""
    caseless_like: bool = False
    """``LIKE`` ignores case (SQLite's, for ASCII letters): SQL written for this dialect and
    transpiled to one whose ``LIKE`` does not becomes ``ILIKE`` (``xander.linking.as_dialect``)."""
    text_number: str = ""
    """SQL for the number a text value ``X`` starts with, NULL when it starts with none, with
    ``{p}`` the regular expression of that number (``repair.numeric.NUMBER_PREFIX``): how the
    text-as-number repair reads text as SQLite does.  Empty: the engine has no such way."""
    row_order: str | None = None
    """A column every stored table has that gives its rows in the order they were stored
    (PostgreSQL's ``ctid``): ``xander.ties`` breaks ORDER BY ties with it as SQLite's stable
    sort does.  None where ties already come out so (SQLite) or there is none."""
    priority: int = 100
    """Targets are offered to profiles in ascending priority; the first that recognizes one
    opens it (data files before SQLite's header check before DuckDB's)."""


_PROFILES: dict[str, EngineProfile] = {}


def register(p: EngineProfile) -> EngineProfile:
    """Add ``p`` to the registry (by name, and by dialect unless one is there) and return it."""
    _PROFILES[p.name] = p
    _PROFILES.setdefault(p.dialect, p)
    return p


def profile(name: str) -> EngineProfile:
    """The profile registered under an engine or dialect name; ``InputError`` if none is."""
    _load_builtin()
    try:
        return _PROFILES[name]
    except KeyError:
        known = ", ".join(sorted({p.name for p in _PROFILES.values()}))
        raise InputError(f"unknown engine or dialect {name!r}", f"choose from {known}") from None


def dialect_profile(dialect: str) -> EngineProfile:
    """The facts for SQL text of ``dialect``; never raises.

    A registered engine's profile, else one of the dialects xander knows without an engine
    (``mysql``), else neutral defaults (named as given, case-sensitive, no extra
    read words, no parser) that open nothing.
    """
    _load_builtin()
    found = _PROFILES.get(dialect) or _SQL_ONLY.get(dialect)
    return found if found is not None else _sql_only(dialect)


def profiles() -> tuple[EngineProfile, ...]:
    """Every registered profile once, in the order targets are offered to them."""
    _load_builtin()
    unique = {id(p): p for p in _PROFILES.values()}.values()
    return tuple(sorted(unique, key=lambda p: p.priority))


def _load_builtin() -> None:
    for module in BUILTIN:
        importlib.import_module(module)


def _never(target: str) -> bool:
    return False


def _sql_only(
    dialect: str, display_name: str | None = None, caseless: bool = False
) -> EngineProfile:
    def no_engine(target: str) -> Engine:
        raise EngineError(f"xander has no engine for {dialect}",
                          "give a SQLite, DuckDB or PostgreSQL database")

    return EngineProfile(
        dialect, dialect, display_name or dialect, _never, no_engine, caseless_names=caseless,
        caseless_like=caseless,
    )


#: dialects whose SQL xander may be asked to check or print, without an engine for them.
_SQL_ONLY = {
    "mysql": _sql_only("mysql", caseless=True),
}
