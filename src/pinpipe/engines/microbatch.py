"""Log → cleaned rows appended to ``tables/stream/<table>``, exactly once, in micro-batches.

The stream job of every engine that executes Ibis over in-memory batches (the embedded engine;
Spark when the log is not Kafka). Each micro-batch reads the partitions feeding a table from
the positions the stream table's Delta app transactions record, cleans the records with the
same rules as the batch job, then commits rejects to quarantine and rows to the stream table,
each commit carrying the new positions. The stream table commit comes last, so after a crash
the job resumes at its positions and the quarantine commit drops what it already holds. A
micro-batch without rejects makes no quarantine commit at all (one Delta commit, not two): the
quarantine's positions then lag, which is safe, as its appender drops rows by offset and the
cleaning of a replayed record gives the same verdict. The real-time windows
(``engines/realtime.py``) count each micro-batch in memory and merge every
``stream.realtime_flush_ms``; the job resumes at the lowest position of the stream table and
the windows, so counts lost in a crash are recounted and nothing is appended twice.
Consumer-group offsets are committed afterwards for lag monitoring only; Delta is the truth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from pinpipe.engines.base import Engine, StreamStats, WindowsMerged, raw_schema
from pinpipe.engines.realtime import RealtimeWindows
from pinpipe.lake.delta import Appender, Positions
from pinpipe.lake.feeds import Partition, table_partitions
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TableName, lake_line, table_of_topic
from pinpipe.lake.quarantine import with_stage
from pinpipe.log.base import Log, LogRecord, resume_at
from pinpipe.settings import StreamSettings
from pinpipe.transform.cleaning import clean, clean_in_one, split_cleaned
from pinpipe.transform.realtime import META_SCHEMA, MicroBatch

log = logging.getLogger(__name__)

APP_PREFIX = "pinpipe-stream"

Plan = Callable[[Sequence[bytes]], dict[str, pa.Table]]


def _clean_outputs(table: TableName) -> Callable[[ir.Table], dict[str, ir.Table]]:
    def build(raw: ir.Table) -> dict[str, ir.Table]:
        return {"both": clean_in_one(table, raw)}

    return build


@cache
def _schemas(table: TableName) -> tuple[pa.Schema, pa.Schema]:
    """The pyarrow schemas of ``clean``'s rows and rejects for ``table``."""
    cleaned = clean(table, ibis.table(raw_schema(table), name="raw"))
    return cleaned.rows.schema().to_pyarrow(), cleaned.rejects.schema().to_pyarrow()


def positions_after(records: Sequence[LogRecord]) -> Positions:
    """The next offset to read per partition once ``records`` are consumed."""
    ends: Positions = {}
    for r in records:
        key = (r.topic, r.partition)
        ends[key] = max(ends.get(key, 0), r.offset + 1)
    return ends


