"""One exception tree for the whole project.

``PinpipeError``
├── ``ConfigError``          bad settings or CLI input; the message names the fix (terminal)
├── ``DependencyError``      an optional extra is not installed (terminal)
├── ``LogError``             the log backend failed
│   ├── ``UnknownTopicError``     topic does not exist (terminal)
│   ├── ``InvalidTopicError``     name breaks Kafka's naming rules (terminal)
│   ├── ``UnknownPartitionError`` partition number outside the topic's range (terminal)
│   ├── ``OffsetOutOfRangeError`` offset before the log start or past its end (terminal)
│   ├── ``IdempotencyConflictError`` an idempotency key reused for other records (terminal)
│   ├── ``TopicLimitError``       creating a topic past ``topics.max_topics`` (terminal)
│   ├── ``LogFullError``          the log's disk is full (also a ``DiskFullError``)
│   └── ``LogUnavailableError``   the log cannot be reached now: Kafka brokers down
├── ``IngestError``          a request the ingest API refuses (carries HTTP status and code)
│   └── ``RetryLaterError``       429 rate limit, 503 draining or log unavailable, 507 log disk
│                                 full; Retry-After
├── ``StorageError``         the lake's storage refused a read or write (names the object)
│   └── ``LakeFullError``         the lake's disk is full (also a ``DiskFullError``)
├── ``DiskFullError``        a write found no space on its disk (names the path; freeing space
│                            there fixes it, so stages pause and retry rather than fail)
└── ``JobError``             a batch or stream job failed (transient unless stated)

``transient`` marks errors a caller may retry; retry policy switches on it, not on types.
"""

from __future__ import annotations


class PinpipeError(Exception):
    """Base of every error pinpipe raises on purpose."""

    transient: bool = False


class ConfigError(PinpipeError):
    """Settings or arguments are wrong; the message says how to fix them."""


class DependencyError(PinpipeError):
    """An optional integration is used without its extra installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'pinpipe[{extra}]'")
        self.package = package
        self.extra = extra


class LogError(PinpipeError):
    """The log backend failed."""

    transient = True


class UnknownTopicError(LogError):
    transient = False

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist")
        self.topic = topic


class InvalidTopicError(LogError):
    transient = False

    def __init__(self, topic: str, why: str) -> None:
        super().__init__(f"invalid topic name {topic!r}: {why}")
        self.topic = topic


class UnknownPartitionError(LogError):
    transient = False

    def __init__(self, topic: str, partition: int, partitions: int) -> None:
        super().__init__(
            f"partition {partition} does not exist in topic {topic!r} "
            f"(it has {partitions}: 0..{partitions - 1})"
        )
        self.topic = topic
        self.partition = partition
        self.partitions = partitions


class OffsetOutOfRangeError(LogError):
    transient = False

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        super().__init__(f"offset {offset} out of range for {topic}[{partition}]")
        self.topic = topic
        self.partition = partition
        self.offset = offset


class IdempotencyConflictError(LogError):
    """An idempotency key already stands for an append of other records."""

    transient = False

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request (other topic "
            "or records) within the idempotency window; send each new request with a fresh key"
        )
        self.key = key


class TopicLimitError(LogError):
    """The log already holds ``topics.max_topics`` topics."""

    transient = False

    def __init__(self, topic: str, limit: int) -> None:
        super().__init__(
            f"cannot create topic {topic!r}: the log already holds {limit} topics, the most "
            "topics.max_topics allows"
        )
        self.topic = topic
        self.limit = limit


class LogUnavailableError(LogError):
    """The log cannot be reached right now (no Kafka broker answers); retry later.

    The ingest API answers it with 503 + Retry-After; the sink and the stream job wait and
    resume where they had committed."""

    transient = True


class IngestError(PinpipeError):
    """A request refused at the door: HTTP ``status`` with an application ``code``."""

    def __init__(self, status: int, code: int | str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RetryLaterError(IngestError):
    """A request refused for now (429 rate limit, 503 draining or log unavailable, 507 full
    log disk): retry after
    ``retry_after`` s."""

    transient = True

    def __init__(self, status: int, code: int | str, message: str, retry_after: int) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class StorageError(PinpipeError):
    """The lake's storage failed after its retries; the message names the object and the fix."""


class JobError(PinpipeError):
    """A batch or stream job could not complete."""

    transient = True


class DiskFullError(PinpipeError):
    """A write found its filesystem full (ENOSPC, EDQUOT, SQLITE_FULL): nothing was stored.

    Freeing space at ``path`` is the fix, so callers wait and retry instead of failing;
    ``store`` says which store ran out ("log" or "lake").
    """

    transient = True
    store = "disk"
    setting = "path"
    """The setting that places this store (``log.path``, ``lake.root``)."""

    def __init__(self, path: str, what: str, cause: str) -> None:
        super().__init__(
            f"the {self.store}'s disk is full: could not {what} at {path} ({cause}); free space "
            f"on that filesystem, or move the {self.store} ({self.store}.{self.setting}, "
            "relative to the pinpipe home) to a larger one"
        )
        self.path = path
        self.what = what


class LogFullError(DiskFullError, LogError):
    """The embedded log's file could not grow: the append (or commit) was rolled back."""

    store = "log"


class LakeFullError(DiskFullError, StorageError):
    """A lake object or Delta commit could not be written; the table keeps its last version."""

    store = "lake"
    setting = "root"
