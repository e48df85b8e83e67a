"""The durable log: one contract (``Log``), two backends: embedded SQLite and Apache Kafka."""

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


def verify_log(settings: Settings) -> None:
    """Fail closed before serving: a damaged embedded-log file raises ``DamagedLogError``
    naming ``pinpipe doctor`` (a Kafka cluster checks its own logs)."""
    if settings.log.backend == "embedded":
        from pinpipe.log.doctor import refuse_if_damaged

        refuse_if_damaged(settings.log_path)


def open_log(settings: Settings) -> Log:
    """The log backend the settings ask for, opened and ready."""
    cfg = settings.log
    window_ms = int(settings.ingest.idempotency_window_s * 1000)
    if cfg.backend == "embedded":
        return EmbeddedLog(
            settings.log_path,
            default_partitions=cfg.partitions,
            fsync=cfg.fsync,
            retention_ms=cfg.retention_ms,
            retention_bytes=cfg.retention_bytes,
            auto_create=settings.topics.auto_create,
            topic_filter=settings.topics.regex,
            max_topics=settings.topics.max_topics,
            idempotency_window_ms=window_ms,
        )
    if cfg.backend == "kafka":
        from pinpipe.log.kafka import KafkaLog  # confluent-kafka is an optional extra

        kafka = KafkaLog(
            cfg,
            auto_create=settings.topics.auto_create,
            topic_filter=settings.topics.regex,
            max_topics=settings.topics.max_topics,
        )
        kafka.idempotency_window_ms = window_ms
        return kafka
    raise ConfigError(f'unknown log backend {cfg.backend!r}: use "embedded" or "kafka"')
