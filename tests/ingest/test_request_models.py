"""Consumer and Kinesis control bodies: the models' answers, and the document built from them.

The error tables pin what the hand-written checks answered before the models replaced them
(status, code, message), so a model change that rewords or reorders an answer fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter
from starlette.testclient import TestClient

from pinpipe.ingest import models
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog

V2 = {"Content-Type": "application/vnd.kafka.v2+json"}
NO_FORMAT = (
    "format {!r} is not supported; use binary or json "
    "(avro, jsonschema and protobuf need a schema registry)"
)
ONE_OF = "give exactly one of 'topics' (a list) and 'topic_pattern' (a regex)"
ENTRY = "each entry needs a string 'topic' and an integer 'partition'"
OFFSET = "each offset needs an integer 'offset' >= 0"
NAME_RULE = (
    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length 1 to 128"
)


def _error(response: Any, status: int, code: int | str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("error_code", body.get("__type")) == code, body
    return str(body["message"])


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ([], 422, "the body must be a JSON object, not an array"),
        ({"format": "avro"}, 42204, NO_FORMAT.format("avro")),
        ({"format": None}, 42204, NO_FORMAT.format("none")),
        ({"auto.offset.reset": "x"}, 42204, "auto.offset.reset must be earliest, latest or none"),
        ({"name": "bad name"}, 42204, "invalid consumer name 'bad name': use [a-zA-Z0-9._-]"),
        ({"id": "b d"}, 42204, "invalid consumer name 'b d': use [a-zA-Z0-9._-]"),
        ({"format": "avro", "name": "bad name"}, 42204, NO_FORMAT.format("avro")),
    ],
)
def test_create_consumer_refusals(client: TestClient, body: Any, code: int, message: str) -> None:
    response = client.post("/consumers/g", json=body, headers=V2)
    assert _error(response, 422, code) == message


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"name": "c1", "format": "JSON", "auto.offset.reset": "EARLIEST"}, "c1"),
        ({"name": 5}, "5"),  # a number is taken as its text
        ({"name": None, "id": "legacy"}, "legacy"),
        ({"name": "", "id": "legacy"}, "legacy"),
        ({"name": "named", "id": "b d"}, "named"),  # the id is not read when a name is given
    ],
)
def test_create_consumer_accepts(client: TestClient, body: Any, name: str) -> None:
    response = client.post("/consumers/g", json=body, headers=V2)
    assert response.status_code == 200, response.text
    assert response.json()["instance_id"] == name


def test_consumer_settings_reach_the_instance(client: TestClient, log: EmbeddedLog) -> None:
    """Format, reset and auto-commit as the model reads them decide what a fetch does."""
    log.create_topic("t", 1)
    log.produce("t", [ProduceRecord(b'{"n": 1}')])
    body = {"name": "c", "format": "JSON", "auto.offset.reset": "Earliest"}
    assert client.post("/consumers/g", json=body, headers=V2).status_code == 200
    client.post("/consumers/g/instances/c/subscription", json={"topics": ["t"]}, headers=V2)
    accept = {"Accept": "application/vnd.kafka.json.v2+json"}
    got = client.get("/consumers/g/instances/c/records?timeout=0", headers=accept)
    assert [r["value"] for r in got.json()] == [{"n": 1}]  # json format, from the earliest
    assert log.committed("g", "t", 0) == 1  # auto-commit defaults to on


@pytest.fixture
def instance(client: TestClient, log: EmbeddedLog) -> str:
    log.create_topic("t", 2)
    assert client.post("/consumers/g", json={"name": "c"}, headers=V2).status_code == 200
    return "/consumers/g/instances/c"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, ONE_OF),
        ({"topics": ["t"], "topic_pattern": "t"}, ONE_OF),
        ({"topics": 5, "topic_pattern": "t"}, ONE_OF),  # the pair is checked before the types
        ({"topics": []}, "'topics' must be a non-empty list of names, not an array"),
        ({"topics": "t"}, "'topics' must be a non-empty list of names, not a string"),
        ({"topics": ["t", 1]}, "'topics' must be a non-empty list of names, not an array"),
        ({"topic_pattern": 5}, "'topic_pattern' must be a regular expression"),
        ({"topic_pattern": "x" * 1001}, "'topic_pattern' must be a regular expression"),
        ({"topic_pattern": "("}, "'topic_pattern' is not a valid regex: missing ), unterminated"),
    ],
)
def test_subscription_refusals(client: TestClient, instance: str, body: Any, message: str) -> None:
    response = client.post(instance + "/subscription", json=body, headers=V2)
    assert _error(response, 422, 422).startswith(message)


def test_subscription_by_pattern(client: TestClient, instance: str, log: EmbeddedLog) -> None:
    log.create_topic("other", 1)
    body = {"topics": None, "topic_pattern": "t.*"}
    assert client.post(instance + "/subscription", json=body, headers=V2).status_code == 204
    assert client.get(instance + "/subscription").json() == {"topics": ["t"]}


PARTITION_ERRORS = [
    ({}, "'partitions' must be a list of {topic, partition}"),
    ({"partitions": None}, "'partitions' must be a list of {topic, partition}"),
    ({"partitions": [1]}, ENTRY),
    ({"partitions": [{"topic": "t"}]}, ENTRY),
    ({"partitions": [{"topic": 1, "partition": 0}]}, ENTRY),
    ({"partitions": [{"topic": "t", "partition": True}]}, ENTRY),
    ({"partitions": [{"topic": "t", "partition": 1.0}]}, ENTRY),
    ({"partitions": [{"topic": "t", "partition": 0}, {"topic": "t"}]}, ENTRY),
]


@pytest.mark.parametrize("path", ["/assignments", "/positions/beginning", "/positions/end"])
@pytest.mark.parametrize(("body", "message"), PARTITION_ERRORS)
def test_partition_list_refusals(
    client: TestClient, instance: str, path: str, body: Any, message: str
) -> None:
    assert _error(client.post(instance + path, json=body, headers=V2), 422, 422) == message


@pytest.mark.parametrize("path", ["/assignments", "/positions/end"])
def test_partitions_the_topic_lacks_are_404(client: TestClient, instance: str, path: str) -> None:
    for partition in (2, -1):
        body = {"partitions": [{"topic": "t", "partition": partition}]}
        message = _error(client.post(instance + path, json=body, headers=V2), 404, 40402)
        assert message == f"partition {partition} of 't' does not exist"


OFFSET_ERRORS = [
    ({"offsets": 5}, "'offsets' must be a list of {topic, partition, offset}"),
    ({"offsets": [1]}, ENTRY),
    ({"offsets": [{"topic": 1, "partition": 0, "offset": 3}]}, ENTRY),
    ({"offsets": [{"topic": "t", "partition": 0}]}, OFFSET),
    ({"offsets": [{"topic": "t", "partition": 0, "offset": -1}]}, OFFSET),
    ({"offsets": [{"topic": "t", "partition": 0, "offset": True}]}, OFFSET),
    ({"offsets": [{"topic": "t", "partition": 0, "offset": "1"}]}, OFFSET),
]


@pytest.mark.parametrize("path", ["/positions", "/offsets"])
@pytest.mark.parametrize(("body", "message"), OFFSET_ERRORS)
def test_offset_list_refusals(
    client: TestClient, instance: str, path: str, body: Any, message: str
) -> None:
    assert _error(client.post(instance + path, json=body, headers=V2), 422, 422) == message


def test_seek_needs_offsets_but_commit_does_not(client: TestClient, instance: str) -> None:
    for body in ({}, {"offsets": None}):
        seek = client.post(instance + "/positions", json=body, headers=V2)
        assert _error(seek, 422, 422) == "'offsets' must be a list of {topic, partition, offset}"
        assert client.post(instance + "/offsets", json=body, headers=V2).status_code == 204


def test_seek_and_commit_use_the_validated_offsets(
    client: TestClient, instance: str, log: EmbeddedLog
) -> None:
    offsets = {"offsets": [{"topic": "t", "partition": 1, "offset": 4}]}
    assert client.post(instance + "/offsets", json=offsets, headers=V2).status_code == 204
    assert log.committed("g", "t", 1) == 5  # the offset after the last record consumed
    assert client.post(instance + "/positions", json=offsets, headers=V2).status_code == 204
    assert client.post(instance + "/offsets", content=b"", headers=V2).status_code == 204
    assert log.committed("g", "t", 1) == 4  # an empty commit stores the positions


def test_committed_offsets_body_is_optional(
    client: TestClient, instance: str, log: EmbeddedLog
) -> None:
    log.commit("g", {("t", 0): 2})
    for body in (b"", b"{}"):
        got = client.request("GET", instance + "/offsets", content=body, headers=V2)
        assert got.status_code == 200, got.text
        assert got.json()["offsets"] == []  # subscribed to nothing yet
    bad = client.request("GET", instance + "/offsets", json={"x": 1}, headers=V2)
    assert _error(bad, 422, 422) == "'partitions' must be a list of {topic, partition}"
    asked = {"partitions": [{"topic": "t", "partition": 0}]}
    got = client.request("GET", instance + "/offsets", json=asked, headers=V2)
    assert got.json()["offsets"] == [{"topic": "t", "partition": 0, "offset": 2, "metadata": ""}]


# -- Kinesis control plane ---------------------------------------------------------------------


def _op(client: TestClient, op: str, doc: Any) -> Any:
    headers = {"X-Amz-Target": f"Kinesis_20131202.{op}"}
    return client.post("/", json=doc, headers=headers)


@pytest.fixture
def stream(client: TestClient) -> str:
    assert _op(client, "CreateStream", {"StreamName": "s", "ShardCount": 2}).status_code == 200
    return "s"


def _limit(where: str, value: str, high: int) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
        f"constraint: Member must have value between 1 and {high}"
    )


NO_STREAM = ("InvalidArgumentException", "Either StreamName or StreamARN should be provided.")
SHARD_0 = {"StreamName": "s", "ShardId": "shardId-000000000000"}
BAD = "ValidationException"
INVALID = "InvalidArgumentException"


@pytest.mark.parametrize(
    ("op", "doc", "kind", "message"),
    [
        (
            "CreateStream",
            {},
            BAD,
            f"Value 'None' at 'streamName' failed to satisfy constraint: {NAME_RULE}",
        ),
        (
            "CreateStream",
            {"StreamName": "."},
            BAD,
            f"Value '.' at 'streamName' failed to satisfy constraint: {NAME_RULE}",
        ),
        (
            "CreateStream",
            {"StreamName": "x", "ShardCount": 0},
            BAD,
            _limit("shardCount", "0", 1024),
        ),
        (
            "CreateStream",
            {"StreamName": "x", "ShardCount": "2"},
            BAD,
            _limit("shardCount", "2", 1024),
        ),
        (
            "CreateStream",
            {"StreamName": "x", "ShardCount": None},
            BAD,
            _limit("shardCount", "None", 1024),
        ),
        ("DescribeStream", {}, *NO_STREAM),
        ("DescribeStream", {"StreamARN": 5}, *NO_STREAM),
        (
            "DescribeStream",
            {"StreamARN": "x"},
            BAD,
            "Value 'x' at 'streamARN' failed to satisfy constraint",
        ),
        (
            "DescribeStream",
            {"StreamName": "s", "Limit": True},
            BAD,
            _limit("limit", "True", 10_000),
        ),
        ("ListStreams", {"Limit": 10_001}, BAD, _limit("limit", "10001", 10_000)),
        (
            "ListShards",
            {"StreamName": "s", "MaxResults": 0},
            BAD,
            _limit("maxResults", "0", 10_000),
        ),
        ("ListShards", {"NextToken": "a"}, INVALID, "Invalid NextToken."),
        ("DeleteStream", {}, *NO_STREAM),
        (
            "GetShardIterator",
            {**SHARD_0, "ShardIteratorType": "NOPE"},
            BAD,
            "Value 'NOPE' at 'shardIteratorType' failed to satisfy constraint",
        ),
        (
            "GetShardIterator",
            {**SHARD_0, "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": 5},
            INVALID,
            "Invalid StartingSequenceNumber 5",
        ),
        (
            "GetShardIterator",
            {**SHARD_0, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": True},
            INVALID,
            "AT_TIMESTAMP needs a Timestamp (epoch seconds or ISO)",
        ),
        (
            "GetShardIterator",
            {**SHARD_0, "ShardId": "x", "ShardIteratorType": "LATEST"},
            "ResourceNotFoundException",
            "Shard x in stream s under account 000000000000 does not exist",
        ),
        (
            "GetRecords",
            {},
            BAD,
            "Value at 'shardIterator' failed to satisfy constraint: length 1..512",
        ),
        ("GetRecords", {"ShardIterator": "bm90"}, INVALID, "Invalid ShardIterator."),
    ],
)
def test_kinesis_control_refusals(
    client: TestClient, stream: str, op: str, doc: Any, kind: str, message: str
) -> None:
    assert message in _error(_op(client, op, doc), 400, kind)


def test_get_records_words_its_limit_its_own_way(client: TestClient, stream: str) -> None:
    doc = {"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "LATEST"}
    iterator = _op(client, "GetShardIterator", doc).json()["ShardIterator"]
    for limit in (0, "1", 10_001):
        response = _op(client, "GetRecords", {"ShardIterator": iterator, "Limit": limit})
        message = _error(response, 400, "InvalidArgumentException")
        assert message == f"Limit must be between 1 and 10000, was {limit}"


def test_list_shards_token_names_the_stream(client: TestClient, stream: str) -> None:
    first = _op(client, "ListShards", {"StreamName": "s", "MaxResults": 1}).json()
    assert [s["ShardId"] for s in first["Shards"]] == ["shardId-000000000000"]
    after = {"NextToken": first["NextToken"], "ExclusiveStartShardId": "shardId-000000000000"}
    rest = _op(client, "ListShards", after).json()  # no StreamName: the token names it
    assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000001"]


def test_stream_name_wins_over_the_arn(client: TestClient, stream: str) -> None:
    """With both, the name is used and the ARN not read (it used to fail as 'partitionKey')."""
    doc = {"StreamName": "s", "StreamARN": 5, "Data": "eA==", "PartitionKey": "p"}
    assert _op(client, "PutRecord", doc).status_code == 200
    by_arn = {"StreamName": None, "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}
    summary = _op(client, "DescribeStreamSummary", by_arn).json()
    assert summary["StreamDescriptionSummary"]["StreamName"] == "s"


def test_control_bodies_are_validated_before_the_lookup(client: TestClient) -> None:
    """As for puts: a bad field is a ValidationException even when the stream is missing."""
    response = _op(client, "DescribeStream", {"StreamName": "missing", "Limit": 0})
    assert _error(response, 400, "ValidationException") == _limit("limit", "0", 10_000)


@pytest.mark.parametrize(
    "doc",
    [
        {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": "inf"},
        {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1e308},
    ],
)
def test_timestamps_out_of_range_are_refused_not_500(
    client: TestClient, stream: str, doc: dict[str, Any]
) -> None:
    full = {"StreamName": "s", "ShardId": "shardId-000000000000", **doc}
    _error(_op(client, "GetShardIterator", full), 400, "InvalidArgumentException")


def test_typed_fields_refuse_other_types(client: TestClient, stream: str) -> None:
    """Fields the old checks ignored or crashed on when not text now say so (400, not 500)."""
    cases: list[tuple[str, dict[str, Any]]] = [
        ("ListStreams", {"ExclusiveStartStreamName": 5}),
        ("DescribeStream", {"StreamName": "s", "ExclusiveStartShardId": 5}),
        ("ListShards", {"StreamName": "s", "NextToken": 5}),
    ]
    for op, doc in cases:
        field = next(k for k in doc if k != "StreamName")
        message = _error(_op(client, op, doc), 400, "ValidationException")
        assert f"at '{field[0].lower()}{field[1:]}'" in message


# -- one copy: the document's bodies are the models' -------------------------------------------


def _refs(schema: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        return [schema["$ref"].rsplit("/", 1)[-1]]
    assert set(schema) == {"anyOf"}, schema  # nothing written by hand beside the models
    return [ref for part in schema["anyOf"] for ref in _refs(part)]


def test_every_request_body_is_a_model(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    named: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                names = _refs(media["schema"])
                assert names, (method, path)
                named.update(names)
    assert set(named) <= set(components)
    adapters: tuple[TypeAdapter[Any], ...] = (
        models.CONSUMER_CREATE,
        models.CONSUMER_SUBSCRIPTION,
        models.CONSUMER_PARTITIONS,
        models.CONSUMER_SEEK,
        models.CONSUMER_COMMIT,
        models.CREATE_STREAM,
        models.GET_SHARD_ITERATOR,
        models.GET_RECORDS,
    )
    for adapter in adapters:
        schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
        assert schema["title"] in named
        assert components[schema["title"]] == schema
    native = spec["paths"]["/"]["post"]["requestBody"]["content"]["application/x-amz-json-1.1"]
    assert {"CreateStreamInput", "GetRecordsInput", "ListShardsInput"} <= set(
        _refs(native["schema"])
    )
