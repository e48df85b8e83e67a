"""The log contract every backend (embedded, Kafka) implements.

A log holds topics split into partitions; each partition is an ordered sequence of records
with dense offsets from 0. Producers append batches and get offsets back only once the
records are durable. Consumers read from an offset and keep their position as committed
offsets of a consumer group.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple, Self

from pinpipe.errors import InvalidTopicError, LogError

_TOPIC_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_LENGTH = 249


Clock = Callable[[], int]
"""Epoch milliseconds: the ingest time a log stamps on records (injectable for tests)."""


def wall_clock_ms() -> int:
    """The default ``Clock``: the system's wall time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def validate_topic(name: str) -> str:
    """Kafka's topic naming rules (``Topic.java``): ``[a-zA-Z0-9._-]{1,249}``, not ``.``/``..``."""
    if not name:
        raise InvalidTopicError(name, "the name is empty")
    if name in (".", ".."):
        raise InvalidTopicError(name, "'.' and '..' are not allowed")
    if len(name) > MAX_TOPIC_LENGTH:
        raise InvalidTopicError(name, f"longer than {MAX_TOPIC_LENGTH} characters")
    if not _TOPIC_CHARS.match(name):
        raise InvalidTopicError(name, "only ASCII letters, digits, '.', '_' and '-' are allowed")
    return name


class ProduceRecord(NamedTuple):
    """A record to append. ``partition=None`` lets the log choose (key hash or round robin)."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None


class LogRecord(NamedTuple):
    """A record as stored: ``timestamp`` is the ingest time in epoch milliseconds."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class Position(NamedTuple):
    """Where a record landed."""

    partition: int
    offset: int
    timestamp: int


Batch = tuple[str, Sequence["ProduceRecord"]]
"""One topic's records, as handed to ``produce_many``."""


@dataclass(frozen=True, slots=True)
class Idempotency:
    """What makes an append happen once: the client's key and a digest of what it appends.

    ``key`` is unique per logical request (the ingest API prefixes the caller's identity);
    ``fingerprint`` tells a resend of the same request from another request reusing the key.
    """

    key: str
    fingerprint: bytes


def fingerprint(topic: str, records: Sequence[ProduceRecord]) -> bytes:
    """A 16-byte digest of a batch: topic, and each record's partition, key and value."""
    digest = hashlib.blake2b(topic.encode(), digest_size=16)
    for record in records:
        for part in (record.key, record.value):
            digest.update(b"\xff" if part is None else len(part).to_bytes(8, "little") + part)
        digest.update(
            b"\xff" if record.partition is None else record.partition.to_bytes(4, "little")
        )
    return digest.digest()


class Replayed(list[Position]):
    """Positions of an earlier append with the same idempotency key: nothing was appended."""


DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int


class Log(ABC):
    """A durable, partitioned, replayable log."""

    @abstractmethod
    def create_topic(self, topic: str, partitions: int | None = None) -> TopicInfo:
        """Create ``topic`` (idempotent: an existing topic is returned as is).

        ``partitions=None`` uses the backend's configured default.
        """

    @abstractmethod
    def topics(self) -> list[TopicInfo]:
        """Every topic, sorted by name."""

    @abstractmethod
    def describe(self, topic: str) -> TopicInfo:
        """One topic; raises ``UnknownTopicError``."""

    def known_topic(self, topic: str) -> TopicInfo | None:
        """``describe`` from memory only, never blocking: None when the log would have to ask.

        Lets async callers skip a thread hop for topics the handle has already seen.
        """
        return None

    @abstractmethod
    def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Position]:
        """Append ``records`` durably (creating the topic if needed), in order per partition."""

    @abstractmethod
    def fetch(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> list[LogRecord]:
        """Records of one partition from ``offset`` on (empty when none yet), promptly.

        Raises ``OffsetOutOfRangeError`` below ``start_offset`` or past ``end_offset``.
        """

    def produce_many(self, batches: Sequence[Batch]) -> list[list[Position] | LogError]:
        """Append several topics' batches at once (group commit); one result per batch.

        A batch that cannot be appended gets its ``LogError`` in its slot, the others still
        go through. Backends override this to share one fsync or one flush; this fallback
        appends batch by batch.
        """
        results: list[list[Position] | LogError] = []
        for topic, records in batches:
            try:
                results.append(self.produce(topic, records))
            except LogError as exc:
                results.append(exc)
        return results

    idempotency_window_ms: int = DEFAULT_IDEMPOTENCY_WINDOW_MS
    """How long ``produce_many_once`` remembers a key."""

    def produce_many_once(
        self, batches: Sequence[Batch], keys: Sequence[Idempotency | None]
    ) -> list[list[Position] | LogError]:
        """``produce_many``, but a batch whose key was appended within the window is not
        appended again: its slot holds the earlier positions (``Replayed``), or an
        ``IdempotencyConflictError`` when the key came with other records.

        This fallback remembers keys in this handle's memory (lost on restart, not shared
        between processes); the embedded log overrides it to keep them in its file, in the
        append's own transaction.
        """
        memory = self.__dict__.get("_idempotency_memory")
        if memory is None:
            from pinpipe.log.idempotency import IdempotencyMemory  # it imports this module

            fresh = IdempotencyMemory(self.idempotency_window_ms)
            memory = self.__dict__.setdefault("_idempotency_memory", fresh)  # one, even if raced
        return memory.produce_many_once(self.produce_many, batches, keys)

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next record of this partition will get."""

    @abstractmethod
    def start_offset(self, topic: str, partition: int) -> int:
        """The oldest offset still held (retention moves it forward); ``fetch`` below it fails."""

    @abstractmethod
    def offset_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int | None:
        """The first offset whose timestamp is at or after ``timestamp_ms``, None if none yet."""

    @abstractmethod
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset (the next record to read), or None."""

    @abstractmethod
    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Commit ``{(topic, partition): next offset}`` for ``group`` atomically."""

    def append_mark(self) -> int:
        """A mark of the appends seen so far, for ``wait_for_appends`` (0: this backend
        cannot tell, so waiting always lasts the timeout)."""
        return 0

    def wait_for_appends(self, mark: int, timeout: float, stop: threading.Event) -> bool:
        """Block until an append after ``mark``, ``timeout`` seconds, or ``stop``; True when
        records arrived. Lets a reader in the same process wake on new data instead of
        polling; backends that cannot tell simply wait out the timeout."""
        stop.wait(timeout)
        return False

    def delete_topic(self, topic: str) -> None:
        """Delete ``topic`` with its records and committed offsets; raises ``UnknownTopicError``.

        Not abstract so that backends without it keep working; they refuse with ``LogError``.
        """
        raise LogError(f"this log backend cannot delete topics ({type(self).__name__})")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_log = logging.getLogger("pinpipe.log")


def resume_at(log: Log, tp: tuple[str, int], position: int, reader: str) -> int:
    """Where ``reader`` resumes on ``tp``: its position, or the log start when retention has
    already deleted records it never read. Those records are lost: said loudly, not silently
    (Kafka's ``auto.offset.reset=earliest``, with the loss in the log)."""
    start = log.start_offset(*tp)
    if position >= start:
        return position
    _log.error(
        "%s: %s[%d] offsets %d..%d expired (log retention) before %s read them; they are "
        "lost. Resuming at %d: raise log.retention_ms / log.retention_bytes, or keep %s "
        "running",
        reader, tp[0], tp[1], position, start - 1, reader, start, reader,
    )  # fmt: skip
    return start
