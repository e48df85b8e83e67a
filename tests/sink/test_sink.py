"""The lake sink: S3-sink object names, rotation rules, replay rewrites the same objects."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import SINK_GROUP, LakeSink
from tests.fixtures import Spawn
from tests.helpers import pinpipe_command, pinpipe_env


def _produce(log: EmbeddedLog, topic: str, n: int, start: int = 0) -> None:
    log.produce(
        topic,
        [
            ProduceRecord(orjson.dumps({"index": i, "title": f"t{i}"}))
            for i in range(start, start + n)
        ],
    )


def _files(lake: Lake) -> dict[str, bytes]:
    return {
        f.uri.removeprefix(lake.root + "/"): lake.storage.read_bytes(f.uri)
        for f in lake.raw_files()
    }


def test_file_names_follow_the_s3_sink_layout(log: EmbeddedLog, lake: Lake) -> None:
    _produce(log, "pinpipe.pin", 25)
    _produce(log, "streaming-pinpipe-geo", 3)
    sink = LakeSink(log, lake, SinkSettings(flush_size=10))
    sink.run(threading.Event(), once=True)
    assert sorted(_files(lake)) == [
        "raw/topics/pinpipe.pin/partition=0/pinpipe.pin+0+0000000000.json",
        "raw/topics/pinpipe.pin/partition=0/pinpipe.pin+0+0000000010.json",
        "raw/topics/pinpipe.pin/partition=0/pinpipe.pin+0+0000000020.json",
        "raw/topics/streaming-pinpipe-geo/partition=0/streaming-pinpipe-geo+0+0000000000.json",
    ]
    assert log.committed(SINK_GROUP, "pinpipe.pin", 0) == 25


def test_lines_carry_the_value_and_connect_metadata(log: EmbeddedLog, lake: Lake) -> None:
    _produce(log, "pinpipe.pin", 2)
    log.produce("pinpipe.pin", [ProduceRecord(b"not json")])
    LakeSink(log, lake, SinkSettings(flush_size=10)).run(threading.Event(), once=True)
    (content,) = _files(lake).values()
    lines = [orjson.loads(line) for line in content.splitlines()]
    stored = log.fetch("pinpipe.pin", 0, 0, 10)
    assert lines[0] == {
        "index": 0,
        "title": "t0",
        "_topic": "pinpipe.pin",
        "_partition": 0,
        "_offset": 0,
        "_timestamp": stored[0].timestamp,
    }
    assert lines[2]["_raw"] == "not json" and lines[2]["_offset"] == 2


def test_topics_that_feed_no_table_are_left_alone(log: EmbeddedLog, lake: Lake) -> None:
    _produce(log, "audit-events", 5)
    LakeSink(log, lake, SinkSettings()).run(threading.Event(), once=True)
    assert _files(lake) == {}


def test_replay_after_a_lost_commit_rewrites_identical_objects(
    log: EmbeddedLog, lake: Lake
) -> None:
    _produce(log, "pinpipe.pin", 30)
    LakeSink(log, lake, SinkSettings(flush_size=10)).run(threading.Event(), once=True)
    before = _files(lake)
    # The crash: files 10 and 20 were written but the process died before committing them.
    log.commit(SINK_GROUP, {("pinpipe.pin", 0): 10})
    lake.storage.delete(lake.raw_file("pinpipe.pin", 0, 20))
    LakeSink(log, lake, SinkSettings(flush_size=10)).run(threading.Event(), once=True)
    assert _files(lake) == before
    assert log.committed(SINK_GROUP, "pinpipe.pin", 0) == 30


def test_a_restart_continues_at_the_committed_offset(log: EmbeddedLog, lake: Lake) -> None:
    _produce(log, "pinpipe.pin", 12)
    LakeSink(log, lake, SinkSettings(flush_size=10)).run(threading.Event(), once=True)
    _produce(log, "pinpipe.pin", 5, start=12)
    LakeSink(log, lake, SinkSettings(flush_size=10)).run(threading.Event(), once=True)
    offsets = [
        orjson.loads(line)["_offset"]
        for content in _files(lake).values()
        for line in content.splitlines()
    ]
    assert sorted(offsets) == list(range(17))


def test_files_rotate_by_record_time_not_wall_clock(log: EmbeddedLog, lake: Lake) -> None:
    now = [1_700_000_000_000]
    log.clock = lambda: now[0]
    _produce(log, "pinpipe.pin", 3)
    now[0] += 80  # the next records are >= 50 ms newer in record time
    _produce(log, "pinpipe.pin", 2, start=3)
    settings = SinkSettings(flush_size=100, rotate_interval_ms=50)
    LakeSink(log, lake, settings).run(threading.Event(), once=True)
    first = _files(lake)
    assert [f.start_offset for f in lake.raw_files()] == [0, 3]
    # A replay long after (a day of wall clock) cuts the files at the same records.
    now[0] += 86_400_000
    log.commit(SINK_GROUP, {("pinpipe.pin", 0): 0})
    LakeSink(log, lake, settings).run(threading.Event(), once=True)
    assert _files(lake) == first


def test_kill_9_mid_sink_then_restart_keeps_every_record_exactly_once(
    log: EmbeddedLog, lake: Lake, tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    total = 40_000  # 800 files: far more than one poll of the parent can miss
    for start in range(0, total, 2_000):
        _produce(log, "pinpipe.pin", 2_000, start=start)
    env = {"PINPIPE_SINK__FLUSH_SIZE": "50"}
    child = spawn_pinpipe("sink", env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(lake.raw_files()) < 20:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(lake.raw_files()) < total // 50, "the kill must land mid-run"
    subprocess.run(
        pinpipe_command("sink", "--once"),
        env=pinpipe_env(tmp_path, **env),
        check=True,
        capture_output=True,
    )
    offsets = [
        orjson.loads(line)["_offset"]
        for content in _files(lake).values()
        for line in content.splitlines()
    ]
    assert sorted(offsets) == list(range(total))
    assert [f.start_offset for f in lake.raw_files()] == list(range(0, total, 50))


def test_records_expired_before_they_were_read_are_reported_and_the_rest_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Retention deleted records nobody had read: the sink and the stream job say which ones
    are lost and resume at the log start, instead of failing on every restart."""
    from pinpipe.engines import get_engine
    from tests.helpers import stream_once, stream_positions

    log = EmbeddedLog(tmp_path / "log.db", retention_ms=60_000)
    lake = Lake.at(tmp_path / "lake")
    log.clock = lambda: 1_000_000
    log.produce("r.pin", [ProduceRecord(b'{"index": %d}' % i) for i in range(10)])
    log.clock = lambda: 10_000_000
    log.produce("r.pin", [ProduceRecord(b'{"index": %d}' % i) for i in range(10, 15)])
    log.enforce_retention(10_000_000)
    assert log.start_offset("r.pin", 0) == 10
    with caplog.at_level(logging.ERROR, logger="pinpipe.log"):
        LakeSink(log, lake, SinkSettings()).run(threading.Event(), once=True)
        stream_once(log, lake, get_engine("duckdb"))
    offsets = [
        int(line.split(b'"_offset":')[1].split(b",")[0])
        for f in lake.raw_files("pin")
        for line in lake.storage.read_bytes(f.uri).splitlines()
    ]
    assert sorted(offsets) == list(range(10, 15))
    assert [o for _, _, o in stream_positions(lake, "pin")] == list(range(10, 15))
    lost = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    assert any("the sink" in m and "r.pin[0] offsets 0..9" in m for m in lost), lost
    assert any("the stream job" in m and "offsets 0..9" in m for m in lost), lost
    log.close()
