"""The JSON that ``xander ask --json`` / ``xander schema --json`` print and the service sends:
one function each, so the command line and the HTTP API cannot drift apart.

No web framework here: ``xander.cli`` imports this module.
"""

from __future__ import annotations

from typing import Any

from xander.api import Result
from xander.schema import Schema
from xander.service.chart import choose_chart


def answer_payload(result: Result) -> dict[str, Any]:
    """The answer as JSON: ``Result.to_dict()`` (SQL, rows, confidence, the candidate pool,
    ...) plus ``chart``, the chart its shape suits (``xander.service.chart``) or null."""
    out = result.to_dict()
    chart = choose_chart(result.columns, result.rows) if not result.error else None
    out["chart"] = chart.to_dict() if chart is not None else None
    return out


def schema_payload(schema: Schema) -> dict[str, Any]:
    """The schema as JSON: its dialect and tables with columns, sample values and keys."""
    return {
        "dialect": schema.dialect,
        "tables": [{
            "name": t.name,
            "columns": [{"name": c.name, "type": c.type,
                         "samples": [str(v) for v in c.samples]} for c in t.columns],
            "primary_key": list(t.primary_key),
            "foreign_keys": [{"columns": list(f.columns), "ref_table": f.ref_table,
                              "ref_columns": list(f.ref_columns)} for f in t.foreign_keys],
        } for t in schema.tables],
    }
