"""Log → cleaned rows appended to ``tables/stream/<table>``, exactly once.

Each micro-batch reads the partitions feeding a table from the positions the stream table's
Delta app transactions record, cleans the records with the same rules as the batch job, then
commits rejects to quarantine and rows to the stream table, each commit carrying the new
positions. The stream table commit comes last, so after a crash the job resumes at its
positions and the quarantine commit drops what it already holds. Consumer-group offsets are
committed afterwards for lag monitoring only; Delta is the source of truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ibis.expr.types as ir
import pyarrow as pa

from pinpipe.engines.base import Engine
from pinpipe.jobs import delta_io
from pinpipe.jobs.quarantine import with_stage
from pinpipe.lake import Lake
from pinpipe.log.base import Log, LogRecord
from pinpipe.settings import StreamSettings
from pinpipe.sink.format import lake_line
from pinpipe.transform.cleaning import clean
from pinpipe.transform.schema import TABLES, TableName, table_of_topic

log = logging.getLogger(__name__)

APP_PREFIX = "pinpipe-stream"


@dataclass
class StreamStats:
    batches: int = 0
    records: int = 0
    rows: int = 0
    rejects: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    """Ingest timestamp → commit time per committed row (bounded sample)."""


def _clean_outputs(table: TableName) -> Callable[[ir.Table], dict[str, ir.Table]]:
    def build(raw: ir.Table) -> dict[str, ir.Table]:
        cleaned = clean(table, raw)
        return {"rows": cleaned.rows, "rejects": cleaned.rejects}

    return build


class StreamJob:
    def __init__(self, log_: Log, lake: Lake, engine: Engine, settings: StreamSettings) -> None:
        self._log = log_
        self._lake = lake
        self._engine = engine
        self._settings = settings
        self._positions: dict[tuple[str, int], int] = {}
        self._plans: dict[TableName, Callable[[Sequence[bytes]], dict[str, pa.Table]]] = {}
        self._tables: dict[TableName, tuple[delta_io.AppendLog, delta_io.AppendLog]] = {}
        self.stats = StreamStats()

    def _targets(self, table: TableName) -> tuple[delta_io.AppendLog, delta_io.AppendLog]:
        """The quarantine and stream tables of ``table``, opened once."""
        if table not in self._tables:
            self._tables[table] = (
                delta_io.AppendLog(self._lake.table("quarantine", table), APP_PREFIX),
                delta_io.AppendLog(self._lake.table("stream", table), APP_PREFIX),
            )
        return self._tables[table]

    def reset(self) -> None:
        """Forget positions and handles: the next step resumes where the Delta tables say."""
        self._positions.clear()
        self._tables.clear()

    def _partitions(self) -> dict[TableName, list[tuple[str, int]]]:
        """The log partitions feeding each table (one topic listing per micro-batch)."""
        found: dict[TableName, list[tuple[str, int]]] = {t: [] for t in TABLES}
        for info in self._log.topics():
            table = table_of_topic(info.name)
            if table is not None:
                found[table].extend((info.name, p) for p in range(info.partitions))
        return found

    def _fetch(self, partitions: list[tuple[str, int]]) -> list[LogRecord]:
        unknown = [tp for tp in partitions if tp not in self._positions]
        if unknown:
            table = table_of_topic(unknown[0][0])
            assert table is not None
            self._positions.update(self._targets(table)[1].positions(unknown))
        records: list[LogRecord] = []
        budget = self._settings.max_batch
        for tp in partitions:
            if budget <= 0:
                break
            got = self._log.fetch(*tp, self._positions[tp], budget)
            records.extend(got)
            budget -= len(got)
        return records

    def step(self) -> int:
        """One micro-batch over every table; returns the number of records consumed."""
        consumed = 0
        for table, partitions in self._partitions().items():
            records = self._fetch(partitions)
            if records:
                self._commit(table, records)
                consumed += len(records)
        return consumed

    def _commit(self, table: TableName, records: list[LogRecord]) -> None:
        ends = dict(self._positions_after(records))
        if table not in self._plans:
            self._plans[table] = self._engine.prepare_lines(table, _clean_outputs(table))
        out = self._plans[table]([lake_line(r) for r in records])
        rows, rejects = out["rows"], with_stage(out["rejects"], "stream")
        quarantine, target = self._targets(table)
        n_rejects = quarantine.append(rejects, ends)
        n_rows = target.append(rows, ends)
        now_ms = time.time() * 1000
        if len(self.stats.latencies_ms) < 1_000_000:
            self.stats.latencies_ms.extend(now_ms - r.timestamp for r in records)
        self._positions.update(ends)
        self._log.commit(self._settings.group, ends)
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.rows += n_rows
        self.stats.rejects += n_rejects
        log.info(
            "stream %s: %d records → %d rows, %d rejects", table, len(records), n_rows, n_rejects
        )

    @staticmethod
    def _positions_after(records: list[LogRecord]) -> dict[tuple[str, int], int]:
        ends: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            ends[key] = max(ends.get(key, 0), r.offset + 1)
        return ends

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Micro-batch every trigger interval until ``stop`` (or, with ``once``, until drained)."""
        interval = self._settings.trigger_interval_ms / 1000
        while not stop.is_set():
            started = time.monotonic()
            consumed = self.step()
            if once and consumed == 0:
                return
            if consumed < self._settings.max_batch:
                stop.wait(max(0.0, interval - (time.monotonic() - started)))
        while self.step():
            pass
