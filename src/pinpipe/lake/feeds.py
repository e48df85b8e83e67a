"""Which log partitions feed which table: the one place stages discover their input."""

from __future__ import annotations

from pinpipe.lake.line import TABLES, TableName, table_of_topic
from pinpipe.log.base import Log

Partition = tuple[str, int]


def all_partitions(log: Log) -> list[Partition]:
    """Every partition of every topic that feeds a table, in topic order (one listing)."""
    return [
        (info.name, p)
        for info in log.topics()
        if table_of_topic(info.name) is not None
        for p in range(info.partitions)
    ]


def table_partitions(log: Log) -> dict[TableName, list[Partition]]:
    """``all_partitions`` grouped by the table each feeds."""
    found: dict[TableName, list[Partition]] = {t: [] for t in TABLES}
    for topic, p in all_partitions(log):
        table = table_of_topic(topic)
        assert table is not None
        found[table].append((topic, p))
    return found


def logged_records(log: Log) -> int:
    """Records the log holds (end offsets summed) on the partitions that feed tables."""
    return sum(log.end_offset(topic, p) for topic, p in all_partitions(log))
