"""Confluent REST Proxy v2 routes: produce (json and binary embedded formats) and metadata.

A produce request is all or nothing: every record is validated before any is appended, and the
whole batch goes to the log in one durable transaction. So where Kafka would answer 200 with a
per-record ``50002`` for an oversized record, pinpipe refuses the request with 422 / 42206 and
appends nothing: the reference emulators check only the HTTP status, and a 200 would hide the
loss.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pinpipe.errors import IngestError, UnknownPartitionError
from pinpipe.ingest.errors import KafkaJSONResponse
from pinpipe.ingest.http import IngestContext, guarded, parse_json, read_body
from pinpipe.log.base import ProduceRecord, TopicInfo, validate_topic

JSON_FORMAT = "application/vnd.kafka.json.v2+json"
BINARY_FORMAT = "application/vnd.kafka.binary.v2+json"
_SCHEMA_FORMATS = {
    f"application/vnd.kafka.{fmt}.v2+json" for fmt in ("avro", "jsonschema", "protobuf")
}


def routes(ctx: IngestContext) -> list[Route]:
    """The v2 routes, bound to ``ctx``."""

    async def produce(request: Request) -> Response:
        return await _produce(ctx, request, None)

    async def produce_partition(request: Request) -> Response:
        return await _produce(ctx, request, int(request.path_params["partition"]))

    async def list_topics(request: Request) -> Response:
        return KafkaJSONResponse([t.name for t in ctx.log.topics()])

    async def get_topic(request: Request) -> Response:
        info = ctx.log.describe(validate_topic(request.path_params["topic"]))
        body = {"name": info.name, "configs": {}, "partitions": _partitions(info)}
        return KafkaJSONResponse(body)

    async def get_partitions(request: Request) -> Response:
        info = ctx.log.describe(validate_topic(request.path_params["topic"]))
        return KafkaJSONResponse(_partitions(info))

    async def get_partition(request: Request) -> Response:
        info = ctx.log.describe(validate_topic(request.path_params["topic"]))
        partition = int(request.path_params["partition"])
        if partition >= info.partitions:
            raise UnknownPartitionError(info.name, partition, info.partitions)
        return KafkaJSONResponse(_partitions(info)[partition])

    return [
        Route("/topics", guarded(ctx, list_topics), methods=["GET"]),
        Route("/topics/{topic}", guarded(ctx, produce), methods=["POST"]),
        Route("/topics/{topic}", guarded(ctx, get_topic), methods=["GET"]),
        Route("/topics/{topic}/partitions", guarded(ctx, get_partitions), methods=["GET"]),
        Route(
            "/topics/{topic}/partitions/{partition:int}",
            guarded(ctx, produce_partition),
            methods=["POST"],
        ),
        Route(
            "/topics/{topic}/partitions/{partition:int}",
            guarded(ctx, get_partition),
            methods=["GET"],
        ),
    ]


async def _produce(ctx: IngestContext, request: Request, partition: int | None) -> Response:
    topic = validate_topic(request.path_params["topic"])
    binary = _embedded_format(request.headers.get("content-type", ""))
    body = await read_body(request, ctx.settings.max_request_bytes)
    if not body.strip():
        raise IngestError(422, 422, 'the request body is empty; expected {"records": [...]}')
    doc = parse_json(body, status=400, code=400)
    records = _records(doc, binary, partition, ctx.settings.max_record_bytes)
    positions = await ctx.committer.produce(topic, records)
    offsets = [
        {"partition": p.partition, "offset": p.offset, "error_code": None, "error": None}
        for p in positions
    ]
    return KafkaJSONResponse({"key_schema_id": None, "value_schema_id": None, "offsets": offsets})


def _embedded_format(content_type: str) -> bool:
    """True for binary, False for json; 415 for everything else, as the proxy does."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_FORMAT:
        return False
    if media_type == BINARY_FORMAT:
        return True
    if media_type in _SCHEMA_FORMATS:
        raise IngestError(
            415,
            415,
            f"{media_type} needs a schema registry, which pinpipe does not support; "
            f"send {JSON_FORMAT} or {BINARY_FORMAT}",
        )
    raise IngestError(415, 415, "HTTP 415 Unsupported Media Type")


def _records(
    doc: Any, binary: bool, path_partition: int | None, max_record_bytes: int
) -> list[ProduceRecord]:
    if not isinstance(doc, dict):
        raise _invalid(f"the body must be a JSON object with 'records', not {_kind(doc)}")
    items = doc.get("records")
    if items is None:
        raise _invalid('\'records\' is required: {"records": [{"value": ...}, ...]}')
    if not isinstance(items, list):
        raise _invalid(f"'records' must be an array, not {_kind(items)}")
    if not items:
        raise _invalid("'records' must not be empty")
    out: list[ProduceRecord] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid(f"records[{i}] must be an object, not {_kind(item)}")
        key = _payload(item.get("key"), binary, f"records[{i}].key")
        value = _payload(item.get("value"), binary, f"records[{i}].value")
        size = len(key or b"") + len(value or b"")
        if size > max_record_bytes:
            raise IngestError(
                422,
                42206,
                f"records[{i}] is {size} bytes (key + value), over the limit of "
                f"{max_record_bytes} bytes; nothing in this request was stored",
            )
        out.append(ProduceRecord(value, key, _partition(item, i, path_partition)))
    return out


def _payload(raw: Any, binary: bool, where: str) -> bytes | None:
    """JSON format: the JSON bytes (a string keeps its quotes). Binary: base64-decoded."""
    if raw is None:
        return None
    if not binary:
        return orjson.dumps(raw)
    if not isinstance(raw, str):
        raise _invalid(f"{where} must be a base64 string in the binary format, not {_kind(raw)}")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"{where} is not valid base64: {exc}") from exc


def _partition(item: dict[str, Any], i: int, path_partition: int | None) -> int | None:
    given = item.get("partition")
    if given is None:
        return path_partition
    if isinstance(given, bool) or not isinstance(given, int) or given < 0:
        raise _invalid(f"records[{i}].partition must be an integer >= 0, not {given!r}")
    if path_partition is not None and given != path_partition:
        raise _invalid(
            f"records[{i}].partition is {given} but the URL names partition {path_partition}"
        )
    return given


def _partitions(info: TopicInfo) -> list[dict[str, Any]]:
    """Partition metadata in the v2 shape; one local 'broker' 0 leads every partition."""
    replica = {"broker": 0, "leader": True, "in_sync": True}
    return [{"partition": p, "leader": 0, "replicas": [replica]} for p in range(info.partitions)]


def _invalid(message: str) -> IngestError:
    return IngestError(422, 422, message)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
