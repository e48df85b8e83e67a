"""The Kinesis operations, written once for both doors (native JSON 1.1 and API Gateway).

Each takes the operation's request document as Kinesis defines it (``StreamName``,
``ShardCount``, ...): the native door passes the body it received, the API Gateway door builds
the document from the path and body, as the tutorial's mapping templates do. The put
operations take entries their door already validated and decoded (the doors encode ``Data``
differently), check the sizes, and only then look the stream up, so a refused request has no
side effect (the API Gateway door creates unknown streams on first write). The other
operations validate their document with its model (``models``) before they touch the log,
so both doors refuse a bad field alike.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from pinpipe.errors import UnknownTopicError
from pinpipe.ingest import idempotency, models
from pinpipe.ingest import kinesis as k
from pinpipe.ingest.auth import require
from pinpipe.ingest.core import Request
from pinpipe.ingest.errors import KinesisError
from pinpipe.log.base import Log, LogRecord, ProduceRecord, TopicInfo

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

ON_DEMAND_SHARDS = 4
"""Shards of a stream created without ShardCount (on-demand mode starts with 4 in AWS)."""
DEFAULT_LIST_LIMIT = 100
DEFAULT_MAX_RESULTS = 1000
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_STARTED = time.time()
_explain = partial(k.explain, native=True)  # the operations here take no put entries


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to put, decoded by its door."""

    data: bytes
    partition_key: str
    explicit_hash_key: int | None = None


def region(request: Request) -> str:
    found = _REGION.search(request.headers.get("authorization", ""))
    return found.group(1) if found else "us-east-1"


async def _describe(ctx: IngestContext, request: Request, body: models.StreamRef) -> TopicInfo:
    name = ctx.topic(request, k.stream_name(body))
    try:
        return await ctx.describe(name)
    except UnknownTopicError as exc:
        raise k.not_found(name) from exc


# -- control plane -----------------------------------------------------------------------------


async def create_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    body = models.validate(models.CREATE_STREAM, doc, _explain)
    name = ctx.topic(request, body["StreamName"])
    ctx.writable(name)
    shards = body.get("ShardCount", ON_DEMAND_SHARDS)
    try:
        await ctx.describe(name)
    except UnknownTopicError:
        await ctx.call(ctx.log.create_topic, name, shards)
        return {}
    raise KinesisError(
        400, "ResourceInUseException", f"Stream {name} under account {k.ACCOUNT} already exists."
    )


async def delete_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    body = models.validate(models.DELETE_STREAM, doc, _explain)
    name = (await _describe(ctx, request, body)).name
    try:
        await ctx.call(ctx.log.delete_topic, name)
    except UnknownTopicError as exc:
        raise k.not_found(name) from exc
    return {}


