"""The OpenAPI 3.1 document of the ingest API, built from the route table plus body schemas.

Built from the routes so that it cannot list a path the server lacks; the schemas describe
what each door accepts, which also drives the property-based fuzz test (schemathesis).
"""

from __future__ import annotations

from typing import Any

from pinpipe.ingest.core import AMZ_JSON, KAFKA_V2, Route

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
_ANY: dict[str, Any] = {}
_V2_RECORD = {
    "type": "object",
    "properties": {
        "key": _ANY,
        "value": _ANY,
        "partition": {"type": "integer", "minimum": 0},
    },
}
_V2_PRODUCE = {
    "type": "object",
    "required": ["records"],
    "properties": {
        "records": {"type": "array", "minItems": 1, "items": _V2_RECORD},
        "key_schema": {"type": "string"},
        "value_schema": {"type": "string"},
    },
}
_V3_DATA = {
    "type": "object",
    "properties": {"type": {"enum": ["JSON", "BINARY", "STRING"]}, "data": _ANY},
}
_V3_RECORD = {
    "type": "object",
    "properties": {
        "partition_id": {"type": "integer", "minimum": 0},
        "key": _V3_DATA,
        "value": _V3_DATA,
        "headers": {"type": "array"},
        "timestamp": {"type": "string"},
    },
}
_PUT_RECORD = {
    "type": "object",
    "required": ["Data", "PartitionKey"],
    "properties": {
        "StreamName": {"type": "string"},
        "Data": _ANY,
        "PartitionKey": {"type": "string", "minLength": 1, "maxLength": 256},
    },
}
_PUT_RECORDS = {
    "type": "object",
    "required": ["records"],
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["data", "partition-key"],
                "properties": {"data": _ANY, "partition-key": {"type": "string"}},
            },
        }
    },
}
_CONSUMER = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "format": {"enum": ["binary", "json"]},
        "auto.offset.reset": {"enum": ["earliest", "latest"]},
        "auto.commit.enable": {"enum": ["true", "false"]},
    },
}
_TOPICS = {
    "type": "object",
    "properties": {"topics": {"type": "array", "items": {"type": "string"}}},
}
_PARTITIONS = {
    "type": "object",
    "properties": {
        "partitions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"topic": {"type": "string"}, "partition": {"type": "integer"}},
            },
        }
    },
}
_OFFSETS = {
    "type": "object",
    "properties": {
        "offsets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "topic": {"type": "string"},
                    "partition": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            },
        }
    },
}
_KINESIS_NATIVE = {
    "type": "object",
    "properties": {
        "StreamName": {"type": "string"},
        "ShardCount": {"type": "integer"},
        "Data": {"type": "string", "contentEncoding": "base64"},
        "PartitionKey": {"type": "string"},
        "Records": {"type": "array"},
        "ShardId": {"type": "string"},
        "ShardIteratorType": {"type": "string"},
        "ShardIterator": {"type": "string"},
        "Limit": {"type": "integer"},
    },
}

_BODIES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("POST", "/topics/{topic}"): ("application/vnd.kafka.json.v2+json", _V2_PRODUCE),
    ("POST", "/topics/{topic}/partitions/{partition}"): (
        "application/vnd.kafka.json.v2+json",
        _V2_PRODUCE,
    ),
    ("POST", "/v3/clusters/{cluster_id}/topics/{topic}/records"): ("application/json", _V3_RECORD),
    ("PUT", "/streams/{stream}/record"): ("application/json", _PUT_RECORD),
    ("PUT", "/streams/{stream}/records"): ("application/json", _PUT_RECORDS),
    ("POST", "/consumers/{group}"): (KAFKA_V2, _CONSUMER),
    ("POST", "/consumers/{group}/instances/{instance}/subscription"): (KAFKA_V2, _TOPICS),
    ("POST", "/consumers/{group}/instances/{instance}/assignments"): (KAFKA_V2, _PARTITIONS),
    ("POST", "/consumers/{group}/instances/{instance}/positions"): (KAFKA_V2, _OFFSETS),
    ("POST", "/consumers/{group}/instances/{instance}/positions/beginning"): (
        KAFKA_V2,
        _PARTITIONS,
    ),
    ("POST", "/consumers/{group}/instances/{instance}/positions/end"): (KAFKA_V2, _PARTITIONS),
    ("POST", "/consumers/{group}/instances/{instance}/offsets"): (KAFKA_V2, _OFFSETS),
    ("POST", "/"): (AMZ_JSON, _KINESIS_NATIVE),
}


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
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
        if params:
            operation["parameters"] = params
        body = _BODIES.get((route.method, route.template))
        if body is not None:
            media, schema = body
            operation["requestBody"] = {"required": True, "content": {media: {"schema": schema}}}
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
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
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
