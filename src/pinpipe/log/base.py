"""The log contract every backend (embedded, Kafka) implements.

A log holds topics split into partitions; each partition is an ordered sequence of records
with dense offsets from 0. Producers append batches and get offsets back only once the
records are durable. Consumers read from an offset and keep their position as committed
offsets of a consumer group.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pinpipe.errors import InvalidTopicError

_TOPIC_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_LENGTH = 249


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


@dataclass(frozen=True, slots=True)
class ProduceRecord:
    """A record to append. ``partition=None`` lets the log choose (key hash or round robin)."""

    value: bytes | None
    key: bytes | None = None
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A record as stored: ``timestamp`` is the ingest time in epoch milliseconds."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record landed."""

    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int


class Log(ABC):
    """A durable, partitioned, replayable log."""

    @abstractmethod
    def create_topic(self, topic: str, partitions: int | None = None) -> TopicInfo:
        """Create ``topic`` (idempotent: an existing topic is returned as is)."""

    @abstractmethod
    def topics(self) -> list[TopicInfo]:
        """Every topic, sorted by name."""

    @abstractmethod
    def describe(self, topic: str) -> TopicInfo:
        """One topic; raises ``UnknownTopicError``."""

    @abstractmethod
    def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Position]:
        """Append ``records`` durably (creating the topic if needed), in order per partition."""

    @abstractmethod
    def fetch(
        self, topic: str, partition: int, offset: int, max_records: int = 1000
    ) -> list[LogRecord]:
        """Records of one partition from ``offset`` on (empty when none yet)."""

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next record of this partition will get."""

    @abstractmethod
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset (the next record to read), or None."""

    @abstractmethod
    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Commit ``{(topic, partition): next offset}`` for ``group`` atomically."""

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
