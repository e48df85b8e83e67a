"""The stream job's real-time windows, kept exactly once in ``tables/realtime/<aggregate>``.

Both stream jobs hand each table's micro-batch (in Arrow) to ``RealtimeWindows.add``; the
deltas (``transform.realtime``) wait in memory and ``flush`` adds them to the stored windows,
one MERGE per aggregate. Each commit records, per log partition, the next offset it has
counted and the partition's clock (highest ingest time seen), as Delta app transactions, so:

* a replayed record (below an aggregate's recorded offset) is dropped, never counted twice;
* deltas lost in a crash before their flush are recounted: the micro-batch job resumes at the
  lowest position of its stream table and its aggregates (``positions``); Spark flushes at the
  end of every micro-batch, before its checkpoint moves on.

Flushing every ``stream.realtime_flush_ms`` rather than per micro-batch keeps the MERGEs off
the latency path of the stream tables; the micro-batch job flushes on a thread of its own, so
``add`` and ``flush`` share a lock that ``flush`` holds only to take its snapshot and to
record what it committed, never during a MERGE.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pyarrow as pa

from pinpipe.lake.delta import Positions, TableStore, app_id, drop_committed
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TableName
from pinpipe.settings import StreamSettings
from pinpipe.transform.realtime import (
    AGGREGATES,
    Aggregate,
    Clock,
    MicroBatch,
    combine,
    count,
    judge,
)

log = logging.getLogger(__name__)

APP_PREFIX = "pinpipe-realtime"
CLOCK_PREFIX = "pinpipe-realtime-clock"


class RealtimeWindows:
    """Accumulates window deltas per aggregate and merges them into the lake."""

    def __init__(self, lake: Lake, store: TableStore, settings: StreamSettings) -> None:
        self._lake = lake
        self._store = store
        self._settings = settings
        self._committed: dict[str, Positions] = {}
        self._clock: dict[str, Clock] = {}
        self._counted: dict[str, Positions] = {}
        self._pending: dict[str, list[pa.Table]] = {}
        self._last_flush = time.monotonic()
        self._listeners: list[Callable[[int], None]] = []
        self._lock = threading.RLock()
        """Guards the dictionaries above: ``add`` and a flush on another thread."""
        self._flushing = threading.Lock()
        self._generation = 0
        """Bumped by ``reset``: a flush that began before it records nothing afterwards."""

    def on_merged(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(closed_before_ms)`` after every merge (see ``closed_before``)."""
        self._listeners.append(callback)

    def closed_before(self) -> int | None:
        """The time no record can still land before: every partition seen has a clock past it
        by the allowed lateness (the lowest clock minus the lateness); None before any record."""
        clock = self._clock.get("records_by_topic", {})
        if not clock:
            return None
        return min(clock.values()) - self._settings.allowed_lateness_ms

    def _feeding(self, table: TableName) -> list[Aggregate]:
        return [a for a in AGGREGATES if table in a.tables]

    def _load(self, aggregate: Aggregate, partitions: list[tuple[str, int]]) -> None:
        """Read the recorded offsets and clocks of ``partitions`` not known yet."""
        committed = self._committed.setdefault(aggregate.name, {})
        unknown = [tp for tp in partitions if tp not in committed]
        if not unknown:
            return
        ids = [app_id(p, t, n) for t, n in unknown for p in (APP_PREFIX, CLOCK_PREFIX)]
        found = self._store.app_versions(self._lake.realtime(aggregate.name), ids)
        clock = self._clock.setdefault(aggregate.name, {})
        counted = self._counted.setdefault(aggregate.name, {})
        for topic, partition in unknown:
            committed[(topic, partition)] = found.get(app_id(APP_PREFIX, topic, partition), 0)
            counted[(topic, partition)] = committed[(topic, partition)]
            stamp = found.get(app_id(CLOCK_PREFIX, topic, partition))
            if stamp is not None:
                clock[(topic, partition)] = stamp

    def positions(self, table: TableName, partitions: list[tuple[str, int]]) -> Positions:
        """Per partition, the lowest offset any aggregate fed by ``table`` has committed."""
        low: Positions = {}
        with self._lock:
            for aggregate in self._feeding(table):
                self._load(aggregate, partitions)
                for tp in partitions:
                    offset = self._committed[aggregate.name][tp]
                    low[tp] = min(low.get(tp, offset), offset)
        return low

    def add(self, batch: MicroBatch) -> None:
        """Count ``batch`` into every aggregate its table feeds (in memory until ``flush``)."""
        with self._lock:
            self._add(batch)

    def _add(self, batch: MicroBatch) -> None:
        records = batch.records
        if records.num_rows == 0:
            return
        partitions = sorted(
            set(zip(records["_topic"].to_pylist(), records["_partition"].to_pylist(), strict=True))
        )
        ends: Positions = {}
        for topic, partition, offset in zip(
            records["_topic"].to_pylist(),
            records["_partition"].to_pylist(),
            records["_offset"].to_pylist(),
            strict=True,
        ):
            ends[(topic, partition)] = max(ends.get((topic, partition), 0), offset + 1)
        # Aggregates that counted the same offsets with the same clocks (the usual case)
        # share one judgement of the batch.
        groups: dict[tuple[object, ...], list[Aggregate]] = {}
        for aggregate in self._feeding(batch.table):
            self._load(aggregate, partitions)
            counted, clock = self._counted[aggregate.name], self._clock.get(aggregate.name, {})
            state = tuple((tp, counted.get(tp), clock.get(tp)) for tp in partitions)
            groups.setdefault(state, []).append(aggregate)
        for aggregates in groups.values():
            first = aggregates[0].name
            counted = self._counted[first]
            fresh = MicroBatch(
                batch.table,
                drop_committed(batch.records, counted),
                drop_committed(batch.rows, counted),
                drop_committed(batch.rejects, counted),
            )
            if fresh.records.num_rows == 0:
                continue
            judged, clock = judge(
                fresh, self._clock.get(first, {}), self._settings.allowed_lateness_ms
            )
            moved = {tp: clock[tp] for tp in partitions if tp in clock}
            for aggregate in aggregates:
                # Only this batch's partitions: an aggregate fed by several tables keeps the
                # clocks of the others' partitions.
                self._clock[aggregate.name] = {**self._clock.get(aggregate.name, {}), **moved}
                mine = self._counted[aggregate.name]
                for tp, end in ends.items():
                    mine[tp] = max(mine.get(tp, 0), end)
                found = count(judged, aggregate)
                pending = self._pending.setdefault(aggregate.name, [])
                if found is not None:
                    pending.append(found)

    def due(self) -> bool:
        return (time.monotonic() - self._last_flush) * 1000 >= self._settings.realtime_flush_ms

    def flush(self) -> int:
        """Merge every pending delta into its table; returns the window rows merged."""
        with self._flushing:
            with self._lock:
                generation = self._generation
                work = []
                for name in list(self._pending):
                    parts = self._pending.pop(name)
                    counted = dict(self._counted[name])
                    if counted == self._committed[name]:
                        continue
                    work.append((name, parts, counted, dict(self._clock.get(name, {}))))
                self._last_flush = time.monotonic()
            merged = 0
            for name, parts, counted, clock in work:
                aggregate = next(a for a in AGGREGATES if a.name == name)
                txns = {app_id(APP_PREFIX, t, p): end for (t, p), end in counted.items()}
                txns |= {app_id(CLOCK_PREFIX, t, p): s for (t, p), s in clock.items()}
                rows = combine(aggregate, parts) if parts else None
                if rows is None or rows.num_rows == 0:
                    # Nothing to add, but the offsets moved: record them with an empty commit
                    # of the pending shape so a restart does not re-read the same records.
                    rows = aggregate.schema.empty_table()
                self._store.merge_sums(
                    self._lake.realtime(name),
                    rows,
                    keys=["window_start", *aggregate.keys],
                    sums=[aggregate.measure, *aggregate.sums],
                    txns=txns,
                )
                with self._lock:
                    if self._generation == generation:
                        self._committed[name].update(counted)
                merged += rows.num_rows
        if merged:
            log.info("realtime: %d window rows merged", merged)
            closed = self.closed_before()
            for listener in self._listeners if closed is not None else []:
                assert closed is not None
                try:
                    listener(closed)
                except Exception:  # a listener (quality checks) never stops the stream job
                    log.exception("a real-time window listener failed")
        return merged

    def reset(self) -> None:
        """Forget memory (pending deltas too): the next batch re-reads what is committed."""
        with self._lock:
            self._generation += 1
            self._committed.clear()
            self._clock.clear()
            self._counted.clear()
            self._pending.clear()
