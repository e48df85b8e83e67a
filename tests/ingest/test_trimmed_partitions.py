"""Reading from the beginning once retention has trimmed a partition starts at its oldest record.

Kinesis TRIM_HORIZON (both doors), ``AT_TIMESTAMP`` before every record, v2 consumers with
``auto.offset.reset=earliest`` and v2 seeks to the beginning all mean "the oldest record still
held", which after retention is no longer offset 0.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from tests.helpers import app_client

KEPT = [b"v003", b"v004"]
V2 = {"Content-Type": "application/vnd.kafka.v2+json"}
BINARY = {"Accept": "application/vnd.kafka.binary.v2+json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The app over a log whose stream ``pins`` lost its first three records to retention."""
    # Size retention trims on append: 8 bytes per partition keep the last two 4-byte records.
    with EmbeddedLog(
        tmp_path / "log.db", fsync=False, retention_bytes=8, retention_check_ms=0
    ) as log:
        log.produce("pins", [ProduceRecord(f"v{i:03d}".encode()) for i in range(5)])
        assert (log.start_offset("pins", 0), log.end_offset("pins", 0)) == (3, 5)
        with app_client(log) as client_:
            yield client_


def _kinesis(client: TestClient, op: str, **doc: Any) -> Any:
    target = {"X-Amz-Target": f"Kinesis_20131202.{op}"}
    response = client.post("/", json=doc, headers=target)
    assert response.status_code == 200, response.text
    return response.json()


def _native_read(client: TestClient, **start: Any) -> list[bytes]:
    iterator = _kinesis(
        client, "GetShardIterator", StreamName="pins", ShardId="shardId-000000000000", **start
    )["ShardIterator"]
    records = _kinesis(client, "GetRecords", ShardIterator=iterator)["Records"]
    return [base64.b64decode(r["Data"]) for r in records]


def test_trim_horizon_starts_at_the_oldest_kept_record(client: TestClient) -> None:
    assert _native_read(client, ShardIteratorType="TRIM_HORIZON") == KEPT


def test_a_timestamp_before_every_record_starts_at_the_oldest_kept(client: TestClient) -> None:
    assert _native_read(client, ShardIteratorType="AT_TIMESTAMP", Timestamp=0) == KEPT


def test_the_api_gateway_shard_iterator_is_trim_horizon(client: TestClient) -> None:
    got = client.get("/streams/pins/sharditerator", params={"shard-id": "shardId-000000000000"})
    assert got.status_code == 200, got.text
    iterator = got.json()["ShardIterator"]
    records = client.get("/streams/pins/records", headers={"Shard-Iterator": iterator})
    assert records.status_code == 200, records.text
    assert [base64.b64decode(r["Data"]) for r in records.json()["Records"]] == KEPT


def _consumer(client: TestClient, name: str, reset: str) -> str:
    made = client.post("/consumers/g", json={"name": name, "auto.offset.reset": reset}, headers=V2)
    assert made.status_code == 200, made.text
    path = f"/consumers/g/instances/{name}"
    subscribed = client.post(path + "/subscription", json={"topics": ["pins"]}, headers=V2)
    assert subscribed.status_code == 204, subscribed.text
    return path


def _fetch(client: TestClient, path: str) -> list[bytes]:
    response = client.get(path + "/records", params={"timeout": 0}, headers=BINARY)
    assert response.status_code == 200, response.text
    return [base64.b64decode(r["value"]) for r in response.json()]


def test_a_consumer_reset_to_earliest_starts_at_the_oldest_kept(client: TestClient) -> None:
    assert _fetch(client, _consumer(client, "early", "earliest")) == KEPT


def test_seeking_to_the_beginning_goes_to_the_oldest_kept(client: TestClient) -> None:
    path = _consumer(client, "late", "latest")
    assert _fetch(client, path) == []
    partitions = {"partitions": [{"topic": "pins", "partition": 0}]}
    sought = client.post(path + "/positions/beginning", json=partitions, headers=V2)
    assert sought.status_code == 204, sought.text
    assert _fetch(client, path) == KEPT
