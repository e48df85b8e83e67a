"""The data-quality gate of one ingest day: a scheduler's go/no-go after the day's batch run.

The one blocking check today: the share of the day's raw records the batch job quarantined.
A day above ``quality.max_reject_share`` fails the gate (``pinpipe quality`` exits 3), so a
broken producer stops the daily run instead of quietly thinning the tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow.compute as pc

from pinpipe.engines import Engine
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TableName
from pinpipe.lake.raw_index import day_bounds, entries_of_day


@dataclass(frozen=True)
class TableQuality:
    table: TableName
    raw_records: int
    rejects: int

    @property
    def reject_share(self) -> float:
        return self.rejects / self.raw_records if self.raw_records else 0.0


@dataclass(frozen=True)
class DayQuality:
    day: dt.date
    tables: tuple[TableQuality, ...]
    max_reject_share: float

    @property
    def failed(self) -> list[TableQuality]:
        return [t for t in self.tables if t.reject_share > self.max_reject_share]

    @property
    def passed(self) -> bool:
        return not self.failed


def day_quality(lake: Lake, engine: Engine, day: dt.date, max_reject_share: float) -> DayQuality:
    """Raw records and batch rejects of ``day`` per table (run after ``batch --date``)."""
    start, end = day_bounds(day)
    found = []
    for table in TABLES:
        raw = sum(e.end_offset - e.start_offset for e in entries_of_day(lake, day, table))
        dataset = engine.tables.dataset(lake.quarantine(table, "batch"))
        rejects = 0
        if dataset is not None:
            stamp = pc.field("_timestamp")
            rejects = dataset.count_rows(filter=(stamp >= start) & (stamp < end))
        found.append(TableQuality(table, raw, rejects))
    return DayQuality(day, tuple(found), max_reject_share)
