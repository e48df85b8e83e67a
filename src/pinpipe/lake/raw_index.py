"""The raw zone's day index: which raw objects hold each UTC ingest day's records.

The sink closes a raw object before a record of a new UTC day, so every object belongs to one
day, and writes one small entry per object under that day, after the object and before it
commits the offset (a replay rewrites both identically). Finding one day's data then lists one
short prefix instead of every object of the zone. The index lives beside ``raw/``
(``_index/raw/day=YYYY-MM-DD/``), so a reader pointed at ``raw/`` sees exactly Confluent's layout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import orjson

from pinpipe.lake.layout import Lake, raw_object_name
from pinpipe.lake.line import TableName, table_of_topic
from pinpipe.lake.storage import join

DAY_MS = 86_400_000


def day_of(timestamp_ms: int) -> dt.date:
    """The UTC day of an ingest timestamp (epoch ms)."""
    return dt.date(1970, 1, 1) + dt.timedelta(days=timestamp_ms // DAY_MS)


def day_bounds(day: dt.date) -> tuple[int, int]:
    """``[start, end)`` of a UTC day in epoch ms."""
    start = (day - dt.date(1970, 1, 1)).days * DAY_MS
    return start, start + DAY_MS


@dataclass(frozen=True)
class IndexEntry:
    """One raw object: where it is, the offsets and ingest times of its records."""

    uri: str
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    """The next offset after the object's last record."""
    min_timestamp: int
    max_timestamp: int

    @property
    def day(self) -> dt.date:
        return day_of(self.min_timestamp)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes) -> IndexEntry:
        return cls(**orjson.loads(data))


def day_dir(lake: Lake, day: dt.date) -> str:
    return join(lake.root, "_index", "raw", f"day={day.isoformat()}")


def write_entry(lake: Lake, entry: IndexEntry) -> None:
    name = raw_object_name(entry.topic, entry.partition, entry.start_offset)
    lake.storage.write_atomically(join(day_dir(lake, entry.day), name), entry.to_json())


def entries_of_day(lake: Lake, day: dt.date, table: TableName | None = None) -> list[IndexEntry]:
    """The index entries of ``day`` (of topics feeding ``table``), by topic, partition, offset."""
    found = [
        IndexEntry.from_json(lake.storage.read_bytes(f.uri))
        for f in lake.storage.list_files(day_dir(lake, day))
        if f.uri.endswith(".json")
    ]
    if table is not None:
        found = [e for e in found if table_of_topic(e.topic) == table]
    return sorted(found, key=lambda e: (e.topic, e.partition, e.start_offset))
