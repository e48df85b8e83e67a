"""Lake maintenance: covered stream rows trimmed, old covered raw days expired, files compacted
and vacuumed; the merged view's answers never change and a reader's snapshot keeps working."""

from __future__ import annotations

import datetime as dt

from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.jobs.maintain import maintain
from pinpipe.lake import Lake
from pinpipe.lake.raw_index import day_bounds, entries_of_day
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import MaintainSettings
from tests.helpers import DAYS, land_three_days, merged_answers, stream_once


def test_maintenance_frees_what_nothing_reads_and_changes_no_answer(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    land_three_days(log, lake, source)
    engine = get_engine("duckdb")
    stream_once(log, lake, engine, max_batch=40)
    for day in DAYS[:2]:  # day 3 is not batched yet: its raw data and stream rows must stay
        run_batch(lake, engine, day=day)
    before = merged_answers(lake)
    stream_before = DeltaTable(lake.table("stream", "pin")).to_pyarrow_table().num_rows
    snapshot = DeltaTable(lake.table("stream", "pin"))  # a reader that holds a snapshot

    now = day_bounds(DAYS[2])[1] + 3_600_000  # an hour after day 3 ended
    report = maintain(lake, engine, MaintainSettings(raw_retention_days=1), now_ms=now)

    assert merged_answers(lake) == before
    day3_pins = sum(e.end_offset - e.start_offset for e in entries_of_day(lake, DAYS[2], "pin"))
    stream_after = DeltaTable(lake.table("stream", "pin")).to_pyarrow_table()
    assert stream_after.num_rows == day3_pins < stream_before  # only uncovered rows remain
    assert report.trimmed["pin"] == stream_before - day3_pins
    # Days 1 and 2 are older than a day and covered: expired. Day 3 is kept.
    assert entries_of_day(lake, DAYS[0]) == entries_of_day(lake, DAYS[1]) == []
    assert report.raw_deleted > 0 and entries_of_day(lake, DAYS[2])
    assert {f.uri.removeprefix(lake.root + "/") for f in lake.raw_files()} == {
        e.uri for e in entries_of_day(lake, DAYS[2])
    }
    assert sum(report.vacuumed.values()) == 0  # a week's retention: nothing recent goes
    assert snapshot.to_pyarrow_table().num_rows == stream_before


def test_old_raw_data_no_batch_covers_is_never_expired(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    land_three_days(log, lake, source)
    run_batch(lake, get_engine("duckdb"), day=DAYS[1])
    later = day_bounds(DAYS[2] + dt.timedelta(days=30))[0]
    report = maintain(
        lake, get_engine("duckdb"), MaintainSettings(raw_retention_days=7), now_ms=later
    )
    assert entries_of_day(lake, DAYS[1]) == []
    assert entries_of_day(lake, DAYS[0]) and entries_of_day(lake, DAYS[2])
    assert report.raw_kept_uncovered == len(entries_of_day(lake, DAYS[0])) + len(
        entries_of_day(lake, DAYS[2])
    )


def test_compaction_and_a_short_vacuum_retention_really_free_files(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    land_three_days(log, lake, source)
    engine = get_engine("duckdb")
    stream_once(log, lake, engine, max_batch=30)
    uri = lake.table("stream", "pin")

    def data_files() -> int:
        return sum(f.uri.endswith(".parquet") for f in lake.storage.list_files(uri))

    files_before, rows_before = data_files(), DeltaTable(uri).to_pyarrow_table().num_rows
    settings = MaintainSettings(vacuum_retention_hours=0, trim_stream=False)
    report = maintain(lake, engine, settings, now_ms=day_bounds(DAYS[2])[1])
    assert report.compacted["tables/stream/pin"] == files_before > 1
    assert report.vacuumed["tables/stream/pin"] == files_before
    assert data_files() == 1  # compacted into one, the small ones vacuumed
    assert DeltaTable(uri).to_pyarrow_table().num_rows == rows_before
