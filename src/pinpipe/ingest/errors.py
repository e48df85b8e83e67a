"""Error bodies in each door's own dialect; never a stack trace.

Kafka REST routes answer ``{"error_code": int, "message": str}`` (Confluent's envelope), the
Kinesis routes ``{"__type": str, "message": str}`` (the AWS JSON error shape). The real API
Gateway Kinesis proxy returns HTTP 200 even for Kinesis errors; pinpipe deliberately returns
the 4xx/5xx status so that clients checking only the status code notice the failure.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from pinpipe.errors import (
    IngestError,
    InvalidTopicError,
    LogError,
    PinpipeError,
    UnknownPartitionError,
    UnknownTopicError,
)

KAFKA_V2 = "application/vnd.kafka.v2+json"
STREAMS_PREFIX = "/streams"

_KINESIS_TYPES = {
    400: "ValidationException",
    401: "AccessDeniedException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "UnknownOperationException",
    413: "ValidationException",
    415: "SerializationException",
    422: "ValidationException",
}


class JSONResponse(Response):
    """A JSON response serialised with orjson (compact, UTF-8)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class KafkaJSONResponse(JSONResponse):
    media_type = KAFKA_V2


class KinesisError(IngestError):
    """An error of the Kinesis routes: ``code`` is the AWS ``__type``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(status, error_type, message)


def render_error(exc: IngestError, path: str, headers: dict[str, str] | None = None) -> Response:
    """``exc`` as the JSON envelope of the door ``path`` belongs to."""
    if path.startswith(STREAMS_PREFIX):
        error_type = exc.code if isinstance(exc.code, str) else None
        error_type = error_type or _KINESIS_TYPES.get(exc.status, "InternalFailure")
        body: dict[str, Any] = {"__type": error_type, "message": exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)
    code = exc.code if isinstance(exc.code, int) else exc.status
    response_class = KafkaJSONResponse if path.startswith("/topics") else JSONResponse
    body = {"error_code": code, "message": exc.message}
    return response_class(body, status_code=exc.status, headers=headers)


def from_log_error(exc: PinpipeError) -> IngestError:
    """The HTTP answer to a log failure: client mistakes are 4xx, storage trouble 500.

    Codes follow Confluent's table: 40002 bad request (invalid topic name), 40401 unknown
    topic, 40402 unknown partition, 50003 retriable and 50002 other backend errors.
    """
    if isinstance(exc, InvalidTopicError):
        return IngestError(400, 40002, str(exc))
    if isinstance(exc, UnknownTopicError):
        return IngestError(404, 40401, str(exc))
    if isinstance(exc, UnknownPartitionError):
        return IngestError(404, 40402, str(exc))
    if isinstance(exc, LogError):
        code = 50003 if exc.transient else 50002
        return IngestError(500, code, f"the log could not store the records: {exc}")
    return IngestError(500, 500, str(exc))


def internal_error() -> IngestError:
    """What a client sees for a bug: a fixed message, details go to the server log only."""
    return IngestError(500, 500, "internal server error; the server log has the details")
