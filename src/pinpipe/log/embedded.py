"""The embedded log: one SQLite file in WAL mode, safe for many processes at once.

Why SQLite: it gives atomic, fsync'd, multi-process transactions for free, so a produce batch
is either wholly visible or not at all, and offsets stay dense even with several producers in
different processes. Every append runs in one ``BEGIN IMMEDIATE`` transaction (the write lock
is taken up front, so the next offsets read inside it cannot race), and the call returns only
after ``COMMIT`` has been fsync'd (``synchronous=FULL``). Readers use plain autocommit
``SELECT`` statements, which in WAL mode see one committed snapshot and never block writers.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pinpipe.errors import (
    LogError,
    OffsetOutOfRangeError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pinpipe.log.base import (
    Log,
    LogRecord,
    Position,
    ProduceRecord,
    TopicInfo,
    validate_topic,
)
from pinpipe.log.partitioner import partition_for_key
from pinpipe.log.sqlite_schema import BUSY_TIMEOUT_MS, connect, init_schema

Batch = tuple[str, Sequence[ProduceRecord]]
"""One topic's records, as handed to ``produce_many``."""

_INSERT = (
    "INSERT INTO records (topic_id, partition, offset, timestamp, key, value) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_ADVANCE = "UPDATE partitions SET next_offset = ? WHERE topic_id = ? AND partition = ?"
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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class EmbeddedLog(Log):
    """The default ``Log`` backend: a crash-safe SQLite file shared by every local process."""

    def __init__(self, path: Path, *, default_partitions: int = 1, fsync: bool = True) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be at least 1")
        self.path = Path(path)
        self.default_partitions = default_partitions
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._topics: dict[str, _Topic] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        with _sqlite_errors("open the log"):
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
        with _sqlite_errors("list topics"):
            rows = self._reader().execute("SELECT name, partitions FROM topics ORDER BY name")
            return [TopicInfo(name, partitions) for name, partitions in rows]

    def describe(self, topic: str) -> TopicInfo:
        meta = self._known(topic)
        return TopicInfo(meta.name, meta.partitions)

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
        results: list[list[Position] | LogError] = []
        created: dict[str, _Topic] = {}
        with self._write_tx("append records") as conn:
            timestamp = _now_ms()
            next_offsets: dict[tuple[int, int], int] = {}
            rows: list[tuple[int, int, int, int, bytes | None, bytes | None]] = []
            for topic, records in batches:
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
                positions: list[Position] = []
                for record, partition in zip(records, chosen, strict=True):
                    offset = next_offsets[(meta.id, partition)]
                    next_offsets[(meta.id, partition)] = offset + 1
                    rows.append((meta.id, partition, offset, timestamp, record.key, record.value))
                    positions.append(Position(partition, offset, timestamp))
                results.append(positions)
            if rows:
                conn.executemany(_INSERT, rows)
                touched = {(row[0], row[1]) for row in rows}
                conn.executemany(_ADVANCE, [(next_offsets[k], k[0], k[1]) for k in touched])
        self._topics.update(created)
        return results

    # -- consume ----------------------------------------------------------------------------

    def fetch(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> list[LogRecord]:
        meta = self._known(topic)
        _check_partition(meta, partition)
        if offset < 0:
            raise OffsetOutOfRangeError(topic, partition, offset)
        with _sqlite_errors(f"read {topic}[{partition}]"):
            rows = self._reader().execute(_FETCH, (meta.id, partition, offset, max_records))
            records = [
                LogRecord(topic, partition, off, ts, key, value) for off, ts, key, value in rows
            ]
        if not records and offset > 0 and offset > self.end_offset(topic, partition):
            raise OffsetOutOfRangeError(topic, partition, offset)
        return records

    def end_offset(self, topic: str, partition: int) -> int:
        meta = self._known(topic)
        _check_partition(meta, partition)
        query = "SELECT next_offset FROM partitions WHERE topic_id = ? AND partition = ?"
        with _sqlite_errors(f"read the end of {topic}[{partition}]"):
            row = self._reader().execute(query, (meta.id, partition)).fetchone()
        return int(row[0])

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        query = "SELECT offset FROM group_offsets WHERE grp = ? AND topic = ? AND partition = ?"
        with _sqlite_errors(f"read offsets of group {group!r}"):
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
            rows.append((group, topic, partition, offset, _now_ms()))
        if not rows:
            return
        upsert = (
            "INSERT INTO group_offsets (grp, topic, partition, offset, updated_ms) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, topic, partition) DO UPDATE "
            "SET offset = excluded.offset, updated_ms = excluded.updated_ms"
        )
        with self._write_tx(f"commit offsets of group {group!r}") as conn:
            conn.executemany(upsert, rows)

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
            with _sqlite_errors(what):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

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
            with _sqlite_errors(f"look up topic {topic!r}"):
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
            meta = self._lookup(conn, topic) or self._insert_topic(conn, topic, None)
            created[topic] = meta
        return meta

    @staticmethod
    def _lookup(conn: sqlite3.Connection, topic: str) -> _Topic | None:
        query = "SELECT id, partitions FROM topics WHERE name = ?"
        row = conn.execute(query, (topic,)).fetchone()
        return None if row is None else _Topic(row[0], topic, row[1])

    def _insert_topic(self, conn: sqlite3.Connection, topic: str, partitions: int | None) -> _Topic:
        count = partitions or self.default_partitions
        cursor = conn.execute(
            "INSERT INTO topics (name, partitions, created_ms) VALUES (?, ?, ?)",
            (topic, count, _now_ms()),
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
    """Explicit partition, else Kafka's murmur2 key hash, else round robin."""
    count = meta.partitions
    chosen: list[int] = []
    for record in records:
        if record.partition is not None:
            _check_partition(meta, record.partition)
            chosen.append(record.partition)
        elif count == 1:
            chosen.append(0)
        elif record.key is not None:
            chosen.append(partition_for_key(bytes(record.key), count))
        else:
            chosen.append(next(meta.round_robin) % count)
    return chosen


def _check_partition(meta: _Topic, partition: int) -> None:
    if not 0 <= partition < meta.partitions:
        raise UnknownPartitionError(meta.name, partition, meta.partitions)


@contextmanager
def _sqlite_errors(what: str) -> Iterator[None]:
    """SQLite failures become ``LogError`` (transient: a busy or full disk may clear up)."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = ""
        if "locked" in str(exc) or "busy" in str(exc):
            hint = f" (another process held the write lock for over {BUSY_TIMEOUT_MS} ms)"
        raise LogError(f"could not {what}: {exc}{hint}") from exc
