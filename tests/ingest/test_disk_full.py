"""A full disk under the embedded log: every produce door answers 507 with a JSON error, nothing
unacknowledged is stored, the file stays whole, and writing resumes once space is freed.

The log lives on a real 32 MiB tmpfs (``disk``), filled with a ballast file; no error is faked.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
from starlette.testclient import TestClient

from pinpipe.log.doctor import diagnose
from pinpipe.log.embedded import EmbeddedLog
from tests.helpers import SmallDisk, app_client

KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
NATIVE = {"Content-Type": "application/x-amz-json-1.1"}
PAD = "p" * 900
"""Makes each record about 1 KB, so a few hundred KB of margin fill in a few requests."""

Door = Callable[[TestClient, int], httpx.Response]


def _v2(client: TestClient, n: int) -> httpx.Response:
    body = {"records": [{"value": {"n": n + i, "pad": PAD}} for i in range(50)]}
    return client.post("/topics/full.pin", content=json.dumps(body), headers=KAFKA_JSON)


def _v2_partition(client: TestClient, n: int) -> httpx.Response:
    body = {"records": [{"value": {"n": n, "pad": PAD}}]}
    return client.post(
        "/topics/full.pin/partitions/0", content=json.dumps(body), headers=KAFKA_JSON
    )


def _v3(client: TestClient, n: int) -> httpx.Response:
    record = {"value": {"type": "JSON", "data": {"n": n, "pad": PAD}}}
    return client.post("/v3/clusters/pinpipe/topics/full.pin/records", json=record)


def _proxy(client: TestClient, n: int) -> httpx.Response:
    records = [{"data": {"n": n + i, "pad": PAD}, "partition-key": "k"} for i in range(10)]
    return client.put("/streams/full.pin/records", json={"records": records})


def _proxy_one(client: TestClient, n: int) -> httpx.Response:
    body = {"StreamName": "full.pin", "Data": {"n": n, "pad": PAD}, "PartitionKey": "k"}
    return client.put("/streams/full.pin/record", json=body)


def _native(client: TestClient, n: int) -> httpx.Response:
    data = base64.b64encode(orjson.dumps({"n": n, "pad": PAD})).decode()
    doc = {"StreamName": "full.pin", "Data": data, "PartitionKey": "k"}
    headers = {**NATIVE, "X-Amz-Target": "Kinesis_20131202.PutRecord"}
    return client.post("/", json=doc, headers=headers)


def _native_many(client: TestClient, n: int) -> httpx.Response:
    records = [
        {
            "Data": base64.b64encode(orjson.dumps({"n": n + i, "pad": PAD})).decode(),
            "PartitionKey": "k",
        }
        for i in range(5)
    ]
    headers = {**NATIVE, "X-Amz-Target": "Kinesis_20131202.PutRecords"}
    return client.post("/", json={"StreamName": "full.pin", "Records": records}, headers=headers)


DOORS: dict[str, tuple[Door, int]] = {
    "v2": (_v2, 50),
    "v2-partition": (_v2_partition, 1),
    "v3": (_v3, 1),
    "proxy": (_proxy, 10),
    "proxy-one": (_proxy_one, 1),
    "native": (_native, 1),
    "native-many": (_native_many, 5),
}
"""Each produce route and how many records one of its requests carries."""


def _stored(log: EmbeddedLog) -> list[int]:
    """Every ``n`` in the log, in offset order (records are JSON, Kinesis's base64-decoded)."""
    found = []
    offset = 0
    while batch := log.fetch("full.pin", 0, offset, 5000):
        for record in batch:
            found.append(orjson.loads(record.value or b"")["n"])
        offset = batch[-1].offset + 1
    return found


def _post_all(
    client: TestClient, numbers: Iterator[int], acked: list[int], refused: list[Any]
) -> None:
    """One request through every door; acknowledged ``n``s go to ``acked``."""
    for name, (door, size) in DOORS.items():
        n = next(numbers) * 100  # each request's records get n, n + 1, ... (fewer than 100)
        answer = door(client, n)
        if answer.status_code == 200:
            acked.extend(range(n, n + size))
        else:
            refused.append((name, answer))


def test_a_full_log_disk_answers_507_on_every_door_and_resumes_when_freed(
    disk: SmallDisk,
) -> None:
    path = disk.path / "home" / "log.db"
    with EmbeddedLog(path, fsync=True) as log, app_client(log) as client:
        numbers = itertools.count()
        acked: list[int] = []
        refused: list[Any] = []
        _post_all(client, numbers, acked, refused)
        assert not refused
        disk.fill(leave=256 * 1024)
        for _ in range(200):  # a few hundred KB of margin: a handful of rounds
            _post_all(client, numbers, acked, refused)
            if refused:
                break
        assert refused, "the disk never filled up"
        assert all(answer.status_code == 507 for _, answer in refused), refused

        disk.fill()  # now not one more page fits: every door must refuse
        refused.clear()
        _post_all(client, numbers, acked, refused)
        answers = dict(refused)
        assert sorted(answers) == sorted(DOORS)
        for name, answer in answers.items():
            assert answer.status_code == 507, (name, answer.text)
            assert answer.headers["retry-after"] == "5"
            assert "disk is full" in answer.json()["message"]
            assert "log.path" in answer.json()["message"]
            assert str(disk.path) not in answer.text  # the server path stays in the server log
        for name in ("v2", "v2-partition", "v3"):
            assert answers[name].json()["error_code"] == 50701
        for name in ("proxy", "proxy-one", "native", "native-many"):
            assert answers[name].json()["__type"] == "InternalFailure"
        assert answers["native"].headers["x-amzn-errortype"] == "InternalFailure"
        # Several v3 records in one body are answered one line each (200), each refused.
        many = json.dumps({"value": {"type": "JSON", "data": {"n": -1}}}) * 2
        lines = client.post(
            "/v3/clusters/pinpipe/topics/full.pin/records",
            content=many,
            headers={"Content-Type": "application/json"},
        ).text.splitlines()
        assert [json.loads(line)["error_code"] for line in lines] == [507, 507]
        metrics = client.get("/metrics").text
        assert 'pinpipe_ingest_rejections_total{reason="disk_full"}' in metrics

        disk.free()
        refused.clear()
        _post_all(client, numbers, acked, refused)
        assert not refused, [(name, a.text) for name, a in refused]

        stored = _stored(log)
        assert sorted(stored) == sorted(acked)  # every acknowledged record, once, and no other
        assert len(set(stored)) == len(stored)
    assert diagnose(path).healthy
