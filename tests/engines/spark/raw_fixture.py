"""A raw zone with the dirt the cleaning rules exist for: duplicates, bad values, torn lines."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import produce_rows

DIRTY: dict[str, list[object]] = {
    "pin": [
        {"index": "12", "title": "  Untitled\u00a0", "follower_count": "1.0005k"},
        {"index": 13, "follower_count": "lots", "save_location": "Local save in /data/art"},
        {"index": "x", "title": "bad key"},
        {"index": 2**40},
        {"title": "no key"},
        "not an object",
        {"index": 14.0, "poster_name": "\u200b Zoe \ufeff", "follower_count": "15M"},
    ],
    "geo": [
        {"ind": 15, "timestamp": "2019-05-01T10:00:00.1234567+02:00", "latitude": "1.5",
         "longitude": -2.25, "country": " Chad "},
        {"ind": 16, "timestamp": "2019-02-30 00:00:00", "latitude": 0, "longitude": 0},
        {"ind": 17, "timestamp": "2018-01-01", "latitude": 91, "longitude": 0},
        {"ind": 18, "timestamp": "2018-01-01", "latitude": "NaN", "longitude": 0},
        {"ind": 19, "latitude": None, "longitude": 12.5},
    ],
    "user": [
        {"ind": 20, "first_name": "Ann", "age": "+33", "date_joined": "2016-01-01 00:00:00Z"},
        {"index": 21, "last_name": "Lee", "age": "33.0", "date_joined": "2016-02-02"},
        {"ind": 22, "first_name": "Old", "age": 131},
        {"ind": 23, "first_name": "Kid", "age": "ten"},
    ],
}  # fmt: skip


def build_raw_zone(work: Path, source: SourceTables) -> Lake:
    """Sampled rows with repeats, rows re-sent through the stream doors, and dirty records."""
    lake = Lake.at(work / "lake")
    with EmbeddedLog(work / "log.db", fsync=False) as log:
        rows = [i % 120 for i in range(300)] + [5, 5, 7]
        produce_rows(log, source, rows)
        for row in (1, 2, 3):
            pin, geo, user = payloads(source, row)
            log.produce("streaming-pinpipe-pin", [ProduceRecord(orjson.dumps(pin))])
            log.produce("streaming-pinpipe-geo", [ProduceRecord(orjson.dumps(geo))])
            log.produce("streaming-pinpipe-user", [ProduceRecord(orjson.dumps(user))])
        for table, values in DIRTY.items():
            records = [ProduceRecord(orjson.dumps(v)) for v in values]
            records.append(ProduceRecord(b"{not json"))
            log.produce(f"pinpipe.{table}", records)
        LakeSink(log, lake, SinkSettings(flush_size=100)).run(threading.Event(), once=True)
    # A torn last line, as a crash of some other writer might leave one.
    first = Path(next(iter(lake.raw_files("pin"))).uri)
    with first.open("ab") as f:
        f.write(b'{"index": 99, "title": "torn')
    return lake
