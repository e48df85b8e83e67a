"""Raw zone → one-row-per-ind Delta tables → query results.

A run rebuilds each batch table from the whole raw zone (latest arrival wins), replaces the
batch stage's quarantine rows, and records in the commit which log positions it covered (the
watermark the Lambda merge needs). The same raw zone always gives the same tables.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import ibis.expr.types as ir
import pyarrow as pa

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TableName
from pinpipe.lake.quarantine import stage_predicate, with_stage
from pinpipe.transform.cleaning import clean, latest
from pinpipe.transform.queries import QUERIES

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    raw_records: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)
    clean_seconds: float = 0.0
    query_seconds: float = 0.0

    @property
    def total_raw(self) -> int:
        return sum(self.raw_records.values())


def clean_table(lake: Lake, engine: Engine, table: TableName, report: BatchReport) -> None:
    """Rebuild ``tables/batch/<table>`` and its batch quarantine from the raw zone."""
    files = [f.uri for f in lake.raw_files(table)]
    with engine.materialized(engine.raw_from_files(table, files)) as raw:
        cleaned = clean(table, raw)
        ends = engine.to_arrow(
            raw.group_by(["_topic", "_partition"]).aggregate(
                end=raw._offset.max() + 1, n=raw.count()
            )
        )
        rows = engine.to_arrow(latest(cleaned.rows).order_by("ind"))
        rejects = engine.to_arrow(cleaned.rejects.order_by(["_topic", "_partition", "_offset"]))
    watermark = {
        (t, int(p)): int(e)
        for t, p, e in zip(
            ends["_topic"].to_pylist(),
            ends["_partition"].to_pylist(),
            ends["end"].to_pylist(),
            strict=True,
        )
        if t is not None
    }
    engine.tables.overwrite(lake.table("batch", table), rows, watermark=watermark)
    engine.tables.overwrite(
        lake.table("quarantine", table),
        with_stage(rejects, "batch"),
        predicate=stage_predicate("batch"),
    )
    report.raw_records[table] = sum(ends["n"].to_pylist())
    report.rows[table] = rows.num_rows
    report.rejects[table] = rejects.num_rows
    log.info("batch %s: %d rows, %d rejects", table, rows.num_rows, rejects.num_rows)


def batch_tables(lake: Lake, engine: Engine) -> dict[TableName, ir.Table]:
    """The three batch tables (one row per ind), or ConfigError naming the missing one."""
    found: dict[TableName, ir.Table] = {}
    for table in TABLES:
        expr = engine.read_delta(lake.table("batch", table))
        if expr is None:
            raise ConfigError(
                f"no batch data for table {table!r} under {lake.root}: run `pinpipe batch` first"
            )
        found[table] = expr
    return found


def run_queries(lake: Lake, engine: Engine, report: BatchReport) -> dict[str, pa.Table]:
    """Every query over the batch tables, written to ``results/<name>``."""
    views = batch_tables(lake, engine)
    results: dict[str, pa.Table] = {}
    for name, query in QUERIES.items():
        result = engine.to_arrow(query(views["pin"], views["geo"], views["user"]))
        engine.tables.overwrite(lake.result(name), result)
        results[name] = result
        report.results[name] = result.num_rows
    return results


def run_batch(lake: Lake, engine: Engine, *, tables: tuple[TableName, ...] = TABLES) -> BatchReport:
    report = BatchReport()
    started = time.perf_counter()
    for table in tables:
        clean_table(lake, engine, table, report)
    report.clean_seconds = time.perf_counter() - started
    started = time.perf_counter()
    run_queries(lake, engine, report)
    report.query_seconds = time.perf_counter() - started
    return report
