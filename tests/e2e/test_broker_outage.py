"""The Kafka broker goes away mid-stream under ``pinpipe up``, and comes back.

A broker of this test's own (the session's shared one stays up for every other test) is killed
with SIGKILL while a client posts records and the sink and the stream job consume them. While
it is gone the ingest API keeps answering: ``/healthz`` at once (even with a produce pending),
every produce door with 503 + Retry-After and a JSON error naming the log as unavailable, never
200 and never a hang. The sink and the stream job say the log is unreachable and retry. The
broker restarts on the same ports and data; with ``pinpipe`` left running, every acknowledged
record, before and after the outage, is in the log, the raw zone and the stream table exactly
once. The client never resends a refused record (one that timed out in flight may be stored
anyway, and a resend would be a second record), so each record the log holds was posted once.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.ingest.kafka_v3 import CLUSTER_ID
from pinpipe.ingest.kinesis import parse_sequence_number
from pinpipe.lake import open_lake
from pinpipe.settings import load_settings
from tests.fixtures import Spawn
from tests.helpers import stream_positions, wait_healthy
from tests.infra.kafka_broker import Broker, start
from tests.infra.process import free_port

pytestmark = pytest.mark.slow

KAFKA_JSON = "application/vnd.kafka.json.v2+json"
AMZ_JSON = "application/x-amz-json-1.1"
CLIENT_TIMEOUT_S = 60.0
"""A liveness bound for one request, far above the produce timeout: a hang fails the test."""
WAIT_S = 90.0
"""Bound of each wait for the pipeline to catch up (the broker restart included)."""

Position = tuple[str, int, int]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker for this test alone: it is killed and restarted, which others must not see."""
    own = start(tmp_path / "kafka")
    try:
        yield own
    finally:
        own.stop()


