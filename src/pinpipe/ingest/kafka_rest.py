"""Confluent REST Proxy v2: produce (json and binary embedded formats) and topic metadata.

A produce request is all or nothing: every record is validated before any is appended, and the
whole batch goes to the log in one durable transaction. So where Kafka would answer 200 with a
per-record ``50002`` for an oversized record, pinpipe refuses the request with 422 / 42206 and
appends nothing: the reference emulators check only the HTTP status, and a 200 would hide the
loss.

A json-format body is first decoded by msgspec in one pass that also checks its shape and
keeps each key and value as JSON text, only stripped of whitespace (no Python objects per
record, nor a second encoding: together most of a large batch's Python time). Whatever that
pass does not accept as is goes through the pydantic models, which name the problem as the
proxy does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import orjson
from pydantic_core import ErrorDetails

from pinpipe.errors import IngestError, UnknownPartitionError
from pinpipe.ingest import models
from pinpipe.ingest.core import KAFKA_V2, Request, Response, Route, json_response
from pinpipe.ingest.errors import invalid, kind
from pinpipe.log.base import ProduceRecord, TopicInfo

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

JSON_FORMAT = "application/vnd.kafka.json.v2+json"
BINARY_FORMAT = "application/vnd.kafka.binary.v2+json"
_SCHEMA_FORMATS = {
    f"application/vnd.kafka.{fmt}.v2+json" for fmt in ("avro", "jsonschema", "protobuf")
}


class _FastRecord(msgspec.Struct):
    key: msgspec.Raw = msgspec.Raw(b"null")
    value: msgspec.Raw = msgspec.Raw(b"null")
    partition: int | None = None


class _FastProduce(msgspec.Struct):
    records: list[_FastRecord]


_FAST_JSON = msgspec.json.Decoder(_FastProduce)
_NULL = b"null"
_format = msgspec.json.format

_V2_ANSWERS = (KAFKA_V2, "application/vnd.kafka+json", "application/json")
"""Media types a v2 answer may be labelled with, in the proxy's order of preference."""


def routes(ctx: IngestContext) -> list[Route]:
    """The v2 produce and metadata routes, bound to ``ctx``."""

    async def produce(request: Request) -> Response:
        return await _produce(ctx, request, None)

    async def produce_partition(request: Request) -> Response:
        return await _produce(ctx, request, _partition_param(request))

    async def list_topics(request: Request) -> Response:
        answer = negotiate(request)
        names = [t.name for t in await ctx.topics() if request.principal.may_use(t.name)]
        return json_response(names, content_type=answer)

    async def get_topic(request: Request) -> Response:
        answer = negotiate(request)
        info = await ctx.describe(ctx.topic(request, request.params["topic"]))
        body = {"name": info.name, "configs": {}, "partitions": _partitions(info)}
        return json_response(body, content_type=answer)

    async def get_partitions(request: Request) -> Response:
        answer = negotiate(request)
        info = await ctx.describe(ctx.topic(request, request.params["topic"]))
        return json_response(_partitions(info), content_type=answer)

    async def get_partition(request: Request) -> Response:
        answer = negotiate(request)
        info = await ctx.describe(ctx.topic(request, request.params["topic"]))
        partition = _partition_param(request)
        if partition >= info.partitions:
            raise UnknownPartitionError(info.name, partition, info.partitions)
        return json_response(_partitions(info)[partition], content_type=answer)

    def route(method: str, path: str, handler: Any, summary: str) -> Route:
        return Route(method, path, handler, "kafka", summary=summary)

    return [
        route("GET", "/topics", list_topics, "List topics"),
        route("POST", "/topics/{topic}", produce, "Produce records (v2)"),
        route("GET", "/topics/{topic}", get_topic, "Describe a topic"),
        route("GET", "/topics/{topic}/partitions", get_partitions, "List a topic's partitions"),
        route(
            "POST",
            "/topics/{topic}/partitions/{partition}",
            produce_partition,
            "Produce to a partition (v2)",
        ),
        route("GET", "/topics/{topic}/partitions/{partition}", get_partition, "Get a partition"),
    ]


def negotiate(request: Request, offered: tuple[str, ...] = _V2_ANSWERS) -> str:
    """The answer's media type from ``Accept`` (weighted lists allowed); 406 if none fits."""
    accept = request.headers.get("accept")
    if not accept:
        return offered[0]
    best, best_q = "", 0.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for candidate in offered:
            if q > best_q and _media_matches(media, candidate):
                best, best_q = candidate, q
    if not best:
        raise IngestError(
            406,
            406,
            f"HTTP 406 Not Acceptable: cannot answer as {accept[:100]!r}; accept {offered[0]}",
        )
    return best


def _media_matches(pattern: str, media: str) -> bool:
    if pattern in ("*/*", media):
        return True
    kind, _, sub = pattern.partition("/")
    return sub == "*" and media.startswith(kind + "/")


async def _produce(ctx: IngestContext, request: Request, partition: int | None) -> Response:
    topic = ctx.topic(request, request.params["topic"])
    binary = embedded_format(request.headers.get("content-type", ""))
    answer = negotiate(request)
    if not request.body.strip():
        raise IngestError(422, 422, 'the request body is empty; expected {"records": [...]}')
    records = None if binary else _fast_records(request.body, partition, ctx)
    if records is None:
        records = _records(request.json(status=400, code=400), binary, partition, ctx)
    ctx.require_records(request, len(records))
    positions = await ctx.produce(request, topic, records)
    offsets = [
        {"partition": p.partition, "offset": p.offset, "error_code": None, "error": None}
        for p in positions
    ]
    body = {"key_schema_id": None, "value_schema_id": None, "offsets": offsets}
    return json_response(body, content_type=answer)


