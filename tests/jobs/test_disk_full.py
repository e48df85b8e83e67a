"""The stream and batch jobs on a full lake disk (a real 32 MiB tmpfs): they stop without
moving a position or leaving a table at a torn version, and finish exactly once when freed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.engines import get_engine
from pinpipe.engines.microbatch import MicroBatchStream
from pinpipe.errors import LakeFullError
from pinpipe.lake import Lake, open_lake
from pinpipe.lake.line import TableName
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings, StreamSettings, load_settings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import SmallDisk, produce_rows, run_pinpipe, stream_positions

TABLES = ("pin", "geo", "user")


@pytest.fixture(scope="module")
def wide() -> SourceTables:
    """More rows than the shared ``source``: enough data that a micro-batch needs real space."""
    return generate(3000, seed=11)


def _offsets(lake: Lake, table: TableName) -> list[int]:
    """The pin offsets a table's stream rows and stream rejects hold together, sorted."""
    held = [offset for _, _, offset in stream_positions(lake, table)]
    quarantine = lake.quarantine(table, "stream")
    if DeltaTable.is_deltatable(quarantine):
        held += DeltaTable(quarantine).to_pyarrow_table()["_offset"].to_pylist()
    return sorted(held)


def test_the_stream_job_stops_on_a_full_lake_and_resumes_exactly_once(
    disk: SmallDisk, wide: SourceTables, tmp_path: Path
) -> None:
    settings = load_settings(home=disk.path / "home", **{"log.path": str(tmp_path / "log.db")})
    lake = open_lake(settings)
    with EmbeddedLog(settings.log_path, fsync=False) as log:
        produce_rows(log, wide, list(range(100)))
        engine = get_engine("duckdb")
        MicroBatchStream(log, lake, engine, StreamSettings()).run(threading.Event(), once=True)
        versions = {t: DeltaTable(lake.table("stream", t)).version() for t in TABLES}
        produce_rows(log, wide, list(range(100, 3000)))
        disk.fill()
        with pytest.raises(LakeFullError, match="lake's disk is full"):
            MicroBatchStream(log, lake, engine, StreamSettings()).run(threading.Event(), once=True)
        for table in TABLES:  # readable, at a version holding whole micro-batches only
            assert DeltaTable(lake.table("stream", table)).version() >= versions[table]
            held = _offsets(lake, table)
            assert held == list(range(len(held)))
        disk.free()
        MicroBatchStream(log, lake, engine, StreamSettings()).run(threading.Event(), once=True)
        for table in TABLES:
            assert _offsets(lake, table) == list(range(3000)), table


def test_pinpipe_batch_on_a_full_disk_exits_naming_the_fix_and_keeps_the_tables(
    disk: SmallDisk, wide: SourceTables
) -> None:
    home = disk.path / "home"
    settings = load_settings(home=home)
    lake = open_lake(settings)
    with EmbeddedLog(settings.log_path, fsync=False) as log:
        produce_rows(log, wide, list(range(200)))
        LakeSink(log, lake, SinkSettings(flush_size=500)).run(threading.Event(), once=True)
        assert run_pinpipe(home, "batch", "--skip-results").returncode == 0
        before = {t: DeltaTable(lake.table("batch", t)).version() for t in TABLES}
        produce_rows(log, wide, list(range(200, 3000)))
        LakeSink(log, lake, SinkSettings(flush_size=500)).run(threading.Event(), once=True)
    disk.fill()
    failed = run_pinpipe(home, "batch", "--skip-results")
    assert failed.returncode != 0
    assert "lake's disk is full" in failed.stderr and "lake.root" in failed.stderr
    assert "Traceback" not in failed.stderr
    for table in TABLES:
        batch = DeltaTable(lake.table("batch", table))
        assert batch.version() == before[table]
        assert batch.to_pyarrow_table().num_rows <= 200
    disk.free()
    done = run_pinpipe(home, "batch", "--skip-results")
    assert done.returncode == 0, done.stderr
    assert DeltaTable(lake.table("batch", "pin")).to_pyarrow_table().num_rows > 200
