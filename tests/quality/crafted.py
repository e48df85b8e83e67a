"""Small crafted lake tables for the quality and alert tests (written with delta-rs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

T0 = int(dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)
"""The start of the window most tests judge."""
MINUTE = 60_000
STAMP = pa.timestamp("ms", tz="UTC")


def write(uri: str, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> None:
    """Append ``rows`` to the Delta table at ``uri`` (created on first use)."""
    write_deltalake(uri, pa.Table.from_pylist(rows, schema=schema), mode="append")


def cleaned_rows(
    n: int, *, at: int = T0, table: str = "pin", **columns: list[Any]
) -> list[dict[str, Any]]:
    """``n`` cleaned rows logged at ``at`` + i ms, inds 1..n, with the given column values."""
    return [
        {
            "ind": i + 1,
            **{name: values[i] for name, values in columns.items()},
            "_topic": f"pinpipe.{table}",
            "_partition": 0,
            "_offset": i,
            "_timestamp": at + i,
        }
        for i in range(n)
    ]


def rejects(
    n: int, *, at: int = T0, table: str = "pin", reason: str = "missing ind"
) -> list[dict[str, Any]]:
    return [
        {
            "table": table,
            "reason": reason,
            "_topic": f"pinpipe.{table}",
            "_partition": 0,
            "_offset": 1000 + i,
            "_timestamp": at + i,
            "raw": "{}",
            "stage": "stream",
        }
        for i in range(n)
    ]


REALTIME: dict[str, pa.Schema] = {
    "posts_by_category": pa.schema(
        [
            ("window_start", STAMP),
            ("window_end", STAMP),
            ("category", pa.string()),
            ("posts", pa.int64()),
        ]
    ),
    "events_by_country": pa.schema(
        [
            ("window_start", STAMP),
            ("window_end", STAMP),
            ("country", pa.string()),
            ("events", pa.int64()),
        ]
    ),
    "records_by_topic": pa.schema(
        [
            ("window_start", STAMP),
            ("window_end", STAMP),
            ("topic", pa.string()),
            ("records", pa.int64()),
        ]
    ),
    "rejects_by_reason": pa.schema(
        [
            ("window_start", STAMP),
            ("window_end", STAMP),
            ("table", pa.string()),
            ("reason", pa.string()),
            ("rejects", pa.int64()),
        ]
    ),
    "late_records": pa.schema(
        [
            ("window_start", STAMP),
            ("window_end", STAMP),
            ("table", pa.string()),
            ("late", pa.int64()),
        ]
    ),
}
"""Item 1's real-time aggregates: one-minute windows, one row per window and key."""


def window(start_ms: int, **row: Any) -> dict[str, Any]:
    return {"window_start": start_ms, "window_end": start_ms + MINUTE, **row}


def write_realtime(uri: str, name: str, rows: list[dict[str, Any]]) -> None:
    write(uri, rows, REALTIME[name])
