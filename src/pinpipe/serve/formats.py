"""Result tables as plain rows, JSON and CSV: one encoding for the CLI and the console."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from typing import Any

import orjson
import pyarrow as pa


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Row objects, JSON-ready (timestamps as ISO text, NaN as null)."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def to_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table.column_names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(table))
    return out.getvalue()
