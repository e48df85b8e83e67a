"""Raw zone → one-row-per-ind Delta tables → query results.

A full run rebuilds each batch table from the whole raw zone (latest arrival wins) and
replaces the batch stage's quarantine rows; a day run merges one UTC ingest day into them.
Each commit records which log offsets the table covers and the watermark they give (the end
of the offsets covered without a gap, which the Lambda merge needs). The same raw zone always
gives the same tables, and days commute: run in any order, or twice, they give the tables a
full rebuild gives.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.delta import Coverage
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TableName
from pinpipe.lake.quarantine import with_stage
from pinpipe.lake.raw_index import day_bounds, entries_of_day
from pinpipe.lake.storage import join
from pinpipe.transform.cleaning import clean, latest
from pinpipe.transform.queries import QUERIES

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    day: dt.date | None = None
    """The ingest day merged, or None for a full rebuild."""
    raw_records: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)
    clean_seconds: float = 0.0
    query_seconds: float = 0.0
    skipped_files: list[str] = field(default_factory=list)
    """Files in the raw zone that are not the sink's objects (full runs), left unread."""

    @property
    def total_raw(self) -> int:
        return sum(self.raw_records.values())


def _coverage(ends: pa.Table) -> Coverage:
    """Offset ranges per partition from a ``_topic, _partition, start, end`` aggregate."""
    cols = [ends[c].to_pylist() for c in ("_topic", "_partition", "start", "end")]
    return {(t, int(p)): [(int(s), int(e))] for t, p, s, e in zip(*cols, strict=True) if t}


def clean_table(
    lake: Lake, engine: Engine, table: TableName, report: BatchReport, day: dt.date | None = None
) -> None:
    """Rebuild ``tables/batch/<table>`` from the raw zone, or merge one ingest day into it.

    A full run replaces the table and the batch stage's quarantine. A day run reads only
    the raw objects the day index lists for that UTC day, merges their latest arrivals on
    ``ind`` (a row is replaced only by a later arrival) and replaces that day's batch rejects.
    """
    if day is None:
        uris = [f.uri for f in lake.raw_files(table)]
    else:
        entries = entries_of_day(lake, day, table)
        uris = [join(lake.root, e.uri) for e in entries]
    with engine.materialized(engine.raw_from_files(table, uris)) as raw:
        cleaned = clean(table, raw)
        ends = engine.to_arrow(
            raw.group_by(["_topic", "_partition"]).aggregate(
                start=raw._offset.min(), end=raw._offset.max() + 1, n=raw.count()
            )
        )
        rows = engine.to_arrow(latest(cleaned.rows).order_by("ind"))
        rejects = engine.to_arrow(cleaned.rejects.order_by(["_topic", "_partition", "_offset"]))
    batch, quarantine = lake.table("batch", table), lake.quarantine(table, "batch")
    if day is None:
        engine.tables.overwrite(batch, rows, coverage=_coverage(ends))
        engine.tables.overwrite(quarantine, with_stage(rejects, "batch"))
    else:
        covered: Coverage = {}
        for e in entries:
            covered.setdefault((e.topic, e.partition), []).append((e.start_offset, e.end_offset))
        engine.tables.merge_newer(batch, rows, key="ind", added=covered)
        start, end = day_bounds(day)
        stamps = rejects["_timestamp"]
        placed = pc.and_(pc.greater_equal(stamps, start), pc.less(stamps, end)).fill_null(False)
        kept = rejects.filter(placed)
        unplaced = rejects.num_rows - kept.num_rows
        if unplaced:
            log.warning(
                "batch %s %s: %d rejects without an ingest time (torn lines) are left to "
                "`pinpipe batch --full`",
                table,
                day,
                unplaced,
            )
        engine.tables.overwrite(
            quarantine,
            with_stage(kept, "batch"),
            predicate=f"_timestamp >= {start} AND _timestamp < {end}",
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


def run_batch(
    lake: Lake,
    engine: Engine,
    *,
    tables: tuple[TableName, ...] = TABLES,
    day: dt.date | None = None,
    results: bool = True,
) -> BatchReport:
    """Clean (the whole raw zone, or one UTC ingest ``day``), then refresh every result."""
    report = BatchReport(day=day)
    started = time.perf_counter()
    if day is None:
        report.skipped_files = lake.foreign_raw_files()
        if report.skipped_files:
            shown = ", ".join(report.skipped_files[:5])
            more = len(report.skipped_files) - 5
            log.warning(
                "raw zone: %d files the sink did not write are skipped (not named "
                "<topic>+<partition>+<offset>.json in a partition=N folder of a table's "
                "topic): %s%s",
                len(report.skipped_files),
                shown,
                f" and {more} more" if more > 0 else "",
            )
    for table in tables:
        clean_table(lake, engine, table, report, day)
    report.clean_seconds = time.perf_counter() - started
    if results:
        started = time.perf_counter()
        run_queries(lake, engine, report)
        report.query_seconds = time.perf_counter() - started
    return report
