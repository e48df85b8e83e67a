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


class AppendLog:
    """One appended-to Delta table kept open between commits, compacted as it grows.

    Each micro-batch adds a small file; every ``compact_every`` commits the files are compacted
    (a ``dataChange=false`` commit that never conflicts with appends). delta-rs writes a
    checkpoint every 100 commits by itself, so opening the table stays cheap.
    """

    def __init__(self, path: Path, prefix: str, *, compact_every: int = 200) -> None:
        self.path = path
        self._prefix = prefix
        self._compact_every = compact_every
        self._table: DeltaTable | None = None
        self._commits = 0

    def positions(self, partitions: list[tuple[str, int]]) -> Positions:
        """Next offset per partition that this table's commits recorded (0 if none)."""
        if self._table is None:
            self._table = open_table(self.path)
        return self._recorded(partitions)

    def _recorded(self, partitions: list[tuple[str, int]]) -> Positions:
        table = self._table
        positions: Positions = {}
        for topic, partition in partitions:
            version = (
                table.transaction_version(app_id(self._prefix, topic, partition)) if table else None
            )
            positions[(topic, partition)] = version or 0
        return positions

    def append(self, rows: pa.Table, ends: Positions) -> int:
        """Append rows past the recorded positions and record ``ends``, in one commit."""
        if self._table is None:
            self._table = open_table(self.path)
        else:
            self._table.update_incremental()
        recorded = self._recorded(list(ends))
        fresh = drop_committed(rows, recorded)
        if fresh.num_rows == 0 and all(end <= recorded[tp] for tp, end in ends.items()):
            return 0  # a pure replay: everything is already committed
        # A position never moves backwards, even when a replay overlaps newer commits.
        txns = [
            Transaction(app_id(self._prefix, t, p), max(end, recorded[(t, p)]))
            for (t, p), end in ends.items()
        ]
        write_deltalake(
            self._table if self._table is not None else str(self.path),
            fresh,
            mode="append",
            commit_properties=CommitProperties(app_transactions=txns),
        )
        self._commits += 1
        table = self._table or DeltaTable(str(self.path))
        self._table = table
        if self._commits % self._compact_every == 0:
            table.update_incremental()
            table.optimize.compact()
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
        text = entry.get(WATERMARK_KEY) or _user_metadata(entry).get(WATERMARK_KEY)
        if text:
            return {(t, int(p)): int(end) for t, p, end in json.loads(text)}
    return None


def watermark_metadata(watermark: Positions) -> dict[str, str]:
    """Commit metadata recording the log positions a batch run covered."""
    return {WATERMARK_KEY: json.dumps([[t, p, end] for (t, p), end in sorted(watermark.items())])}


def _user_metadata(entry: dict[str, object]) -> dict[str, str]:
    """Metadata a Spark writer stored as a JSON object in Delta's ``userMetadata``."""
    text = entry.get("userMetadata")
    if not isinstance(text, str):
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
