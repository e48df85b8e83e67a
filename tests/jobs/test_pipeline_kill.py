"""kill -9 of the sink and the stream job mid-stream, on each backend: nothing lost or doubled.

Both jobs run as real processes against the same log (an embedded SQLite file, or a real Kafka
broker), are killed together while records are still flowing, then restarted. Afterwards the
raw zone and the stream tables hold every logged record exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.lake import Lake
from tests.fixtures import Spawn
from tests.helpers import pinpipe_command, pinpipe_env, produce_rows, stream_positions
from tests.log.backends import Backend

ROWS = 2_000
TABLES = ("pin", "geo", "user")


def _raw_positions(lake: Lake) -> list[tuple[str, int, int]]:
    out = []
    for raw in lake.raw_files():
        for line in lake.storage.read_bytes(raw.uri).splitlines():
            doc = orjson.loads(line)
            out.append((doc["_topic"], doc["_partition"], doc["_offset"]))
    return sorted(out)


@pytest.mark.slow
def test_kill_9_sink_and_stream_mid_stream_then_restart_exactly_once(
    backend: Backend, source: SourceTables, tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    prefix = backend.topic("kill").replace("-", "")
    log = backend.open(partitions=2)
    for topic in (f"{prefix}.{t}" for t in TABLES):
        log.create_topic(topic, 2)
    produced = produce_rows(log, source, [i % 300 for i in range(ROWS)], prefix=prefix)
    expected = sorted(
        (f"{prefix}.{t}", p, o)
        for t in TABLES
        for p in range(2)
        for o in range(log.end_offset(f"{prefix}.{t}", p))
    )
    assert len(expected) == produced
    env = {
        **backend.env(),
        "PINPIPE_LOG__TOPIC_FILTER": rf"^{prefix}\.",  # a shared broker holds other tests' topics
        "PINPIPE_SINK__FLUSH_SIZE": "10",
        "PINPIPE_STREAM__MAX_BATCH": "300",
        "PINPIPE_STREAM__TRIGGER_INTERVAL_MS": "1",
    }
    lake = Lake.at(tmp_path / "lake")
    children = [spawn_pinpipe(job, env=env) for job in ("sink", "stream")]
    pin_commits = Path(lake.table("stream", "pin")) / "_delta_log"
    started = {  # each job is killed once it has committed some of its output, not all
        0: lambda: len(lake.raw_files()) >= 15,
        1: lambda: len(list(pin_commits.glob("*.json"))) >= 3,
    }
    deadline = time.monotonic() + 120
    while started and time.monotonic() < deadline:
        for i, ready in list(started.items()):
            assert children[i].poll() is None, children[i].stderr
            if ready():
                children[i].send_signal(signal.SIGKILL)
                children[i].wait()
                del started[i]
        time.sleep(0.005)
    assert not started, "the jobs did not get going"
    raw_before = len(_raw_positions(lake))
    stream_before = sum(len(stream_positions(lake, t)) for t in TABLES)
    assert 0 < raw_before < produced, "the sink must be killed mid-stream"
    assert 0 < stream_before < produced, "the stream job must be killed mid-stream"

    for job in ("sink", "stream"):
        done = subprocess.run(
            pinpipe_command(job, "--once"),
            env=pinpipe_env(tmp_path, **env),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    assert _raw_positions(lake) == expected
    streamed = sorted(p for t in TABLES for p in stream_positions(lake, t))
    assert streamed == expected
