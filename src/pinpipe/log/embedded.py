"""The embedded log: one SQLite file in WAL mode, safe for many processes at once.

Why SQLite: it gives atomic, fsync'd, multi-process transactions for free, so a produce batch
is either wholly visible or not at all, and offsets stay dense even with several producers in
different processes. Every append runs in one ``BEGIN IMMEDIATE`` transaction (the write lock
is taken up front, so the next offsets read inside it cannot race), and the call returns only
after ``COMMIT`` has been fsync'd (``synchronous=FULL``). Readers use plain autocommit
``SELECT`` statements, which in WAL mode see one committed snapshot and never block writers.

Crash safety follows from that: a process killed at any point (writer mid-transaction, reader
mid-read) leaves either the whole batch or none of it, and the next opener's SQLite rolls a
torn WAL tail back. Retention (``retention_ms``, ``retention_bytes`` per partition) deletes
the oldest records and moves the partition's start offset forward, checked at most every
``retention_check_ms`` after an append, so the file stops growing; freed pages are reused.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pinpipe.errors import (
    IdempotencyConflictError,
    LogError,
    LogFullError,
    OffsetOutOfRangeError,
    TopicLimitError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pinpipe.log.base import (
    DEFAULT_IDEMPOTENCY_WINDOW_MS,
    Batch,
    Clock,
    Idempotency,
    Log,
    LogRecord,
    Position,
    ProduceRecord,
    Replayed,
    TopicInfo,
    validate_topic,
    wall_clock_ms,
)
from pinpipe.log.idempotency import decode_positions, encode_positions
from pinpipe.log.partitioner import choose_partitions
from pinpipe.log.sqlite_schema import BUSY_TIMEOUT_MS, connect, init_schema


class _Appends:
    """Appends to one log file by any handle of this process: a counter and a condition."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def signal(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()


_APPENDS: dict[str, _Appends] = {}
_APPENDS_LOCK = threading.Lock()


def _appends_of(path: Path) -> _Appends:
    key = str(path.resolve())
    with _APPENDS_LOCK:
        return _APPENDS.setdefault(key, _Appends())


_WAKE_SLICE_S = 0.05
"""How often a waiting reader also looks at its stop event."""

_INSERT = (
    "INSERT INTO records (topic_id, partition, offset, timestamp, key, value) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_ADVANCE = (
    "UPDATE partitions SET next_offset = ?, size_bytes = size_bytes + ? "
    "WHERE topic_id = ? AND partition = ?"
)
_BOUNDS = "SELECT start_offset, next_offset FROM partitions WHERE topic_id = ? AND partition = ?"
_RETENTION_CHUNK = 50_000
_RECALL = "SELECT fingerprint, created_ms, positions FROM idempotency WHERE key = ?"
_REMEMBER = (
    "INSERT OR REPLACE INTO idempotency (key, fingerprint, created_ms, topic_id, positions) "
    "VALUES (?, ?, ?, ?, ?)"
)
_FORGET = "DELETE FROM idempotency WHERE created_ms < ?"
IDEMPOTENCY_PRUNE_MS = 60_000
"""Expired idempotency keys are deleted at most this often (in an append's transaction)."""
_FETCH = (
    "SELECT offset, timestamp, key, value FROM records "
    "WHERE topic_id = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?"
)


class _Topic:
    """A topic's id and partition count; both are immutable once created, so safe to cache."""

    __slots__ = ("id", "name", "partitions", "round_robin")

    def __init__(self, topic_id: int, name: str, partitions: int) -> None:
        self.id = topic_id
        self.name = name
        self.partitions = partitions
        self.round_robin = itertools.count()


