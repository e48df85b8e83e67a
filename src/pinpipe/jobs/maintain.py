"""A lake that lives for years: compaction, VACUUM, stream trimming and raw-zone retention.

Every step is safe against a concurrent reader: compaction adds no data, VACUUM keeps the
files of recent versions (``maintain.vacuum_retention_hours``), trimming deletes only stream
rows the merged view no longer reads (below the batch watermark), and raw retention deletes
only raw objects of old days that the batch tables already cover.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from pinpipe.engines import Engine
from pinpipe.lake.delta import Coverage
from pinpipe.lake.layout import ZONES, Lake
from pinpipe.lake.line import TABLES, table_of_topic
from pinpipe.lake.quarantine import STAGES
from pinpipe.lake.raw_index import day_dir, day_of, entries_of_day
from pinpipe.lake.storage import join
from pinpipe.settings import MaintainSettings
from pinpipe.transform.queries import QUERIES

log = logging.getLogger(__name__)

_DAY_DIR = "day="


@dataclass
class MaintainReport:
    compacted: dict[str, int] = field(default_factory=dict)
    """Files removed by compaction, per table."""
    vacuumed: dict[str, int] = field(default_factory=dict)
    """Files deleted by VACUUM, per table."""
    trimmed: dict[str, int] = field(default_factory=dict)
    """Stream rows deleted because the batch tables cover them, per table."""
    raw_deleted: int = 0
    raw_kept_uncovered: int = 0
    """Old raw objects kept because no batch run covers them yet."""


def _tables(lake: Lake) -> list[str]:
    return [
        *(lake.table(z, t) for z in ZONES for t in TABLES),
        *(lake.quarantine(t, s) for s in STAGES for t in TABLES),
        *(lake.result(n) for n in QUERIES),
        lake.quality_results,  # appended per window and run: many small files
        *(lake.alerts(n) for n in ("firing", "deliveries", "dead_letters")),
    ]


def _covered(coverage: Coverage, topic: str, partition: int, start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in coverage.get((topic, partition), []))


def trim_stream(lake: Lake, engine: Engine, report: MaintainReport) -> None:
    """Delete stream rows below the batch watermark (the merged view reads none of them)."""
    for table in TABLES:
        watermark = engine.tables.watermark(lake.table("batch", table)) or {}
        terms = [
            f"(_topic = '{topic.replace(chr(39), chr(39) * 2)}' AND _partition = {partition} "
            f"AND _offset < {end})"
            for (topic, partition), end in watermark.items()
        ]
        if terms:
            report.trimmed[table] = engine.tables.delete_where(
                lake.table("stream", table), " OR ".join(terms)
            )


def expire_raw(lake: Lake, engine: Engine, keep_days: int, today: dt.date) -> tuple[int, int]:
    """Delete raw objects (and index entries) of days before ``today - keep_days`` if covered."""
    deleted = kept = 0
    oldest_kept = today - dt.timedelta(days=keep_days)
    coverage = {t: engine.tables.coverage(lake.table("batch", t)) for t in TABLES}
    for folder in lake.storage.list_dirs(join(lake.root, "_index", "raw")):
        name = folder.rsplit("/", 1)[-1]
        if not name.startswith(_DAY_DIR):
            continue
        day = dt.date.fromisoformat(name.removeprefix(_DAY_DIR))
        if day >= oldest_kept:
            continue
        for entry in entries_of_day(lake, day):
            table = table_of_topic(entry.topic)
            span = (entry.topic, entry.partition, entry.start_offset, entry.end_offset)
            if table is None or not _covered(coverage[table], *span):
                kept += 1
                continue
            lake.storage.delete(join(lake.root, entry.uri))
            index = join(day_dir(lake, day), entry.uri.rsplit("/", 1)[-1])
            lake.storage.delete(index)
            deleted += 1
    return deleted, kept


def maintain(
    lake: Lake, engine: Engine, settings: MaintainSettings, *, now_ms: int
) -> MaintainReport:
    """Trim, expire, compact and vacuum, in the order that frees the most."""
    report = MaintainReport()
    if settings.trim_stream:
        trim_stream(lake, engine, report)
    if settings.raw_retention_days:
        report.raw_deleted, report.raw_kept_uncovered = expire_raw(
            lake, engine, settings.raw_retention_days, day_of(now_ms)
        )
    for uri in _tables(lake):
        name = uri.removeprefix(lake.root + "/")
        report.compacted[name] = engine.tables.compact(uri)
        report.vacuumed[name] = engine.tables.vacuum(uri, settings.vacuum_retention_hours)
    log.info(
        "maintain: %d stream rows trimmed, %d raw objects expired, %d files vacuumed",
        sum(report.trimmed.values()),
        report.raw_deleted,
        sum(report.vacuumed.values()),
    )
    return report
