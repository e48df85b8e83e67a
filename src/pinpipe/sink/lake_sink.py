"""Log → raw zone, laid out like Confluent's S3 sink, replay-safe.

Each topic partition has at most one open file, buffered in memory. A file is closed when it
holds ``flush_size`` records, or before a record whose timestamp is ``rotate_interval_ms`` or
more after the file's first record or falls on another UTC day (record time, never wall
clock), or once its day has ended ``day_close_grace_ms`` ago (so an idle day completes).
A closed file is written under its final name atomically (temp file, fsync, rename), then
its entry in the raw zone's day index (``lake/raw_index.py``), and only then is the consumer
group's offset committed. A crash therefore replays from the start of the lost file and
rewrites an object of the same name: the raw zone holds every logged record exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pinpipe.lake.feeds import all_partitions
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import lake_line
from pinpipe.lake.raw_index import DAY_MS, IndexEntry, write_entry
from pinpipe.log.base import Clock, Log, LogRecord, resume_at, wall_clock_ms
from pinpipe.settings import SinkSettings

log = logging.getLogger(__name__)

SINK_GROUP = "pinpipe-sink"
FETCH_SIZE = 5_000


@dataclass
class _OpenFile:
    start_offset: int
    first_timestamp: int
    lines: list[bytes] = field(default_factory=list)
    min_timestamp: int = 0
    max_timestamp: int = 0

    def __post_init__(self) -> None:
        self.min_timestamp = self.max_timestamp = self.first_timestamp

    @property
    def day(self) -> int:
        return self.first_timestamp // DAY_MS


class LakeSink:
    """Consumes every topic that feeds a table and writes raw NDJSON files."""

    def __init__(
        self,
        log_: Log,
        lake: Lake,
        settings: SinkSettings,
        *,
        group: str = SINK_GROUP,
        clock: Clock = wall_clock_ms,
    ) -> None:
        self._log = log_
        self._clock = clock
        self._lake = lake
        self._settings = settings
        self._group = group
        self._positions: dict[tuple[str, int], int] = {}
        self._open: dict[tuple[str, int], _OpenFile] = {}
        self.files_written = 0
        self.records_written = 0

    def reset(self) -> None:
        """Forget buffered records and positions: the next poll resumes at committed offsets."""
        self._positions.clear()
        self._open.clear()

    def _position(self, tp: tuple[str, int]) -> int:
        if tp not in self._positions:
            committed = self._log.committed(self._group, *tp)
            self._positions[tp] = resume_at(self._log, tp, committed or 0, "the sink")
        return self._positions[tp]

    def poll(self) -> int:
        """Read what the log has now; close the files the rules say are complete."""
        consumed = 0
        for tp in all_partitions(self._log):
            while True:
                batch = self._log.fetch(*tp, self._position(tp), FETCH_SIZE)
                if not batch:
                    break
                for record in batch:
                    self._add(tp, record)
                self._positions[tp] = batch[-1].offset + 1
                consumed += len(batch)
                if len(batch) < FETCH_SIZE:
                    break
        return consumed

    def _add(self, tp: tuple[str, int], record: LogRecord) -> None:
        current = self._open.get(tp)
        interval = self._settings.rotate_interval_ms
        if current is not None and (
            record.timestamp - current.first_timestamp >= interval
            or record.timestamp // DAY_MS != current.day
        ):
            self._close(tp)
            current = None
        if current is None:
            current = self._open[tp] = _OpenFile(record.offset, record.timestamp)
        current.lines.append(lake_line(record))
        current.min_timestamp = min(current.min_timestamp, record.timestamp)
        current.max_timestamp = max(current.max_timestamp, record.timestamp)
        if len(current.lines) >= self._settings.flush_size:
            self._close(tp)

    def _close(self, tp: tuple[str, int]) -> None:
        current = self._open.pop(tp)
        uri = self._lake.raw_file(tp[0], tp[1], current.start_offset)
        self._lake.storage.write_atomically(uri, b"\n".join(current.lines) + b"\n")
        next_offset = current.start_offset + len(current.lines)
        entry = IndexEntry(
            uri.removeprefix(self._lake.root + "/"),
            tp[0],
            tp[1],
            current.start_offset,
            next_offset,
            current.min_timestamp,
            current.max_timestamp,
        )
        write_entry(self._lake, entry)
        self._log.commit(self._group, {tp: next_offset})
        self.files_written += 1
        self.records_written += len(current.lines)
        log.info("sink wrote %s (%d records)", uri, len(current.lines))

    def flush(self) -> None:
        """Close every open file now (end of ``--once`` or shutdown): nothing stays buffered."""
        for tp in list(self._open):
            self._close(tp)

    def close_ended_days(self) -> None:
        """Commit open files whose UTC day ended ``day_close_grace_ms`` ago (wall clock)."""
        grace = self._settings.day_close_grace_ms
        if not grace:
            return
        now = self._clock()
        for tp in [tp for tp, f in self._open.items() if now >= (f.day + 1) * DAY_MS + grace]:
            self._close(tp)

    def pending(self) -> int:
        """Records read but not yet in a committed file."""
        return sum(len(f.lines) for f in self._open.values())

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        beat: Callable[[], None] | None = None,
    ) -> None:
        """Poll until ``stop`` is set (or, with ``once``, until the log is drained), then flush.

        ``beat`` is called after every poll that worked. A log failure (the Kafka broker gone)
        propagates: the caller resets the sink and runs it again, from the committed offsets,
        so the records of files still open are read again, never lost."""
        interval = self._settings.poll_interval_ms / 1000
        idle_ms = 0
        while not stop.is_set():
            consumed = self.poll()
            if beat is not None:
                beat()
            if once and consumed == 0:
                break
            idle_ms = 0 if consumed else idle_ms + self._settings.poll_interval_ms
            idle_limit = self._settings.idle_commit_ms
            if idle_limit and idle_ms >= idle_limit and self._open:
                self.flush()
            self.close_ended_days()
            if not consumed:
                stop.wait(interval)
        self.poll()
        self.flush()
