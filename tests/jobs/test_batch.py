"""The batch job: one row per ind (latest arrival), quarantine, results, same tables on re-run."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import orjson
import pytest
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from pinpipe.transform.queries import QUERIES
from tests.helpers import produce_rows


def _table(lake: Lake, zone: str, table: str) -> list[dict[str, object]]:
    """Rows of a batch table, or (zone "quarantine") of the batch stage's rejects."""
    uri = lake.quarantine(table, "batch") if zone == "quarantine" else lake.table(zone, table)  # type: ignore[arg-type]
    return DeltaTable(uri).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def _land(log: EmbeddedLog, lake: Lake) -> None:
    LakeSink(log, lake, SinkSettings(flush_size=50)).run(threading.Event(), once=True)


def test_batch_tables_hold_the_latest_arrival_per_ind(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, [1, 2, 3, 2, 1, 1])
    pin, _, _ = payloads(source, 2)
    newer = {**pin, "title": "A newer title", "index": str(pin["index"])}
    log.produce("streaming-pinpipe-pin", [ProduceRecord(orjson.dumps(newer))])
    _land(log, lake)
    report = run_batch(lake, get_engine("duckdb"))
    rows = _table(lake, "batch", "pin")
    assert [r["ind"] for r in rows] == [1, 2, 3]
    assert rows[1]["title"] == "A newer title"
    assert report.raw_records["pin"] == 7 and report.rows["pin"] == 3
    assert DeltaRsStore().watermark(lake.table("batch", "pin")) == {
        ("pinpipe.pin", 0): 6,
        ("streaming-pinpipe-pin", 0): 1,
    }


def test_bad_records_are_quarantined_with_reason_and_origin(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, [4])
    log.produce(
        "pinpipe.geo",
        [
            ProduceRecord(b"[1, 2]"),
            ProduceRecord(orjson.dumps({"ind": 9, "latitude": 91.5, "longitude": 0})),
        ],
    )
    _land(log, lake)
    report = run_batch(lake, get_engine("duckdb"))
    quarantined = _table(lake, "quarantine", "geo")
    assert report.rejects["geo"] == 2
    assert [(q["_topic"], q["_offset"], q["stage"]) for q in quarantined] == [
        ("pinpipe.geo", 1, "batch"),
        ("pinpipe.geo", 2, "batch"),
    ]
    assert all(q["reason"] for q in quarantined)
    assert [r["ind"] for r in _table(lake, "batch", "geo")] == [4]


def test_a_rerun_gives_the_same_tables_and_results(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(0, 300, 3)) * 2)
    log.produce("pinpipe.user", [ProduceRecord(b"garbage")])
    _land(log, lake)
    engine = get_engine("duckdb")
    run_batch(lake, engine)

    def snapshot() -> dict[str, object]:
        out: dict[str, object] = {}
        for t in ("pin", "geo", "user"):
            out[f"batch/{t}"] = _table(lake, "batch", t)
            out[f"quarantine/{t}"] = _table(lake, "quarantine", t)
        for name in QUERIES:
            out[name] = DeltaTable(lake.result(name)).to_pyarrow_table().to_pylist()
        return out

    first = snapshot()
    run_batch(lake, engine)
    assert snapshot() == first
    assert len(first["batch/pin"]) == 100  # type: ignore[arg-type]
    assert len(first["quarantine/user"]) == 1  # type: ignore[arg-type]


def test_a_damaged_raw_zone_is_quarantined_or_skipped_with_a_report(
    log: EmbeddedLog, lake: Lake, source: SourceTables, caplog: pytest.LogCaptureFixture
) -> None:
    """A torn last line, files the sink did not write and uncommitted Parquet files left in a
    Delta table: the batch goes on, and each is in the quarantine or the log."""
    produce_rows(log, source, [1, 2])
    _land(log, lake)
    first = run_batch(lake, get_engine("duckdb"))
    (raw,) = [f for f in lake.raw_files("pin")]
    torn = b'{"index": 3, "title": "cut sho'
    with open(raw.uri, "ab") as out:  # a crash of some other writer mid-line
        out.write(torn)
    folder = Path(raw.uri).parent
    (folder / "notes.txt").write_text("not a lake object")
    (folder.parent / "stray.json").write_text('{"index": 99}\n')
    leftover = Path(lake.table("batch", "pin")) / "part-00000-left-by-a-crash.parquet"
    leftover.write_bytes(b"PAR1 never committed")
    with caplog.at_level(logging.WARNING, logger="pinpipe.jobs.batch"):
        report = run_batch(lake, get_engine("duckdb"))
    assert report.rows == first.rows  # the torn line and the strays changed no table
    rejects = [q for q in _table(lake, "quarantine", "pin") if q["reason"] == "not a JSON object"]
    assert [(q["raw"], q["_offset"]) for q in rejects] == [(torn.decode(), None)]
    assert sorted(Path(u).name for u in report.skipped_files) == ["notes.txt", "stray.json"]
    assert "2 files the sink did not write are skipped" in caplog.text
    assert [r["ind"] for r in _table(lake, "batch", "pin")] == [1, 2]