async def list_streams(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    body = models.validate(models.LIST_STREAMS, doc, _explain)
    limit = body.get("Limit", DEFAULT_LIST_LIMIT)
    after = body.get("ExclusiveStartStreamName") or body.get("NextToken") or ""
    names = [
        t.name for t in await ctx.topics() if request.principal.may_use(t.name) and t.name > after
    ]
    page, more = names[:limit], len(names) > limit
    arn_region = region(request)
    summaries = [
        {
            "StreamName": name,
            "StreamARN": k.stream_arn(name, arn_region),
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamCreationTimestamp": _STARTED,
        }
        for name in page
    ]
    out: dict[str, Any] = {
        "StreamNames": page,
        "HasMoreStreams": more,
        "StreamSummaries": summaries,
    }
    if more:
        out["NextToken"] = page[-1]
    return out


def _shards(info: TopicInfo) -> list[dict[str, Any]]:
    out = []
    for p in range(info.partitions):
        start, end = k.hash_range(p, info.partitions)
        out.append(
            {
                "ShardId": k.shard_id(p),
                "HashKeyRange": {"StartingHashKey": str(start), "EndingHashKey": str(end)},
                "SequenceNumberRange": {"StartingSequenceNumber": k.sequence_number(p, 0)},
            }
        )
    return out


def _shards_after(info: TopicInfo, after: str | None) -> list[dict[str, Any]]:
    """The stream's shards, past ``ExclusiveStartShardId`` when one is given."""
    shards = _shards(info)
    return shards if after is None else [s for s in shards if s["ShardId"] > after]


async def describe_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    body = models.validate(models.DESCRIBE_STREAM, doc, _explain)
    info = await _describe(ctx, request, body)
    limit = body.get("Limit", DEFAULT_LIST_LIMIT)
    shards = _shards_after(info, body.get("ExclusiveStartShardId"))
    return {
        "StreamDescription": {
            **_summary(info, request),
            "Shards": shards[:limit],
            "HasMoreShards": len(shards) > limit,
        }
    }


def _summary(info: TopicInfo, request: Request) -> dict[str, Any]:
    return {
        "StreamName": info.name,
        "StreamARN": k.stream_arn(info.name, region(request)),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": _STARTED,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


async def describe_stream_summary(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    body = models.validate(models.DESCRIBE_STREAM_SUMMARY, doc, _explain)
    info = await _describe(ctx, request, body)
    summary = {**_summary(info, request), "OpenShardCount": info.partitions, "ConsumerCount": 0}
    return {"StreamDescriptionSummary": summary}


async def list_shards(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    body = models.validate(models.LIST_SHARDS, doc, _explain)  # NextToken names the stream
    info = await _describe(ctx, request, body)
    limit = body.get("MaxResults", DEFAULT_MAX_RESULTS)
    shards = _shards_after(info, body.get("ExclusiveStartShardId"))
    out: dict[str, Any] = {"Shards": shards[:limit]}
    if len(shards) > limit:
        out["NextToken"] = base64.b64encode(info.name.encode()).decode()
    return out


# -- data plane --------------------------------------------------------------------------------


async def put_record(
    ctx: IngestContext, request: Request, stream: str, entry: Entry, *, create: bool
) -> dict[str, str]:
    """Append one record; ``create`` makes an unknown stream (the API Gateway door)."""
    limit = ctx.settings.max_record_bytes
    _check_size(entry, "data", limit)
    shards = await _shards_for_write(ctx, request, stream, create)
    ctx.require_records(request, 1)
    (position,) = await ctx.produce(request, stream, [_record(entry, shards)])
    return k.result(position)


async def put_records(
    ctx: IngestContext, request: Request, stream: str, entries: Sequence[Entry], *, create: bool
) -> dict[str, Any]:
    """Append what the record rate limit allows; the rest fail as Kinesis throttles them.

    With an ``Idempotency-Key`` the request is all or nothing (429 when over the record rate
    limit), so a resend is the same request and answers exactly the first send's records.
    """
    limit = ctx.settings.max_record_bytes
    total = 0
    for i, entry in enumerate(entries):
        total += _check_size(entry, f"records.{i + 1}.member.data", limit)
    if total > k.MAX_PUT_RECORDS_BYTES:
        raise k.put_records_size_error()
    shards = await _shards_for_write(ctx, request, stream, create)
    records = [_record(entry, shards) for entry in entries]
    if idempotency.HEADER in request.headers:
        ctx.require_records(request, len(records))
        allowed = len(records)
    else:
        allowed = ctx.record_budget(request, len(records))
    positions = await ctx.produce(request, stream, records[:allowed]) if allowed else []
    out: list[dict[str, str]] = [k.result(p) for p in positions]
    for record in records[allowed:]:
        out.append(
            {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": f"Rate exceeded for shard {k.shard_id(record.partition or 0)} in "
                f"stream {stream} under account {k.ACCOUNT}.",
            }
        )
    if allowed < len(records):
        ctx.metrics.reject("throttled_records")
    return {"FailedRecordCount": len(records) - allowed, "Records": out, "EncryptionType": "NONE"}


def _check_size(entry: Entry, where: str, limit: int) -> int:
    """The entry's size (data + partition key); ValidationException past ``limit``."""
    size = len(entry.data) + len(entry.partition_key.encode())
    if size > limit:
        raise k.record_size_error(where, size, limit)
    return size


def _record(entry: Entry, shards: int) -> ProduceRecord:
    """The log record, on the shard whose hash-key range holds the entry's hash."""
    key = entry.partition_key
    hashed = k.key_hash(key) if entry.explicit_hash_key is None else entry.explicit_hash_key
    return ProduceRecord(entry.data, key.encode(), k.shard_for(hashed, shards))


async def _shards_for_write(ctx: IngestContext, request: Request, name: str, create: bool) -> int:
    """The stream's shard count; creates the stream when ``create``."""
    ctx.topic(request, name)
    ctx.writable(name)
    try:
        return (await ctx.describe(name)).partitions
    except UnknownTopicError as exc:
        if not create:
            raise k.not_found(name) from exc
    info = await ctx.call(ctx.log.create_topic, name, None)
    return info.partitions


async def get_shard_iterator(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    body = models.validate(models.GET_SHARD_ITERATOR, doc, _explain)
    info = await _describe(ctx, request, body)
    partition = k.parse_shard_id(body["ShardId"], info)
    kind = body["ShardIteratorType"]
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        raw = body.get("StartingSequenceNumber")
        try:
            seq_partition, offset = k.parse_sequence_number(str(raw))
        except ValueError as exc:
            raise k.invalid_sequence_number_error(raw) from exc
        if seq_partition != partition:
            raise KinesisError(
                400,
                "InvalidArgumentException",
                f"StartingSequenceNumber {raw} used in GetShardIterator on shard "
                f"{k.shard_id(partition)} in stream {info.name} is not from that shard",
            )
        offset += kind == "AFTER_SEQUENCE_NUMBER"
    elif kind == "TRIM_HORIZON":  # the oldest record retention kept, not offset 0
        offset = await ctx.call(ctx.log.start_offset, info.name, partition)
    elif kind == "LATEST":
        offset = await ctx.call(ctx.log.end_offset, info.name, partition)
    else:  # AT_TIMESTAMP
        at_ms = _timestamp_ms(body.get("Timestamp"))
        offset = await ctx.call(_offset_at, ctx.log, info.name, partition, at_ms)
    return {"ShardIterator": k.make_iterator(info.name, partition, offset)}


def _timestamp_ms(raw: float | str | None) -> int:
    """Epoch milliseconds of a ``Timestamp``: epoch seconds (number or text) or ISO 8601."""
    seconds = _epoch_seconds(raw) if isinstance(raw, str) else raw
    if seconds is None or not math.isfinite(seconds * 1000):
        raise k.timestamp_error()
    return int(seconds * 1000)


def _epoch_seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _offset_at(log: Log, topic: str, partition: int, at_ms: int) -> int:
    """First offset whose ingest time is at or after ``at_ms``; the end when none is yet.

    The end is read first: a record appended meanwhile is later than ``at_ms`` and must not
    be skipped.
    """
    end = log.end_offset(topic, partition)
    found = log.offset_for_time(topic, partition, at_ms)
    return end if found is None else found


async def get_records(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    body = models.validate(models.GET_RECORDS, doc, k.explain_get_records)
    stream, partition, offset = k.read_iterator(body["ShardIterator"])
    require(request.principal, "read")
    ctx.topic(request, stream)
    limit = body.get("Limit", models.MAX_GET_RECORDS)
    try:
        info = await ctx.describe(stream)
        if partition >= info.partitions:
            raise UnknownTopicError(stream)
        records, end = await ctx.call(_read, ctx.log, stream, partition, offset, limit)
    except UnknownTopicError as exc:
        raise k.not_found(stream) from exc
    out: list[dict[str, Any]] = []
    size = 0
    for record in records:
        value = record.value or b""
        size += len(value)
        if out and size > k.MAX_GET_RECORDS_BYTES:
            break
        out.append(record_json(record))
    next_offset = offset + len(out)
    behind = 0
    if next_offset < end and out:
        behind = max(0, time.time_ns() // 1_000_000 - records[len(out) - 1].timestamp)
    return {
        "Records": out,
        "NextShardIterator": k.make_iterator(stream, partition, next_offset),
        "MillisBehindLatest": behind,
    }


def _read(
    log: Log, stream: str, partition: int, offset: int, limit: int
) -> tuple[list[LogRecord], int]:
    end = log.end_offset(stream, partition)
    if offset >= end:
        return [], end
    return log.fetch(stream, partition, offset, limit), end


def record_json(record: LogRecord) -> dict[str, Any]:
    return {
        "SequenceNumber": k.sequence_number(record.partition, record.offset),
        "ApproximateArrivalTimestamp": record.timestamp / 1000,
        "Data": base64.b64encode(record.value or b"").decode(),
        "PartitionKey": (record.key or b"").decode("utf-8", "replace"),
        "EncryptionType": "NONE",
    }
