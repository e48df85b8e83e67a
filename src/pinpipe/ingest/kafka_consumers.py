"""Confluent REST Proxy v2 consumers: instances, subscription, fetch, offsets, positions.

Instances live in the serving process, as they live on one proxy node in Confluent's
server: a request for an instance another process (or a restarted server) owns answers
404 / 40403. Committed offsets are the log's consumer-group offsets, so they are shared and
durable. pinpipe does not rebalance: every instance of a group reads all partitions of the
topics it subscribed to (use ``assignments`` to split partitions by hand). Request bodies are
the consumer models of ``models``; ``_explain`` words their errors as the proxy does.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import TypeAdapter
from pydantic_core import ErrorDetails

from pinpipe.errors import IngestError, UnknownTopicError
from pinpipe.ingest import models
from pinpipe.ingest.auth import require
from pinpipe.ingest.core import KAFKA_V2, Request, Response, Route, empty, json_response
from pinpipe.ingest.errors import invalid, kind
from pinpipe.log.base import Log, LogRecord
from pinpipe.settings import IngestSettings

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

MAX_FETCH_RECORDS = 500
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
T = TypeVar("T")

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class Consumer:
    group: str
    name: str
    format: str
    reset: str
    auto_commit: bool
    owner: str
    """Principal that created it: only the same key may use it."""
    topics: list[str] = field(default_factory=list)
    pattern: re.Pattern[str] | None = None
    assigned: list[TopicPartition] | None = None
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ConsumerRegistry:
    """The live instances of this process, expired after ``consumer_timeout_ms`` idle."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.instances: dict[tuple[str, str], Consumer] = {}

    def _expire(self) -> None:
        horizon = time.monotonic() - self.settings.consumer_timeout_ms / 1000
        for key in [k for k, c in self.instances.items() if c.last_used < horizon]:
            del self.instances[key]

    def get(self, request: Request) -> Consumer:
        self._expire()
        group, name = request.params["group"], request.params["instance"]
        consumer = self.instances.get((group, name))
        if consumer is None or consumer.owner != request.principal.bucket_id:
            raise IngestError(
                404, 40403, f"consumer instance {name!r} of group {group!r} not found"
            )
        consumer.last_used = time.monotonic()
        return consumer


