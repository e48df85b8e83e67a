"""The durable log: one contract (``Log``), an embedded SQLite backend now, Kafka later."""

from __future__ import annotations

from pinpipe.errors import ConfigError
from pinpipe.log.base import Log, LogRecord, Position, ProduceRecord, TopicInfo, validate_topic
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings

__all__ = [
    "EmbeddedLog",
    "Log",
    "LogRecord",
    "Position",
    "ProduceRecord",
    "TopicInfo",
    "open_log",
    "validate_topic",
]


def open_log(settings: Settings) -> Log:
    """The log backend the settings ask for, opened and ready."""
    if settings.log.backend == "embedded":
        return EmbeddedLog(
            settings.log_path,
            default_partitions=settings.log.partitions,
            fsync=settings.log.fsync,
        )
    raise ConfigError(
        f"log backend {settings.log.backend!r} is not available yet: the Kafka backend comes "
        'in a later release; set [log] backend = "embedded" (PINPIPE_LOG__BACKEND=embedded)'
    )
