"""Question cues: what the wording of a question says the query should contain, as soft scores.

``question_cues`` reads a question once ("how many" asks for a count, "below 30" for a ``<``,
"each" for a ``GROUP BY``); ``cue_score`` compares those cues with one candidate query's tree and
returns a score in nats, never a verdict: cues rank candidates, they never prune one.  Both are
pure and cheap (no database).  The words live in ``xander.cue_words``; the penalties in
``CueWeights``, from how often each cue was right on the Spider train questions
(``benchmarks/fit_cues.py``, report in ``benchmarks/results/cues_train/report.md``).

>>> cues = question_cues("How many singers are older than 30?")
>>> cues.wants_count, cues.direction
('how many', '>')
>>> from xander.sqlparse import parse_one_select
>>> cue_score(cues, parse_one_select("SELECT COUNT(*) FROM singer WHERE age > 30"))
(0.0, ('met:count', 'met:>', 'met:outputs=1'))
>>> cue_score(cues, parse_one_select("SELECT COUNT(*) FROM singer WHERE age < 30"))
(-3.5, ('met:count', 'missed:>', 'unasked:<', 'met:outputs=1'))
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlglot import exp

from xander import cue_words as words
from xander.errors import QueryError
from xander.sqlparse import parse_one_select

# -- the question ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cues:
    """What a question's wording asks for.  Each text field is the phrase that fired (truthy),
    or None."""

    wants_count: str | None = None
    superlative: str | None = None
    per_group: str | None = None
    negation: str | None = None
    both: str | None = None
    distinct: str | None = None
    average: str | None = None
    total: str | None = None
    order: str | None = None
    descending: str | None = None
    pattern: str | None = None
    percentage: str | None = None
    name: str | None = None
    #: (operator, phrase) for each comparison phrase, in question order: ("<", "less than")
    directions: tuple[tuple[str, str], ...] = ()
    #: decimals asked for by "rounded to N decimals" (None: no rounding asked for)
    rounding: int | None = None
    #: how many output columns the question asks for (None: no estimate)
    n_outputs: int | None = None
    #: numbers the question states outside quotes ("between 5000 and 10000"), canonical
    #: (``literal_key``): the query should compare with them
    numbers: tuple[str, ...] = ()
    #: values the question quotes ('AHD', "Bob Fosse"), lower case
    values: tuple[str, ...] = ()

    @property
    def direction(self) -> str | None:
        """The one comparison direction asked for: ``"<"``, ``">"``, or None (none, or both)."""
        ops = {op for op, _ in self.directions}
        return ops.pop() if len(ops) == 1 else None


_DOUBLE_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
_SINGLE_QUOTED = re.compile(r"(?<!\w)'[^']*'(?!\w)|‘[^’]*’")


# a number standing alone: not part of a name ("A340-300", "meter_100"), a date ("8/12") or a
# percentage; thousands may be grouped with commas ("10,000")
_NUMBER = re.compile(r"(?<![\w.\-/])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w\-/%]|\.\d)")


def literal_key(text: str) -> str | None:
    """A number's canonical spelling, so that ``5000``, ``5,000`` and ``5000.0`` are one; None
    for text that is not a number.

    >>> literal_key("5,000"), literal_key("5000.0"), literal_key("2.50"), literal_key("x")
    ('5000', '5000', '2.5', None)
    """
    try:
        f = float(text.replace(",", ""))
    except ValueError:
        return None
    if not math.isfinite(f):
        return None
    return str(int(f)) if f.is_integer() else repr(f)


def _quoted(question: str) -> tuple[str, ...]:
    text = question.replace("’", "'")
    found = [m.group()[1:-1] for q in (_DOUBLE_QUOTED, _SINGLE_QUOTED) for m in q.finditer(text)]
    return tuple(dict.fromkeys(v.strip().lower() for v in found if v.strip()))


def clean(question: str) -> str:
    """Lower case, quoted values blanked (their words are data, not wording), one space.

    >>> clean('Which  songs are named "Not Here"?')
    'which songs are named _ ?'
    """
    text = question.replace("’", "'")
    text = _DOUBLE_QUOTED.sub(" _ ", text)
    text = _SINGLE_QUOTED.sub(" _ ", text)
    return " ".join(text.lower().split())


@functools.cache
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word alternation, longest phrase first (so it wins where phrases overlap)."""
    alts = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w'])(?:{alts})(?![\w'])")


