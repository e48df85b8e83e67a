"""`pinpipe backup` of a running `pinpipe up`, then `pinpipe restore` into a new home: every
record acknowledged before the backup started is in it, with its value."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import requests

from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings
from tests.fixtures import Spawn
from tests.helpers import run_pinpipe, wait_healthy
from tests.infra.process import free_port

KAFKA_JSON = "application/vnd.kafka.json.v2+json"


def test_a_backup_taken_under_load_restores_every_acknowledged_record(
    tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = spawn_pinpipe("up", "--port", str(port))
    wait_healthy(url, up)
    acked: list[tuple[float, int, bytes]] = []  # (when, offset, value)
    stop = threading.Event()

    def post() -> None:
        session, i = requests.Session(), 0
        while not stop.is_set():
            value = {"ind": i, "title": f"record {i}"}
            answer = session.post(
                f"{url}/topics/backup.pin",
                data=json.dumps({"records": [{"value": value}]}),
                headers={"Content-Type": KAFKA_JSON},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            offset = answer.json()["offsets"][0]["offset"]
            acked.append((time.monotonic(), offset, json.dumps(value).encode()))
            i += 1

    poster = threading.Thread(target=post)
    poster.start()
    try:
        while len(acked) < 200:
            time.sleep(0.05)
        started = time.monotonic()
        target = tmp_path / "backup" / "log.backup.db"
        done = run_pinpipe(tmp_path, "backup", str(target))
        assert done.returncode == 0, done.stderr
        while len(acked) < len([a for a in acked if a[0] < started]) + 50:
            time.sleep(0.05)  # writes go on during and after the backup
    finally:
        stop.set()
        poster.join(30)
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    before = [a for a in acked if a[0] < started]
    assert len(before) >= 200

    restored_home = tmp_path / "restored"
    done = run_pinpipe(restored_home, "restore", str(target))
    assert done.returncode == 0, done.stderr
    assert run_pinpipe(restored_home, "doctor").returncode == 0
    with EmbeddedLog(load_settings(home=restored_home).log_path) as log:
        held = {r.offset: r.value for r in log.fetch("backup.pin", 0, 0, 100_000)}
    missing = [offset for _, offset, _ in before if offset not in held]
    assert not missing, f"acknowledged before the backup, not in it: {missing[:5]}"
    assert all(json.loads(held[offset] or b"") == json.loads(v) for _, offset, v in before)

    again = run_pinpipe(restored_home, "restore", str(target))
    assert again.returncode == 2 and "exists" in again.stderr  # never over a log
