"""The API Gateway "Kinesis proxy" routes of the AWS tutorial, stream name = topic.

The path names the stream (a body ``StreamName`` is ignored, as in the tutorial template).
The stored value is what the tutorial's VTL template sends to Kinesis: for PutRecord the
compact JSON text of ``Data`` (a JSON string keeps its quotes); for PutRecords the element's
``data`` itself when it is a string (``$util.base64Encode($elem.data)``), else its compact JSON.
Unknown streams are created on first write when ``ingest.auto_create_topics`` is on.
Kinesis errors keep their 4xx/5xx status here (API Gateway would say 200; see ``errors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from pinpipe.ingest import kinesis as k
from pinpipe.ingest import kinesis_native as native
from pinpipe.ingest.core import Request, Response, Route
from pinpipe.ingest.errors import KinesisError

if TYPE_CHECKING:
    from pinpipe.ingest.app import IngestContext

# Re-exported for callers of the first version of this module.
sequence_number = k.sequence_number
parse_sequence_number = k.parse_sequence_number
shard_id = k.shard_id


def routes(ctx: IngestContext) -> list[Route]:
    """The proxy routes, bound to ``ctx``."""
    create = ctx.settings.auto_create_topics

    async def put_record(request: Request) -> Response:
        stream = k.check_stream_name(request.params["stream"])
        doc = _body(request)
        if doc.get("Data") is None:
            raise k.validation(
                "Value null at 'data' failed to satisfy constraint: Member must not be null"
            )
        key = k.partition_key(doc.get("PartitionKey"), "partitionKey")
        shards = await k.stream_for_write(ctx, request, stream, create)
        value = orjson.dumps(doc["Data"])
        record = k.make_record(value, key, None, shards, "data", ctx.settings.max_record_bytes)
        ctx.require_records(request, 1)
        (position,) = await ctx.produce(request, stream, [record])
        return _ok(k.result(position))

    async def put_records(request: Request) -> Response:
        stream = k.check_stream_name(request.params["stream"])
        doc = _body(request)
        items = doc.get("records", doc.get("Records"))
        if not isinstance(items, list) or not 1 <= len(items) <= k.MAX_PUT_RECORDS:
            raise k.validation(
                "Value at 'records' failed to satisfy constraint: Member must have length "
                f"between 1 and {k.MAX_PUT_RECORDS}"
            )
        shards = await k.stream_for_write(ctx, request, stream, create)
        records = []
        total = 0
        for i, item in enumerate(items):
            where = f"records.{i + 1}.member"
            if not isinstance(item, dict):
                raise k.validation(f"Value at '{where}' failed to satisfy constraint: an object")
            data = item.get("data", item.get("Data"))
            if data is None:
                raise k.validation(
                    f"Value null at '{where}.data' failed to satisfy constraint: "
                    "Member must not be null"
                )
            value = data.encode() if isinstance(data, str) else orjson.dumps(data)
            key = k.partition_key(
                item.get("partition-key", item.get("PartitionKey")), f"{where}.partitionKey"
            )
            limit = ctx.settings.max_record_bytes
            records.append(k.make_record(value, key, None, shards, f"{where}.data", limit))
            total += len(value) + len(key.encode())
        k.check_put_records_size(total)
        return _ok(await native.put_with_throttling(ctx, request, stream, records))

    async def list_streams(request: Request) -> Response:
        return _ok(await native.list_streams(ctx, request, {}))

    async def create_stream(request: Request) -> Response:
        doc = _body(request) if request.body.strip() else {}
        shards = doc.get("ShardCount", 5)  # the tutorial's template hard-codes 5
        spec = {"StreamName": request.params["stream"], "ShardCount": shards}
        return _ok(await native.create_stream(ctx, request, spec))

    async def describe_stream(request: Request) -> Response:
        spec = {"StreamName": k.check_stream_name(request.params["stream"])}
        return _ok(await native.describe_stream(ctx, request, spec))

    async def delete_stream(request: Request) -> Response:
        spec = {"StreamName": k.check_stream_name(request.params["stream"])}
        return _ok(await native.delete_stream(ctx, request, spec))

    async def shard_iterator(request: Request) -> Response:
        spec = {
            "StreamName": k.check_stream_name(request.params["stream"]),
            "ShardId": request.query.get("shard-id", ""),
            "ShardIteratorType": "TRIM_HORIZON",  # hard-coded in the tutorial's template
        }
        return _ok(await native.get_shard_iterator(ctx, request, spec))

    async def get_records(request: Request) -> Response:
        spec = {"ShardIterator": request.headers.get("shard-iterator", "")}
        return _ok(await native.get_records(ctx, request, spec))

    def route(method: str, path: str, handler: Any, summary: str) -> Route:
        return Route(method, path, handler, "kinesis", summary=summary)

    return [
        route("PUT", "/streams/{stream}/record", put_record, "PutRecord (API Gateway proxy)"),
        route("PUT", "/streams/{stream}/records", put_records, "PutRecords (API Gateway proxy)"),
        route(
            "GET", "/streams/{stream}/records", get_records, "GetRecords (Shard-Iterator header)"
        ),
        route("GET", "/streams/{stream}/sharditerator", shard_iterator, "GetShardIterator"),
        route("GET", "/streams", list_streams, "ListStreams"),
        route("POST", "/streams/{stream}", create_stream, "CreateStream"),
        route("GET", "/streams/{stream}", describe_stream, "DescribeStream"),
        route("DELETE", "/streams/{stream}", delete_stream, "DeleteStream"),
    ]


def _body(request: Request) -> dict[str, Any]:
    doc = request.json(status=400, code="SerializationException")
    if not isinstance(doc, dict):
        raise KinesisError(400, "SerializationException", "the request body must be a JSON object")
    return doc


def _ok(body: dict[str, Any]) -> Response:
    return Response(200, orjson.dumps(body), "application/json")
