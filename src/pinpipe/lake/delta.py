"""Delta tables of the lake: the table-store contract and its delta-rs implementation.

Every stage writes tables through a ``TableStore`` that its engine hands out, so jobs never ask
which engine runs: the embedded engine's store writes with delta-rs, Spark's with delta-spark.
Reading commit history (watermarks, app-transaction versions) always goes through delta-rs,
whatever wrote the table, so there is one decoder.

Exactly-once appends rest on Delta app transactions: each commit carries ``txn(app_id,
version)`` for every log partition it consumed, where ``version`` is the next offset to read.
Before a commit the appender reads the versions back and drops what an earlier commit holds.

A write that finds the disk full raises ``LakeFullError`` (``disk_full_errors``): delta-rs
writes data files first and the commit last, renaming it into place, so a failed write leaves
the table readable at its previous version (its partial files are no part of any version).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pinpipe.lake.storage import Storage, disk_full_errors

WATERMARK_KEY: Final = "pinpipe.watermark"
COVERAGE_KEY: Final = "pinpipe.covered"
USER_METADATA: Final = "userMetadata"
"""The commit-info field both Delta writers can set; pinpipe keeps a JSON object there."""

ARRIVAL: Final = ("_timestamp", "_topic", "_partition", "_offset")
"""The arrival key: the later arrival of an ind wins, on every engine and in every run."""

Positions = dict[tuple[str, int], int]
"""Next offset to read per ``(topic, partition)``."""

Coverage = dict[tuple[str, int], list[tuple[int, int]]]
"""Offset ranges ``[start, end)`` per ``(topic, partition)`` that a batch table holds."""


def app_id(prefix: str, topic: str, partition: int) -> str:
    return f"{prefix}:{topic}:{partition}"


def union(*coverages: Coverage) -> Coverage:
    """The offsets any of ``coverages`` holds, as sorted ranges with touching ones joined."""
    merged: Coverage = {}
    for tp in sorted({tp for c in coverages for tp in c}):
        ranges = sorted(r for c in coverages for r in c.get(tp, []))
        out: list[tuple[int, int]] = []
        for start, end in ranges:
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[tp] = out
    return merged


def watermark_of(coverage: Coverage, floor: Positions | None = None) -> Positions:
    """Per partition, the end of the offsets covered without a gap; never below ``floor``.

    The merged view takes stream rows at or past it, so a day not yet batched (a gap) keeps
    its stream rows visible, and a backfill of an earlier day never moves it back.
    """
    floor = floor or {}
    ends = {tp: ranges[0][1] for tp, ranges in union(coverage).items() if ranges}
    return {tp: max(ends.get(tp, 0), floor.get(tp, 0)) for tp in sorted({*ends, *floor})}


def commit_metadata(coverage: Coverage, floor: Positions | None = None) -> str:
    """The ``userMetadata`` text recording what a batch table covers and its watermark."""
    watermark = watermark_of(coverage, floor)
    return json.dumps(
        {
            WATERMARK_KEY: [[t, p, end] for (t, p), end in watermark.items()],
            COVERAGE_KEY: [[t, p, [list(r) for r in rs]] for (t, p), rs in union(coverage).items()],
        },
        sort_keys=True,
    )


def _decode(user_metadata: object) -> dict[str, Any] | None:
    if not isinstance(user_metadata, str):
        return None
    try:
        found = json.loads(user_metadata)
    except ValueError:
        return None
    return found if isinstance(found, dict) and WATERMARK_KEY in found else None


def decode_watermark(user_metadata: object) -> Positions | None:
    """The watermark in one commit's ``userMetadata``, or None when it holds none."""
    found = _decode(user_metadata)
    if found is None:
        return None
    return {(t, int(p)): int(end) for t, p, end in found[WATERMARK_KEY]}


def decode_coverage(user_metadata: object) -> Coverage | None:
    """The covered offset ranges in one commit's ``userMetadata`` (None when it holds none)."""
    found = _decode(user_metadata)
    if found is None:
        return None
    encoded = found.get(COVERAGE_KEY, [])
    return {(t, int(p)): [(int(s), int(e)) for s, e in rs] for t, p, rs in encoded}


