"""Confluent REST Proxy v3 records API: one record per request, or a stream of them.

``POST /v3/clusters/{cluster_id}/topics/{topic}/records`` takes one JSON record and answers
one delivery report. Sent with ``Transfer-Encoding: chunked``, the body may hold many
concatenated JSON records; the answer then streams one report per record, in order, with
HTTP 200, and failures appear only in each report's ``error_code`` (as in Confluent's server).
Record headers and client timestamps are accepted but not stored: the log keeps ingest time.
An ``Idempotency-Key`` record header (or the request header) makes a record's append happen
once; as each record is appended on its own, the request header's key stands for the i-th of
several records as ``<key>#<i>`` (a record header, when given, wins).
A record over ``max_record_bytes`` is refused with 422 / 42206, as on the v2 door: 413 is
kept for a request body over ``max_request_bytes``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from pydantic_core import ErrorDetails

from pinpipe.errors import IngestError, PinpipeError
from pinpipe.ingest import idempotency, models
from pinpipe.ingest.core import Request, Response, Route, json_response
from pinpipe.ingest.errors import (
    INSUFFICIENT_STORAGE,
    LOG_UNAVAILABLE,
    from_log_error,
    invalid,
)
from pinpipe.log.base import Position, ProduceRecord

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

CLUSTER_ID = "pinpipe"
"""The one cluster this server is, as v3 paths name it."""


def routes(ctx: IngestContext) -> list[Route]:
    async def clusters(request: Request) -> Response:
        return json_response({"kind": "KafkaClusterList", "data": [_CLUSTER]})

    async def cluster(request: Request) -> Response:
        _check_cluster(request)
        return json_response(_CLUSTER)

    async def topics(request: Request) -> Response:
        _check_cluster(request)
        data = [
            {
                "kind": "KafkaTopic",
                "cluster_id": CLUSTER_ID,
                "topic_name": t.name,
                "partitions_count": t.partitions,
                "replication_factor": 1,
                "is_internal": False,
            }
            for t in await ctx.topics()
            if request.principal.may_use(t.name)
        ]
        return json_response({"kind": "KafkaTopicList", "data": data})

    async def produce(request: Request) -> Response:
        _check_cluster(request)
        topic = ctx.topic(request, request.params["topic"])
        if request.headers.get("content-length") is None and "chunked" in request.headers.get(
            "transfer-encoding", ""
        ):
            return Response(200, stream=_streamed(ctx, request, topic))
        body = await ctx.read_body(request)
        request.body = body
        docs = list(split_concatenated(body))
        if not docs:
            raise IngestError(400, 400, "the request body is empty; a JSON record is needed")
        if len(docs) == 1:
            record = _record(docs[0], ctx)
            key = _record_key(docs[0]) or request.headers.get(idempotency.HEADER)
            ctx.require_records(request, 1)
            (position,) = await ctx.produce(request, topic, [record], key)
            return json_response(_report(topic, position, docs[0], record))
        return Response(200, b"".join([r async for r in _reports(ctx, request, topic, docs)]))

    def route(method: str, path: str, handler: Any, summary: str, streaming: bool = False) -> Route:
        return Route(method, path, handler, "kafka3", streaming=streaming, summary=summary)

    return [
        route("GET", "/v3/clusters", clusters, "List clusters (v3)"),
        route("GET", "/v3/clusters/{cluster_id}", cluster, "Get the cluster (v3)"),
        route("GET", "/v3/clusters/{cluster_id}/topics", topics, "List topics (v3)"),
        route(
            "POST",
            "/v3/clusters/{cluster_id}/topics/{topic}/records",
            produce,
            "Produce records (v3, one or streamed)",
            streaming=True,
        ),
    ]


_CLUSTER = {"kind": "KafkaCluster", "cluster_id": CLUSTER_ID}


def _check_cluster(request: Request) -> None:
    if request.params["cluster_id"] != CLUSTER_ID:
        raise IngestError(
            404,
            404,
            f"cluster {request.params['cluster_id'][:60]!r} not found; "
            f"this server is cluster {CLUSTER_ID!r}",
        )


def split_concatenated(body: bytes) -> list[Any]:
    """Concatenated JSON documents (whitespace between them optional) as a list."""
    docs, rest = _split(body)
    if rest.strip():
        raise IngestError(400, 400, "malformed JSON in the request body (an unfinished record)")
    return docs


def _split(buffer: bytes) -> tuple[list[Any], bytes]:
    """Complete top-level JSON objects in ``buffer`` and the unfinished rest."""
    docs: list[Any] = []
    depth = 0
    in_string = escaped = False
    start = -1
    for i, byte in enumerate(buffer):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
            continue
        if byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            if depth == 0:
                start = i
            depth += 1
        elif byte in (0x7D, 0x5D):
            depth -= 1
            if depth < 0:
                raise IngestError(400, 400, "malformed JSON in the request body")
            if depth == 0:
                docs.append(_parse(buffer[start : i + 1]))
                start = -1
        elif depth == 0 and byte not in b" \t\r\n":
            raise IngestError(400, 400, "each record must be a JSON object")
    rest = buffer[start:] if start >= 0 else b""
    return docs, rest


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, 400, f"malformed JSON in the request body: {exc}") from exc


def _record(doc: Any, ctx: IngestContext) -> ProduceRecord:
    record = models.validate(models.V3_RECORD, doc, _explain)
    key = _payload(record.get("key"), "key")
    value = _payload(record.get("value"), "value")
    size = len(key or b"") + len(value or b"")
    if size > ctx.settings.max_record_bytes:
        raise IngestError(
            422,
            42206,
            f"the record is {size} bytes (key + value), over the limit of "
            f"{ctx.settings.max_record_bytes} bytes",
        )
    return ProduceRecord(value, key, record.get("partition_id"))


def _payload(part: models.V3Data | None, where: str) -> bytes | None:
    """The bytes to store for ``key`` or ``value``, by its ``type``."""
    if part is None:
        return None
    kind = part.get("type", "JSON")
    data = part.get("data")
    if data is None:
        return None
    if kind == "JSON":
        return orjson.dumps(data)
    if not isinstance(data, str):
        raise IngestError(422, 42206, f"{where}.data must be a string for type {kind}")
    if kind == "STRING":
        return data.encode()
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IngestError(422, 42206, f"{where}.data is not valid base64") from exc


def _explain(error: ErrorDetails) -> IngestError:
    """The v3 answer to the first thing wrong with a record."""
    loc = error["loc"]
    if not loc:
        return invalid("a record must be a JSON object")
    if loc[0] == "partition_id":
        return invalid("partition_id must be an integer >= 0")
    if len(loc) == 1:
        return invalid(f'\'{loc[0]}\' must be an object like {{"type": "JSON", ...}}')
    shown = str(error["input"])[:30]
    return IngestError(
        422, 42206, f"{loc[0]}.type {shown} needs a schema registry; use BINARY, JSON or STRING"
    )


def _report(
    topic: str, position: Position, doc: dict[str, Any], record: ProduceRecord
) -> dict[str, Any]:
    def part(name: str, data: bytes | None) -> dict[str, Any] | None:
        given = doc.get(name)
        if not isinstance(given, dict):
            return None
        return {"type": str(given.get("type", "JSON")).upper(), "size": len(data or b"")}

    return {
        "error_code": 200,
        "cluster_id": CLUSTER_ID,
        "topic_name": topic,
        "partition_id": position.partition,
        "offset": position.offset,
        "timestamp": datetime.fromtimestamp(position.timestamp / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "key": part("key", record.key),
        "value": part("value", record.value),
    }


def _record_key(doc: Any) -> str | None:
    """The record's ``Idempotency-Key`` header (base64 value, as v3 sends headers), if any."""
    headers = doc.get("headers") if isinstance(doc, dict) else None
    if not isinstance(headers, list):
        return None
    for header in headers:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == idempotency.HEADER:
            value = header.get("value")
            try:
                return base64.b64decode(str(value), validate=True).decode("ascii")
            except (binascii.Error, ValueError) as exc:
                raise invalid("the Idempotency-Key header's value must be base64 ASCII") from exc
    return None