@dataclass
class Doors:
    """The four produce doors of one server, each remembering what it had acknowledged."""

    url: str
    prefix: str
    acked: dict[Position, Any] = field(default_factory=dict)
    """Log position -> the record sent, for every record answered 200."""
    refused: list[requests.Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def topic(self) -> str:
        return f"{self.prefix}.pin"

    @property
    def stream(self) -> str:
        return f"streaming-{self.prefix}-pin"

    def v2(self, pins: list[dict[str, Any]]) -> requests.Response:
        answer = requests.post(
            f"{self.url}/topics/{self.topic}",
            data=orjson.dumps({"records": [{"value": p} for p in pins]}),
            headers={"Content-Type": KAFKA_JSON},
            timeout=CLIENT_TIMEOUT_S,
        )
        if answer.status_code == 200:
            for pin, found in zip(pins, answer.json()["offsets"], strict=True):
                self._ack((self.topic, found["partition"], found["offset"]), pin)
        return self._settle(answer)

    def v3(self, pin: dict[str, Any]) -> requests.Response:
        answer = requests.post(
            f"{self.url}/v3/clusters/{CLUSTER_ID}/topics/{self.topic}/records",
            data=orjson.dumps({"value": {"type": "JSON", "data": pin}}),
            headers={"Content-Type": "application/json"},
            timeout=CLIENT_TIMEOUT_S,
        )
        if answer.status_code == 200:
            found = answer.json()
            self._ack((self.topic, found["partition_id"], found["offset"]), pin)
        return self._settle(answer)

    def kinesis_proxy(self, pin: dict[str, Any]) -> requests.Response:
        answer = requests.put(
            f"{self.url}/streams/{self.stream}/record",
            data=orjson.dumps({"StreamName": self.stream, "Data": pin, "PartitionKey": "pin"}),
            headers={"Content-Type": "application/json"},
            timeout=CLIENT_TIMEOUT_S,
        )
        return self._kinesis(answer, pin)

    def kinesis_native(self, pin: dict[str, Any]) -> requests.Response:
        data = base64.b64encode(orjson.dumps(pin)).decode()
        answer = requests.post(
            f"{self.url}/",
            data=orjson.dumps({"StreamName": self.stream, "Data": data, "PartitionKey": "pin"}),
            headers={"Content-Type": AMZ_JSON, "X-Amz-Target": "Kinesis_20131202.PutRecord"},
            timeout=CLIENT_TIMEOUT_S,
        )
        return self._kinesis(answer, pin)

    def _kinesis(self, answer: requests.Response, pin: dict[str, Any]) -> requests.Response:
        if answer.status_code == 200:
            partition, offset = parse_sequence_number(answer.json()["SequenceNumber"])
            self._ack((self.stream, partition, offset), pin)
        return self._settle(answer)

    def _ack(self, position: Position, pin: dict[str, Any]) -> None:
        with self.lock:
            assert position not in self.acked, f"{position} acknowledged twice"
            self.acked[position] = pin

    def _settle(self, answer: requests.Response) -> requests.Response:
        """200, or the one refusal allowed while the log is away: 503 with Retry-After."""
        if answer.status_code != 200:
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            with self.lock:
                self.refused.append(answer)
        return answer


class Poster(threading.Thread):
    """A client posting batches of pins through the v2 door until told to stop."""

    def __init__(self, doors: Doors, pins: Iterator[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.doors = doors
        self.pins = pins
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                batch = [next(self.pins) for _ in range(5)]
                if self.doors.v2(batch).status_code != 200:
                    self.stop.wait(0.5)  # a refused batch is never resent (see the module doc)
                self.stop.wait(0.05)
        except BaseException as exc:  # the main thread reports it
            self.error = exc


def _pins(source: SourceTables) -> Iterator[dict[str, Any]]:
    """Endless valid pin records, each made unique by its ``unique_id``."""
    while True:
        for row in range(len(source.pin)):
            pin = dict(payloads(source, row)[0])
            pin["unique_id"] = f"{uuid.uuid4()}"
            yield pin


def _until(check: Any, what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _log_records(bootstrap: str, topics: list[str]) -> dict[Position, bytes]:
    """Everything the broker holds in ``topics``, read by a stock consumer."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}"},
    )
    found: dict[Position, bytes] = {}
    try:
        ends = {}
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
                ends[(topic, p)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=30
                )[1]
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
        deadline = time.monotonic() + 60
        while len(found) < sum(ends.values()) and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                assert msg.error() is None, msg.error()
                found[(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)] = (
                    msg.value() or b""
                )
    finally:
        consumer.close()
    return found


def _raw_positions(home: Path) -> list[Position]:
    """Where each line of every committed raw object came from (duplicates kept)."""
    lake = open_lake(load_settings(home=home))
    out = []
    for f in lake.raw_files("pin"):
        for line in lake.storage.read_bytes(f.uri).splitlines():
            doc = json.loads(line)
            out.append((doc["_topic"], doc["_partition"], doc["_offset"]))
    return sorted(out)


def _stream_positions(home: Path) -> list[Position]:
    return stream_positions(open_lake(load_settings(home=home)), "pin")


def _metric(url: str, line_start: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=CLIENT_TIMEOUT_S).text
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_broker_killed_mid_stream_then_restarted_loses_and_duplicates_nothing(
    broker: Broker, tmp_path: Path, spawn_pinpipe: Spawn, source: SourceTables
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    doors = Doors(url, f"outage{uuid.uuid4().hex[:6]}")
    pins = _pins(source)
    stderr_path = tmp_path / "up.stderr"
    env = {
        "PINPIPE_LOG__BACKEND": "kafka",
        "PINPIPE_LOG__BOOTSTRAP_SERVERS": broker.bootstrap,
        "PINPIPE_LOG__PRODUCE_TIMEOUT_MS": "1500",
        "PINPIPE_SINK__FLUSH_SIZE": "25",
        "PINPIPE_SINK__IDLE_COMMIT_MS": "1000",
    }
    with stderr_path.open("wb") as stderr:
        up = spawn_pinpipe("up", "--port", str(port), env=env, stderr=stderr)
    poster = Poster(doors, pins)

    def said(text: str) -> bool:
        return text in stderr_path.read_text(errors="replace")

    try:
        wait_healthy(url, up, timeout_s=60)
        # Every door writes once while the broker is up (the Kinesis stream is created here).
        assert doors.v3(next(pins)).status_code == 200
        assert doors.kinesis_proxy(next(pins)).status_code == 200
        assert doors.kinesis_native(next(pins)).status_code == 200
        poster.start()
        _until(lambda: len(_stream_positions(tmp_path)) >= 20, "the stream job to be running")
        _until(lambda: _raw_positions(tmp_path), "the sink to write its first file")

        broker.halt(signal.SIGKILL)  # mid-stream: the poster keeps posting
        acked_before = len(doors.acked)

        # The API answers. Health at once, even while a produce waits for the broker.
        answers: list[int] = []
        pending = threading.Thread(
            target=lambda: answers.append(doors.v2([next(pins)]).status_code), daemon=True
        )
        pending.start()
        time.sleep(0.3)
        health = requests.get(f"{url}/healthz", timeout=CLIENT_TIMEOUT_S)
        assert health.status_code == 200
        assert pending.is_alive(), "the produce should still be waiting for the broker"
        pending.join(CLIENT_TIMEOUT_S)
        assert answers == [503]
        ready = requests.get(f"{url}/readyz", timeout=CLIENT_TIMEOUT_S)
        assert ready.status_code == 503 and ready.json()["status"] == "log unreachable"

        # Every produce door refuses with 503 + Retry-After and says why, in its dialect.
        for door in (doors.v3, doors.kinesis_proxy, doors.kinesis_native):
            answer = door(next(pins))
            assert answer.status_code == 503, answer.text
            body = answer.json()
            message = body["message"]
            assert "unavailable" in message and "not acknowledged" in message
            if door == doors.v3:
                assert body["error_code"] == 50303
            else:
                assert body["__type"] == "ServiceUnavailable"
        answer = doors.v2([next(pins), next(pins)])
        assert answer.status_code == 503
        assert answer.headers["Content-Type"] == "application/vnd.kafka.v2+json"
        assert answer.json()["error_code"] == 50303
        assert _metric(url, 'pinpipe_ingest_rejections_total{reason="log_unreachable"}') >= 4

        # The sink and the stream job say the log is unreachable and keep retrying.
        _until(lambda: said("sink: the log is unreachable"), "the sink's outage line")
        _until(lambda: said("stream: the log is unreachable"), "the stream job's outage line")
        assert up.poll() is None

        broker.restart()
        _until(lambda: len(doors.acked) > acked_before + 50, "acknowledgements after the restart")
        poster.stop.set()
        poster.join(CLIENT_TIMEOUT_S)
        assert poster.error is None, poster.error
        for door in (doors.v3, doors.kinesis_proxy, doors.kinesis_native):
            _until(lambda d=door: d(next(pins)).status_code == 200, f"{door.__name__} again")
        assert _until(lambda: said("sink: the log answers again"), "the sink resuming")
        assert _until(lambda: said("stream: the log answers again"), "the stream job resuming")

        # Without restarting pinpipe, the sink and the stream job catch up with the log.
        logged = _log_records(broker.bootstrap, [doors.topic, doors.stream])
        positions = sorted(logged)
        _until(lambda: _stream_positions(tmp_path) == positions, "the stream table")
        _until(lambda: _raw_positions(tmp_path) == positions, "the raw zone")
        # The stage health saw it: restarted, and running again.
        for stage in ("sink", "stream"):
            _until(
                lambda s=stage: (
                    _metric(url, f'pinpipe_stage_state{{stage="{s}",state="running"}}')
                    and _metric(url, f'pinpipe_stage_restarts{{stage="{s}"}}') >= 1
                ),
                f"the {stage} stage health to show its restarts",
            )
    finally:
        poster.stop.set()
        up.send_signal(signal.SIGTERM)
        up.wait(120)
    errors = stderr_path.read_text(errors="replace")
    assert up.returncode == 0, errors[-3000:]
    assert "on an event loop thread" not in errors
    assert "Traceback" not in errors, errors[-3000:]

    # Every acknowledged record is in the log as sent; before the outage and after it.
    assert len(doors.refused) >= 5 and acked_before > 0
    assert len(doors.acked) > acked_before + 50
    for position, pin in doors.acked.items():
        assert position in logged, f"acknowledged record {position} is not in the log"
        assert orjson.loads(logged[position]) == pin
    # Nothing twice: each record posted once is logged once, read once into each zone.
    ids = [orjson.loads(v)["unique_id"] for v in logged.values()]
    assert len(ids) == len(set(ids))
    assert _stream_positions(tmp_path) == positions  # each position once: no duplicate rows
    assert _raw_positions(tmp_path) == positions