class MicroBatchStream:
    """The stream job: one micro-batch per table every trigger interval."""

    def __init__(self, log_: Log, lake: Lake, engine: Engine, settings: StreamSettings) -> None:
        self._log = log_
        self._lake = lake
        self._engine = engine
        self._settings = settings
        self._positions: Positions = {}
        self._plans: dict[TableName, Plan] = {}
        self._tables: dict[TableName, tuple[Appender, Appender]] = {}
        self._windows = (
            RealtimeWindows(lake, engine.tables, settings) if settings.realtime else None
        )
        self.stats = StreamStats()
        self._flusher: threading.Thread | None = None
        self._flush_error: Exception | None = None

    def _targets(self, table: TableName) -> tuple[Appender, Appender]:
        """The quarantine and stream tables of ``table``, opened once."""
        if table not in self._tables:
            store = self._engine.tables
            self._tables[table] = (
                store.appender(self._lake.quarantine(table, "stream"), APP_PREFIX),
                store.appender(self._lake.table("stream", table), APP_PREFIX),
            )
        return self._tables[table]

    def on_windows_merged(self, callback: WindowsMerged) -> None:
        if self._windows is not None:
            self._windows.on_merged(callback)

    def reset(self) -> None:
        self._positions.clear()
        self._tables.clear()
        if self._windows is not None:
            self._windows.reset()

    def _fetch(self, partitions: list[Partition]) -> list[LogRecord]:
        unknown = [tp for tp in partitions if tp not in self._positions]
        if unknown:
            table = table_of_topic(unknown[0][0])
            assert table is not None
            found = self._targets(table)[1].positions(unknown)
            if self._windows is not None:  # counts not flushed before a crash: read them again
                windows = self._windows.positions(table, unknown)
                found = {tp: min(offset, windows[tp]) for tp, offset in found.items()}
            self._positions.update(
                {
                    tp: resume_at(self._log, tp, offset, "the stream job")
                    for tp, offset in found.items()
                }
            )
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
        for table, partitions in table_partitions(self._log).items():
            records = self._fetch(partitions)
            if records:
                self._commit(table, records)
                consumed += len(records)
        if self._flush_error is not None:  # the flusher's failure is the job's (disk full...)
            error, self._flush_error = self._flush_error, None
            raise error
        windows = self._windows
        if windows is not None and self._flusher is None and (windows.due() or not consumed):
            windows.flush()
        return consumed

    def flush(self) -> None:
        """Merge the window counts still in memory (on stop)."""
        if self._windows is not None:
            self._windows.flush()

    def _commit(self, table: TableName, records: list[LogRecord]) -> None:
        ends = positions_after(records)
        if table not in self._plans:
            self._plans[table] = self._engine.prepare_lines(table, _clean_outputs(table))
        both = self._plans[table]([lake_line(r) for r in records])["both"]
        rows, rejects = split_cleaned(table, both, *_schemas(table))
        rejects = with_stage(rejects, "stream")
        quarantine, target = self._targets(table)
        n_rejects = quarantine.append(rejects, ends) if rejects.num_rows else 0
        n_rows = target.append(rows, ends)
        if self._windows is not None:
            self._windows.add(MicroBatch(table, _meta(records), rows, rejects))
        self.stats.observe([r.timestamp for r in records], time.time() * 1000)
        self._positions.update(ends)
        self._log.commit(self._settings.group, ends)
        self.stats.batches += 1
        self.stats.records += len(records)
        self.stats.rows += n_rows
        self.stats.rejects += n_rejects
        log.info(
            "stream %s: %d records → %d rows, %d rejects", table, len(records), n_rows, n_rejects
        )

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        beat: Callable[[], None] | None = None,
    ) -> None:
        done = threading.Event()
        if self._windows is not None and not once:
            self._flusher = threading.Thread(
                target=self._flush_windows, args=(done,), name="realtime-flush", daemon=True
            )
            self._flusher.start()
        try:
            self._run(stop, once=once, beat=beat)
        finally:
            done.set()
            if self._flusher is not None:
                self._flusher.join()
                self._flusher = None
            self.flush()

    def _flush_windows(self, done: threading.Event) -> None:
        """Merge the window counts every ``realtime_flush_ms``, off the micro-batch path; a
        failure is raised by the next micro-batch, so it stops (and restarts) the job."""
        assert self._windows is not None
        every = self._settings.realtime_flush_ms / 1000
        while not done.wait(every):
            try:
                self._windows.flush()
            except Exception as exc:
                self._flush_error = exc
                return

    def _run(self, stop: threading.Event, *, once: bool, beat: Callable[[], None] | None) -> None:
        """Micro-batch every trigger interval until ``stop`` (or, with ``once``, until drained).

        A log failure (the Kafka broker gone) propagates; run again after ``reset`` the job
        resumes at the positions its Delta tables hold, so nothing is appended twice."""
        interval = self._settings.trigger_interval_ms / 1000
        spacing = min(self._settings.min_batch_spacing_ms / 1000, interval)
        while not stop.is_set():
            started = time.monotonic()
            mark = self._log.append_mark()
            consumed = self.step()
            if beat is not None:
                beat()
            if once and consumed == 0:
                return
            if consumed < self._settings.max_batch:
                # Wake as soon as the log takes new records (same process); the trigger
                # interval bounds the wait for appends this process cannot see.
                if self._settings.wake_on_append:
                    # ... but no sooner than the spacing after the last start, so that a
                    # steady trickle makes micro-batches of what arrived meanwhile rather
                    # than back-to-back ones taking the CPU ingest needs.
                    if stop.wait(max(0.0, spacing - (time.monotonic() - started))):
                        break
                    left = max(0.0, interval - (time.monotonic() - started))
                    self._log.wait_for_appends(mark, left, stop)
                else:
                    stop.wait(max(0.0, interval - (time.monotonic() - started)))
        while self.step():
            pass


def _meta(records: Sequence[LogRecord]) -> pa.Table:
    """Where each record sits in the log and when it arrived (``META`` columns)."""
    columns = zip(*((r.topic, r.partition, r.offset, r.timestamp) for r in records), strict=True)
    return pa.Table.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, META_SCHEMA, strict=True)],
        schema=META_SCHEMA,
    )
