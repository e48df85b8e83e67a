"""The whole pipeline on a real Apache Kafka broker, chosen by configuration only.

``pinpipe up`` and ``pinpipe demo`` run with ``PINPIPE_LOG__BACKEND=kafka``; records posted to
the REST API are read back from the broker by a stock consumer (plain confluent-kafka, no
pinpipe code), byte for byte as the client sent them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.poster import run
from tests.fixtures import Spawn
from tests.helpers import pinpipe_command, pinpipe_env, wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow

KAFKA_JSON = "application/vnd.kafka.json.v2+json"


def _env(bootstrap: str) -> dict[str, str]:
    return {
        "PINPIPE_LOG__BACKEND": "kafka",
        "PINPIPE_LOG__BOOTSTRAP_SERVERS": bootstrap,
        "PINPIPE_SINK__FLUSH_SIZE": "50",
    }


def _read_with_stock_consumer(bootstrap: str, topic: str, n: int) -> list[bytes]:
    """What any Kafka client sees in ``topic`` partition 0, from the beginning."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}"},
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < n and time.monotonic() < deadline:
            for msg in consumer.consume(100, timeout=0.5):
                assert msg.error() is None, msg.error()
                values.append(msg.value() or b"")
    finally:
        consumer.close()
    return values


def test_pinpipe_up_on_kafka_serves_rest_clients_and_stock_consumers(
    kafka_bootstrap: str, tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    # The broker is shared by the session: this pipeline consumes only its own topics.
    env = {**_env(kafka_bootstrap), "PINPIPE_LOG__TOPIC_FILTER": f"{prefix}[.-]"}
    up = spawn_pinpipe("up", "--port", str(port), env=env)
    sent = [
        {"ind": 1, "title": "über café ☕", "follower_count": "12k"},
        {"ind": 2, "nested": {"a": [1, 2, None]}},
        "a plain string",
    ]
    try:
        wait_healthy(url, up)
        topic = f"{prefix}.custom"
        answer = requests.post(
            f"{url}/topics/{topic}",
            data=json.dumps({"records": [{"value": v} for v in sent]}),
            headers={"Content-Type": KAFKA_JSON},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        stats = run(generate(500, seed=3), mode="both", count=60, seed=5, url=url, prefix=prefix)
    finally:
        up.send_signal(signal.SIGTERM)
        _, err = up.communicate(timeout=120)
    assert up.returncode == 0, err.decode()[-3000:]
    assert stats.total_acknowledged == 360 and stats.failed == 0

    # A stock consumer reads back exactly what the REST client sent.
    got = _read_with_stock_consumer(kafka_bootstrap, topic, len(sent))
    assert [json.loads(v) for v in got] == sent

    # The sink and the stream job consumed from Kafka: every acknowledged pin row is a
    # stream row (both doors), and the raw zone holds every record once.
    stream_pin = DeltaTable(str(tmp_path / "lake/tables/stream/pin")).to_pyarrow_table()
    assert stream_pin.num_rows == 120
    assert set(stream_pin["_topic"].to_pylist()) == {f"{prefix}.pin", f"streaming-{prefix}-pin"}
    raw = [
        line
        for path in (tmp_path / "lake/raw").rglob("*.json")
        for line in path.read_bytes().splitlines()
    ]
    assert len(raw) == 360


def test_pinpipe_demo_runs_end_to_end_on_kafka(kafka_bootstrap: str, tmp_path: Path) -> None:
    done = subprocess.run(
        pinpipe_command("demo", "--rows", "150"),
        env=pinpipe_env(tmp_path, **_env(kafka_bootstrap)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stream job: 900 records" in done.stdout
    assert "sink: 900 records" in done.stdout
