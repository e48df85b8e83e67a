"""Hashed keys, topic allow-lists, rate limits, ops endpoints, drain, the fuzzer, kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from pinpipe.ingest.app import create_app
from pinpipe.ingest.auth import hash_key
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import IngestSettings
from tests.helpers import app_client, wait_healthy
from tests.infra.process import free_port

JSON_V2 = {"Content-Type": "application/vnd.kafka.json.v2+json"}
BODY = {"records": [{"value": {"n": 1}}]}


def test_plain_keys_are_refused_in_configuration() -> None:
    with pytest.raises(ValueError, match="pinpipe keys hash"):
        IngestSettings(api_keys=("s3cret",))


def test_topic_allow_lists(log: EmbeddedLog) -> None:
    keys = [{"sha256": hash_key("pins")[7:], "name": "pins-only", "topics": ["*.pin"]}]
    with app_client(log, api_keys=keys) as client:
        ok = {**JSON_V2, "x-api-key": "pins"}
        assert client.post("/topics/app.pin", json=BODY, headers=ok).status_code == 200
        denied = client.post("/topics/app.geo", json=BODY, headers=ok)
        assert denied.status_code == 403 and denied.json()["error_code"] == 40301
        log.create_topic("secret")
        assert client.get("/topics", headers=ok).json() == ["app.pin"]
        kinesis = client.put(
            "/streams/app.geo/record",
            json={"Data": 1, "PartitionKey": "p"},
            headers={"Authorization": "Bearer pins"},
        )
        assert kinesis.status_code == 403 and kinesis.json()["__type"] == "AccessDeniedException"


def test_key_scopes_split_producing_from_reading(log: EmbeddedLog) -> None:
    keys = [
        {"sha256": hash_key("producer")[7:], "scope": "produce"},
        {"sha256": hash_key("reader")[7:], "scope": "read"},
        {"sha256": hash_key("both")[7:]},
    ]
    consumer = "/consumers/g"
    with app_client(log, api_keys=keys) as client:
        for key, may_produce, may_read in (
            ("producer", True, False), ("reader", False, True), ("both", True, True),
        ):  # fmt: skip
            headers = {**JSON_V2, "x-api-key": key}
            produced = client.post("/topics/app.pin", json=BODY, headers=headers)
            assert produced.status_code == (200 if may_produce else 403), produced.text
            created = client.post(consumer, json={"name": key}, headers=headers)
            assert created.status_code == (200 if may_read else 403), created.text
            if not may_read:
                assert "may only produce" in created.json()["message"]


def test_rate_limit_answers_429_with_retry_after(log: EmbeddedLog) -> None:
    keys = [{"sha256": hash_key("k")[7:], "rate_limit": 2}]
    with app_client(log, api_keys=keys) as client:
        headers = {**JSON_V2, "x-api-key": "k"}
        statuses = [client.post("/topics/t", json=BODY, headers=headers) for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    limited = statuses[-1]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error_code"] == 429


def test_invalid_names_and_no_internals(log: EmbeddedLog) -> None:
    with app_client(log) as client:
        for path in ("/topics/bad%20name", "/topics/" + "x" * 250, "/topics/.."):
            response = client.post(path, json=BODY, headers=JSON_V2)
            assert response.status_code in (400, 404), path
            assert "Traceback" not in response.text and "/work" not in response.text
        bad = client.put("/streams/a$b/record", json={"Data": 1, "PartitionKey": "p"})
        assert bad.json()["__type"] == "ValidationException"


def test_ops_endpoints(log: EmbeddedLog) -> None:
    with app_client(log, api_keys=[hash_key("k")]) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        client.post("/topics/m.pin", json=BODY, headers={**JSON_V2, "x-api-key": "k"})
        client.post("/topics/m.pin", json=BODY, headers=JSON_V2)  # no key
        metrics = client.get("/metrics").text
        assert 'pinpipe_ingest_records_total{route="/topics/{topic}",topic="m.pin"} 1.0' in metrics
        assert 'pinpipe_ingest_rejections_total{reason="unauthenticated"} 1.0' in metrics
        assert "pinpipe_ingest_request_seconds_bucket" in metrics
        spec = client.get("/openapi.json").json()
        assert "/topics/{topic}" in spec["paths"] and "/streams/{stream}/record" in spec["paths"]
        assert "openapi.json" in client.get("/docs").text
        log.close()
        assert client.get("/readyz").status_code == 503


def test_draining_answers_503_with_retry_after(log: EmbeddedLog) -> None:
    app = create_app(log, IngestSettings())

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            app.start_drain()
            produce = await client.post("/topics/t", json=BODY, headers=JSON_V2)
            ready = await client.get("/readyz")
            return produce, ready

    produce, ready = asyncio.run(run())
    app.close()
    assert produce.status_code == 503 and produce.headers["retry-after"] == "1"
    assert produce.json()["error_code"] == 50301
    assert ready.status_code == 503


def test_keys_cli_hashes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pinpipe", "keys", "hash", "abc"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == hash_key("abc")


def test_fuzz_openapi_no_5xx_and_json_errors(log: EmbeddedLog) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    @schemathesis.serializer("application/x-amz-json-1.1")
    def amz_json(ctx: Any, value: Any) -> bytes:
        return json.dumps(value).encode()

    app = create_app(log, IngestSettings())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []

    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")
            if response.status_code >= 400:
                body = response.json()  # every error is a JSON object
                assert isinstance(body, dict) and ("error_code" in body or "__type" in body)

        check()
    app.close()
    assert failures == []


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PINPIPE_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    acked: set[int] = set()
    stop = threading.Event()

    def post(worker: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            value = worker * 1_000_000 + n
            n += 1
            try:
                response = session.post(
                    f"http://127.0.0.1:{port}/topics/crash.pin",
                    json={"records": [{"value": value}]},
                    headers=JSON_V2,
                    timeout=5,
                )
            except requests.RequestException:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                acked.add(value)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2):
            time.sleep(1.5)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = _start(tmp_path, port)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    with EmbeddedLog(tmp_path / "log.db") as log:
        stored = {int(r.value) for r in log.fetch("crash.pin", 0, 0, 10_000_000) if r.value}
    assert len(acked) > 100
    assert acked <= stored, f"{len(acked - stored)} acknowledged records lost"