def find_phrase(text: str, phrases: Iterable[str]) -> str | None:
    """The first of ``phrases`` in ``text`` (whole words, the longest where they overlap).

    >>> find_phrase("at least two, not more than five", ("more than", "not more than"))
    'not more than'
    """
    m = _pattern(tuple(phrases)).search(text)
    return m.group() if m else None


def blank(text: str, phrases: Iterable[str]) -> str:
    """``text`` with every one of ``phrases`` overwritten (so later cues do not read them)."""
    return _pattern(tuple(phrases)).sub(lambda m: "_" * len(m.group()), text)


def _rounding(text: str) -> int | None:
    m = _pattern(words.ROUNDING).search(text)
    if not m:
        return None
    rest = text[m.end():].split()
    for token in rest[:4]:  # "rounded to 2 decimals", "round to two decimal places"
        token = token.strip(",.?")
        if token.isdigit():
            return int(token)
        if token in words.NUMBER_WORDS:
            return words.NUMBER_WORDS[token]
    return 0 if any(t.strip(",.?") in words.ROUND_TO_INTEGER for t in rest[:4]) else None


def _n_outputs(text: str, per_group: bool) -> int | None:
    """How many columns the question asks for: the items of the list after the opening words,
    up to the first pivot word (commas and "and" separate them), plus one for "... and how many".
    """
    sentences = [s.strip() for s in re.split(r"[.?!;]\s*", text) if s.strip()]
    if not sentences:
        return None
    openings = _pattern(words.OUTPUT_OPENINGS)
    asking = [s for s in sentences if openings.match(s)]
    sentence = asking[-1] if asking else sentences[0]
    m = openings.match(sentence)
    if m is None:
        if _pattern(words.COUNT_OPENINGS).match(sentence):
            return 2 if per_group else 1  # "how many X per Y": Y and the count
        return None
    rest = sentence[m.end():]
    pivot = _pattern(words.OUTPUT_PIVOTS).search(rest)
    head = rest[: pivot.start()] if pivot else rest
    items = [i.strip() for i in re.split(r",|\band\b", head)]
    items = [i for i in items if re.search(r"[a-z]", i) and i not in words.EMPTY_ITEMS]
    n = len(items) + sum(find_phrase(i, words.TWO_COLUMN_ITEMS) is not None for i in items)
    after = sentence[m.end() + len(head):]
    if find_phrase(after, words.AND_COUNT):
        n += 1
    elif n == 1 and per_group and find_phrase(items[0], words.AGGREGATE_ITEMS):
        n = 2  # "the number of X for each Y": Y and the number
    return n or None


@functools.cache
def _range() -> re.Pattern[str]:
    ends = "|".join(sorted(words.RANGE_ENDS, key=len, reverse=True))
    return re.compile(rf"\bfrom (?:the )?({ends}) to (?:the )?(?:{ends})\b")


