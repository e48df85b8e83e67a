"""The native Kinesis protocol: ``POST /`` with ``X-Amz-Target: Kinesis_20131202.<Op>``.

AWS JSON 1.1, so boto3 and the AWS CLI work with only ``endpoint_url`` changed. The door only
dispatches: the operations live in ``kinesis_actions``. Stream lifecycle maps onto log topics
(``CreateStream`` = create a topic with ``ShardCount`` partitions, ``DeleteStream`` =
``Log.delete_topic``). Unlike the API Gateway door, writes to a stream that does not exist
fail with ``ResourceNotFoundException``, as in Kinesis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pinpipe.ingest import kinesis as k
from pinpipe.ingest import kinesis_actions as actions
from pinpipe.ingest import models
from pinpipe.ingest.core import AMZ_JSON, Request, Response, Route, json_response
from pinpipe.ingest.errors import KinesisError

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

TARGET_PREFIX = "Kinesis_20131202."

Op = Callable[["IngestContext", Request, dict[str, Any]], Awaitable[dict[str, Any]]]

_explain = partial(k.explain, native=True)


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
        return json_response(await op(ctx, request, doc), content_type=AMZ_JSON)

    return [Route("POST", "/", dispatch, "aws", summary="Kinesis JSON 1.1 API (X-Amz-Target)")]


async def put_record(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    body = models.validate(models.PUT_RECORD, doc, _explain)
    name = k.stream_name(body)
    entry = actions.Entry(body["Data"], body["PartitionKey"], body.get("ExplicitHashKey"))
    result = await actions.put_record(ctx, request, name, entry, create=False)
    return {**result, "EncryptionType": "NONE"}


async def put_records(ctx: IngestContext, request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    body = models.validate(models.PUT_RECORDS, doc, _explain)
    name = k.stream_name(body)
    entries = [
        actions.Entry(e["Data"], e["PartitionKey"], e.get("ExplicitHashKey"))
        for e in body["Records"]
    ]
    return await actions.put_records(ctx, request, name, entries, create=False)


OPERATIONS: dict[str, Op] = {
    "CreateStream": actions.create_stream,
    "DeleteStream": actions.delete_stream,
    "ListStreams": actions.list_streams,
    "DescribeStream": actions.describe_stream,
    "DescribeStreamSummary": actions.describe_stream_summary,
    "ListShards": actions.list_shards,
    "PutRecord": put_record,
    "PutRecords": put_records,
    "GetShardIterator": actions.get_shard_iterator,
    "GetRecords": actions.get_records,
}
