"""How failures become HTTP answers; never a stack trace or a server path.

Routes raise ``IngestError`` (status + door-specific code); log failures are mapped here to
Confluent's codes. Kinesis routes render the same errors as ``{"__type", "message"}``. The
real API Gateway Kinesis proxy returns HTTP 200 even for Kinesis errors; pinpipe returns the
4xx/5xx status so that clients checking only the status code notice the failure.
"""

from __future__ import annotations

from typing import Any

from pinpipe.errors import (
    IngestError,
    InvalidTopicError,
    LogError,
    LogFullError,
    LogUnavailableError,
    OffsetOutOfRangeError,
    PinpipeError,
    RetryLaterError,
    TopicLimitError,
    UnknownPartitionError,
    UnknownTopicError,
)

TOPIC_LIMIT = 40303
"""A topic refused because the log holds ``topics.max_topics`` already."""
INSUFFICIENT_STORAGE = 50701
"""Records refused because the log's disk is full (HTTP 507); nothing was appended."""
DISK_FULL_RETRY_S = 5
"""The ``Retry-After`` of a 507: freeing space takes an operator, not milliseconds."""

LOG_UNAVAILABLE = 50303
"""The log cannot be reached (no Kafka broker answers): 503 with Retry-After."""
LOG_UNAVAILABLE_RETRY_AFTER_S = 5
"""What ``Retry-After`` tells a client to wait while the log is unavailable."""


class KinesisError(IngestError):
    """An error of the Kinesis doors: ``code`` is the AWS ``__type``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(status, error_type, message)


def from_log_error(exc: PinpipeError) -> IngestError:
    """The HTTP answer to a log failure: client mistakes are 4xx, storage trouble 5xx.

    Codes follow Confluent's table: 40002 bad request (invalid topic name), 40401 unknown
    topic, 40402 unknown partition, 50003 retriable and 50002 other backend errors; the log
    being unreachable is 503 with Retry-After (``unavailable``); a full disk is 507
    Insufficient Storage (50701) with ``Retry-After``.
    """
    if isinstance(exc, IngestError):
        return exc
    if isinstance(exc, LogFullError):
        return insufficient_storage()
    if isinstance(exc, InvalidTopicError):
        return IngestError(400, 40002, str(exc))
    if isinstance(exc, UnknownTopicError):
        return IngestError(404, 40401, str(exc))
    if isinstance(exc, UnknownPartitionError):
        return IngestError(404, 40402, str(exc))
    if isinstance(exc, TopicLimitError):
        return IngestError(403, TOPIC_LIMIT, str(exc))
    if isinstance(exc, OffsetOutOfRangeError):
        return IngestError(400, 40002, str(exc))
    if isinstance(exc, LogUnavailableError):
        return unavailable(exc)
    if isinstance(exc, LogError):
        code = 50003 if exc.transient else 50002
        return IngestError(500, code, f"the log could not store the records: {exc}")
    return IngestError(500, 500, "internal server error; the server log has the details")


def insufficient_storage() -> RetryLaterError:
    """507: the log's disk is full. The server path stays in the server log, not the answer."""
    return RetryLaterError(
        507,
        INSUFFICIENT_STORAGE,
        "insufficient storage: the log's disk is full, so these records were not stored (none "
        "of them is acknowledged); free space on the filesystem of the pinpipe home's log "
        "(the setting log.path; the server log names the file), then send them again",
        DISK_FULL_RETRY_S,
    )


def internal_error() -> IngestError:
    """What a client sees for a bug: a fixed message, details go to the server log only."""
    return IngestError(500, 500, "internal server error; the server log has the details")


def unavailable(exc: LogUnavailableError) -> RetryLaterError:
    """The log is unreachable: nothing of the request is acknowledged; send it again later."""
    return RetryLaterError(
        503,
        LOG_UNAVAILABLE,
        f"the log is unavailable, the records are not acknowledged: {exc}; send them again "
        f"after {LOG_UNAVAILABLE_RETRY_AFTER_S} s",
        LOG_UNAVAILABLE_RETRY_AFTER_S,
    )


def shutting_down() -> RetryLaterError:
    return RetryLaterError(503, 50301, "the server is shutting down; retry in a moment", 1)


def invalid(message: str) -> IngestError:
    """The Kafka doors' answer to a malformed body: 422 with code 422."""
    return IngestError(422, 422, message)


def kind(value: Any) -> str:
    """A JSON value's kind as error messages name it ("an object", "null", ...)."""
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