def newer_than(source: str, target: str) -> str:
    """SQL: the ``source`` row's arrival key is greater than the ``target`` row's."""
    terms = [f"{source}.{c} > {target}.{c}" for c in ARRIVAL]
    condition = terms[-1]
    for i in range(len(ARRIVAL) - 2, -1, -1):
        column = ARRIVAL[i]
        condition = f"({terms[i]} OR ({source}.{column} = {target}.{column} AND {condition}))"
    return condition


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

    def _batch_metadata(self, uri: str, table: DeltaTable | None = None) -> object:
        """The ``userMetadata`` of the latest commit that recorded a batch run (or None)."""
        table = table or self.open(uri)
        if table is None:
            return None
        for entry in table.history():
            if _decode(entry.get(USER_METADATA)) is not None:
                return entry.get(USER_METADATA)
        return None

    def watermark(self, uri: str) -> Positions | None:
        """The watermark of the latest batch run, from its commit metadata."""
        return decode_watermark(self._batch_metadata(uri))

    def coverage(self, uri: str) -> Coverage:
        """The offset ranges the table holds, from its latest batch commit (none: empty)."""
        return decode_coverage(self._batch_metadata(uri)) or {}

    def _merged_metadata(self, uri: str, added: Coverage, table: DeltaTable | None) -> str:
        """The ``userMetadata`` of a merge adding ``added``: one read of the last batch commit."""
        previous = self._batch_metadata(uri, table)
        covered = union(decode_coverage(previous) or {}, added)
        return commit_metadata(covered, decode_watermark(previous))

    @abstractmethod
    def overwrite(
        self,
        uri: str,
        rows: pa.Table,
        *,
        coverage: Coverage | None = None,
        predicate: str | None = None,
    ) -> None:
        """Replace the table's content (or only the rows matching ``predicate``) in one commit.

        With a predicate on a table that does not exist yet, the table is created with
        ``rows``. ``coverage`` (and the watermark it gives) is recorded in the commit.
        """

    def compact(self, uri: str) -> int:
        """Rewrite small files into larger ones (a ``dataChange=false`` commit); files removed."""
        table = self.open(uri)
        if table is None:
            return 0
        with disk_full_errors(uri, "compact"):
            return int(table.optimize.compact()["numFilesRemoved"])

    def vacuum(self, uri: str, retention_hours: int) -> int:
        """Delete files no version of the last ``retention_hours`` uses; files deleted.

        A reader holding a snapshot younger than the retention keeps working, so the default
        retention (a week) is safe for any reader that does not hold one for days.
        """
        table = self.open(uri)
        if table is None:
            return 0
        enforce = retention_hours >= 168
        with disk_full_errors(uri, "vacuum"):
            deleted = table.vacuum(
                retention_hours, dry_run=False, enforce_retention_duration=enforce
            )
        return len(deleted)

    def delete_where(self, uri: str, predicate: str) -> int:
        """Delete the rows matching ``predicate`` in one commit; rows deleted."""
        table = self.open(uri)
        if table is None:
            return 0
        with disk_full_errors(uri, "delete rows of"):
            return int(table.delete(predicate)["num_deleted_rows"])

    @abstractmethod
    def merge_newer(self, uri: str, rows: pa.Table, *, key: str, added: Coverage) -> None:
        """Upsert ``rows`` on ``key`` in one commit, replacing a row only by a later arrival.

        ``added`` (the offsets ``rows`` came from) joins the coverage the table records; the
        watermark never moves back. Runs commute: merging the same rows twice, or days in any
        order, gives the same table.
        """

    def app_versions(self, uri: str, ids: list[str]) -> dict[str, int]:
        """The app-transaction version each of ``ids`` last recorded (absent: not listed)."""
        table = self.open(uri)
        if table is None:
            return {}
        found = {i: table.transaction_version(i) for i in ids}
        return {i: int(v) for i, v in found.items() if v is not None}

    def merge_sums(
        self, uri: str, rows: pa.Table, *, keys: list[str], sums: list[str], txns: dict[str, int]
    ) -> None:
        """Add ``rows``' ``sums`` to the stored row of equal ``keys`` (NULL equals NULL), or
        insert it, in one commit recording ``txns`` (app id → version).

        delta-rs, whichever store (like ``appender``): one commit carries an app transaction
        per log partition, which delta-spark's writer options cannot.
        """
        transactions = [Transaction(app, version) for app, version in sorted(txns.items())]
        properties = CommitProperties(app_transactions=transactions)
        table = self.open(uri)
        if table is None:
            with disk_full_errors(uri, "create"):
                write_deltalake(
                    uri, rows, storage_options=self.options(uri), commit_properties=properties
                )
            return
        predicate = " AND ".join(f"(t.{k} IS NOT DISTINCT FROM s.{k})" for k in keys)
        with disk_full_errors(uri, "merge into"):
            (
                table.merge(
                    rows,
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=properties,
                )
                .when_matched_update({c: f"t.{c} + s.{c}" for c in sums})
                .when_not_matched_insert_all()
                .execute()
            )

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
        coverage: Coverage | None = None,
        predicate: str | None = None,
    ) -> None:
        if predicate is not None and not self.exists(uri):
            predicate = None
        metadata = {USER_METADATA: commit_metadata(coverage)} if coverage is not None else {}
        with disk_full_errors(uri, "overwrite"):
            write_deltalake(
                uri,
                rows,
                mode="overwrite",
                schema_mode="overwrite" if predicate is None else None,
                predicate=predicate,
                storage_options=self.options(uri),
                commit_properties=CommitProperties(custom_metadata=metadata) if metadata else None,
            )

    def merge_newer(self, uri: str, rows: pa.Table, *, key: str, added: Coverage) -> None:
        table = self.open(uri)
        if table is None:
            self.overwrite(uri, rows, coverage=added)
            return
        metadata = {USER_METADATA: self._merged_metadata(uri, added, table)}
        with disk_full_errors(uri, "merge into"):
            (
                table.merge(
                    rows,
                    predicate=f"t.{key} = s.{key}",
                    source_alias="s",
                    target_alias="t",
                    commit_properties=CommitProperties(custom_metadata=metadata),
                )
                .when_matched_update_all(predicate=newer_than("s", "t"))
                .when_not_matched_insert_all()
                .execute()
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
        with disk_full_errors(self.uri, "append to"):
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
            with disk_full_errors(self.uri, "compact"):
                table.optimize.compact()
        return fresh.num_rows