class EmbeddedLog(Log):
    """The default ``Log`` backend: a crash-safe SQLite file shared by every local process."""

    def __init__(
        self,
        path: Path,
        *,
        default_partitions: int = 1,
        fsync: bool = True,
        retention_ms: int = 0,
        retention_bytes: int = 0,
        retention_check_ms: int = 1_000,
        auto_create: bool = True,
        topic_filter: str = "",
        max_topics: int = 0,
        idempotency_window_ms: int = DEFAULT_IDEMPOTENCY_WINDOW_MS,
        clock: Clock = wall_clock_ms,
    ) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        if retention_ms < 0 or retention_bytes < 0:
            raise ValueError("retention limits must be >= 0 (0 = unlimited)")
        self.path = Path(path)
        self.clock = clock
        """Ingest time for new records, retention and bookkeeping."""
        self.default_partitions = default_partitions
        self.fsync = fsync
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.retention_check_ms = retention_check_ms
        self._next_retention_ms = 0
        self.idempotency_window_ms = idempotency_window_ms
        self._next_prune_ms = 0
        self.auto_create = auto_create
        self._wanted = re.compile(topic_filter or ".*")
        self.max_topics = max_topics
        """Most topics the file may hold (0: no limit); creating one more raises."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._topics: dict[str, _Topic] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._appends = _appends_of(self.path)
        with self._sqlite_errors("open the log"):
            self._writer = connect(self.path, fsync=fsync)
            init_schema(self._writer)

    # -- topics -----------------------------------------------------------------------------

    def create_topic(self, topic: str, partitions: int | None = None) -> TopicInfo:
        validate_topic(topic)
        if partitions is not None and partitions < 1:
            raise LogError(f"a topic needs at least 1 partition, got {partitions}")
        with self._write_tx("create topic " + topic) as conn:
            meta = self._lookup(conn, topic) or self._insert_topic(conn, topic, partitions)
        self._topics[topic] = meta
        return TopicInfo(meta.name, meta.partitions)

    def topics(self) -> list[TopicInfo]:
        with self._sqlite_errors("list topics"):
            rows = self._reader().execute("SELECT name, partitions FROM topics ORDER BY name")
            return [TopicInfo(n, count) for n, count in rows if self._wanted.search(n)]

    def describe(self, topic: str) -> TopicInfo:
        meta = self._known(topic)
        return TopicInfo(meta.name, meta.partitions)

    def known_topic(self, topic: str) -> TopicInfo | None:
        meta = self._topics.get(topic)
        return None if meta is None else TopicInfo(meta.name, meta.partitions)

    # -- produce ----------------------------------------------------------------------------

    def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Position]:
        (result,) = self.produce_many([(topic, records)])
        if isinstance(result, Exception):
            raise result
        return result

    def produce_many(self, batches: Sequence[Batch]) -> list[list[Position] | LogError]:
        """Append several topics' batches in ONE transaction (one fsync), for group commit.

        A batch that cannot be appended (bad topic name, unknown partition) gets its error in
        its slot and is skipped; the others still commit. A storage failure fails them all.
        """
        return self._append(batches, None)

    def produce_many_once(
        self, batches: Sequence[Batch], keys: Sequence[Idempotency | None]
    ) -> list[list[Position] | LogError]:
        """``produce_many`` remembering each key in the file, in the append's transaction.

        A key and its records commit together or not at all, so a crash can never keep one
        without the other, and a resend after any crash or restart finds the key exactly
        when its records are there. The key's lookup is one primary-key probe.
        """
        return self._append(batches, keys)

    def _append(
        self, batches: Sequence[Batch], keys: Sequence[Idempotency | None] | None
    ) -> list[list[Position] | LogError]:
        results: list[list[Position] | LogError] = []
        created: dict[str, _Topic] = {}
        with self._write_tx("append records") as conn:
            timestamp = self.clock()
            next_offsets: dict[tuple[int, int], int] = {}
            rows: list[tuple[int, int, int, int, bytes | None, bytes | None]] = []
            sizes: dict[tuple[int, int], int] = {}
            remembered: dict[str, tuple[bytes, list[Position]]] = {}
            for b, (topic, records) in enumerate(batches):
                once = keys[b] if keys is not None else None
                if once is not None:
                    earlier = remembered.get(once.key) or self._recall(conn, once.key, timestamp)
                    if earlier is not None:
                        same = earlier[0] == once.fingerprint
                        results.append(
                            Replayed(earlier[1]) if same else IdempotencyConflictError(once.key)
                        )
                        continue
                try:
                    meta = self._topic_for_write(conn, topic, created)
                    chosen = _choose_partitions(meta, records)
                except LogError as exc:
                    results.append(exc)
                    continue
                if chosen and (meta.id, 0) not in next_offsets:
                    query = "SELECT partition, next_offset FROM partitions WHERE topic_id = ?"
                    for partition, next_offset in conn.execute(query, (meta.id,)):
                        next_offsets[(meta.id, partition)] = next_offset
                        sizes[(meta.id, partition)] = 0
                positions: list[Position] = []
                for record, partition in zip(records, chosen, strict=True):
                    tp = (meta.id, partition)
                    offset = next_offsets[tp]
                    next_offsets[tp] = offset + 1
                    sizes[tp] += len(record.key or b"") + len(record.value or b"")
                    rows.append((meta.id, partition, offset, timestamp, record.key, record.value))
                    positions.append(Position(partition, offset, timestamp))
                results.append(positions)
                if once is not None:
                    remembered[once.key] = (once.fingerprint, positions)
                    conn.execute(
                        _REMEMBER,
                        (
                            once.key,
                            once.fingerprint,
                            timestamp,
                            meta.id,
                            encode_positions(positions),
                        ),
                    )
            if keys is not None and timestamp >= self._next_prune_ms:
                self._next_prune_ms = timestamp + IDEMPOTENCY_PRUNE_MS
                conn.execute(_FORGET, (timestamp - self.idempotency_window_ms,))
            if rows:
                conn.executemany(_INSERT, rows)
                touched = {(row[0], row[1]) for row in rows}
                conn.executemany(
                    _ADVANCE, [(next_offsets[k], sizes[k], k[0], k[1]) for k in touched]
                )
        self._topics.update(created)
        if rows:
            self._appends.signal()
        if (self.retention_ms or self.retention_bytes) and timestamp >= self._next_retention_ms:
            self._next_retention_ms = timestamp + self.retention_check_ms
            self.enforce_retention(timestamp)
        return results

    def _recall(
        self, conn: sqlite3.Connection, key: str, now: int
    ) -> tuple[bytes, list[Position]] | None:
        """The fingerprint and positions ``key`` got within the window, or None."""
        row = conn.execute(_RECALL, (key,)).fetchone()
        if row is None or row[1] < now - self.idempotency_window_ms:
            return None
        return bytes(row[0]), decode_positions(row[2], row[1])

    # -- retention --------------------------------------------------------------------------

    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Delete records past ``retention_ms`` / ``retention_bytes``; returns how many.

        Runs after appends on its own (rate-limited); call it directly from a maintenance job.
        Each partition is trimmed in transactions of at most ``_RETENTION_CHUNK`` records so the
        write lock is never held for long.
        """
        if not (self.retention_ms or self.retention_bytes):
            return 0
        now = self.clock() if now_ms is None else now_ms
        with self._sqlite_errors("list partitions"):
            partitions = self._reader().execute("SELECT topic_id, partition FROM partitions")
            targets = list(partitions)
        deleted = 0
        for topic_id, partition in targets:
            while True:
                with self._write_tx("apply retention") as conn:
                    n = self._trim(conn, topic_id, partition, now)
                deleted += n
                if n < _RETENTION_CHUNK:
                    break
        return deleted

    def _trim(self, conn: sqlite3.Connection, topic_id: int, partition: int, now: int) -> int:
        """One retention step for one partition, inside a write transaction."""
        start, end, size = conn.execute(
            "SELECT start_offset, next_offset, size_bytes FROM partitions "
            "WHERE topic_id = ? AND partition = ?",
            (topic_id, partition),
        ).fetchone()
        limit = min(end, start + _RETENTION_CHUNK)
        cut, freed = start, 0
        scan = (
            "SELECT offset, timestamp, coalesce(length(key), 0) + coalesce(length(value), 0) "
            "FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? AND offset < ? "
            "ORDER BY offset"
        )
        for offset, timestamp, nbytes in conn.execute(scan, (topic_id, partition, start, limit)):
            too_old = self.retention_ms and timestamp < now - self.retention_ms
            too_big = self.retention_bytes and size - freed > self.retention_bytes
            if not (too_old or too_big):
                break
            cut, freed = offset + 1, freed + nbytes
        if cut == start:
            return 0
        conn.execute(
            "DELETE FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? "
            "AND offset < ?",
            (topic_id, partition, start, cut),
        )
        conn.execute(
            "UPDATE partitions SET start_offset = ?, size_bytes = size_bytes - ? "
            "WHERE topic_id = ? AND partition = ?",
            (cut, freed, topic_id, partition),
        )
        return cut - start

    # -- consume ----------------------------------------------------------------------------

    def fetch(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> list[LogRecord]:
        meta = self._known(topic)
        _check_partition(meta, partition)
        if offset < 0:
            raise OffsetOutOfRangeError(topic, partition, offset)
        with self._sqlite_errors(f"read {topic}[{partition}]"):
            rows = self._reader().execute(_FETCH, (meta.id, partition, offset, max_records))
            records = [
                LogRecord(topic, partition, off, ts, key, value) for off, ts, key, value in rows
            ]
        if not records or records[0].offset != offset:
            # Only the unusual cases pay for the bounds check: nothing there, or a gap left by
            # retention (the first record is not the one asked for).
            start, end = self._bounds(meta, partition)
            if not start <= offset <= end:
                raise OffsetOutOfRangeError(topic, partition, offset)
        return records

    def end_offset(self, topic: str, partition: int) -> int:
        return self._bounds(self._known(topic), partition)[1]

    def start_offset(self, topic: str, partition: int) -> int:
        return self._bounds(self._known(topic), partition)[0]

    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int | None:
        meta = self._known(topic)
        start, _ = self._bounds(meta, partition)
        query = (
            "SELECT offset FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? "
            "AND timestamp >= ? ORDER BY offset LIMIT 1"
        )
        with self._sqlite_errors(f"search {topic}[{partition}] by time"):
            row = self._reader().execute(query, (meta.id, partition, start, timestamp_ms))
            found = row.fetchone()
        return None if found is None else int(found[0])

    def _bounds(self, meta: _Topic, partition: int) -> tuple[int, int]:
        """``(start_offset, end_offset)`` of one partition, from one snapshot."""
        _check_partition(meta, partition)
        with self._sqlite_errors(f"read the bounds of {meta.name}[{partition}]"):
            row = self._reader().execute(_BOUNDS, (meta.id, partition)).fetchone()
        return int(row[0]), int(row[1])

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        query = "SELECT offset FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?"
        with self._sqlite_errors(f"read offsets of group {group!r}"):
            row = self._reader().execute(query, (group, topic, partition)).fetchone()
        return None if row is None else int(row[0])

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if not group:
            raise LogError("a consumer group needs a non-empty name")
        rows = []
        for (topic, partition), offset in offsets.items():
            validate_topic(topic)
            if partition < 0 or offset < 0:
                raise LogError(f"cannot commit {topic}[{partition}] at offset {offset}")
            rows.append((group, topic, partition, offset, self.clock()))
        if not rows:
            return
        upsert = (
            "INSERT INTO group_offsets (grp, topic, partition, offset, updated_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, topic, partition) DO UPDATE "
            "SET offset = excluded.offset, updated_ms = excluded.updated_ms"
        )
        with self._write_tx(f"commit offsets of group {group!r}") as conn:
            conn.executemany(upsert, rows)

    def delete_topic(self, topic: str) -> None:
        """Delete the topic, its records, its groups' offsets and its idempotency keys at once.

        Other processes may still hold the old topic in their cache; they must not append to
        a deleted name (the ingest API only deletes through the Kinesis DeleteStream call).
        """
        validate_topic(topic)
        with self._write_tx(f"delete topic {topic}") as conn:
            meta = self._lookup(conn, topic)
            if meta is None:
                raise UnknownTopicError(topic)
            conn.execute("DELETE FROM records WHERE topic_id = ?", (meta.id,))
            conn.execute("DELETE FROM partitions WHERE topic_id = ?", (meta.id,))
            conn.execute("DELETE FROM topics WHERE id = ?", (meta.id,))
            conn.execute("DELETE FROM group_offsets WHERE topic = ?", (topic,))
            conn.execute("DELETE FROM idempotency WHERE topic_id = ?", (meta.id,))
        self._topics.pop(topic, None)

    def append_mark(self) -> int:
        return self._appends.count

    def wait_for_appends(self, mark: int, timeout: float, stop: threading.Event) -> bool:
        """Wake on an append by any handle of this file in this process (other processes'
        appends are seen when the timeout ends, as with polling)."""
        deadline = time.monotonic() + timeout
        with self._appends.changed:
            while self._appends.count == mark and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._appends.changed.wait(min(left, _WAKE_SLICE_S))
        return self._appends.count != mark

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._write_lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _write_tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer connection, rolled back on error."""
        with self._write_lock:
            if self._closed:
                raise LogError(f"cannot {what}: the log is closed")
            conn = self._writer
            with self._sqlite_errors(what):
                if conn.in_transaction:  # a rollback that failed earlier (a full disk)
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    # The first error is the one to report; a rollback failing too (the disk
                    # still full) is retried at the start of the next transaction.
                    with contextlib.suppress(sqlite3.Error):
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                    raise

    def _sqlite_errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _sqlite_errors(what, self.path)

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (sqlite3 connections are not shared across threads)."""
        if self._closed:
            raise LogError("the log is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, fsync=self.fsync, read_only=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _known(self, topic: str) -> _Topic:
        meta = self._topics.get(topic)
        if meta is None:
            validate_topic(topic)
            with self._sqlite_errors(f"look up topic {topic!r}"):
                meta = self._lookup(self._reader(), topic)
            if meta is None:
                raise UnknownTopicError(topic)
            self._topics[topic] = meta
        return meta

    def _topic_for_write(
        self, conn: sqlite3.Connection, topic: str, created: dict[str, _Topic]
    ) -> _Topic:
        meta = self._topics.get(topic) or created.get(topic)
        if meta is None:
            validate_topic(topic)
            meta = self._lookup(conn, topic)
            if meta is None:
                if not self.auto_create:
                    raise UnknownTopicError(topic)
                meta = self._insert_topic(conn, topic, None)
            created[topic] = meta
        return meta

    @staticmethod
    def _lookup(conn: sqlite3.Connection, topic: str) -> _Topic | None:
        query = "SELECT id, partitions FROM topics WHERE name = ?"
        row = conn.execute(query, (topic,)).fetchone()
        return None if row is None else _Topic(row[0], topic, row[1])

    def _insert_topic(self, conn: sqlite3.Connection, topic: str, partitions: int | None) -> _Topic:
        if self.max_topics:
            (held,) = conn.execute("SELECT count(*) FROM topics").fetchone()
            if held >= self.max_topics:
                raise TopicLimitError(topic, self.max_topics)
        count = partitions or self.default_partitions
        cursor = conn.execute(
            "INSERT INTO topics (name, partitions, created_ms) VALUES (?, ?, ?)",
            (topic, count, self.clock()),
        )
        topic_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO partitions (topic_id, partition, next_offset) VALUES (?, ?, 0)",
            [(topic_id, p) for p in range(count)],
        )
        return _Topic(topic_id, topic, count)

    def __repr__(self) -> str:
        return f"EmbeddedLog({str(self.path)!r}, fsync={self.fsync})"


def _choose_partitions(meta: _Topic, records: Sequence[ProduceRecord]) -> list[int]:
    return choose_partitions(
        records, meta.partitions, meta.round_robin, lambda p: _check_partition(meta, p)
    )


def _check_partition(meta: _Topic, partition: int) -> None:
    if not 0 <= partition < meta.partitions:
        raise UnknownPartitionError(meta.name, partition, meta.partitions)


FULL_BELOW_BYTES = 1024 * 1024
"""An I/O error with less free space than this on the log's filesystem counts as a full disk
(SQLite reports ENOSPC as SQLITE_FULL when writing pages, but as an I/O error elsewhere, e.g.
growing the shared-memory index; a quota, EDQUOT, is always an I/O error)."""


def _disk_full(exc: sqlite3.Error, path: Path) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "disk is full" in str(exc)
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_FULL:
        return True
    if primary != sqlite3.SQLITE_IOERR:
        return False
    try:
        return shutil.disk_usage(path.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


@contextmanager
def _sqlite_errors(what: str, path: Path) -> Iterator[None]:
    """SQLite failures become ``LogError`` (transient: a busy lock may clear up); a full disk
    becomes ``LogFullError`` naming the file, so ingest answers 507 and stages pause."""
    try:
        yield
    except sqlite3.Error as exc:
        if _disk_full(exc, path):
            raise LogFullError(str(path), what, str(exc)) from exc
        hint = ""
        if "locked" in str(exc) or "busy" in str(exc):
            hint = f" (another process held the write lock for over {BUSY_TIMEOUT_MS} ms)"
        raise LogError(f"could not {what}: {exc}{hint}") from exc
