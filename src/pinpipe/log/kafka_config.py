"""``LogSettings`` → librdkafka configuration for the Kafka backend's three clients.

pinpipe's guarantees are fixed here, not left to the user: the producer is idempotent with
``acks=all`` (no duplicates or reordering on retry, a record is acknowledged only when every
in-sync replica has it), and consumers never commit on their own (the sink and the stream job
commit after their output is durable). ``log.kafka`` passes anything else through (SASL, SSL,
timeouts) to every client; it may not weaken those guarantees.
"""

from __future__ import annotations

from typing import Any

from pinpipe.errors import ConfigError
from pinpipe.settings import LogSettings

_FIXED_PRODUCER = {"enable.idempotence": True, "acks": "all"}
_FIXED_CONSUMER = {"enable.auto.commit": False, "enable.auto.offset.store": False}

# Keys that belong to one client type only; librdkafka warns when a client gets another's.
_PRODUCER_ONLY = (
    "acks",
    "linger.ms",
    "batch.",
    "compression.",
    "enable.idempotence",
    "retries",
    "message.timeout.ms",
    "delivery.timeout.ms",
)
_CONSUMER_ONLY = ("fetch.", "auto.offset.reset", "isolation.level", "session.timeout.ms")


def _extra(settings: LogSettings, skip: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in settings.kafka.items() if not k.startswith(skip)}


def _check(settings: LogSettings, fixed: dict[str, Any]) -> None:
    for key, value in fixed.items():
        given = settings.kafka.get(key)
        if given is not None and str(given).lower() != str(value).lower():
            raise ConfigError(
                f"log.kafka sets {key}={given!r}, but pinpipe needs {key}={value!r} "
                "for its delivery guarantees; remove it from PINPIPE_LOG__KAFKA"
            )


_TIMEOUT_KEYS = ("message.timeout.ms", "delivery.timeout.ms")
"""librdkafka's names of the producer's delivery timeout: ``log.produce_timeout_ms`` sets it."""


def _check_timeout(settings: LogSettings) -> None:
    for key in _TIMEOUT_KEYS:
        if key in settings.kafka:
            raise ConfigError(
                f"log.kafka sets {key}; set log.produce_timeout_ms instead (PINPIPE_LOG__"
                "PRODUCE_TIMEOUT_MS), which bounds the wait for delivery reports end to end"
            )


def common(settings: LogSettings) -> dict[str, Any]:
    """Settings every client shares: where the brokers are, who we are."""
    return {"bootstrap.servers": settings.bootstrap_servers, "client.id": "pinpipe"}


def producer_config(settings: LogSettings) -> dict[str, Any]:
    _check(settings, _FIXED_PRODUCER)
    _check_timeout(settings)
    return {
        **common(settings),
        "linger.ms": 2,  # callers hand over whole batches; a short linger only fills frames
        # A record not confirmed by then fails (its delivery report says so), so nothing
        # unacknowledged lingers in the queue to be delivered after its request was refused.
        "message.timeout.ms": settings.produce_timeout_ms,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",  # keyed records land where a Java producer puts them
        **_extra(settings, _CONSUMER_ONLY),
        **_FIXED_PRODUCER,
    }


def consumer_config(settings: LogSettings, group: str) -> dict[str, Any]:
    _check(settings, _FIXED_CONSUMER)
    return {
        **common(settings),
        "group.id": group,
        "auto.offset.reset": "error",  # an out-of-range position is an error, never a silent skip
        "allow.auto.create.topics": False,
        "fetch.wait.max.ms": 20,  # an idle partition answers fast: fetch() must return promptly
        "queued.max.messages.kbytes": 32 * 1024,
        **_extra(settings, _PRODUCER_ONLY),
        **_FIXED_CONSUMER,
    }


def admin_config(settings: LogSettings) -> dict[str, Any]:
    return {**common(settings), **_extra(settings, _PRODUCER_ONLY + _CONSUMER_ONLY)}
