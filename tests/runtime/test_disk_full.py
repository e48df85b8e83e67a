"""``pinpipe up`` with its whole home (log and lake) on a small real filesystem that fills up.

The API refuses with 507 and a JSON error, the stages pause with a line naming the path, the
process stays up and healthy, and once the ballast is deleted everything resumes: every
acknowledged record is in the log once, in the raw zone once and in the stream tables once,
and the log file passes ``pinpipe doctor``.
"""

from __future__ import annotations

import itertools
import re
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.sampler import payloads
from pinpipe.lake import Lake, open_lake
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings
from tests.fixtures import Spawn
from tests.helpers import SmallDisk, run_pinpipe, stream_positions, wait_healthy
from tests.infra.process import free_port

TOPIC = "disk.pin"
KAFKA_JSON = {"Content-Type": "application/vnd.kafka.json.v2+json"}
ENV = {
    "PINPIPE_BATCH__EVERY_MINUTES": "0",
    "PINPIPE_LAKE__DISK_FULL_RETRY_S": "0.5",
    # The sink writes a file only once the log has been idle this long: while the test posts,
    # it writes nothing, so the records acknowledged last are still to be written when the
    # disk is full, and the sink must meet the full disk (and pause) to write them.
    "PINPIPE_SINK__FLUSH_SIZE": "100000",
    "PINPIPE_SINK__IDLE_COMMIT_MS": "1500",
    "PINPIPE_STREAM__TRIGGER_INTERVAL_MS": "1000",
}
PAUSED_SINK = re.compile(r"(lake|log) disk full at /\S+: pausing sink, retrying every 0.5 s")
"""The sink meets the full disk writing a raw object (lake) or committing its offsets (log)."""
MARGIN = 2 * 1024 * 1024
"""Free bytes the ballast leaves: a few hundred requests' worth of log, raw zone and Delta."""


def _wait(what: str, done: Any, up: Any, timeout_s: float = 60) -> None:
    """Poll ``done()`` (bounded, for liveness only) while ``up`` keeps running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert up.poll() is None, f"pinpipe up exited with {up.returncode}"
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def _raw_offsets(lake: Lake) -> list[int]:
    return sorted(
        orjson.loads(line)["_offset"]
        for f in lake.raw_files("pin")
        for line in lake.storage.read_bytes(f.uri).splitlines()
    )


def _stream_offsets(lake: Lake) -> list[int]:
    """Offsets of the stream pin table's rows and of its stream rejects (the dirt)."""
    held = [offset for topic, _, offset in stream_positions(lake, "pin") if topic == TOPIC]
    quarantine = lake.quarantine("pin", "stream")
    if DeltaTable.is_deltatable(quarantine):
        held += DeltaTable(quarantine).to_pyarrow_table()["_offset"].to_pylist()
    return sorted(held)


def _stage(base: str, name: str) -> str:
    overview = requests.get(f"{base}/ui/api/overview", timeout=10).json()["overview"]
    return str(overview["stages"].get(name, {}).get("state", ""))


def test_up_on_a_full_disk_refuses_507_pauses_and_resumes_losing_nothing(
    disk: SmallDisk, spawn_pinpipe: Spawn, tmp_path: Path
) -> None:
    home = disk.path / "home"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    output = tmp_path / "up.log"  # off the small disk: the log of a full disk must be written
    with open(output, "wb") as out:
        up = spawn_pinpipe("up", "--port", str(port), home=home, env=ENV, stderr=out)
    wait_healthy(base, up)
    source = generate(300, seed=5)
    rows = itertools.cycle(range(300))
    sent: dict[int, dict[str, Any]] = {}
    """Acknowledged offset → the record sent."""

    def post(n: int) -> requests.Response:
        docs = [payloads(source, next(rows))[0] for _ in range(n)]
        body = {"records": [{"value": doc} for doc in docs]}
        answer = requests.post(f"{base}/topics/{TOPIC}", json=body, headers=KAFKA_JSON, timeout=30)
        if answer.status_code == 200:
            for doc, position in zip(docs, answer.json()["offsets"], strict=True):
                sent[position["offset"]] = doc
        return answer

    assert post(20).status_code == 200
    disk.fill(leave=MARGIN)
    refused = None
    for _ in range(2000):  # the margin holds a few hundred requests: this ends far sooner
        answer = post(20)
        if answer.status_code != 200:
            refused = answer
            break
    assert refused is not None, "the disk never filled up"
    assert refused.status_code == 507, refused.text
    error = refused.json()
    assert error["error_code"] == 50701
    assert "disk is full" in error["message"] and "log.path" in error["message"]
    disk.fill()  # not one more byte: whatever a stage still has to write meets the full disk

    def sink_paused() -> bool:
        disk.fill()  # take back whatever a failed write gave back: the disk stays full
        return PAUSED_SINK.search(output.read_text()) is not None

    _wait("the sink pauses", sink_paused, up)
    assert "lake disk full at" in output.read_text()  # the sink's or the stream's line
    assert _stage(base, "sink") == "paused"
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    assert up.poll() is None

    disk.free()
    _wait("the sink resumes", lambda: _stage(base, "sink") == "running", up)
    for _ in range(5):
        assert post(20).status_code == 200
    acked = sorted(sent)
    lake = open_lake(load_settings(home=home))
    _wait("the raw zone holds every acknowledged record", lambda: _raw_offsets(lake) == acked, up)
    _wait("the stream holds every acknowledged record", lambda: _stream_offsets(lake) == acked, up)
    log_text = output.read_text()
    assert "log disk full at" in log_text and "lake disk has room again" in log_text
    assert "Traceback" not in log_text

    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0  # drained and stopped cleanly after the episode
    with EmbeddedLog(home / "log.db", fsync=False) as log:
        stored = {r.offset: orjson.loads(r.value or b"") for r in log.fetch(TOPIC, 0, 0, 100_000)}
    assert stored == sent  # every acknowledged record, once, and nothing that was refused
    doctor = run_pinpipe(home, "doctor")
    assert doctor.returncode == 0 and "healthy" in doctor.stdout, doctor.stdout + doctor.stderr
