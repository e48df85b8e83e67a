"""Kafka REST v2 consumers, v3 records (single and streamed), content negotiation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from starlette.testclient import TestClient

from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from tests.helpers import app_client

V2 = {"Content-Type": "application/vnd.kafka.v2+json"}
JSON_V2 = {"Content-Type": "application/vnd.kafka.json.v2+json"}


def test_consumer_reads_commits_and_resumes(client: TestClient, log: EmbeddedLog) -> None:
    log.create_topic("events", 2)
    log.produce(
        "events", [ProduceRecord(json.dumps({"n": i}).encode(), None, i % 2) for i in range(6)]
    )
    made = client.post(
        "/consumers/g1",
        json={
            "name": "c1",
            "format": "json",
            "auto.offset.reset": "earliest",
            "auto.commit.enable": "false",
        },
        headers=V2,
    )
    assert made.status_code == 200
    base = made.json()["base_uri"]
    assert base.endswith("/consumers/g1/instances/c1")
    path = "/consumers/g1/instances/c1"
    assert (
        client.post(path + "/subscription", json={"topics": ["events"]}, headers=V2).status_code
        == 204
    )
    assert client.get(path + "/subscription").json() == {"topics": ["events"]}
    accept = {"Accept": "application/vnd.kafka.json.v2+json"}
    records = client.get(path + "/records?timeout=100", headers=accept).json()
    assert sorted(r["value"]["n"] for r in records) == list(range(6))
    assert {r["topic"] for r in records} == {"events"}
    wrong = client.get(
        path + "/records", headers={"Accept": "application/vnd.kafka.binary.v2+json"}
    )
    assert wrong.status_code == 406 and wrong.json()["error_code"] == 40601
    last = {(r["partition"]): r["offset"] for r in records}
    offsets = [{"topic": "events", "partition": p, "offset": o} for p, o in last.items()]
    assert client.post(path + "/offsets", json={"offsets": offsets}, headers=V2).status_code == 204
    assert log.committed("g1", "events", 0) == 3  # next record to read
    committed = client.request(
        "GET",
        path + "/offsets",
        json={"partitions": [{"topic": "events", "partition": 0}]},
        headers=V2,
    ).json()
    assert committed == {
        "offsets": [{"topic": "events", "partition": 0, "offset": 3, "metadata": ""}]
    }
    assert client.delete(path).status_code == 204
    assert client.get(path + "/records", headers=accept).json()["error_code"] == 40403
    # a new instance of the group resumes after the committed offsets
    client.post("/consumers/g1", json={"name": "c2", "format": "binary"}, headers=V2)
    client.post("/consumers/g1/instances/c2/subscription", json={"topics": ["events"]}, headers=V2)
    log.produce("events", [ProduceRecord(b"\x00raw", b"k", 0)])
    fresh = client.get(
        "/consumers/g1/instances/c2/records",
        headers={"Accept": "application/vnd.kafka.binary.v2+json"},
    ).json()
    assert [(base64.b64decode(r["value"]), base64.b64decode(r["key"])) for r in fresh] == [
        (b"\x00raw", b"k")
    ]


def test_consumer_errors(client: TestClient) -> None:
    client.post("/consumers/g", json={"name": "c"}, headers=V2)
    dup = client.post("/consumers/g", json={"name": "c"}, headers=V2)
    assert dup.status_code == 409 and dup.json()["error_code"] == 40902
    bad = client.post("/consumers/g", json={"format": "avro"}, headers=V2)
    assert bad.status_code == 422 and bad.json()["error_code"] == 42204
    missing = client.post("/consumers/g/instances/nope/subscription", json={"topics": ["t"]})
    assert missing.status_code == 404 and missing.json()["error_code"] == 40403
    both = client.post(
        "/consumers/g/instances/c/subscription", json={"topics": ["t"], "topic_pattern": "t.*"}
    )
    assert both.status_code == 422


def test_accept_negotiation(client: TestClient) -> None:
    body = {"records": [{"value": 1}]}
    weighted = {
        **JSON_V2,
        "Accept": "application/vnd.kafka.v2+json; q=0.9, application/json; q=0.5",
    }
    response = client.post("/topics/t", json=body, headers=weighted)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.kafka.v2+json"
    plain = client.post("/topics/t", json=body, headers={**JSON_V2, "Accept": "application/json"})
    assert plain.headers["content-type"] == "application/json"
    refused = client.post("/topics/t", json=body, headers={**JSON_V2, "Accept": "text/html"})
    assert refused.status_code == 406 and refused.json()["error_code"] == 406


def test_produce_key_hash_partitioning(client: TestClient, log: EmbeddedLog) -> None:
    log.create_topic("keyed", 2)
    body = {"records": [{"key": "user-7", "value": i} for i in range(5)]}
    offsets = client.post("/topics/keyed", json=body, headers=JSON_V2).json()["offsets"]
    assert len({o["partition"] for o in offsets}) == 1  # one key, one partition
    to_one = client.post(
        "/topics/keyed/partitions/1", json={"records": [{"value": 9}]}, headers=JSON_V2
    ).json()
    assert to_one["offsets"][0]["partition"] == 1
    missing = client.post(
        "/topics/keyed/partitions/7", json={"records": [{"value": 9}]}, headers=JSON_V2
    )
    assert missing.status_code == 404 and missing.json()["error_code"] == 40402


def test_v3_single_record(client: TestClient, log: EmbeddedLog) -> None:
    record = {"key": {"type": "STRING", "data": "k"}, "value": {"type": "JSON", "data": {"a": 1}}}
    response = client.post("/v3/clusters/pinpipe/topics/v3t/records", json=record)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["error_code"] == 200 and report["topic_name"] == "v3t"
    assert report["value"] == {"type": "JSON", "size": 7}
    stored = log.fetch("v3t", report["partition_id"], report["offset"])[0]
    assert (stored.key, stored.value) == (b"k", b'{"a":1}')
    assert client.get("/v3/clusters").json()["data"][0]["cluster_id"] == "pinpipe"
    other = client.post("/v3/clusters/other/topics/v3t/records", json=record)
    assert other.status_code == 404 and "error_code" in other.json()


def test_v3_record_over_the_size_limit_answers_as_v2(log: EmbeddedLog) -> None:
    """422 / 42206 on both doors (413 is for a request body over max_request_bytes)."""
    big = {"value": {"type": "STRING", "data": "x" * 200}}
    with app_client(log, max_record_bytes=100) as client:
        response = client.post("/v3/clusters/pinpipe/topics/v3big/records", json=big)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == 42206
    assert "over the limit of 100 bytes" in response.json()["message"]
    assert log.topics() == []


@pytest.mark.slow
def test_v3_streamed_records(server_factory: Callable[..., Any]) -> None:
    with server_factory() as (url, log):

        def chunks() -> Iterator[bytes]:
            for i in range(5):
                yield json.dumps({"value": {"type": "JSON", "data": {"i": i}}}).encode()
            yield b'{"value": {"type": "AVRO", "data": 1}}'

        response = requests.post(
            f"{url}/v3/clusters/pinpipe/topics/streamed/records",
            data=chunks(),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200
        reports = [json.loads(line) for line in response.text.splitlines() if line]
        assert [r["error_code"] for r in reports] == [200] * 5 + [422]
        assert [r.value for r in log.fetch("streamed", 0, 0)] == [
            json.dumps({"i": i}, separators=(",", ":")).encode() for i in range(5)
        ]
