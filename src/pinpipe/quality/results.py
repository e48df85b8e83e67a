"""``tables/quality/results``: every check evaluated, one row per check, key and window/run."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Final

import ibis
import pyarrow as pa
from deltalake import CommitProperties, Transaction, write_deltalake

from pinpipe.engines import Engine
from pinpipe.lake.delta import TableStore
from pinpipe.lake.storage import disk_full_errors
from pinpipe.quality.checks import CheckResult

STAMP = pa.timestamp("ms", tz="UTC")
SCHEMA: Final = pa.schema(
    [
        ("run_id", pa.string()),
        ("scope", pa.string()),
        ("check", pa.string()),
        ("kind", pa.string()),
        ("severity", pa.string()),
        ("table", pa.string()),
        ("key", pa.string()),
        ("window_start", STAMP),
        ("window_end", STAMP),
        ("observed", pa.float64()),
        ("threshold", pa.float64()),
        ("status", pa.string()),
        ("message", pa.string()),
        ("examples", pa.string()),
        ("evaluated_at", STAMP),
    ]
)
"""The results table; ``examples`` is JSON text (a few rows that fail the check)."""


def to_arrow(results: Sequence[CheckResult], evaluated_at_ms: int) -> pa.Table:
    rows = [
        {
            "run_id": r.run_id,
            "scope": r.scope,
            "check": r.check.name,
            "kind": r.check.kind,
            "severity": r.check.severity,
            "table": r.check.table,
            "key": r.key,
            "window_start": r.window_start,
            "window_end": r.window_end,
            "observed": r.observed,
            "threshold": r.threshold,
            "status": r.status,
            "message": r.message,
            "examples": json.dumps(r.examples, default=str, sort_keys=True),
            "evaluated_at": evaluated_at_ms,
        }
        for r in results
    ]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def append_results(
    store: TableStore,
    uri: str,
    results: Sequence[CheckResult],
    *,
    txn: tuple[str, int] | None = None,
) -> bool:
    """Append ``results`` in one commit; with ``txn=(app_id, version)``, exactly once.

    A commit records the app transaction; a version at or below the recorded one is a replay
    and appends nothing. Returns whether rows were committed. delta-rs, whichever engine (as
    the stream job's appender): it commits app transactions on any store.
    """
    if not results:
        return False
    table = store.open(uri)
    if txn is not None and table is not None:
        recorded = table.transaction_version(txn[0])
        if recorded is not None and txn[1] <= recorded:
            return False
    rows = to_arrow(results, int(time.time() * 1000))
    properties = CommitProperties(app_transactions=[Transaction(*txn)]) if txn else None
    with disk_full_errors(uri, "append to"):
        write_deltalake(
            table if table is not None else uri,
            rows,
            mode="append",
            storage_options=None if table is not None else store.options(uri),
            commit_properties=properties,
        )
    return True


def latest(engine: Engine, uri: str) -> pa.Table:
    """The newest result of every check and key, by check name (empty without results)."""
    table = engine.read_delta(uri)
    if table is None:
        return SCHEMA.empty_table()
    newest = ibis.window(group_by=[table.check, table.key], order_by=ibis.desc(table.evaluated_at))
    ranked = table.mutate(rank=ibis.row_number().over(newest))
    found = ranked.filter(ranked.rank == 0).drop("rank").order_by(["check", "key"])
    return engine.to_arrow(found)


def since(engine: Engine, uri: str, start: dt.datetime) -> pa.Table:
    """Results evaluated at or after ``start`` (the alert engine's quality rules)."""
    table = engine.read_delta(uri)
    if table is None:
        return SCHEMA.empty_table()
    return engine.to_arrow(table.filter(table.evaluated_at >= start))
