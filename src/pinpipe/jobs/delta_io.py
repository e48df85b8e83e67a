"""Delta table writes shared by the batch and stream jobs (delta-rs).

Exactly-once rests on Delta app transactions: each commit carries ``txn(app_id, version)``
for every log partition it consumed, where ``version`` is the next offset to read. Before a
commit the job reads the versions back and drops what an earlier commit already holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

WATERMARK_KEY = "pinpipe.watermark"
Positions = dict[tuple[str, int], int]


def app_id(prefix: str, topic: str, partition: int) -> str:
    return f"{prefix}:{topic}:{partition}"


def open_table(path: Path) -> DeltaTable | None:
    """The Delta table at ``path``, or None when nothing was committed there yet."""
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def committed_positions(path: Path, prefix: str, partitions: list[tuple[str, int]]) -> Positions:
    """Next offset per partition as recorded by the table's app transactions (0 if none)."""
    table = open_table(path)
    positions: Positions = {}
    for topic, partition in partitions:
        version = table.transaction_version(app_id(prefix, topic, partition)) if table else None
        positions[(topic, partition)] = version if version is not None else 0
    return positions


def drop_committed(rows: pa.Table, positions: Positions) -> pa.Table:
    """Rows whose ``(_topic, _partition, _offset)`` is at or past the committed position."""
    if rows.num_rows == 0 or not positions:
        return rows
    keep = pa.array([True] * rows.num_rows)
    for (topic, partition), offset in positions.items():
        older = pc.and_(
            pc.and_(pc.equal(rows["_topic"], topic), pc.equal(rows["_partition"], partition)),
            pc.less(rows["_offset"], offset),
        )
        keep = pc.and_(keep, pc.invert(older))
    return rows.filter(keep)


def append_exactly_once(path: Path, rows: pa.Table, prefix: str, ends: Positions) -> int:
    """Append ``rows`` and advance the table's positions to ``ends`` in one commit.

    Rows already covered by the table's recorded positions are dropped first, so a replay
    after a crash commits nothing twice. Returns the number of rows appended.
    """
    partitions = list(ends)
    fresh = drop_committed(rows, committed_positions(path, prefix, partitions))
    txns = [Transaction(app_id(prefix, t, p), end) for (t, p), end in ends.items()]
    write_deltalake(
        str(path),
        fresh,
        mode="append",
        commit_properties=CommitProperties(app_transactions=txns),
    )
    return fresh.num_rows


def overwrite(
    path: Path,
    rows: pa.Table,
    *,
    watermark: Positions | None = None,
    partition_by: list[str] | None = None,
    predicate: str | None = None,
) -> None:
    """Replace the table's content (or the part matching ``predicate``) in one commit."""
    metadata = {}
    if watermark is not None:
        metadata[WATERMARK_KEY] = json.dumps(
            [[t, p, end] for (t, p), end in sorted(watermark.items())]
        )
    write_deltalake(
        str(path),
        rows,
        mode="overwrite",
        schema_mode="overwrite" if predicate is None else None,
        partition_by=partition_by,
        predicate=predicate,
        commit_properties=CommitProperties(custom_metadata=metadata) if metadata else None,
    )


def read_watermark(path: Path) -> Positions | None:
    """The positions the latest batch run covered, from its commit metadata."""
    table = open_table(path)
    if table is None:
        return None
    for entry in table.history():
        if WATERMARK_KEY in entry:
            return {(t, int(p)): int(end) for t, p, end in json.loads(entry[WATERMARK_KEY])}
    return None
