"""Delta tables of the lake: the table-store contract and its delta-rs implementation.

Every stage writes tables through a ``TableStore`` that its engine hands out, so jobs never ask
which engine runs: the embedded engine's store writes with delta-rs, Spark's with delta-spark.
Reading commit history (watermarks, app-transaction versions) always goes through delta-rs,
whatever wrote the table, so there is one decoder.

Exactly-once appends rest on Delta app transactions: each commit carries ``txn(app_id,
version)`` for every log partition it consumed, where ``version`` is the next offset to read.
Before a commit the appender reads the versions back and drops what an earlier commit holds.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pinpipe.lake.storage import Storage

WATERMARK_KEY: Final = "pinpipe.watermark"
USER_METADATA: Final = "userMetadata"
"""The commit-info field both Delta writers can set; pinpipe keeps a JSON object there."""

Positions = dict[tuple[str, int], int]
"""Next offset to read per ``(topic, partition)``."""


def app_id(prefix: str, topic: str, partition: int) -> str:
    return f"{prefix}:{topic}:{partition}"


def commit_metadata(watermark: Positions) -> str:
    """The ``userMetadata`` text that records the log positions a batch run covered."""
    encoded = [[t, p, end] for (t, p), end in sorted(watermark.items())]
    return json.dumps({WATERMARK_KEY: encoded}, sort_keys=True)


def decode_watermark(user_metadata: object) -> Positions | None:
    """The watermark in one commit's ``userMetadata``, or None when it holds none."""
    if not isinstance(user_metadata, str):
        return None
    try:
        found = json.loads(user_metadata)
    except ValueError:
        return None
    if not isinstance(found, dict) or WATERMARK_KEY not in found:
        return None
    return {(t, int(p)): int(end) for t, p, end in found[WATERMARK_KEY]}


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


class Appender(ABC):
    """One table appended to exactly once per log position (the stream job's writer)."""

    @abstractmethod
    def positions(self, partitions: list[tuple[str, int]]) -> Positions:
        """Next offset per partition that this table's commits recorded (0 if none)."""

    @abstractmethod
    def append(self, rows: pa.Table, ends: Positions) -> int:
        """Append rows past the recorded positions and record ``ends``, in one commit.

        Returns the rows committed; a pure replay commits nothing and returns 0.
        """


class TableStore(ABC):
    """Reads and writes the lake's Delta tables; one implementation per Delta writer."""

    def __init__(self, storage_options: dict[str, str] | None = None) -> None:
        self._storage_options = storage_options or None

    def options(self, uri: str) -> dict[str, str] | None:
        """delta-rs ``storage_options`` for ``uri``: as given, else those of the lake holding it."""
        if self._storage_options is not None:
            return self._storage_options
        return Storage.for_uri(uri).delta_options() or None

    def open(self, uri: str) -> DeltaTable | None:
        """The table at ``uri`` through delta-rs, or None when nothing was committed there."""
        try:
            return DeltaTable(uri, storage_options=self.options(uri))
        except TableNotFoundError:
            return None

    def exists(self, uri: str) -> bool:
        return DeltaTable.is_deltatable(uri, storage_options=self.options(uri))

    def dataset(self, uri: str) -> pads.Dataset | None:
        """The table's current rows as an Arrow dataset (lazy), or None without a table."""
        table = self.open(uri)
        return None if table is None else table.to_pyarrow_dataset()

    def watermark(self, uri: str) -> Positions | None:
        """The positions the latest batch run covered, from its commit metadata."""
        table = self.open(uri)
        if table is None:
            return None
        for entry in table.history():
            found = decode_watermark(entry.get(USER_METADATA))
            if found is not None:
                return found
        return None

    @abstractmethod
    def overwrite(
        self,
        uri: str,
        rows: pa.Table,
        *,
        watermark: Positions | None = None,
        predicate: str | None = None,
    ) -> None:
        """Replace the table's content (or only the rows matching ``predicate``) in one commit.

        With a predicate on a table that does not exist yet, the table is created with
        ``rows``. ``watermark`` is recorded in the commit for ``watermark()`` to find.
        """

    def appender(self, uri: str, app_prefix: str) -> Appender:
        """An exactly-once appender for ``uri`` whose app transactions start ``app_prefix``.

        delta-rs, whichever store: it commits several app transactions at once (one per log
        partition), which delta-spark's writer options cannot.
        """
        return DeltaRsAppender(self, uri, app_prefix)


class DeltaRsStore(TableStore):
    """The embedded engine's store: delta-rs, no JVM."""

    def overwrite(
        self,
        uri: str,
        rows: pa.Table,
        *,
        watermark: Positions | None = None,
        predicate: str | None = None,
    ) -> None:
        if predicate is not None and not self.exists(uri):
            predicate = None
        metadata = {USER_METADATA: commit_metadata(watermark)} if watermark is not None else {}
        write_deltalake(
            uri,
            rows,
            mode="overwrite",
            schema_mode="overwrite" if predicate is None else None,
            predicate=predicate,
            storage_options=self.options(uri),
            commit_properties=CommitProperties(custom_metadata=metadata) if metadata else None,
        )


class DeltaRsAppender(Appender):
    """An appended-to table kept open between commits, compacted as it grows.

    Each micro-batch adds a small file; every ``compact_every`` commits the files are compacted
    (a ``dataChange=false`` commit that never conflicts with appends). delta-rs writes a
    checkpoint every 100 commits by itself, so opening the table stays cheap.
    """

    def __init__(
        self, store: TableStore, uri: str, prefix: str, *, compact_every: int = 200
    ) -> None:
        self._store = store
        self.uri = uri
        self._prefix = prefix
        self._compact_every = compact_every
        self._table: DeltaTable | None = None
        self._commits = 0

    def positions(self, partitions: list[tuple[str, int]]) -> Positions:
        if self._table is None:
            self._table = self._store.open(self.uri)
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
        if self._table is None:
            self._table = self._store.open(self.uri)
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
            self._table if self._table is not None else self.uri,
            fresh,
            mode="append",
            storage_options=None if self._table is not None else self._store.options(self.uri),
            commit_properties=CommitProperties(app_transactions=txns),
        )
        self._commits += 1
        table = self._table or self._store.open(self.uri)
        assert table is not None
        self._table = table
        if self._commits % self._compact_every == 0:
            table.update_incremental()
            table.optimize.compact()
        return fresh.num_rows
