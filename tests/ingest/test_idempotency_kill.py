"""kill -9 of ``pinpipe up`` under keyed produce, then resend every key: each record once.

The client posts one keyed request after another, through both doors in turn (Kafka REST v2
and the API Gateway Kinesis proxy); ``pinpipe up`` is killed with SIGKILL once
the log holds some of them, so the request in flight is cut somewhere between its arrival,
its append and its answer. After a restart the client resends every key, as a client that
lost answers would: the answers it had keep their offsets, and the log holds each record
exactly once, whatever the kill cut.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import orjson
import pytest
import requests

from pinpipe.log.embedded import EmbeddedLog
from tests.fixtures import Spawn
from tests.helpers import wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow

TOPIC = "killed.pin"
STREAM = "streaming-killed-pin"
SENDS = 400
HEADERS = {"Content-Type": "application/vnd.kafka.json.v2+json"}


def _send(url: str, i: int) -> str:
    """Send ``i`` (even: Kafka REST, odd: Kinesis proxy) with its key; the answer's position."""
    key = {"Idempotency-Key": f"send-{i}"}
    if i % 2 == 0:
        body = orjson.dumps({"records": [{"value": {"n": i}}]})
        answer = requests.post(
            f"{url}/topics/{TOPIC}", data=body, headers={**HEADERS, **key}, timeout=10
        )
        answer.raise_for_status()
        return str(answer.json()["offsets"][0]["offset"])
    body = orjson.dumps({"StreamName": STREAM, "Data": {"n": i}, "PartitionKey": "p"})
    answer = requests.put(f"{url}/streams/{STREAM}/record", data=body, headers=key, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["SequenceNumber"])


def _logged(path: Path) -> list[int]:
    """The ``n`` of every record both topics hold, topic by topic in log order."""
    values: list[int] = []
    with EmbeddedLog(path, fsync=False) as log:
        for topic in (TOPIC, STREAM):
            try:
                end = log.end_offset(topic, 0)
            except Exception:
                continue
            held: list[int] = []
            while len(held) < end:
                held += [orjson.loads(r.value or b"")["n"] for r in log.fetch(topic, 0, len(held))]
            values += held
    return values


def test_kill_9_between_append_and_answer_then_resend_appends_nothing_twice(
    tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    env = {"PINPIPE_BATCH__EVERY_MINUTES": "0"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = spawn_pinpipe("up", "--port", str(port), env=env)
    wait_healthy(url, up)
    answered: dict[int, str] = {}
    stopped = threading.Event()

    def client() -> None:
        for i in range(SENDS):
            try:
                answered[i] = _send(url, i)
            except requests.RequestException:
                stopped.set()
                return
        stopped.set()

    sender = threading.Thread(target=client, daemon=True)
    sender.start()
    log_path = tmp_path / "log.db"
    deadline = time.monotonic() + 60
    while len(_logged(log_path)) < 50 and time.monotonic() < deadline:
        assert not stopped.is_set(), "the client stopped before the kill"
        time.sleep(0.002)
    up.send_signal(signal.SIGKILL)
    up.wait()
    sender.join(30)
    before = _logged(log_path)
    assert 50 <= len(before) < SENDS, "the kill must cut the client's run"

    up = spawn_pinpipe("up", "--port", str(port), env=env)
    wait_healthy(url, up)
    again = {i: _send(url, i) for i in range(SENDS)}
    up.send_signal(signal.SIGTERM)
    up.wait(60)

    assert {i: again[i] for i in answered} == answered  # the answers a client had still hold
    logged = _logged(log_path)
    assert sorted(logged) == list(range(SENDS))  # every send exactly once
    assert all(n in logged for n in before)