def embedded_format(content_type: str) -> bool:
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
            f"HTTP 415 Unsupported Media Type: {media_type} needs a schema registry, which "
            f"pinpipe does not have; send {JSON_FORMAT} or {BINARY_FORMAT}",
        )
    raise IngestError(415, 415, "HTTP 415 Unsupported Media Type")


def _partition_param(request: Request) -> int:
    raw = request.params["partition"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise IngestError(404, 40402, f"partition {raw[:20]!r} does not exist")
    return int(raw)


def _fast_records(
    body: bytes, path_partition: int | None, ctx: IngestContext
) -> list[ProduceRecord] | None:
    """A json-format body's records in one pass, or None to let ``_records`` explain it."""
    try:
        items = _FAST_JSON.decode(body).records
    except msgspec.MsgspecError:
        return None
    if not items or len(items) > ctx.settings.max_records_per_request:
        return None
    max_bytes = ctx.settings.max_record_bytes
    out: list[ProduceRecord] = []
    append = out.append
    for item in items:
        partition = item.partition
        if partition is None:
            partition = path_partition
        elif not 0 <= partition < models.MAX_PARTITION or (
            path_partition is not None and partition != path_partition
        ):
            return None
        value = _compact(item.value)
        key = _compact(item.key)
        if len(value or b"") + len(key or b"") > max_bytes:
            return None
        append(ProduceRecord(value, key, partition))
    return out


def _compact(raw: msgspec.Raw) -> bytes | None:
    """The JSON text without whitespace (the proxy stores compact JSON); None for null.

    Text with escapes is encoded again, so that, as with the proxy, ``"\\u00e9"`` is stored
    as the UTF-8 of ``é``; numbers keep the digits the client sent.
    """
    text = _format(raw, indent=-1)
    if b"\\" in text:
        text = orjson.dumps(orjson.loads(text))
    return None if text == _NULL else text


def _records(
    doc: Any, binary: bool, path_partition: int | None, ctx: IngestContext
) -> list[ProduceRecord]:
    """The body's records, all checked before any is appended (see the module docstring)."""
    items = doc.get("records") if isinstance(doc, dict) else None
    limit = ctx.settings.max_records_per_request
    if isinstance(items, list) and len(items) > limit:  # before validating them one by one
        raise IngestError(
            422, 42206, f"{len(items)} records in one request, over the limit of {limit}"
        )
    max_bytes = ctx.settings.max_record_bytes
    out: list[ProduceRecord] = []
    if binary:
        for i, item in enumerate(models.validate(models.V2_BINARY, doc, _explain)["records"]):
            key, value = item.get("key"), item.get("value")
            _check_size(i, key, value, max_bytes)
            out.append(ProduceRecord(value, key, _partition(item, i, path_partition)))
        return out
    for i, json_item in enumerate(models.validate(models.V2_JSON, doc, _explain)["records"]):
        raw_key, raw_value = json_item.get("key"), json_item.get("value")
        key = None if raw_key is None else orjson.dumps(raw_key)  # a string keeps its quotes
        value = None if raw_value is None else orjson.dumps(raw_value)
        _check_size(i, key, value, max_bytes)
        out.append(ProduceRecord(value, key, _partition(json_item, i, path_partition)))
    return out


def _check_size(i: int, key: bytes | None, value: bytes | None, max_bytes: int) -> None:
    size = len(key or b"") + len(value or b"")
    if size > max_bytes:
        raise IngestError(
            422,
            42206,
            f"records[{i}] is {size} bytes (key + value), over the limit of "
            f"{max_bytes} bytes; nothing in this request was stored",
        )


def _partition(
    item: models.V2JsonRecord | models.V2BinaryRecord, i: int, path_partition: int | None
) -> int | None:
    given = item.get("partition")
    if given is None:
        return path_partition
    if path_partition is not None and given != path_partition:
        raise invalid(
            f"records[{i}].partition is {given} but the URL names partition {path_partition}"
        )
    return given


def _explain(error: ErrorDetails) -> IngestError:
    """The v2 answer to the first thing wrong with a produce body."""
    loc, given = error["loc"], error["input"]
    if not loc:
        return invalid(f"the body must be a JSON object with 'records', not {kind(given)}")
    if len(loc) == 1:
        if error["type"] == "missing" or given is None:
            return invalid('\'records\' is required: {"records": [{"value": ...}, ...]}')
        if error["type"] == "too_short":
            return invalid("'records' must not be empty")
        return invalid(f"'records' must be an array, not {kind(given)}")
    where = f"records[{loc[1]}]"
    if len(loc) == 2:
        return invalid(f"{where} must be an object, not {kind(given)}")
    where += f".{loc[2]}"
    if loc[2] == "partition":
        return invalid(f"{where} must be an integer >= 0, not {given!r}")
    if error["type"] == "base64_type":
        return invalid(f"{where} must be a base64 string in the binary format, not {kind(given)}")
    return invalid(f"{where} is not valid base64: {error.get('ctx', {}).get('reason', '')}")


def _partitions(info: TopicInfo) -> list[dict[str, Any]]:
    """Partition metadata in the v2 shape; one local 'broker' 0 leads every partition."""
    replica = {"broker": 0, "leader": True, "in_sync": True}
    return [{"partition": p, "leader": 0, "replicas": [replica]} for p in range(info.partitions)]
