"""Idempotent produce: a resend with the same ``Idempotency-Key`` appends nothing, on every door."""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from pinpipe.log.embedded import EmbeddedLog
from tests.helpers import app_client

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
V3 = "/v3/clusters/pinpipe/topics/{}/records"
NATIVE = {"Content-Type": "application/x-amz-json-1.1"}


def _v2(client: TestClient, topic: str, body: Any, key: str | None) -> httpx.Response:
    headers = {**KAFKA_JSON, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/topics/{topic}", content=json.dumps(body), headers=headers)


def _count(log: EmbeddedLog, topic: str) -> int:
    info = log.describe(topic)
    return sum(log.end_offset(topic, p) for p in range(info.partitions))


def test_a_v2_resend_answers_the_first_offsets_and_appends_nothing(
    client: TestClient, log: EmbeddedLog
) -> None:
    body = {"records": [{"value": {"n": 1}}, {"value": {"n": 2}}]}
    key = str(uuid.uuid4())
    first = _v2(client, "idem.pin", body, key)
    again = _v2(client, "idem.pin", body, key)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(log, "idem.pin") == 2
    metrics = client.get("/metrics").text
    assert "pinpipe_ingest_idempotent_replays_total 1.0" in metrics


def test_equal_bodies_with_different_keys_or_none_are_separate_records(
    client: TestClient, log: EmbeddedLog
) -> None:
    body = {"records": [{"value": {"same": True}}]}
    offsets = [
        _v2(client, "twice.pin", body, key).json()["offsets"][0]["offset"]
        for key in ("a", "b", None, None)
    ]
    assert offsets == [0, 1, 2, 3]
    assert _count(log, "twice.pin") == 4


def test_a_key_reused_for_another_body_is_refused_and_appends_nothing(
    client: TestClient, log: EmbeddedLog
) -> None:
    assert _v2(client, "reuse.pin", {"records": [{"value": 1}]}, "k1").status_code == 200
    refused = _v2(client, "reuse.pin", {"records": [{"value": 2}]}, "k1")
    assert refused.status_code == 422
    assert refused.json()["error_code"] == 42209
    assert "Idempotency-Key 'k1' was already used" in refused.json()["message"]
    other_topic = _v2(client, "reuse.geo", {"records": [{"value": 1}]}, "k1")
    assert other_topic.status_code == 422
    assert _count(log, "reuse.pin") == 1


def test_a_malformed_key_is_refused(client: TestClient) -> None:
    refused = _v2(client, "bad.pin", {"records": [{"value": 1}]}, "x" * 256)
    assert refused.status_code == 400
    assert "Idempotency-Key" in refused.json()["message"]


def test_keys_of_two_api_keys_do_not_collide(log: EmbeddedLog) -> None:
    from pinpipe.ingest.auth import hash_key

    keys = [{"sha256": hash_key(k).removeprefix("sha256:"), "name": k} for k in ("alice", "bob")]
    with app_client(log, api_keys=keys) as client:
        for who in ("alice", "bob"):
            headers = {**KAFKA_JSON, "Idempotency-Key": "same", "x-api-key": who}
            body = json.dumps({"records": [{"value": who}]})
            assert client.post("/topics/ns.pin", content=body, headers=headers).status_code == 200
    assert _count(log, "ns.pin") == 2


def test_v3_request_header_and_record_header(client: TestClient, log: EmbeddedLog) -> None:
    record = {"value": {"type": "JSON", "data": {"n": 1}}}
    url = V3.format("v3idem.pin")
    headers = {"Content-Type": "application/json", "Idempotency-Key": "r1"}
    first = client.post(url, content=json.dumps(record), headers=headers)
    again = client.post(url, content=json.dumps(record), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["offset"] == first.json()["offset"] == 0
    key = base64.b64encode(b"h1").decode()
    with_header = {**record, "headers": [{"name": "Idempotency-Key", "value": key}]}
    offsets = [
        client.post(
            url, content=json.dumps(with_header), headers={"Content-Type": "application/json"}
        ).json()["offset"]
        for _ in range(2)
    ]
    assert offsets == [1, 1]
    # Several concatenated records under one request key: each is its own <key>#<i>.
    many = json.dumps(record) + json.dumps({"value": {"type": "JSON", "data": {"n": 2}}})
    reports = [
        [
            json.loads(line)["offset"]
            for line in client.post(
                url,
                content=many,
                headers={"Content-Type": "application/json", "Idempotency-Key": "m"},
            ).text.splitlines()
        ]
        for _ in range(2)
    ]
    assert reports == [[2, 3], [2, 3]]
    assert _count(log, "v3idem.pin") == 4


def test_kinesis_proxy_and_native_puts_are_idempotent(client: TestClient, log: EmbeddedLog) -> None:
    key = {"Idempotency-Key": "kin-1"}
    put = {"StreamName": "s", "Data": {"n": 1}, "PartitionKey": "p"}
    answers = [
        client.put("/streams/streaming-x-pin/record", json=put, headers=key).json()
        for _ in range(2)
    ]
    assert answers[0] == answers[1]
    puts = {"records": [{"data": {"n": i}, "partition-key": str(i)} for i in range(3)]}
    batch = [
        client.put(
            "/streams/streaming-x-pin/records", json=puts, headers={"Idempotency-Key": "kin-2"}
        ).json()
        for _ in range(2)
    ]
    assert batch[0] == batch[1] and batch[0]["FailedRecordCount"] == 0
    assert _count(log, "streaming-x-pin") == 4

    assert (
        client.post(
            "/",
            json={"StreamName": "native-pin", "ShardCount": 1},
            headers={**NATIVE, "X-Amz-Target": "Kinesis_20131202.CreateStream"},
        ).status_code
        == 200
    )
    data = base64.b64encode(b"hello").decode()
    for target, doc in (
        ("PutRecord", {"StreamName": "native-pin", "Data": data, "PartitionKey": "p"}),
        (
            "PutRecords",
            {"StreamName": "native-pin", "Records": [{"Data": data, "PartitionKey": "p"}]},
        ),
    ):
        headers = {
            **NATIVE,
            "X-Amz-Target": f"Kinesis_20131202.{target}",
            "Idempotency-Key": target,
        }
        first, again = (client.post("/", json=doc, headers=headers) for _ in range(2))
        assert first.status_code == 200, first.text
        assert again.json() == first.json()
    assert _count(log, "native-pin") == 2


def test_a_resend_after_a_restart_answers_the_same_offsets(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    body = {"records": [{"value": {"n": i}} for i in range(3)]}
    with EmbeddedLog(path, fsync=True) as log, app_client(log) as client:
        first = _v2(client, "restart.pin", body, "once").json()
    with EmbeddedLog(path, fsync=True) as log, app_client(log) as client:
        again = _v2(client, "restart.pin", body, "once")
        assert again.json() == first
        assert again.headers["idempotent-replayed"] == "true"
        assert _count(log, "restart.pin") == 3


def test_keys_expire_after_the_window_and_are_pruned(tmp_path: Path) -> None:
    from tests.log.backends import ManualClock

    clock = ManualClock()
    path = tmp_path / "log.db"
    log = EmbeddedLog(path, fsync=False, clock=clock, idempotency_window_ms=1000)
    with log, app_client(log, idempotency_window_s=1) as client:
        body = {"records": [{"value": 1}]}
        assert _v2(client, "exp.pin", body, "k").json()["offsets"][0]["offset"] == 0
        clock.advance(999)
        assert _v2(client, "exp.pin", body, "k").json()["offsets"][0]["offset"] == 0
        clock.advance(2000)
        assert _v2(client, "exp.pin", body, "k").json()["offsets"][0]["offset"] == 1
        clock.advance(120_000)  # past the window and the pruning interval
        assert _v2(client, "exp.pin", body, "other").status_code == 200
    with sqlite3.connect(path) as db:
        keys = [row[0].split("\x00")[1] for row in db.execute("SELECT key FROM idempotency")]
    assert keys == ["other"]


def test_the_openapi_document_names_the_header_on_produce_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    produce = paths["/topics/{topic}"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in produce)
    assert "parameters" not in paths["/topics"]["get"]