@functools.lru_cache(maxsize=64)
def question_cues(question: str) -> Cues:
    """The cues of one question (cached: the search and the ``stated`` checker read the same
    question's cues for every candidate).

    >>> c = question_cues("What are the names of singers who are not from 'New York', "
    ...                   "in descending order of age?")
    >>> c.negation, c.descending, c.name, c.order  # each the first phrase of its list
    ('not', 'descending', 'names', 'descending')
    >>> question_cues("List singers no more than 30 years old and at least 20.").directions
    (('<', 'no more than'), ('>', 'at least'))
    >>> question_cues("Show the name and the number of stations of each city.").n_outputs
    2
    >>> question_cues('Find songs named "The Best Not".').superlative is None  # quoted: a value
    True
    """
    text = clean(question)
    found = _pattern(tuple(words.DIRECTION)).finditer(text)
    directions = tuple((words.DIRECTION[m.group()], m.group()) for m in found)
    rest = blank(text, words.DIRECTION)  # "at least" is no superlative, "no more" no negation
    span = _range().search(rest)  # "from the highest to the lowest": an order
    ranged = span.group() if span else None
    high_first = span is not None and span.group(1) in words.RANGE_HIGH_FIRST
    if span:
        rest = rest[: span.start()] + "_" * len(span.group()) + rest[span.end():]
    count = find_phrase(rest, words.COUNT)
    per_group = find_phrase(rest, words.PER_GROUP)
    return Cues(
        wants_count=count,
        superlative=find_phrase(rest, words.SUPERLATIVE),
        per_group=per_group,
        negation=find_phrase(rest, words.NEGATION),
        both=find_phrase(rest, words.BOTH),
        distinct=find_phrase(rest, words.DISTINCT),
        average=find_phrase(rest, words.AVERAGE),
        total=find_phrase(blank(rest, words.TOTAL_NOT), words.TOTAL),
        order=find_phrase(rest, words.ORDER) or ranged,
        descending=find_phrase(rest, words.DESCENDING) or (ranged if high_first else None),
        pattern=find_phrase(rest, words.PATTERN),
        percentage=find_phrase(rest, words.PERCENTAGE),
        name=find_phrase(rest, words.NAME),
        directions=directions,
        rounding=_rounding(rest),
        n_outputs=_n_outputs(text, bool(per_group)),
        numbers=tuple(dict.fromkeys(k for n in _NUMBER.findall(text)
                                    if (k := literal_key(n)) is not None)),
        values=_quoted(question),
    )


# -- the query --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """The constructs a query has, as ``cue_score`` reads them (names as in ``CONSTRUCTS``)."""

    constructs: frozenset[str]
    #: output columns of the (first branch of the) outer query; None for ``SELECT *``
    n_outputs: int | None
    #: decimals of every ROUND(x, n) in the query
    round_digits: frozenset[int] = frozenset()
    #: numbers the query states (``literal_key``), in literals or in names (``meter_100``)
    numbers: frozenset[str] = frozenset()
    #: the query's string literals, lower case and stripped
    strings: frozenset[str] = frozenset()


#: construct -> what it is
CONSTRUCTS = {
    "count": "COUNT in the outer query's output",
    "order-limit": "ORDER BY with LIMIT",
    "max": "MAX()",
    "min": "MIN()",
    "group": "GROUP BY",
    "anti": "NOT IN, NOT EXISTS, EXCEPT, or LEFT JOIN ... IS NULL",
    "not-equal": "!=, NOT LIKE, or another NOT",
    "intersect": "INTERSECT",
    "distinct": "DISTINCT (in SELECT or an aggregate)",
    "<": "a < or <= comparison (or BETWEEN)",
    ">": "a > or >= comparison (or BETWEEN)",
    "avg": "AVG()",
    "sum": "SUM()",
    "order": "ORDER BY",
    "desc": "ORDER BY ... DESC",
    "like": "LIKE or GLOB",
    "round": "ROUND()",
    "percent": "a product with 100, or a division",
    "name-output": "an output column named like a name (name, title)",
}


def _outer_selects(tree: exp.Expr) -> list[exp.Select]:
    if isinstance(tree, exp.Select):
        return [tree]
    if isinstance(tree, exp.Subquery):
        return _outer_selects(tree.this)
    if isinstance(tree, exp.SetOperation):
        return _outer_selects(tree.left) + _outer_selects(tree.right)
    return []


def _flip(node: exp.Expr) -> bool:
    """``30 > age``: a literal on the left reads the other way round."""
    return isinstance(node.this, exp.Literal) and not isinstance(node.expression, exp.Literal)


