"""The OpenAPI 3.1 document of the ingest API, built from the route table and the models.

Built from the routes so that it cannot list a path the server lacks, and every request
body's schema comes from the model that validates it (``models``: produce, v2 consumers,
the Kinesis operations), so the document says what the server accepts; it also drives the
property-based fuzz test (schemathesis).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from pinpipe.ingest import models
from pinpipe.ingest.core import AMZ_JSON, KAFKA_V2, Route
from pinpipe.ingest.kafka_rest import BINARY_FORMAT, JSON_FORMAT

_REF = "#/components/schemas/{model}"

_ERROR_KAFKA = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
}
_ERROR_AWS = {
    "type": "object",
    "required": ["__type", "message"],
    "properties": {"__type": {"type": "string"}, "message": {"type": "string"}},
}
_BODIES: dict[tuple[str, str], dict[str, TypeAdapter[Any]]] = {
    ("POST", "/topics/{topic}"): {JSON_FORMAT: models.V2_JSON, BINARY_FORMAT: models.V2_BINARY},
    ("POST", "/topics/{topic}/partitions/{partition}"): {
        JSON_FORMAT: models.V2_JSON,
        BINARY_FORMAT: models.V2_BINARY,
    },
    ("POST", "/v3/clusters/{cluster_id}/topics/{topic}/records"): {
        "application/json": models.V3_RECORD
    },
    ("PUT", "/streams/{stream}/record"): {"application/json": models.PROXY_PUT_RECORD},
    ("PUT", "/streams/{stream}/records"): {"application/json": models.PROXY_PUT_RECORDS},
    ("POST", "/consumers/{group}"): {KAFKA_V2: models.CONSUMER_CREATE},
    ("POST", "/consumers/{group}/instances/{instance}/subscription"): {
        KAFKA_V2: models.CONSUMER_SUBSCRIPTION
    },
    ("POST", "/consumers/{group}/instances/{instance}/assignments"): {
        KAFKA_V2: models.CONSUMER_PARTITIONS
    },
    ("POST", "/consumers/{group}/instances/{instance}/positions"): {KAFKA_V2: models.CONSUMER_SEEK},
    ("POST", "/consumers/{group}/instances/{instance}/positions/beginning"): {
        KAFKA_V2: models.CONSUMER_PARTITIONS
    },
    ("POST", "/consumers/{group}/instances/{instance}/positions/end"): {
        KAFKA_V2: models.CONSUMER_PARTITIONS
    },
    ("POST", "/consumers/{group}/instances/{instance}/offsets"): {KAFKA_V2: models.CONSUMER_COMMIT},
}
_NATIVE_BODIES = (
    models.CREATE_STREAM,
    models.DELETE_STREAM,
    models.LIST_STREAMS,
    models.DESCRIBE_STREAM,
    models.DESCRIBE_STREAM_SUMMARY,
    models.LIST_SHARDS,
    models.PUT_RECORD,
    models.PUT_RECORDS,
    models.GET_SHARD_ITERATOR,
    models.GET_RECORDS,
)
"""``POST /``'s bodies, one per ``X-Amz-Target`` operation (OpenAPI cannot key on a header)."""


class _Components:
    """Collects the models' schemas under ``components/schemas`` and refers to them."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, schema: TypeAdapter[Any]) -> dict[str, Any]:
        found = schema.json_schema(ref_template=_REF)
        self.schemas.update(found.pop("$defs", {}))
        name = found["title"]
        self.schemas[name] = found
        return {"$ref": _REF.format(model=name)}


_PRODUCE_ROUTES = {
    ("POST", "/topics/{topic}"),
    ("POST", "/topics/{topic}/partitions/{partition}"),
    ("POST", "/v3/clusters/{cluster_id}/topics/{topic}/records"),
    ("PUT", "/streams/{stream}/record"),
    ("PUT", "/streams/{stream}/records"),
    ("POST", "/"),  # PutRecord and PutRecords
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A fresh key per request; a resend with the same key within "
    "ingest.idempotency_window_s answers the first offsets and appends nothing.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components = _Components()
    bodies = {
        key: {m: components.ref(s) for m, s in media.items()} for key, media in _BODIES.items()
    }
    native = [components.ref(adapter) for adapter in _NATIVE_BODIES]
    bodies[("POST", "/")] = {AMZ_JSON: {"anyOf": native}}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}{route.template.replace('/', '_')}",
            "responses": _responses(route),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(route.template)
        ]
        if route.template == "/":
            params.append(
                {
                    "name": "X-Amz-Target",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "example": "Kinesis_20131202.ListStreams"},
                }
            )
        if (route.method, route.template) in _PRODUCE_ROUTES:
            params.append(_IDEMPOTENCY_KEY)
        if params:
            operation["parameters"] = params
        body = bodies.get((route.method, route.template))
        if body is not None:
            content = {media: {"schema": schema} for media, schema in body.items()}
            operation["requestBody"] = {"required": True, "content": content}
        if not route.public:
            operation["security"] = [{"apiKey": []}, {"bearer": []}]
        paths.setdefault(route.template, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pinpipe ingest API",
            "version": "1",
            "description": "Confluent REST Proxy (v2, v3) and Kinesis (API Gateway proxy and "
            "native JSON 1.1) compatible ingest over pinpipe's durable log.",
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _path_params(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{")]


def _responses(route: Route) -> dict[str, Any]:
    error = _ERROR_AWS if route.door in ("kinesis", "aws") else _ERROR_KAFKA
    media = (
        AMZ_JSON
        if route.door == "aws"
        else KAFKA_V2
        if route.door == "kafka"
        else ("application/json")
    )
    return {
        "200": {"description": "OK"},
        "204": {"description": "Done"},
        "4XX": {"description": "Refused", "content": {media: {"schema": error}}},
        "5XX": {"description": "Server error", "content": {media: {"schema": error}}},
    }
