"""Test helpers: lake lines as the sink writes them, cleaned with the DuckDB engine."""

from __future__ import annotations

from typing import Any

import orjson

from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.log.base import LogRecord
from pinpipe.sink.format import lake_line
from pinpipe.transform.cleaning import Cleaned, clean
from pinpipe.transform.schema import TableName


def line(
    value: Any,
    *,
    topic: str = "abc.pin",
    partition: int = 0,
    offset: int = 0,
    timestamp: int = 1_700_000_000_000,
) -> bytes:
    """The lake line of one record whose value is ``value`` (JSON-encoded unless bytes)."""
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return lake_line(LogRecord(topic, partition, offset, timestamp, None, raw))


def cleaned(engine: DuckDBEngine, table: TableName, values: list[Any]) -> Cleaned:
    """Clean ``values`` sent one by one to ``<prefix>.<table>`` at offsets 0, 1, ..."""
    lines = [line(v, topic=f"abc.{table}", offset=i) for i, v in enumerate(values)]
    return clean(table, engine.raw_from_lines(table, lines))


def rows(engine: DuckDBEngine, expr: Any) -> list[dict[str, Any]]:
    """The rows of ``expr`` as dicts."""
    return list(engine.to_arrow(expr).to_pylist())
