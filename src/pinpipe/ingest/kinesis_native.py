"""The native Kinesis protocol: ``POST /`` with ``X-Amz-Target: Kinesis_20131202.<Op>``.

AWS JSON 1.1, so boto3 and the AWS CLI work with only ``endpoint_url`` changed. Stream
lifecycle maps onto log topics (``CreateStream`` = create a topic with ``ShardCount``
partitions, ``DeleteStream`` = ``Log.delete_topic``). Unlike the API Gateway door, writes to a
stream that does not exist fail with ``ResourceNotFoundException``, as in Kinesis.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from pinpipe.errors import UnknownTopicError
from pinpipe.ingest import kinesis as k
from pinpipe.ingest.core import AMZ_JSON, Request, Response, Route
from pinpipe.ingest.errors import KinesisError
from pinpipe.log.base import LogRecord, TopicInfo

if TYPE_CHECKING:
    from pinpipe.ingest.app import IngestContext

TARGET_PREFIX = "Kinesis_20131202."
MAX_SHARDS = 1024
ON_DEMAND_SHARDS = 4
"""Shards of a stream created without ShardCount (on-demand mode starts with 4 in AWS)."""
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_STARTED = time.time()

Op = Callable[["IngestContext", Request, dict[str, Any]], Awaitable[dict[str, Any]]]


def routes(ctx: IngestContext) -> list[Route]:
    async def dispatch(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        op = (
            OPERATIONS.get(target.removeprefix(TARGET_PREFIX))
            if target.startswith(TARGET_PREFIX)
            else None
        )
        if op is None:
            raise KinesisError(
                400, "UnknownOperationException", f"unknown operation {target[:100]!r}"
            )
        doc = request.json(status=400, code="SerializationException") if request.body else {}
        if not isinstance(doc, dict):
            raise KinesisError(400, "SerializationException", "the body must be a JSON object")
        result = await op(ctx, request, doc)
        return Response(200, orjson.dumps(result), AMZ_JSON)

    return [Route("POST", "/", dispatch, "aws", summary="Kinesis JSON 1.1 API (X-Amz-Target)")]


def region(request: Request) -> str:
    found = _REGION.search(request.headers.get("authorization", ""))
    return found.group(1) if found else "us-east-1"


def _describe(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> TopicInfo:
    name = ctx.topic(request, k.stream_name(doc))
    try:
        return ctx.log.describe(name)
    except UnknownTopicError as exc:
        raise k.not_found(name) from exc


def _int(doc: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = doc.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise k.validation(
            f"Value '{str(value)[:40]}' at '{name[0].lower() + name[1:]}' failed to satisfy "
            f"constraint: Member must have value between {low} and {high}"
        )
    return value


# -- control plane -----------------------------------------------------------------------------


async def create_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    name = ctx.topic(request, k.check_stream_name(doc.get("StreamName")))
    shards = _int(doc, "ShardCount", 1, MAX_SHARDS, ON_DEMAND_SHARDS)
    try:
        ctx.log.describe(name)
    except UnknownTopicError:
        await ctx.committer.call(ctx.log.create_topic, name, shards)
        return {}
    raise KinesisError(
        400, "ResourceInUseException", f"Stream {name} under account {k.ACCOUNT} already exists."
    )


async def delete_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    name = _describe(ctx, request, doc).name
    try:
        await ctx.committer.call(ctx.log.delete_topic, name)
    except UnknownTopicError as exc:
        raise k.not_found(name) from exc
    return {}


async def list_streams(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    limit = _int(doc, "Limit", 1, 10_000, 100)
    after = doc.get("ExclusiveStartStreamName") or doc.get("NextToken") or ""
    names = [
        t.name for t in ctx.log.topics() if request.principal.may_use(t.name) and t.name > after
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


def _shards_after(info: TopicInfo, after: Any) -> list[dict[str, Any]]:
    """The stream's shards, past ``ExclusiveStartShardId`` when one is given."""
    shards = _shards(info)
    return [s for s in shards if s["ShardId"] > after] if isinstance(after, str) else shards


