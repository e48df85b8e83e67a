"""The three ways to look at the cleaned tables: batch, stream and merged (the Lambda merge).

``merged`` is the batch table plus stream rows the last batch run did not cover (its
watermark: next offset per log partition), reduced to one row per ind, latest arrival.
"""

from __future__ import annotations

import functools
import operator
from typing import Literal

import ibis
import ibis.expr.types as ir

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TableName
from pinpipe.lake.quarantine import STAGES
from pinpipe.transform.cleaning import latest
from pinpipe.transform.schema import CLEAN_COLUMNS

View = Literal["batch", "stream", "merged"]
VIEWS: tuple[View, ...] = ("batch", "stream", "merged")


def load_view(lake: Lake, engine: Engine, view: View, table: TableName) -> ir.Table:
    """One cleaned table as ``view`` sees it: one row per ind, metadata columns kept."""
    batch = engine.read_delta(lake.table("batch", table)) if view != "stream" else None
    stream = engine.read_delta(lake.table("stream", table)) if view != "batch" else None
    if batch is None and stream is None:
        hint = {
            "batch": "run `pinpipe batch`",
            "stream": "run `pinpipe stream` (or `pinpipe up`)",
            "merged": "run `pinpipe batch` or `pinpipe stream`",
        }[view]
        raise ConfigError(f"no {view} data for table {table!r} under {lake.root}: {hint} first")
    if stream is None:
        assert batch is not None
        return batch
    if batch is None:
        return latest(stream)
    watermark = engine.tables.watermark(lake.table("batch", table)) or {}
    covered = [
        (stream._topic == topic) & (stream._partition == partition) & (stream._offset < end)
        for (topic, partition), end in watermark.items()
    ]
    newer = stream.filter(~functools.reduce(operator.or_, covered)) if covered else stream
    return latest(batch.union(newer.cast(batch.schema())))


def load_views(lake: Lake, engine: Engine, view: View) -> dict[TableName, ir.Table]:
    return {table: load_view(lake, engine, view, table) for table in TABLES}


def contract_columns(table: TableName, expr: ir.Table) -> ir.Table:
    """Only the columns DATA.md §3 defines, in their order."""
    return expr.select(*CLEAN_COLUMNS[table])


def quarantine_view(lake: Lake, engine: Engine) -> ir.Table | None:
    """Every quarantined record across the three tables."""
    uris = [lake.quarantine(t, stage) for t in TABLES for stage in STAGES]
    parts = [q for uri in uris if (q := engine.read_delta(uri)) is not None]
    if not parts:
        return None
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