async def _reports(
    ctx: IngestContext, request: Request, topic: str, docs: list[Any], first: int = 0
) -> AsyncIterator[bytes]:
    """One report line per record; each record is appended on its own, errors inline.

    ``first`` is the index of ``docs[0]`` in the request (keys ``<request key>#<index>``).
    """
    request_key = request.headers.get(idempotency.HEADER)
    for i, doc in enumerate(docs, first):
        try:
            record = _record(doc, ctx)
            key = _record_key(doc) or (None if request_key is None else f"{request_key}#{i}")
            ctx.require_records(request, 1)
            (position,) = await ctx.produce(request, topic, [record], key)
            yield orjson.dumps(_report(topic, position, doc, record)) + b"\n"
        except PinpipeError as exc:
            error = from_log_error(exc)
            if error.code == INSUFFICIENT_STORAGE:
                ctx.metrics.reject("disk_full")
            if error.code == LOG_UNAVAILABLE:
                ctx.metrics.reject("log_unreachable")
            yield orjson.dumps({"error_code": error.status, "message": error.message}) + b"\n"


async def _streamed(ctx: IngestContext, request: Request, topic: str) -> AsyncIterator[bytes]:
    """Read records as they arrive and answer each as soon as it is durable."""
    assert request.receive is not None
    buffer = b""
    total = 0
    sent = 0
    while True:
        try:
            async with asyncio.timeout(ctx.settings.body_timeout_s):
                message = await request.receive()
        except TimeoutError:
            ctx.metrics.reject("body_timeout")
            yield (
                orjson.dumps(
                    {
                        "error_code": 408,
                        "message": "no record arrived within "
                        f"ingest.body_timeout_s ({ctx.settings.body_timeout_s:g} s)",
                    }
                )
                + b"\n"
            )
            return
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > ctx.settings.max_request_bytes * 100:
            yield orjson.dumps({"error_code": 413, "message": "the stream is too long"}) + b"\n"
            return
        buffer += chunk
        try:
            docs, buffer = _split(buffer)
        except IngestError as exc:
            yield orjson.dumps({"error_code": exc.status, "message": exc.message}) + b"\n"
            return
        if len(buffer) > ctx.settings.max_request_bytes:
            yield orjson.dumps({"error_code": 413, "message": "a record is too large"}) + b"\n"
            return
        async for line in _reports(ctx, request, topic, docs, sent):
            yield line
        sent += len(docs)
        if not message.get("more_body"):
            if buffer.strip():
                yield orjson.dumps({"error_code": 400, "message": "an unfinished record"}) + b"\n"
            return