async def describe_stream(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    info = _describe(ctx, request, doc)
    limit = _int(doc, "Limit", 1, 10_000, 100)
    shards = _shards_after(info, doc.get("ExclusiveStartShardId"))
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
    info = _describe(ctx, request, doc)
    summary = {**_summary(info, request), "OpenShardCount": info.partitions, "ConsumerCount": 0}
    return {"StreamDescriptionSummary": summary}


async def list_shards(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    token = doc.get("NextToken")
    if isinstance(token, str):
        try:
            doc = {"StreamName": base64.b64decode(token).decode(), **doc}
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise KinesisError(400, "InvalidArgumentException", "Invalid NextToken.") from exc
    info = _describe(ctx, request, doc)
    limit = _int(doc, "MaxResults", 1, 10_000, 1000)
    shards = _shards_after(info, doc.get("ExclusiveStartShardId"))
    out: dict[str, Any] = {"Shards": shards[:limit]}
    if len(shards) > limit:
        out["NextToken"] = base64.b64encode(info.name.encode()).decode()
    return out


# -- data plane --------------------------------------------------------------------------------


def _data(raw: Any, where: str) -> bytes:
    if not isinstance(raw, str):
        raise k.validation(
            f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
        )
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KinesisError(400, "SerializationException", f"'{where}' is not valid base64") from exc


async def put_record(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    name = k.stream_name(doc)
    shards = await k.stream_for_write(ctx, request, name, create=False)
    data = _data(doc.get("Data"), "data")
    key = k.partition_key(doc.get("PartitionKey"), "partitionKey")
    hash_key = k.explicit_hash_key(doc.get("ExplicitHashKey"), "explicitHashKey")
    record = k.make_record(data, key, hash_key, shards, "data", ctx.settings.max_record_bytes)
    ctx.require_records(request, 1)
    (position,) = await ctx.produce(request, name, [record])
    return {**k.result(position), "EncryptionType": "NONE"}


async def put_records(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    name = k.stream_name(doc)
    items = doc.get("Records")
    if not isinstance(items, list) or not 1 <= len(items) <= k.MAX_PUT_RECORDS:
        raise k.validation(
            "Value at 'records' failed to satisfy constraint: Member must have length between "
            f"1 and {k.MAX_PUT_RECORDS}"
        )
    shards = await k.stream_for_write(ctx, request, name, create=False)
    records = []
    total = 0
    for i, item in enumerate(items):
        where = f"records.{i + 1}.member"
        if not isinstance(item, dict):
            raise KinesisError(400, "SerializationException", f"'{where}' must be an object")
        data = _data(item.get("Data"), f"{where}.data")
        key = k.partition_key(item.get("PartitionKey"), f"{where}.partitionKey")
        hash_key = k.explicit_hash_key(item.get("ExplicitHashKey"), f"{where}.explicitHashKey")
        limit = ctx.settings.max_record_bytes
        records.append(k.make_record(data, key, hash_key, shards, f"{where}.data", limit))
        total += len(data) + len(key.encode())
    k.check_put_records_size(total)
    return await put_with_throttling(ctx, request, name, records)


async def put_with_throttling(
    ctx: IngestContext, request: Request, name: str, records: list[Any]
) -> dict[str, Any]:
    """Append what the record rate limit allows; the rest fail as Kinesis throttles them."""
    allowed = ctx.record_budget(request, len(records))
    positions = await ctx.produce(request, name, records[:allowed]) if allowed else []
    out: list[dict[str, str]] = [k.result(p) for p in positions]
    for record in records[allowed:]:
        out.append(
            {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": f"Rate exceeded for shard {k.shard_id(record.partition)} in "
                f"stream {name} under account {k.ACCOUNT}.",
            }
        )
    if allowed < len(records):
        ctx.metrics.reject("throttled_records")
    return {"FailedRecordCount": len(records) - allowed, "Records": out, "EncryptionType": "NONE"}


async def get_shard_iterator(
    ctx: IngestContext, request: Request, doc: dict[str, Any]
) -> dict[str, Any]:
    info = _describe(ctx, request, doc)
    partition = k.parse_shard_id(doc.get("ShardId"), info)
    kind = doc.get("ShardIteratorType")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        raw = doc.get("StartingSequenceNumber")
        try:
            seq_partition, offset = k.parse_sequence_number(str(raw))
        except ValueError as exc:
            raise KinesisError(
                400, "InvalidArgumentException", f"Invalid StartingSequenceNumber {str(raw)[:40]}"
            ) from exc
        if seq_partition != partition:
            raise KinesisError(
                400,
                "InvalidArgumentException",
                f"StartingSequenceNumber {raw} used in GetShardIterator on shard "
                f"{k.shard_id(partition)} in stream {info.name} is not from that shard",
            )
        offset += kind == "AFTER_SEQUENCE_NUMBER"
    elif kind == "TRIM_HORIZON":
        offset = 0
    elif kind == "LATEST":
        offset = ctx.log.end_offset(info.name, partition)
    elif kind == "AT_TIMESTAMP":
        offset = await asyncio.to_thread(
            _offset_at, ctx, info.name, partition, _timestamp_ms(doc.get("Timestamp"))
        )
    else:
        raise k.validation(
            f"Value '{str(kind)[:40]}' at 'shardIteratorType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, "
            "AT_TIMESTAMP, TRIM_HORIZON, LATEST]"
        )
    return {"ShardIterator": k.make_iterator(info.name, partition, offset)}


def _timestamp_ms(raw: Any) -> int:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return int(raw * 1000)
    if isinstance(raw, str):
        try:
            return int(float(raw) * 1000)
        except ValueError:
            try:
                return int(datetime.fromisoformat(raw).timestamp() * 1000)
            except ValueError:
                pass
    raise KinesisError(
        400, "InvalidArgumentException", "AT_TIMESTAMP needs a Timestamp (epoch seconds or ISO)"
    )


def _offset_at(ctx: IngestContext, topic: str, partition: int, at_ms: int) -> int:
    """First offset whose ingest time is at or after ``at_ms`` (binary search)."""
    low, high = 0, ctx.log.end_offset(topic, partition)
    while low < high:
        mid = (low + high) // 2
        found = ctx.log.fetch(topic, partition, mid, 1)
        if found and found[0].timestamp < at_ms:
            low = mid + 1
        else:
            high = mid
    return low


async def get_records(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    stream, partition, offset = k.read_iterator(doc.get("ShardIterator"))
    ctx.topic(request, stream)
    limit = doc.get("Limit", k.MAX_GET_RECORDS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= k.MAX_GET_RECORDS:
        raise KinesisError(
            400,
            "InvalidArgumentException",
            f"Limit must be between 1 and {k.MAX_GET_RECORDS}, was {str(limit)[:20]}",
        )
    try:
        info = ctx.log.describe(stream)
        if partition >= info.partitions:
            raise UnknownTopicError(stream)
        records, end = await asyncio.to_thread(_read, ctx, stream, partition, offset, limit)
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
    ctx: IngestContext, stream: str, partition: int, offset: int, limit: int
) -> tuple[list[LogRecord], int]:
    end = ctx.log.end_offset(stream, partition)
    if offset >= end:
        return [], end
    return ctx.log.fetch(stream, partition, offset, limit), end


def record_json(record: LogRecord) -> dict[str, Any]:
    return {
        "SequenceNumber": k.sequence_number(record.partition, record.offset),
        "ApproximateArrivalTimestamp": record.timestamp / 1000,
        "Data": base64.b64encode(record.value or b"").decode(),
        "PartitionKey": (record.key or b"").decode("utf-8", "replace"),
        "EncryptionType": "NONE",
    }


OPERATIONS: dict[str, Op] = {
    "CreateStream": create_stream,
    "DeleteStream": delete_stream,
    "ListStreams": list_streams,
    "DescribeStream": describe_stream,
    "DescribeStreamSummary": describe_stream_summary,
    "ListShards": list_shards,
    "PutRecord": put_record,
    "PutRecords": put_records,
    "GetShardIterator": get_shard_iterator,
    "GetRecords": get_records,
}