def routes(ctx: IngestContext) -> list[Route]:
    registry = ConsumerRegistry(ctx.settings)
    base = "/consumers/{group}/instances/{instance}"

    async def create(request: Request) -> Response:
        require(request.principal, "read")
        group = _group(request.params["group"])
        body = _body(request, models.CONSUMER_CREATE, models.ConsumerCreate())
        fmt = body.get("format", "binary")
        reset = body.get("auto.offset.reset", "latest")
        auto_commit = body.get("auto.commit.enable", True)
        name = body.get("name") or "rest-consumer-" + secrets.token_hex(8)
        registry._expire()
        if (group, name) in registry.instances:
            raise IngestError(409, 40902, f"consumer instance {name!r} already exists")
        if len(registry.instances) >= ctx.settings.consumer_instances:
            raise IngestError(429, 429, "too many consumer instances; delete unused ones")
        registry.instances[(group, name)] = Consumer(
            group, name, fmt, reset, auto_commit, request.principal.bucket_id
        )
        host = request.headers.get("host", "localhost")
        uri = f"{request.scheme}://{host}/consumers/{group}/instances/{name}"
        return _json({"instance_id": name, "base_uri": uri})

    async def delete(request: Request) -> Response:
        consumer = registry.get(request)
        del registry.instances[(consumer.group, consumer.name)]
        return empty()

    async def subscribe(request: Request) -> Response:
        consumer = registry.get(request)
        body = _body(request, models.CONSUMER_SUBSCRIPTION)
        if consumer.assigned is not None:
            raise IngestError(409, 40903, "the instance has a manual assignment; unassign first")
        topics = body.get("topics")
        if topics is not None:
            consumer.topics = [ctx.topic(request, t) for t in topics]
            consumer.pattern = None
        else:
            consumer.pattern = body.get("topic_pattern")
            consumer.topics = []
        return empty()

    async def subscription(request: Request) -> Response:
        consumer = registry.get(request)
        return _json({"topics": await _topics(ctx, request, consumer)})

    async def unsubscribe(request: Request) -> Response:
        consumer = registry.get(request)
        consumer.topics, consumer.pattern = [], None
        return empty()

    async def assign(request: Request) -> Response:
        consumer = registry.get(request)
        if consumer.topics or consumer.pattern:
            raise IngestError(409, 40903, "the instance is subscribed; unsubscribe first")
        body = _body(request, models.CONSUMER_PARTITIONS)
        consumer.assigned = await _partitions(ctx, request, body["partitions"])
        return empty()

    async def assignments(request: Request) -> Response:
        consumer = registry.get(request)
        parts = consumer.assigned or []
        return _json({"partitions": [{"topic": t, "partition": p} for t, p in parts]})

    async def seek(request: Request) -> Response:
        consumer = registry.get(request)
        items = _body(request, models.CONSUMER_SEEK)["offsets"]
        for tp, item in zip(await _partitions(ctx, request, items), items, strict=True):
            consumer.positions[tp] = item["offset"]
        return empty()

    async def seek_edge(request: Request, end: bool) -> Response:
        consumer = registry.get(request)
        parts = _body(request, models.CONSUMER_PARTITIONS)["partitions"]
        edge = ctx.log.end_offset if end else ctx.log.start_offset  # retention moves the start
        for tp in await _partitions(ctx, request, parts):
            consumer.positions[tp] = await ctx.call(edge, *tp)
        return empty()

    async def seek_beginning(request: Request) -> Response:
        return await seek_edge(request, False)

    async def seek_end(request: Request) -> Response:
        return await seek_edge(request, True)

    async def records(request: Request) -> Response:
        require(request.principal, "read")
        consumer = registry.get(request)
        wanted = f"application/vnd.kafka.{consumer.format}.v2+json"
        accept = request.headers.get("accept", wanted)
        if wanted not in accept and "*/*" not in accept:
            raise IngestError(
                406, 40601, f"the consumer's format is {consumer.format}: send Accept: {wanted}"
            )
        query = request.query
        timeout = min(_int_param(query, "timeout", 1000), 30_000) / 1000
        max_bytes = _int_param(query, "max_bytes", DEFAULT_MAX_BYTES)
        async with consumer.lock:
            before = dict(consumer.positions)
            found = await _fetch(ctx, request, consumer, max_bytes, timeout)
            try:
                body = [_record_json(r, consumer.format) for r in found]
            except IngestError:
                consumer.positions = before  # nothing was delivered: do not skip the records
                raise
            if consumer.auto_commit and found:
                await ctx.call(ctx.log.commit, consumer.group, _fetched(found))
        return json_response(body, content_type=wanted)

    async def commit(request: Request) -> Response:
        consumer = registry.get(request)
        items = _body(request, models.CONSUMER_COMMIT, models.ConsumerCommit()).get("offsets")
        if items is None:
            offsets = dict(consumer.positions)
        else:
            parts = await _partitions(ctx, request, items)
            # the body names the last record consumed
            offsets = {tp: item["offset"] + 1 for tp, item in zip(parts, items, strict=True)}
        if offsets:
            await ctx.call(ctx.log.commit, consumer.group, offsets)
        return empty()

    async def committed(request: Request) -> Response:
        consumer = registry.get(request)
        doc = request.json(status=400, code=400) if request.body.strip() else {}
        parts = (
            await _assigned(ctx, request, consumer)
            if doc == {}  # no body, or {}: the instance's partitions
            else await _partitions(
                ctx, request, _valid(models.CONSUMER_PARTITIONS, doc)["partitions"]
            )
        )
        out = []
        for topic, partition in parts:
            offset = await ctx.call(ctx.log.committed, consumer.group, topic, partition)
            if offset is not None:
                out.append(
                    {"topic": topic, "partition": partition, "offset": offset, "metadata": ""}
                )
        return _json({"offsets": out})

    def route(method: str, path: str, handler: Any, summary: str) -> Route:
        return Route(method, path, handler, "kafka", summary=summary)

    return [
        route("POST", "/consumers/{group}", create, "Create a consumer instance"),
        route("DELETE", base, delete, "Delete a consumer instance"),
        route("POST", base + "/subscription", subscribe, "Subscribe to topics"),
        route("GET", base + "/subscription", subscription, "Current subscription"),
        route("DELETE", base + "/subscription", unsubscribe, "Unsubscribe"),
        route("POST", base + "/assignments", assign, "Assign partitions by hand"),
        route("GET", base + "/assignments", assignments, "Current manual assignment"),
        route("POST", base + "/positions", seek, "Seek to offsets"),
        route("POST", base + "/positions/beginning", seek_beginning, "Seek to the beginning"),
        route("POST", base + "/positions/end", seek_end, "Seek to the end"),
        route("GET", base + "/records", records, "Fetch records"),
        route("POST", base + "/offsets", commit, "Commit offsets"),
        route("GET", base + "/offsets", committed, "Committed offsets"),
    ]


