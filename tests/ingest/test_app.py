"""The ingest app: Kafka REST v2 and Kinesis proxy wire formats, errors, auth, group commit."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import requests
from starlette.testclient import TestClient

from pinpipe.errors import ConfigError
from pinpipe.ingest.app import create_app
from pinpipe.ingest.auth import hash_key
from pinpipe.ingest.kinesis import parse_sequence_number, sequence_number
from pinpipe.ingest.server import serve
from pinpipe.log.base import TopicInfo
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import IngestSettings, Settings
from tests.helpers import app_client, running_server

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
KAFKA_BINARY = {"Content-Type": "application/vnd.kafka.binary.v2+json"}
ROW = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "follower_count": "User Info Error",
    "poster_name": "Émilie — 東京",
    "downloaded": 0,
    "lat": -89.9787,
    "timestamp": "2020-08-28 03:52:47",
}


def _error(response: httpx.Response, status: int, code: int | str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    if isinstance(code, int):
        assert body["error_code"] == code
    else:
        assert body["__type"] == code
    assert body["message"] and "Traceback" not in body["message"]
    return str(body["message"])


# -- Kafka REST v2 -----------------------------------------------------------------------------


def test_produce_json_records(client: TestClient, log: EmbeddedLog) -> None:
    body = {"records": [{"value": ROW}, {"key": "k", "value": [1, "two"]}, {"key": {"a": 1}}]}
    response = client.post("/topics/pinpipe.pin", content=json.dumps(body), headers=KAFKA_JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.kafka.v2+json"
    assert response.json() == {
        "key_schema_id": None,
        "value_schema_id": None,
        "offsets": [
            {"partition": 0, "offset": i, "error_code": None, "error": None} for i in range(3)
        ],
    }
    records = log.fetch("pinpipe.pin", 0, 0)
    assert records[0].value == orjson.dumps(ROW) and records[0].key is None
    assert (records[1].key, records[1].value) == (b'"k"', b'[1,"two"]')  # the key keeps quotes
    assert (records[2].key, records[2].value) == (b'{"a":1}', None)


def test_produce_binary_and_explicit_partition(client: TestClient, log: EmbeddedLog) -> None:
    log.create_topic("bin", 3)
    b64 = base64.b64encode
    body = {"records": [{"key": b64(b"\x00k").decode(), "value": b64(b"\xffraw").decode()}]}
    response = client.post("/topics/bin/partitions/2", json=body, headers=KAFKA_BINARY)
    assert response.json()["offsets"][0]["partition"] == 2
    (record,) = log.fetch("bin", 2, 0)
    assert (record.key, record.value) == (b"\x00k", b"\xffraw")
    response = client.post(
        "/topics/bin", json={"records": [{"value": "aGk=", "partition": 1}]}, headers=KAFKA_BINARY
    )
    assert response.json()["offsets"][0]["partition"] == 1
    _error(client.post("/topics/bin/partitions/9", json=body, headers=KAFKA_BINARY), 404, 40402)
    bad = {"records": [{"value": "not base64!"}]}
    assert "base64" in _error(client.post("/topics/bin", json=bad, headers=KAFKA_BINARY), 422, 422)


def test_unsupported_content_types(client: TestClient) -> None:
    body = json.dumps({"records": [{"value": 1}]})
    for content_type in ["application/json", "text/plain", ""]:
        response = client.post("/topics/t", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 415
        assert response.json() == {"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}
    avro = {"Content-Type": "application/vnd.kafka.avro.v2+json"}
    assert "schema registry" in _error(
        client.post("/topics/t", content=body, headers=avro), 415, 415
    )
    charset = {"Content-Type": "application/vnd.kafka.json.v2+json; charset=utf-8"}
    assert client.post("/topics/t", content=body, headers=charset).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"", 422, "empty"),
        (b"{}", 422, "'records' is required"),
        (b"[]", 422, "JSON object"),
        (b'{"records": []}', 422, "must not be empty"),
        (b'{"records": {"value": 1}}', 422, "must be an array"),
        (b'{"records": [1]}', 422, "records[0] must be an object"),
        (b'{"records": [{"value": 1, "partition": -1}]}', 422, "records[0].partition"),
        (b'{"records": [{"value": 1, "partition": "0"}]}', 422, "records[0].partition"),
    ],
)
def test_bad_produce_bodies(client: TestClient, body: bytes, status: int, words: str) -> None:
    response = client.post("/topics/t", content=body, headers=KAFKA_JSON)
    assert words in _error(response, status, status)


def test_invalid_topic_name(client: TestClient, log: EmbeddedLog) -> None:
    body = {"records": [{"value": 1}]}
    message = _error(client.post("/topics/bad%20name", json=body, headers=KAFKA_JSON), 400, 40002)
    assert "invalid topic name" in message
    assert log.topics() == []


def test_record_over_the_size_limit_rejects_the_request(log: EmbeddedLog) -> None:
    with app_client(log, max_record_bytes=100) as client:
        body = {"records": [{"value": "small"}, {"value": "x" * 200}]}
        message = _error(client.post("/topics/t", json=body, headers=KAFKA_JSON), 422, 42206)
        assert "records[1]" in message
    assert log.topics() == []  # all or nothing


def test_request_over_the_size_limit(log: EmbeddedLog) -> None:
    with app_client(log, max_request_bytes=1000) as client:
        body = json.dumps({"records": [{"value": "x" * 2000}]})
        _error(client.post("/topics/t", content=body, headers=KAFKA_JSON), 413, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
            yield body.encode()

        _error(client.post("/topics/t", content=chunks(), headers=KAFKA_JSON), 413, 413)
        put = client.put("/streams/s/record", content=json.dumps({"Data": "x" * 2000}))
        _error(put, 413, "ValidationException")


def test_topic_metadata(client: TestClient, log: EmbeddedLog) -> None:
    log.create_topic("b.geo", 2)
    log.create_topic("a.pin")
    assert client.get("/topics").json() == ["a.pin", "b.geo"]
    body = client.get("/topics/b.geo").json()
    assert body["name"] == "b.geo" and body["configs"] == {}
    assert [p["partition"] for p in body["partitions"]] == [0, 1]
    assert body["partitions"][1]["replicas"] == [{"broker": 0, "leader": True, "in_sync": True}]
    assert client.get("/topics/b.geo/partitions/1").json()["partition"] == 1
    _error(client.get("/topics/nope"), 404, 40401)
    _error(client.get("/topics/b.geo/partitions/5"), 404, 40402)
    # Unicode digits that str.isdigit accepts but int() does not (found by the fuzz test).
    _error(client.get("/topics/b.geo/partitions/%C2%B3"), 404, 40402)
    _error(client.get("/no/such/route"), 404, 404)
    _error(client.delete("/topics/b.geo"), 405, 405)


# -- Kinesis proxy -----------------------------------------------------------------------------


def test_put_record_stores_the_json_text_of_data(client: TestClient, log: EmbeddedLog) -> None:
    body = {"StreamName": "ignored", "Data": ROW, "PartitionKey": "partition-1"}
    response = client.put("/streams/streaming-pinpipe-pin/record", content=json.dumps(body))
    assert response.status_code == 200
    assert response.json() == {
        "SequenceNumber": sequence_number(0, 0),
        "ShardId": "shardId-000000000000",
    }
    client.put("/streams/streaming-pinpipe-pin/record", json={"Data": "s", "PartitionKey": "p"})
    first, second = log.fetch("streaming-pinpipe-pin", 0, 0)
    assert (first.key, first.value) == (b"partition-1", orjson.dumps(ROW))
    assert second.value == b'"s"'  # a JSON string keeps its quotes, as the VTL template does
    assert parse_sequence_number(sequence_number(3, 12345)) == (3, 12345)
    assert sequence_number(0, 9) < sequence_number(0, 10)
    assert int(sequence_number(0, 9)) < int(sequence_number(0, 10))


@pytest.mark.parametrize(
    ("body", "error_type", "words"),
    [
        (b"{oops", "SerializationException", "malformed JSON"),
        (b"[1]", "SerializationException", "JSON object"),
        (b'{"PartitionKey": "p"}', "ValidationException", "'data'"),
        (b'{"Data": {"a": 1}}', "ValidationException", "'partitionKey'"),
        (b'{"Data": 1, "PartitionKey": ""}', "ValidationException", "'partitionKey'"),
    ],
)
def test_bad_put_record(client: TestClient, body: bytes, error_type: str, words: str) -> None:
    response = client.put("/streams/s/record", content=body)
    assert words in _error(response, 400, error_type)


def test_put_record_limits(log: EmbeddedLog) -> None:
    with app_client(log, max_record_bytes=50) as client:
        response = client.put("/streams/s/record", json={"Data": "x" * 60, "PartitionKey": "p"})
        assert "length less than or equal to 50" in _error(response, 400, "ValidationException")
        bad_stream = client.put("/streams/a%20b/record", json={"Data": 1, "PartitionKey": "p"})
        _error(bad_stream, 400, "ValidationException")


def test_put_records(client: TestClient, log: EmbeddedLog) -> None:
    body = {
        "records": [
            {"data": "raw text", "partition-key": "a"},
            {"data": {"x": 1}, "partition-key": "b"},
        ]
    }
    response = client.put("/streams/s/records", json=body)
    assert response.status_code == 200
    result = response.json()
    assert result["FailedRecordCount"] == 0
    assert [r["SequenceNumber"] for r in result["Records"]] == [
        sequence_number(0, 0),
        sequence_number(0, 1),
    ]
    assert [r.value for r in log.fetch("s", 0, 0)] == [b"raw text", b'{"x":1}']
    too_many = {"records": [{"data": 1, "partition-key": "k"}] * 501}
    _error(client.put("/streams/s/records", json=too_many), 400, "ValidationException")
    _error(client.put("/streams/s/records", json={"records": []}), 400, "ValidationException")
    missing = {"records": [{"data": 1, "partition-key": "k"}, {"partition-key": "k"}]}
    message = _error(client.put("/streams/s/records", json=missing), 400, "ValidationException")
    assert "records.2.member.data" in message


# -- auth, health, failures --------------------------------------------------------------------


def test_api_keys(log: EmbeddedLog) -> None:
    with app_client(log, api_keys=(hash_key("s3cret"), hash_key("other"))) as client:
        body = {"records": [{"value": 1}]}
        assert client.get("/healthz").json() == {"status": "ok"}
        _error(client.post("/topics/t", json=body, headers=KAFKA_JSON), 401, 40101)
        wrong = {**KAFKA_JSON, "x-api-key": "nope"}
        _error(client.post("/topics/t", json=body, headers=wrong), 401, 40101)
        kinesis = client.put("/streams/s/record", json={"Data": 1, "PartitionKey": "p"})
        _error(kinesis, 401, "UnrecognizedClientException")
        ok = {**KAFKA_JSON, "x-api-key": "s3cret"}
        assert client.post("/topics/t", json=body, headers=ok).status_code == 200
        bearer = {**KAFKA_JSON, "Authorization": "Bearer other"}
        assert client.post("/topics/t", json=body, headers=bearer).status_code == 200


def test_unexpected_errors_are_json_without_internals(
    log: EmbeddedLog, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[TopicInfo]:
        raise RuntimeError("secret internals at /etc/passwd")

    log.topics = broken  # type: ignore[method-assign]
    with app_client(log) as client:
        response = client.get("/topics")
    message = _error(response, 500, 500)
    assert "secret" not in response.text and "internal server error" in message
    assert "secret internals" in caplog.text


def test_log_failure_maps_to_500_50003(log: EmbeddedLog) -> None:
    with app_client(log) as client:
        log.close()
        response = client.post("/topics/t", json={"records": [{"value": 1}]}, headers=KAFKA_JSON)
    assert "closed" in _error(response, 500, 50003)


# -- group commit ------------------------------------------------------------------------------


def test_concurrent_requests_share_commits(log: EmbeddedLog) -> None:
    app = create_app(log, IngestSettings())

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            posts = [
                client.post(
                    "/topics/busy",
                    json={"records": [{"value": {"n": i}}, {"value": {"n": i, "second": True}}]},
                    headers=KAFKA_JSON,
                )
                for i in range(200)
            ]
            puts = [
                client.put("/streams/busy/record", json={"Data": {"k": i}, "PartitionKey": "p"})
                for i in range(100)
            ]
            return list(await asyncio.gather(*posts, *puts))

    responses = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses)
    offsets = [o["offset"] for r in responses[:200] for o in r.json()["offsets"]]
    offsets += [parse_sequence_number(r.json()["SequenceNumber"])[1] for r in responses[200:]]
    assert sorted(offsets) == list(range(500))  # distinct and dense
    for r in responses[:200]:  # a request's records stay together and in order
        first, second = (o["offset"] for o in r.json()["offsets"])
        assert second == first + 1
    app.close()
    assert app.ctx.committer.commits < 300  # requests were grouped into fewer transactions


# -- a real server, driven exactly like the reference emulators --------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, EmbeddedLog]]:
    with running_server(tmp_path) as running:
        yield running


@pytest.mark.slow
def test_real_server_with_requests(server: tuple[str, EmbeddedLog]) -> None:
    url, log = server
    rows = [ROW, {**ROW, "index": 1, "lat": 12.5, "poster_name": "plain"}]
    for row in rows:
        response = requests.post(
            f"{url}/topics/pinpipe.pin",
            data=json.dumps({"records": [{"value": row}]}, default=str),
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        response = requests.put(
            f"{url}/streams/streaming-pinpipe-pin/record",
            data=json.dumps(
                {"StreamName": "streaming-pinpipe-pin", "Data": row, "PartitionKey": "partition-1"},
                default=str,
            ),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["ShardId"] == "shardId-000000000000"
    compact = [json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() for r in rows]
    assert [r.value for r in log.fetch("pinpipe.pin", 0, 0)] == compact
    assert [r.value for r in log.fetch("streaming-pinpipe-pin", 0, 0)] == compact
    assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.post(f"{url}/topics/x", data="{}", timeout=10).status_code == 415


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, ingest=IngestSettings(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="api_keys"):
        serve(settings)
