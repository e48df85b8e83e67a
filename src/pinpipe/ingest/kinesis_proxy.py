"""The API Gateway "Kinesis proxy" routes: PutRecord and PutRecords, stream name = topic.

The path names the stream (a body ``StreamName`` is ignored, as in the tutorial template).
The stored value is what the tutorial's VTL template sends to Kinesis: for PutRecord the
compact JSON text of ``Data`` (a JSON string keeps its quotes); for PutRecords the element's
``data`` itself when it is a string (``$util.base64Encode($elem.data)``), else its compact JSON.
The key is the partition key's UTF-8 bytes, hashed like any other key.

Sequence numbers are 26-digit decimal strings ``"1" + 5-digit partition + 20-digit offset``:
fixed width, so they sort in offset order within a shard both as text and as numbers, and a
later GetShardIterator can decode the position back (``parse_sequence_number``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pinpipe.ingest.errors import JSONResponse, KinesisError
from pinpipe.ingest.http import IngestContext, guarded, parse_json, read_body
from pinpipe.log.base import Position, ProduceRecord

MAX_PUT_RECORDS = 500
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256
_STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")


def routes(ctx: IngestContext) -> list[Route]:
    """The Kinesis proxy routes, bound to ``ctx``."""

    async def put_record(request: Request) -> Response:
        stream = _stream(request)
        doc = await _body(ctx, request)
        if "Data" not in doc or doc["Data"] is None:
            raise _validation(
                "Value null at 'data' failed to satisfy constraint: Member must not be null"
            )
        key = _partition_key(doc.get("PartitionKey"), "partitionKey")
        record = _record(orjson.dumps(doc["Data"]), key, "data", ctx.settings.max_record_bytes)
        (position,) = await ctx.committer.produce(stream, [record])
        return JSONResponse(_result(position))

    async def put_records(request: Request) -> Response:
        stream = _stream(request)
        doc = await _body(ctx, request)
        items = doc.get("records", doc.get("Records"))
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_PUT_RECORDS:
            raise _validation(
                f"Value at 'records' failed to satisfy constraint: Member must be an array of "
                f"1 to {MAX_PUT_RECORDS} records"
            )
        records: list[ProduceRecord] = []
        total = 0
        for i, item in enumerate(items):
            where = f"records.{i + 1}.member"
            if not isinstance(item, dict):
                raise _validation(
                    f"Value at '{where}' failed to satisfy constraint: Member must be an object"
                )
            data = item.get("data", item.get("Data"))
            if data is None:
                raise _validation(
                    f"Value null at '{where}.data' failed to satisfy constraint: "
                    "Member must not be null"
                )
            value = data.encode() if isinstance(data, str) else orjson.dumps(data)
            key = _partition_key(
                item.get("partition-key", item.get("PartitionKey")), f"{where}.partitionKey"
            )
            records.append(_record(value, key, f"{where}.data", ctx.settings.max_record_bytes))
            total += len(value) + len(key)
        if total > MAX_PUT_RECORDS_BYTES:
            raise _validation(
                f"the records add up to {total} bytes, over the PutRecords "
                f"limit of {MAX_PUT_RECORDS_BYTES} bytes"
            )
        positions = await ctx.committer.produce(stream, records)
        body = {"FailedRecordCount": 0, "Records": [_result(p) for p in positions]}
        return JSONResponse(body)

    return [
        Route("/streams/{stream}/record", guarded(ctx, put_record), methods=["PUT"]),
        Route("/streams/{stream}/records", guarded(ctx, put_records), methods=["PUT"]),
    ]


def sequence_number(partition: int, offset: int) -> str:
    """The Kinesis sequence number of a log position (see the module docstring)."""
    return f"1{partition:05d}{offset:020d}"


def parse_sequence_number(sequence: str) -> tuple[int, int]:
    """``(partition, offset)`` back from ``sequence_number``."""
    if len(sequence) != 26 or not sequence.isdigit() or sequence[0] != "1":
        raise ValueError(f"not a pinpipe sequence number: {sequence!r}")
    return int(sequence[1:6]), int(sequence[6:])


def shard_id(partition: int) -> str:
    return f"shardId-{partition:012d}"


def _result(position: Position) -> dict[str, str]:
    return {
        "SequenceNumber": sequence_number(position.partition, position.offset),
        "ShardId": shard_id(position.partition),
    }


def _stream(request: Request) -> str:
    stream: str = request.path_params["stream"]
    if not _STREAM_NAME.match(stream) or stream in (".", ".."):
        raise _validation(
            f"Value '{stream}' at 'streamName' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length 1 to 128"
        )
    return stream


async def _body(ctx: IngestContext, request: Request) -> dict[str, Any]:
    body = await read_body(request, ctx.settings.max_request_bytes)
    doc = parse_json(body, status=400, code="SerializationException")
    if not isinstance(doc, dict):
        raise KinesisError(400, "SerializationException", "the request body must be a JSON object")
    return doc


def _partition_key(raw: Any, where: str) -> bytes:
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_PARTITION_KEY_CHARS:
        shown = "null" if raw is None else repr(raw)[:80]
        raise _validation(
            f"Value {shown} at '{where}' failed to satisfy constraint: Member must be a string "
            f"of 1 to {MAX_PARTITION_KEY_CHARS} characters"
        )
    return raw.encode()


def _record(value: bytes, key: bytes, where: str, limit: int) -> ProduceRecord:
    if len(value) + len(key) > limit:
        raise _validation(
            f"Value at '{where}' failed to satisfy constraint: Member must have length less "
            f"than or equal to {limit} (data + partition key is {len(value) + len(key)} bytes)"
        )
    return ProduceRecord(value=value, key=key)


def _validation(message: str) -> KinesisError:
    return KinesisError(400, "ValidationException", f"1 validation error detected: {message}")