def query_shape(tree: exp.Expr) -> Shape:
    """The constructs of one parsed query.

    >>> from xander.sqlparse import parse_one_select
    >>> s = query_shape(parse_one_select(
    ...     "SELECT name, COUNT(*) FROM t WHERE 30 > age GROUP BY name ORDER BY 2 DESC LIMIT 1"))
    >>> sorted(s.constructs), s.n_outputs
    (['<', 'count', 'desc', 'group', 'name-output', 'order', 'order-limit'], 2)
    """
    has: set[str] = set()
    outer = _outer_selects(tree)
    outputs = [p for s in outer for p in s.expressions]
    if any(p.find(exp.Count) for p in outputs):
        has.add("count")
    first = outer[0].expressions if outer else []
    star = any(isinstance(p, exp.Star) or (p.find(exp.Star) and not p.find(exp.Count))
               for p in first)  # SELECT *, T1.*: the outputs are unknown; COUNT(*) is one
    names = [c.name.lower() for p in outputs for c in p.find_all(exp.Column)]
    names += [p.alias.lower() for p in outputs if p.alias]
    if any(w in n for n in names for w in words.NAME_COLUMNS):
        has.add("name-output")
    for node in tree.walk():
        if isinstance(node, exp.Select | exp.SetOperation) and (
            node.args.get("order") and node.args.get("limit")
        ):
            has.add("order-limit")
        if isinstance(node, exp.Max):
            has.add("max")
        elif isinstance(node, exp.Min):
            has.add("min")
        elif isinstance(node, exp.Group):
            has.add("group")
        elif isinstance(node, exp.Except):
            has.add("anti")
        elif isinstance(node, exp.Intersect):
            has.add("intersect")
        elif isinstance(node, exp.Not):
            has.add("anti" if isinstance(node.this, exp.In | exp.Exists) else "not-equal")
        elif isinstance(node, exp.NEQ):
            has.add("not-equal")
        elif isinstance(node, exp.Distinct):
            has.add("distinct")
        elif isinstance(node, exp.LT | exp.LTE):
            has.add(">" if _flip(node) else "<")
        elif isinstance(node, exp.GT | exp.GTE):
            has.add("<" if _flip(node) else ">")
        elif isinstance(node, exp.Between):
            has.update(("<", ">"))
        elif isinstance(node, exp.Avg):
            has.add("avg")
        elif isinstance(node, exp.Sum):
            has.add("sum")
        elif isinstance(node, exp.Order):
            has.add("order")
        elif isinstance(node, exp.Ordered) and node.args.get("desc"):
            has.add("desc")
        elif isinstance(node, exp.Like | exp.ILike | exp.Glob):
            has.add("like")
        elif isinstance(node, exp.Round):
            has.add("round")
        elif isinstance(node, exp.Div) or (
            isinstance(node, exp.Mul)
            and any(isinstance(s, exp.Literal) and s.name in ("100", "100.0")
                    for s in (node.this, node.expression))
        ):
            has.add("percent")
    if any(j.side == "LEFT" for j in tree.find_all(exp.Join)) and any(
        isinstance(i.expression, exp.Null) and not isinstance(i.parent, exp.Not)
        for i in tree.find_all(exp.Is)
    ):
        has.add("anti")
    digits = frozenset(
        int(r.args["decimals"].name) for r in tree.find_all(exp.Round)
        if isinstance(r.args.get("decimals"), exp.Literal) and r.args["decimals"].name.isdigit()
    )
    numbers: set[str] = set()
    strings: set[str] = set()
    for lit in tree.find_all(exp.Literal):
        if lit.is_string:
            strings.add(lit.name.strip().lower())
        key = literal_key(lit.name)
        if key is not None:
            numbers.add(key)
    for ident in tree.find_all(exp.Identifier):
        if ident.quoted:  # SQLite reads "Village" as a string where no column is named so
            strings.add(ident.name.strip().lower())
        numbers.update(k for part in re.split(r"[^0-9.]+", ident.name)
                       if part and (k := literal_key(part)) is not None)
    return Shape(frozenset(has), None if star or not first else len(first), digits,
                 frozenset(numbers), frozenset(strings))


def number_stated(number: str, shape: Shape) -> bool:
    """The query states ``number`` (a ``literal_key``): as a number, in a name, or in a string.

    >>> from xander.sqlparse import parse_one_select
    >>> shape = query_shape(parse_one_select(
    ...     "SELECT meter_100 FROM t WHERE c BETWEEN 5000 AND 10000.0 AND d LIKE '8/%'"))
    >>> [number_stated(n, shape) for n in ("5000", "10000", "100", "8", "30")]
    [True, True, True, True, False]
    """
    return number in shape.numbers or any(number in s for s in shape.strings)