def _json(content: Any) -> Response:
    return json_response(content, content_type=KAFKA_V2)


def _body(request: Request, adapter: TypeAdapter[T], empty_body: T | None = None) -> T:
    """The request's body checked against ``adapter``; ``empty_body`` when none is sent."""
    if empty_body is not None and not request.body.strip():
        return empty_body
    return _valid(adapter, request.json(status=400, code=400))


def _valid(adapter: TypeAdapter[T], doc: Any) -> T:
    return models.validate(adapter, doc, _explain)


def _group(raw: str) -> str:
    if not models.CONSUMER_NAME.match(raw):
        raise _invalid_config(f"invalid consumer group {raw[:60]!r}: use [a-zA-Z0-9._-]")
    return raw


def _invalid_config(message: str) -> IngestError:
    """A consumer setting the proxy refuses: 422 / 42204."""
    return IngestError(422, 42204, message)


def _explain(error: ErrorDetails) -> IngestError:
    """The proxy's answer to the first thing wrong with a consumer request body."""
    loc, given, kind_ = error["loc"], error["input"], error["type"]
    if not loc:
        if kind_ == "subscription":
            return invalid("give exactly one of 'topics' (a list) and 'topic_pattern' (a regex)")
        return invalid(f"the body must be a JSON object, not {kind(given)}")
    field = loc[0]
    if field == "format":
        return _invalid_config(
            f"format {str(given)[:40]!r} is not supported; use binary or json "
            "(avro, jsonschema and protobuf need a schema registry)"
        )
    if field == "auto.offset.reset":
        return _invalid_config("auto.offset.reset must be earliest, latest or none")
    if field == "name":
        return _invalid_config(f"invalid consumer name {str(given)[:60]!r}: use [a-zA-Z0-9._-]")
    if field == "topics":
        shown = kind(given) if len(loc) == 1 else "an array"
        return invalid(f"'topics' must be a non-empty list of names, not {shown}")
    if field == "topic_pattern":
        if kind_ == "regex":
            reason = error.get("ctx", {}).get("reason", "")
            return invalid(f"'topic_pattern' is not a valid regex: {reason}")
        return invalid("'topic_pattern' must be a regular expression")
    if len(loc) == 1:
        what = "{topic, partition, offset}" if field == "offsets" else "{topic, partition}"
        return invalid(f"'{field}' must be a list of {what}")
    if len(loc) > 2 and loc[2] == "offset":
        return invalid("each offset needs an integer 'offset' >= 0")
    return invalid("each entry needs a string 'topic' and an integer 'partition'")


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise invalid(f"query parameter {name} must be a non-negative integer")
    return int(raw)


