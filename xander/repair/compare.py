"""The text-compare repair: a text column compared with a number.

SQLite compares by type affinity, PostgreSQL refuses (``operator does not exist: text =
integer``).  Databases loaded from SQLite keep such columns (Spider's ``concert.year`` is
``TEXT``), so the repair writes what SQLite does:

- a text column against a number literal (``=``, ``<>``, ``<``, ``>``, ``IN``, ``BETWEEN``):
  SQLite gives the literal the column's TEXT affinity and compares text, also for ``<`` and
  ``>`` (``'10' < '5'``); the repair writes the literal as SQLite's text of the number
  (``year = 2014`` -> ``year = '2014'``, ``5.0`` -> ``'5.0'``).  Casting the column to a
  number instead would fail on text that is not one and order differently from SQLite;
- a text column against a numeric column: SQLite gives the text NUMERIC affinity and compares
  numbers.  For ``=``, ``<>`` and ``IN`` the number side becomes text
  (``t1.code = CAST(t2.id AS TEXT)``: the same on the canonical digits keys hold, and never an
  error); for an order the text side becomes a number (``CAST(t.code AS DOUBLE PRECISION)``);
- a text column against an expression of numbers (``id + 1``, ``COUNT(*)``, ``AVG(x)``, a cast
  to a number, a scalar subquery of one such value): SQLite gives the expression no affinity
  and compares text, and so does the repair (``CAST(... AS TEXT)``).

Every such comparison of the query is mended at once (the engine names the first only).  The
error text is read with the profile's ``text-compare`` pattern (its ``name`` group is the
operator); an engine without one gets no such repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from xander.repair.base import Fix, engine_errors, tables_in_scope
from xander.schema import Schema

if TYPE_CHECKING:
    from xander.checkers.base import CheckContext
    from xander.scoring import Candidate

_EQUALITY = (exp.EQ, exp.NEQ)
_ORDER = (exp.GT, exp.GTE, exp.LT, exp.LTE)


def compare_as_sqlite(tree: exp.Expression, schema: Schema, dialect: str = "postgres"
                      ) -> Fix | None:
    """A copy of ``tree`` whose comparisons of text columns with numbers say what SQLite does.

    >>> from xander.linking import parse
    >>> from xander.schema import Column, Table
    >>> s = Schema((Table("c", (Column("id", "bigint"), Column("year", "text"))),
    ...             Table("s", (Column("id", "bigint"), Column("code", "text")))))
    >>> sql = "SELECT id FROM c WHERE year = 2014 OR year IN (1, -2.50) OR year > 2"
    >>> fix = compare_as_sqlite(parse(sql, "postgres"), s)
    >>> fix.tree.sql("postgres")
    "SELECT id FROM c WHERE year = '2014' OR year IN ('1', '-2.5') OR year > '2'"
    >>> fix.what
    'year = 2014, year IN (1, -2.50), year > 2 as SQLite compares them (as text)'
    >>> sql = "SELECT c.id FROM c JOIN s ON s.code = c.id WHERE s.code > c.id"
    >>> print(compare_as_sqlite(parse(sql, "postgres"), s).tree.sql("postgres"))
    ... # doctest: +NORMALIZE_WHITESPACE
    SELECT c.id FROM c JOIN s ON s.code = CAST(c.id AS TEXT)
    WHERE CAST(s.code AS DOUBLE PRECISION) > c.id
    """
    tree = tree.copy()
    kinds = _column_kinds(tree, schema, dialect)

    def kind(e: exp.Expression) -> str:
        """``literal`` (a number), ``text`` / ``number`` (a column of that type), ``numeric``
        (an expression of numbers: SQLite gives it no affinity), or empty."""
        if _number(e) is not None:
            return "literal"
        if isinstance(e, exp.Column):
            return kinds.get(id(e), "")
        if isinstance(e, exp.Count):
            return "numeric"
        if isinstance(e, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            sides = {kind(e.left), kind(e.right)}
            return "numeric" if sides <= {"literal", "number", "numeric"} else ""
        if isinstance(e, (exp.Sum, exp.Avg)):  # SQLite's are numbers of no affinity
            return "numeric"
        if isinstance(e, (exp.Min, exp.Max)):
            return "numeric" if kind(e.this) in ("number", "numeric") else ""
        if isinstance(e, exp.Cast):
            return "numeric" if e.to.is_type(*exp.DataType.NUMERIC_TYPES) else ""
        if isinstance(e, exp.Case):  # the numeric repair's CASE WHEN <a number> THEN CAST ...
            branches = [i.args.get("true") for i in e.args.get("ifs") or []]
            branches += [e.args["default"]] if e.args.get("default") is not None else []
            return "numeric" if branches and all(
                b is not None and kind(b) in ("literal", "numeric") for b in branches) else ""
        if isinstance(e, (exp.Subquery, exp.Paren)):  # a scalar subquery: its one value
            inner = e.unnest() if isinstance(e, exp.Paren) else e.this
            if isinstance(inner, exp.Select) and len(inner.expressions) == 1:
                one = inner.expressions[0]
                return kind(one.this if isinstance(one, exp.Alias) else one)
            return kind(inner) if isinstance(e, exp.Paren) else ""
        return ""

    def as_sqlite(other: exp.Expression) -> exp.Expression:
        """The number side of an equality, or of any comparison with no affinity, as text."""
        return _text_literal(other) if kind(other) == "literal" else _cast(other, "TEXT")

    changed: list[str] = []
    as_text = as_number = False
    numbers = ("literal", "number", "numeric")
    for node in list(tree.find_all(*_EQUALITY, *_ORDER, exp.In, exp.Between, bfs=False)):
        before = node.sql(dialect)
        if isinstance(node, (exp.In, exp.Between)):
            if isinstance(node, exp.In):
                others = list(node.expressions)
            else:
                others = [node.args.get("low"), node.args.get("high")]
            if (kind(node.this) != "text" or node.args.get("query") is not None or not others
                    or not all(o is not None and kind(o) in numbers for o in others)):
                continue
            if isinstance(node, exp.Between) and not all(kind(o) == "literal" for o in others):
                continue  # BETWEEN a column and ...: rare enough to leave alone
            for o in others:
                o.replace(as_sqlite(o))
            as_text = True
        else:
            left, right = node.this, node.expression
            if kind(left) == "text" and kind(right) in numbers:
                text, other = left, right
            elif kind(right) == "text" and kind(left) in numbers:
                text, other = right, left
            else:
                continue
            if kind(other) == "number" and isinstance(node, _ORDER):
                text.replace(_cast(text, "DOUBLE"))  # a numeric column: SQLite orders numbers
                as_number = True
            else:
                other.replace(as_sqlite(other))
                as_text = True
        changed.append(before)
    if not changed:
        return None
    how = " and ".join(w for w, on in (("as text", as_text), ("as numbers", as_number)) if on)
    return Fix(tree, f"{', '.join(dict.fromkeys(changed))} as SQLite compares them ({how})")


class TextCompare:
    """An engine error saying text cannot be compared with a number: compare as SQLite does
    (``compare_as_sqlite``)."""

    name = "compare"
    answers = frozenset({"engine-error"})

    def apply(self, tree: exp.Expression, cand: Candidate, ctx: CheckContext) -> Iterator[Fix]:
        for _ in engine_errors(cand, ctx, "text-compare", self.answers):
            fix = compare_as_sqlite(tree, ctx.schema, ctx.schema.dialect)
            if fix is not None:
                yield fix
            return


# -- helpers -------------------------------------------------------------------------------------
def _number(e: exp.Expression) -> str | None:
    """The text of a number literal (``-2.5`` for ``-(2.5)``), or None."""
    if isinstance(e, exp.Literal) and e.is_number:
        return e.name
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and e.this.is_number:
        return "-" + e.this.name
    return None


def sqlite_text(number: str) -> str:
    """The text SQLite makes of a number literal (what TEXT affinity stores and compares).

    >>> [sqlite_text(n) for n in ("2014", "007", "-2.50", "5.0", "1e3", "0.1")]
    ['2014', '7', '-2.5', '5.0', '1000.0', '0.1']
    """
    try:
        return str(int(number))
    except ValueError:
        pass
    text = f"{float(number):.15g}"
    if "e" in text:
        mantissa, _, power = text.partition("e")
        return (mantissa if "." in mantissa else mantissa + ".0") + "e" + power
    return text if "." in text or "n" in text else text + ".0"


def _text_literal(e: exp.Expression) -> exp.Expression:
    number = _number(e)
    return exp.Literal.string(sqlite_text(number)) if number is not None else e


def _cast(e: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=e.copy(), to=exp.DataType.build(to))


def _kind_of_type(declared: str, dialect: str) -> str:
    """``text``, ``number`` or empty for a column's declared type."""
    try:
        t = exp.DataType.build(declared, dialect=dialect)
    except Exception:  # noqa: BLE001 - a type sqlglot cannot read is neither
        return ""
    if t.is_type(*exp.DataType.TEXT_TYPES):
        return "text"
    if t.is_type(*exp.DataType.NUMERIC_TYPES):
        return "number"
    return ""


def _column_kinds(tree: exp.Expression, schema: Schema, dialect: str) -> dict[int, str]:
    """``id(column node)`` -> the kind of the schema column it names (unknown ones left out)."""
    kinds: dict[int, str] = {}
    for scope in traverse_scope(tree):
        tables = tables_in_scope(scope)
        for col in scope.columns:
            for alias, node in tables:
                if col.table and col.table.lower() != alias.lower():
                    continue
                table = schema.table_of(node)
                column = table.column(col.name) if table is not None else None
                if column is not None:
                    kinds[id(col)] = _kind_of_type(column.type, dialect)
                    break
    return kinds