def value_stated(value: str, shape: Shape) -> bool:
    """The query holds the quoted ``value`` (lower case): as a literal, inside one (``LIKE
    '%v%'``), as a number, or word by word ("Linda Smith": ``fname = 'Linda' AND lname =
    'Smith'``).

    >>> from xander.sqlparse import parse_one_select
    >>> shape = query_shape(parse_one_select(
    ...     "SELECT 1 FROM t WHERE fname = 'Linda' AND lname = 'Smith' AND c LIKE '%West%'"))
    >>> [value_stated(v, shape) for v in ("linda smith", "west", "ahd")]
    [True, True, False]
    """
    if any(value in s for s in shape.strings):
        return True
    key = literal_key(value)
    if key is not None and key in shape.numbers:
        return True
    parts = value.split()
    return len(parts) > 1 and all(any(p in s for s in shape.strings) for p in parts)


# -- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CueWeight:
    """Nats taken off a candidate for one cue (0 turns that side off)."""

    #: the question cues the construct and the query lacks it
    miss: float = 0.0
    #: the query has the construct and the question does not cue it
    unasked: float = 0.0


#: cue -> the constructs that meet it (any of them), in the order cue_score reports them
MEETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("count", ("count",)),
    ("superlative", ("order-limit", "max", "min")),
    ("group", ("group",)),
    ("negation", ("anti", "not-equal")),
    ("both", ("intersect",)),
    ("distinct", ("distinct",)),
    ("average", ("avg",)),
    ("total", ("sum",)),
    ("order", ("order",)),
    ("descending", ("desc",)),
    ("pattern", ("like",)),
    ("percentage", ("percent",)),
    ("name", ("name-output",)),
)
_FIELD = {"count": "wants_count", "group": "per_group"}


def fired(cues: Cues, cue: str) -> str | None:
    """The phrase that fired cue ``cue`` (a name in ``MEETS``), or None.

    >>> fired(question_cues("How many are there?"), "count")
    'how many'
    """
    value = getattr(cues, _FIELD.get(cue, cue))
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class CueWeights:
    """Per-cue penalties in nats, from the Spider train counts (``benchmarks/fit_cues.py``).

    Each is a log likelihood ratio: how much likelier the question's wording is if the gold
    query has the construct than if it lacks it.  With r the cue's train recall and f its false
    alarms (how often it fires on questions whose gold lacks the construct): ``miss`` =
    ln(r / f), for a query without the construct when the cue fires; ``unasked`` =
    ln((1 - f) / (1 - r)), for a query with it when the cue does not fire.  Likelihood ratios,
    not the construct's odds given the cue, because the LM score a candidate already has knows
    how common a construct is; adding the base rate again would punish rare constructs
    (INTERSECT) twice.  Capped at 2 nats, what a checker warning costs
    (``scoring.Weights.warning``): cues read wording, and are not independent of each other or
    of the LM; and 0 under ln 3 = 1.1 nats (a Bayes factor under 3, less than Jeffreys'
    "substantial"): many weak terms would add up to noise.  No ``miss`` for a cue under 80%
    train precision; 0 for one that fires fewer than 30 times (not fitted).  The report prints
    the rule's value next to each default.
    """

    count: CueWeight = CueWeight(miss=2.0, unasked=2.0)  # r 91%, f 2%
    superlative: CueWeight = CueWeight(miss=2.0, unasked=2.0)  # r 95%, f 1%
    group: CueWeight = CueWeight(miss=2.0)  # r 31%, f 2%: unasked ln 0.98/0.69 = 0.3
    negation: CueWeight = CueWeight(miss=2.0, unasked=2.0)  # r 96%, f 0.3%
    both: CueWeight = CueWeight(miss=2.0)  # r 61%, f 0.1%: unasked 0.9
    distinct: CueWeight = CueWeight(miss=2.0)  # r 47%, f 0.3%: unasked 0.6
    average: CueWeight = CueWeight(miss=2.0, unasked=2.0)  # r 98%, f 0.1%
    #: off: no miss, "total" is as often a column ("total points"), precision 75%; unasked 0.9
    total: CueWeight = CueWeight()  # r 61%, f 1%
    order: CueWeight = CueWeight(miss=2.0)  # r 33%, f 1%: unasked 0.4
    descending: CueWeight = CueWeight(miss=2.0)  # r 15%, f 0.1%: unasked 0.2
    pattern: CueWeight = CueWeight(miss=2.0, unasked=1.3)  # r 72%, f 0.1%
    #: off: Spider has no question that asks for a computed percentage (not fitted)
    percentage: CueWeight = CueWeight()
    name: CueWeight = CueWeight(miss=2.0, unasked=2.0)  # r 87%, f 7%
    #: a comparison phrase and no comparison that way ("below 30" and no ``<``): r 71-82%, f 0.1%
    direction_miss: float = 2.0
    #: besides, a comparison the other way and none the asked way ("below 30", ``age > 30``):
    #: the other way's unasked ratio, 1.2 for ``<`` and 1.7 for ``>``, as one number
    direction_opposite: float = 1.5
    #: the query's outputs differ in number from the question's estimate: the estimate's log
    #: odds, right for 94% of train questions, capped
    n_outputs: float = 2.0
    #: off: "rounded to N decimals" and no ROUND(x, N); no Spider question asks (not fitted)
    rounding: float = 0.0
    #: all of the above times this (0 turns cues off); not yet tuned on candidate pools
    scale: float = 1.0


