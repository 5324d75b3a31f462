"""Which chart a result's shape suits: a pure function of its columns and rows.

``choose_chart`` decides, the API sends the decision (``chart`` in the answer's JSON) and the
page only draws it.  A category and a number give bars; a year or a date and a number give a
line, its points in time order; anything else (one row, one column, two numbers that are not a
year and an amount, more columns, too many categories) gives no chart: a table says it better.

>>> choose_chart(("country", "count(*)"), [("France", 4), ("Netherlands", 1)]).kind
'bar'
>>> choose_chart(("year", "count(*)"), [(2015, 3), (2014, 2)]).points
(('2014', 2.0), ('2015', 3.0))
>>> choose_chart(("count(*)",), [(6,)]) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Bars beyond this many categories are unreadable; the table shows them instead.
MAX_BARS = 40
#: Points on a line (a longer series is shown as a table).
MAX_POINTS = 1000
#: An integer in this range, in a column whose name says year (or in every row), is a year.
YEARS = range(1000, 3000)

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)?)?$")
_YEAR_NAME = re.compile(r"(^|[^a-z])(year|yr)s?([^a-z]|$)", re.IGNORECASE)
_ID_NAME = re.compile(r"(^|_)id$|[a-z]Id$|^id_", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """A chart of column ``y`` against column ``x``, ready to draw.

    ``kind`` is ``bar`` (``x_kind`` ``category``) or ``line`` (``x_kind`` ``year`` or
    ``date``); ``points`` are ``(label, value)`` in drawing order (a line's in time order, bars
    in the rows' order); ``skipped`` counts rows left out because their value was NULL.
    """

    kind: str
    x: str
    y: str
    x_kind: str
    points: tuple[tuple[str, float], ...]
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x, "y": self.y, "x_kind": self.x_kind,
                "points": [list(p) for p in self.points], "skipped": self.skipped}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _x_kind(name: str, values: Sequence[Any]) -> str | None:
    """``year``, ``date`` or ``category`` for a chart's x column (None: not usable as x).

    >>> _x_kind("year", [2014, 2015]), _x_kind("founded", ["2014-03-01", "2015-01-02"])
    ('year', 'date')
    >>> _x_kind("name", ["Ada", "Bo"]), _x_kind("age", [25, 41]), _x_kind("singer_id", [1, 2])
    ('category', None, 'category')
    """
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if all(v in YEARS for v in values) and (_YEAR_NAME.search(name) or len(values) > 2):
            return "year"
        return "category" if _ID_NAME.search(name) else None  # two plain numbers: no chart
    if all(isinstance(v, str) for v in values):
        if all(_DATE.match(v.strip()) for v in values):
            return "year" if all(len(v.strip()) == 4 for v in values) else "date"
        return "category"
    return None


def choose_chart(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> ChartSpec | None:
    """The chart that suits a result of ``columns`` and ``rows``, or None.

    Two columns, one of them a number in every row: with a category beside it (text, or an
    integer key whose name ends in ``id``) bars, one per row, at most ``MAX_BARS``; with a year
    (an integer in 1000..2999: the column is named like ``year``, or there are more than two
    rows) or a date (ISO text) a line in time order.  Either number column may come first;
    rows whose number is NULL are skipped; fewer than two points give no chart.

    >>> choose_chart(("name", "age"), [("Ada", 36), ("Bo", None), ("Cy", 41)]).skipped
    1
    >>> choose_chart(("singers", "stadium"), [(3, "Glebe Park"), (2, "Hampden")]).x
    'stadium'
    >>> choose_chart(("age", "weight"), [(25, 60.5), (41, 80.0)]) is None  # two plain numbers
    True
    >>> choose_chart(("name", "age"), [(f"p{i}", i) for i in range(MAX_BARS + 1)]) is None
    True
    """
    if len(columns) != 2 or len(rows) < 2 or any(len(r) != 2 for r in rows):
        return None
    for xi, yi in ((0, 1), (1, 0)):
        kept = [r for r in rows if r[yi] is not None]
        if len(kept) < 2 or not all(_number(r[yi]) for r in kept):
            continue
        if any(r[xi] is None for r in kept):
            continue
        kind = _x_kind(str(columns[xi]), [r[xi] for r in kept])
        if kind is None:
            continue
        points = [(str(r[xi]).strip(), float(r[yi])) for r in kept]
        if kind == "category":
            if len(points) > MAX_BARS:
                return None
            chart = "bar"
        else:
            if len(points) > MAX_POINTS:
                return None
            points.sort(key=lambda p: p[0])  # ISO dates and years sort as text
            chart = "line"
        return ChartSpec(chart, str(columns[xi]), str(columns[yi]), kind, tuple(points),
                         len(rows) - len(kept))
    return None
