"""The API Gateway "Kinesis proxy" routes of the AWS tutorial, stream name = topic.

Each route does what the tutorial's mapping template does: it builds the Kinesis request
from the path and body and calls the operation (``kinesis_actions``), as API Gateway calls
Kinesis. The path names the stream (a body ``StreamName`` is ignored, as in the template).
The stored value is what the template sends to Kinesis: for PutRecord the compact JSON text
of ``Data`` (a JSON string keeps its quotes); for PutRecords the element's ``data`` itself
when it is a string (``$util.base64Encode($elem.data)``), else its compact JSON. Unknown
streams are created on first write when ``topics.auto_create`` is on. Kinesis errors
keep their 4xx/5xx status here (API Gateway would say 200; see ``errors``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from pinpipe.ingest import kinesis as k
from pinpipe.ingest import kinesis_actions as actions
from pinpipe.ingest import models
from pinpipe.ingest.core import Request, Response, Route, json_response
from pinpipe.ingest.errors import KinesisError

if TYPE_CHECKING:
    from pinpipe.ingest.context import IngestContext

CREATE_SHARDS = 5
"""Shards of ``POST /streams/{s}`` without ``ShardCount``: the tutorial's template says 5."""

_explain = partial(k.explain, native=False)


def routes(ctx: IngestContext) -> list[Route]:
    """The proxy routes, bound to ``ctx``."""
    create = ctx.topic_policy.auto_create

    async def put_record(request: Request) -> Response:
        stream = k.check_stream_name(request.params["stream"])
        body = models.validate(models.PROXY_PUT_RECORD, _body(request), _explain)
        entry = actions.Entry(orjson.dumps(body["Data"]), body["PartitionKey"])
        return json_response(await actions.put_record(ctx, request, stream, entry, create=create))

    async def put_records(request: Request) -> Response:
        stream = k.check_stream_name(request.params["stream"])
        body = models.validate(models.PROXY_PUT_RECORDS, _body(request), _explain)
        entries = [
            actions.Entry(_template_data(item["data"]), item["partition_key"])
            for item in body["records"]
        ]
        return json_response(
            await actions.put_records(ctx, request, stream, entries, create=create)
        )

    async def list_streams(request: Request) -> Response:
        return json_response(await actions.list_streams(ctx, request, {}))

    async def create_stream(request: Request) -> Response:
        doc = _body(request) if request.body.strip() else {}
        spec = {
            "StreamName": request.params["stream"],
            "ShardCount": doc.get("ShardCount", CREATE_SHARDS),
        }
        return json_response(await actions.create_stream(ctx, request, spec))

    async def describe_stream(request: Request) -> Response:
        spec = {"StreamName": k.check_stream_name(request.params["stream"])}
        return json_response(await actions.describe_stream(ctx, request, spec))

    async def delete_stream(request: Request) -> Response:
        spec = {"StreamName": k.check_stream_name(request.params["stream"])}
        return json_response(await actions.delete_stream(ctx, request, spec))

    async def shard_iterator(request: Request) -> Response:
        spec = {
            "StreamName": k.check_stream_name(request.params["stream"]),
            "ShardId": request.query.get("shard-id", ""),
            "ShardIteratorType": "TRIM_HORIZON",  # hard-coded in the tutorial's template
        }
        return json_response(await actions.get_shard_iterator(ctx, request, spec))

    async def get_records(request: Request) -> Response:
        spec = {"ShardIterator": request.headers.get("shard-iterator", "")}
        return json_response(await actions.get_records(ctx, request, spec))

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


def _template_data(data: Any) -> bytes:
    """A PutRecords element's bytes: a string as is, anything else as its compact JSON."""
    return data.encode() if isinstance(data, str) else orjson.dumps(data)


def _body(request: Request) -> dict[str, Any]:
    doc = request.json(status=400, code="SerializationException")
    if not isinstance(doc, dict):
        raise KinesisError(400, "SerializationException", "the request body must be a JSON object")
    return doc