def cue_score(
    cues: Cues, tree: exp.Expr | Shape, weights: CueWeights = CueWeights()
) -> tuple[float, tuple[str, ...]]:
    """A soft score in nats (0 or less) and the cues the query met or missed.

    Notes read ``met:<cue>``, ``missed:<cue>`` (asked for, absent) and ``unasked:<cue>`` (there,
    never asked for); only cues with a weight are noted.

    >>> from xander.sqlparse import parse_one_select
    >>> q = question_cues("How many different countries are there?")
    >>> cue_score(q, parse_one_select("SELECT COUNT(DISTINCT country) FROM singer"))
    (0.0, ('met:count', 'met:distinct', 'met:outputs=1'))
    >>> cue_score(q, parse_one_select("SELECT COUNT(country) FROM singer"))
    (-2.0, ('met:count', 'missed:distinct', 'met:outputs=1'))
    """
    shape = tree if isinstance(tree, Shape) else query_shape(tree)
    has = shape.constructs
    total = 0.0
    notes: list[str] = []
    for cue, meets in MEETS:
        w: CueWeight = getattr(weights, cue)
        asked = fired(cues, cue) is not None
        there = any(c in has for c in meets)
        if asked and w.miss:
            notes.append(f"{'met' if there else 'missed'}:{cue}")
            total -= 0.0 if there else w.miss
        elif there and not asked and w.unasked:
            notes.append(f"unasked:{cue}")
            total -= w.unasked
    asked_ops = {op for op, _ in cues.directions}
    for op in sorted(asked_ops, reverse=True):
        if op in has:
            notes.append(f"met:{op}")
        else:
            notes.append(f"missed:{op}")
            total -= weights.direction_miss
            other = "<" if op == ">" else ">"
            if other in has and other not in asked_ops:
                notes.append(f"unasked:{other}")
                total -= weights.direction_opposite
    if cues.n_outputs is not None and shape.n_outputs is not None and weights.n_outputs:
        ok = shape.n_outputs == cues.n_outputs
        notes.append(f"{'met' if ok else 'missed'}:outputs={cues.n_outputs}")
        total -= 0.0 if ok else weights.n_outputs
    if cues.rounding is not None and weights.rounding:
        ok = cues.rounding in shape.round_digits or (cues.rounding == 0 and "round" in has)
        notes.append(f"{'met' if ok else 'missed'}:round={cues.rounding}")
        total -= 0.0 if ok else weights.rounding
    return weights.scale * total, tuple(notes)


def shape_of_sql(sql: str, dialect: str = "sqlite") -> Shape | None:
    """``query_shape`` of a SQL text, or None when it does not parse as one query."""
    try:
        return query_shape(parse_one_select(sql, dialect))
    except QueryError:
        return None


__all__: Sequence[str] = (
    "CONSTRUCTS", "MEETS", "CueWeight", "CueWeights", "Cues", "Shape", "blank", "clean",
    "cue_score", "find_phrase", "fired", "query_shape", "question_cues", "shape_of_sql",
)
