"""The daily incremental batch: one UTC ingest day at a time, merged on ind; days commute.

Records of three days (the log's clock set to each day) go to the raw zone; backfilling the
days in any order, or one twice, must give exactly the tables a full rebuild gives, and the
watermark must stop at the first day not yet merged.
"""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.lake.raw_index import day_bounds, entries_of_day
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from pinpipe.transform.queries import QUERIES
from tests.helpers import DAYS, land_three_days, log_at, produce_rows

TABLES = ("pin", "geo", "user")


def _snapshot(lake: Lake) -> dict[str, object]:
    def rows(uri: str, order: list[str]) -> list[dict[str, object]]:
        table = DeltaTable(uri).to_pyarrow_table()
        return table.sort_by([(c, "ascending") for c in order]).to_pylist()

    out: dict[str, object] = {}
    for t in TABLES:
        out[f"batch/{t}"] = rows(lake.table("batch", t), ["ind"])
        out[f"quarantine/{t}"] = rows(lake.quarantine(t, "batch"), ["_topic", "_offset"])
    for name in QUERIES:
        out[name] = DeltaTable(lake.result(name)).to_pyarrow_table().to_pylist()
    return out


@pytest.fixture
def days_lake(log: EmbeddedLog, lake: Lake, source: SourceTables) -> Lake:
    land_three_days(log, lake, source)
    return lake


def test_no_raw_object_spans_two_days_and_the_index_lists_each_day(days_lake: Lake) -> None:
    indexed = [e for d in DAYS for e in entries_of_day(days_lake, d)]
    assert sorted(e.uri for e in indexed) == sorted(
        f.uri.removeprefix(days_lake.root + "/") for f in days_lake.raw_files()
    )
    for day in DAYS:
        start, end = day_bounds(day)
        for entry in entries_of_day(days_lake, day):
            assert start <= entry.min_timestamp <= entry.max_timestamp < end
    assert {e.topic for e in entries_of_day(days_lake, DAYS[2], "pin")} == {"pinpipe.pin"}


def test_a_backfill_of_the_days_gives_the_full_rebuild_in_any_order(
    days_lake: Lake, tmp_path: object
) -> None:
    engine = get_engine("duckdb")
    run_batch(days_lake, engine)
    full = _snapshot(days_lake)
    assert any(r["title"] == "Day three" for r in full["batch/pin"])  # type: ignore[attr-defined,index]

    for order in ([0, 1, 2], [2, 0, 1, 1]):
        for t in TABLES:
            for uri in (days_lake.table("batch", t), days_lake.quarantine(t, "batch")):
                days_lake.storage.filesystem.delete_dir_contents(uri, missing_dir_ok=True)
        for i in order:
            report = run_batch(days_lake, engine, day=DAYS[i])
            assert report.day == DAYS[i]
        assert _snapshot(days_lake) == full, order


def test_the_watermark_stops_at_the_first_day_not_merged_and_never_moves_back(
    days_lake: Lake,
) -> None:
    engine, store = get_engine("duckdb"), DeltaRsStore()
    ends = {
        day: {(e.topic, e.partition): e.end_offset for e in entries_of_day(days_lake, day, "pin")}
        for day in DAYS
    }
    uri = days_lake.table("batch", "pin")
    run_batch(days_lake, engine, day=DAYS[0])
    assert store.watermark(uri) == ends[DAYS[0]]
    run_batch(days_lake, engine, day=DAYS[2])
    assert store.watermark(uri) == ends[DAYS[0]]  # day 2 is a gap: its stream rows stay newer
    run_batch(days_lake, engine, day=DAYS[1])
    assert store.watermark(uri) == ends[DAYS[2]]
    run_batch(days_lake, engine, day=DAYS[0])
    assert store.watermark(uri) == ends[DAYS[2]]


def test_an_idle_partition_closes_its_file_once_the_day_has_ended(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    log_at(log, DAYS[0], 22)
    produce_rows(log, source, list(range(5)))
    now = [day_bounds(DAYS[0])[1] - 1]
    sink = LakeSink(log, lake, SinkSettings(day_close_grace_ms=60_000), clock=lambda: now[0])
    sink.poll()
    sink.close_ended_days()
    assert sink.pending() == 15 and not entries_of_day(lake, DAYS[0])
    now[0] += 60_001  # the day ended a minute (the grace) ago
    sink.close_ended_days()
    assert sink.pending() == 0 and len(entries_of_day(lake, DAYS[0])) == 3
