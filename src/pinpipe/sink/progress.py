"""Is a day's raw data complete? The question a scheduler asks before the day's batch run.

A UTC ingest day is complete in the raw zone once, on every partition that feeds a table, the
sink's committed position has passed the day: the next record it has not committed is of a
later day, or it has committed everything and the day is over (ingest times are append times,
so no record of an ended day can still arrive).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pinpipe.lake.feeds import all_partitions
from pinpipe.lake.raw_index import day_bounds
from pinpipe.log.base import Log


@dataclass
class DayProgress:
    day: dt.date
    pending: list[str] = field(default_factory=list)
    """One line per partition that still holds records of the day outside the raw zone."""

    @property
    def complete(self) -> bool:
        return not self.pending


def day_progress(log: Log, day: dt.date, now_ms: int, group: str) -> DayProgress:
    """How far the sink (consumer ``group``) has written ``day`` into the raw zone."""
    _, end = day_bounds(day)
    progress = DayProgress(day)
    if now_ms < end:
        progress.pending.append(f"{day} has not ended yet (UTC)")
        return progress
    for topic, partition in all_partitions(log):
        committed = log.committed(group, topic, partition) or 0
        committed = max(committed, log.start_offset(topic, partition))
        if committed >= log.end_offset(topic, partition):
            continue
        waiting = log.fetch(topic, partition, committed, 1)
        if waiting and waiting[0].timestamp < end:
            at = dt.datetime.fromtimestamp(waiting[0].timestamp / 1000, dt.UTC)
            progress.pending.append(
                f"{topic}[{partition}]: the sink has not committed offset {committed} "
                f"(ingested {at:%Y-%m-%d %H:%M:%S} UTC)"
            )
    return progress
