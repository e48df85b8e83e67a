"""The stream job: cleaned rows in Delta exactly once, even across kill -9."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.compute as pc
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.engines.microbatch import MicroBatchStream as StreamJob
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, StreamSettings
from tests.fixtures import Spawn
from tests.helpers import pinpipe_command, pinpipe_env, produce_rows, stream_positions


def test_every_record_lands_once_and_bad_ones_in_quarantine(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(40)))
    log.produce("streaming-pinpipe-user", [ProduceRecord(b"{oops"), ProduceRecord(b'{"ind": "x"}')])
    job = StreamJob(log, lake, get_engine("duckdb"), StreamSettings(max_batch=15))
    job.run(threading.Event(), once=True)
    assert len(stream_positions(lake, "pin")) == 40
    assert len(stream_positions(lake, "user")) == 40
    quarantine = DeltaTable(lake.quarantine("user", "stream")).to_pyarrow_table()
    assert sorted(quarantine["_offset"].to_pylist()) == [0, 1]
    assert set(quarantine["stage"].to_pylist()) == {"stream"}
    # Running again finds nothing new and writes nothing twice.
    StreamJob(log, lake, get_engine("duckdb"), StreamSettings()).run(threading.Event(), once=True)
    assert len(stream_positions(lake, "pin")) == 40


def test_a_replayed_batch_is_skipped_by_the_delta_transaction(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(10)))
    StreamJob(log, lake, get_engine("duckdb"), StreamSettings()).run(threading.Event(), once=True)
    # A second job that forgot its positions (e.g. a lost in-memory state) re-reads everything.
    job = StreamJob(log, lake, get_engine("duckdb"), StreamSettings())
    job._positions = {("pinpipe.pin", 0): 0, ("pinpipe.geo", 0): 0, ("pinpipe.user", 0): 0}
    job.run(threading.Event(), once=True)
    assert stream_positions(lake, "pin") == [("pinpipe.pin", 0, i) for i in range(10)]


def test_kill_9_mid_stream_then_restart_gives_every_record_exactly_once(
    settings: Settings,
    log: EmbeddedLog,
    lake: Lake,
    source: SourceTables,
    tmp_path: Path,
    spawn_pinpipe: Spawn,
) -> None:
    produced = produce_rows(log, source, [i % 300 for i in range(3000)])
    env = {"PINPIPE_STREAM__MAX_BATCH": "250", "PINPIPE_STREAM__TRIGGER_INTERVAL_MS": "1"}
    child = spawn_pinpipe("stream", env=env)
    pin_log = Path(lake.table("stream", "pin")) / "_delta_log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(pin_log.glob("*.json"))) < 3:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    committed_before = sum(len(stream_positions(lake, t)) for t in ("pin", "geo", "user"))
    assert 0 < committed_before < produced, "the kill must land mid-stream"
    subprocess.run(
        pinpipe_command("stream", "--once"),
        env=pinpipe_env(tmp_path, **env),
        check=True,
        capture_output=True,
    )
    for table in ("pin", "geo", "user"):
        assert stream_positions(lake, table) == [(f"pinpipe.{table}", 0, i) for i in range(3000)]
    pin = DeltaTable(lake.table("stream", "pin")).to_pyarrow_table()
    assert pc.count_distinct(pin["ind"]).as_py() == 300


def test_the_stream_job_judges_each_closed_window_with_the_quality_checks(
    settings: Settings, source: SourceTables
) -> None:
    """Records of minute 0, then records 10 minutes later: minute 0 is closed (past the
    5-minute lateness), so its window checks land in tables/quality/results once."""
    from pinpipe.jobs.stream import stream_job
    from pinpipe.lake import open_lake

    minute = (int(time.time() * 1000) // 3_600_000 - 1) * 3_600_000  # an hour ago, on the hour
    with EmbeddedLog(settings.log_path) as log:
        log.clock = lambda: minute + 5_000
        produce_rows(log, source, list(range(20)))
        log.clock = lambda: minute + 10 * 60_000
        produce_rows(log, source, list(range(20, 25)))
    lake = open_lake(settings)
    fast = settings.model_copy(
        update={"stream": settings.stream.model_copy(update={"realtime_flush_ms": 0})}
    )
    stream_job(fast, lake=lake).run(threading.Event(), once=True)

    deadline = time.monotonic() + 60  # the checks run in a thread of their own
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline and not found:
        if DeltaTable.is_deltatable(lake.quality_results):
            rows = DeltaTable(lake.quality_results).to_pyarrow_table().to_pylist()
            found = [r for r in rows if r["scope"] == "window"]
        time.sleep(0.2)
    assert found, "no window was judged"
    ends = {r["window_end"] for r in found}
    assert max(ends).timestamp() * 1000 <= minute + 5 * 60_000, "only closed windows"
    assert {r["status"] for r in found} <= {"pass", "warn", "fail"}