async def _partitions(
    ctx: IngestContext,
    request: Request,
    items: Sequence[models.TopicPartitionRef] | Sequence[models.TopicPartitionOffset],
) -> list[TopicPartition]:
    """The validated entries' (topic, partition), each checked to exist and be allowed."""
    out = []
    for item in items:
        topic, partition = item["topic"], item["partition"]
        info = await ctx.describe(ctx.topic(request, topic))
        if not 0 <= partition < info.partitions:
            raise IngestError(404, 40402, f"partition {partition} of {topic!r} does not exist")
        out.append((topic, partition))
    return out


async def _topics(ctx: IngestContext, request: Request, consumer: Consumer) -> list[str]:
    pattern = consumer.pattern
    if pattern is None:
        return list(consumer.topics)
    return [
        t.name
        for t in await ctx.topics()
        if pattern.fullmatch(t.name) and request.principal.may_use(t.name)
    ]


async def _assigned(
    ctx: IngestContext, request: Request, consumer: Consumer
) -> list[TopicPartition]:
    if consumer.assigned is not None:
        return list(consumer.assigned)
    out = []
    for topic in await _topics(ctx, request, consumer):
        try:
            out += [(topic, p) for p in range((await ctx.describe(topic)).partitions)]
        except UnknownTopicError:
            continue  # subscribed before it exists, as Kafka allows
    return out


async def _fetch(
    ctx: IngestContext, request: Request, consumer: Consumer, max_bytes: int, timeout: float
) -> list[LogRecord]:
    """Records from the consumer's positions on, waiting up to ``timeout`` for the first."""
    deadline = time.monotonic() + timeout
    while True:
        parts = await _assigned(ctx, request, consumer)
        found, positions = await ctx.call(
            _read,
            ctx.log,
            consumer.group,
            consumer.reset,
            dict(consumer.positions),
            parts,
            max_bytes,
        )
        consumer.positions.update(positions)
        if found or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _read(
    log: Log,
    group: str,
    reset: str,
    positions: dict[TopicPartition, int],
    parts: list[TopicPartition],
    max_bytes: int,
) -> tuple[list[LogRecord], dict[TopicPartition, int]]:
    """One pass over ``parts`` (on a log-call thread): the records and the moved positions."""
    found: list[LogRecord] = []
    size = 0
    for tp in parts:
        room = MAX_FETCH_RECORDS - len(found)
        if room <= 0 or size >= max_bytes:
            break
        if tp not in positions:
            positions[tp] = _initial_position(log, group, reset, tp)
        for record in log.fetch(tp[0], tp[1], positions[tp], room):
            size += len(record.value or b"") + len(record.key or b"")
            if found and size > max_bytes:
                break
            found.append(record)
            positions[tp] = record.offset + 1
    return found, positions


def _initial_position(log: Log, group: str, reset: str, tp: TopicPartition) -> int:
    """The group's committed offset, else where ``auto.offset.reset`` says."""
    committed = log.committed(group, *tp)
    if committed is not None:
        return committed
    if reset == "earliest":
        return log.start_offset(*tp)  # the oldest record retention kept, not offset 0
    if reset == "latest":
        return log.end_offset(*tp)
    raise IngestError(
        422, 42204, f"no committed offset for {tp[0]}[{tp[1]}] and auto.offset.reset=none"
    )


def _fetched(records: list[LogRecord]) -> dict[TopicPartition, int]:
    out: dict[TopicPartition, int] = {}
    for record in records:
        out[(record.topic, record.partition)] = record.offset + 1
    return out


def _decode(raw: bytes | None, fmt: str) -> Any:
    if raw is None:
        return None
    if fmt == "binary":
        return base64.b64encode(raw).decode()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise IngestError(
            422, 42207, "a record is not JSON; read this topic with a binary-format consumer"
        ) from exc


def _record_json(record: LogRecord, fmt: str) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "key": _decode(record.key, fmt),
        "value": _decode(record.value, fmt),
        "partition": record.partition,
        "offset": record.offset,
    }
