"""The real-time aggregates: tumbling one-minute UTC windows on ingest time, as additive counts.

Every aggregate is a count per (window, key), so a micro-batch contributes *deltas* that are
added to the stored windows (a MERGE), and any cut of the log into micro-batches gives the
same windows. That is what lets the embedded stream job and Spark's, whose micro-batches are
cut differently, agree to the row.

Lateness is judged per log partition against the highest ingest time at lower offsets (the
partition's *clock*), never against where a micro-batch was cut: a record more than
``allowed_ms`` older than that clock is late; it updates no window and is counted in
``late_records`` (by table and its own window) instead, so nothing is dropped silently.

Pure Arrow: the definitions need no engine, and both stream jobs hold each micro-batch in
Arrow on the driver already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.lake.line import TableName
from pinpipe.transform.sentiment import score

WINDOW_MS: Final = 60_000
META: Final = ("_topic", "_partition", "_offset", "_timestamp")
"""The columns every input of ``deltas`` carries: where a record sits in the log, and when."""

META_SCHEMA: Final = pa.schema(
    [("_topic", pa.string()), ("_partition", pa.int32()), ("_offset", pa.int64()),
     ("_timestamp", pa.int64())]
)  # fmt: skip
"""The types of the ``META`` columns, as every stream job hands them to the windows."""

Clock = dict[tuple[str, int], int]
"""Per ``(topic, partition)``: the highest ingest time (epoch ms) seen so far."""


_TS = pa.timestamp("ms", tz="UTC")
SUM_TYPES: Final = {"title_sentiment_sum": pa.float64(), "scored_titles": pa.int64()}
"""The type of each further additive column."""


@dataclass(frozen=True)
class Aggregate:
    """One table under ``tables/realtime/``: a count per window and ``keys``."""

    name: str
    keys: tuple[str, ...]
    measure: str
    tables: tuple[TableName, ...]
    """The cleaned tables whose log partitions feed it."""
    sums: tuple[str, ...] = ()
    """Further additive columns (sums), e.g. of sentiment, for means over windows."""

    @property
    def columns(self) -> tuple[str, ...]:
        return ("window_start", "window_end", *self.keys, self.measure, *self.sums)

    @property
    def schema(self) -> pa.Schema:
        """The table's columns and types (keys are text, counts int64)."""
        return pa.schema(
            [("window_start", _TS), ("window_end", _TS)]
            + [(k, pa.string()) for k in self.keys]
            + [(self.measure, pa.int64())]
            + [(name, SUM_TYPES[name]) for name in self.sums]
        )


AGGREGATES: Final[tuple[Aggregate, ...]] = (
    Aggregate(
        "posts_by_category",
        ("category",),
        "posts",
        ("pin",),
        ("title_sentiment_sum", "scored_titles"),
    ),
    Aggregate("events_by_country", ("country",), "events", ("geo",)),
    Aggregate("records_by_topic", ("topic",), "records", ("pin", "geo", "user")),
    Aggregate("rejects_by_reason", ("table", "reason"), "rejects", ("pin", "geo", "user")),
    Aggregate("late_records", ("table",), "late", ("pin", "geo", "user")),
)
BY_NAME: Final = {a.name: a for a in AGGREGATES}


@dataclass
class MicroBatch:
    """One table's slice of a micro-batch: every record, the cleaned rows and the rejects.

    ``records`` has the ``META`` columns; ``rows`` and ``rejects`` add their table's columns
    (``rows`` of pin: ``category``, ``title``; of geo: ``country``; ``rejects``: ``reason``).
    """

    table: TableName
    records: pa.Table
    rows: pa.Table
    rejects: pa.Table


def judge_lateness(records: pa.Table, clock: Clock, allowed_ms: int) -> tuple[pa.Table, Clock]:
    """The late records (``META`` columns) of ``records`` and the clock after them.

    A record is late when its ingest time is more than ``allowed_ms`` below the highest ingest
    time at lower offsets of its partition (``clock`` carries that maximum in from earlier
    micro-batches).
    """
    late: list[pa.Table] = []
    after = dict(clock)
    if records.num_rows == 0:
        return records.select(list(META)).slice(0, 0), after
    keys = records.select(["_topic", "_partition"]).group_by(["_topic", "_partition"]).aggregate([])
    for topic, partition in zip(
        keys["_topic"].to_pylist(), keys["_partition"].to_pylist(), strict=True
    ):
        mask = pc.and_(
            pc.equal(records["_topic"], topic), pc.equal(records["_partition"], partition)
        )
        part = records.filter(mask).select(list(META)).sort_by("_offset")
        stamps = part["_timestamp"].combine_chunks()
        before = clock.get((topic, partition))
        running = pc.cumulative_max(stamps)
        prior = pa.concat_arrays(
            [pa.array([before], pa.int64()), running.slice(0, len(running) - 1)]
        )
        if before is not None:
            prior = pc.max_element_wise(prior, pa.scalar(before, pa.int64()))
        late_mask = pc.fill_null(pc.less(stamps, pc.subtract(prior, allowed_ms)), False)
        late.append(part.filter(late_mask))
        highest = pc.max(stamps).as_py()
        after[(topic, partition)] = highest if before is None else max(before, highest)
    return pa.concat_tables(late), after


def _window(table: pa.Table) -> pa.Table:
    """``table`` with ``window_start`` / ``window_end`` of each row's ingest time."""
    stamps = table["_timestamp"]
    start = pc.multiply(pc.divide(stamps, WINDOW_MS), WINDOW_MS)  # integer division
    return table.append_column("window_start", pc.cast(start, _TS)).append_column(
        "window_end", pc.cast(pc.add(start, WINDOW_MS), _TS)
    )


def _without(table: pa.Table, late: pa.Table) -> pa.Table:
    if late.num_rows == 0 or table.num_rows == 0:
        return table
    return table.join(
        late.select(["_topic", "_partition", "_offset"]), META[:3], join_type="left anti"
    )


def _count(
    table: pa.Table, keys: tuple[str, ...], measure: str, sums: dict[str, pa.Array] | None = None
) -> pa.Table:
    windowed = _window(table)
    for name, values in (sums or {}).items():
        windowed = windowed.append_column(name, values)
    group = ["window_start", "window_end", *keys]
    aggregations = [([], "count_all"), *((name, "sum") for name in sums or {})]
    counted = windowed.group_by(group, use_threads=False).aggregate(list(aggregations))
    names = {"count_all": measure, **{f"{n}_sum": n for n in sums or {}}}
    counted = counted.rename_columns([names.get(c, c) for c in counted.column_names])
    return counted.select([*group, measure, *(sums or {})])


def _title_sentiment(rows: pa.Table) -> dict[str, pa.Array]:
    """Sum of title sentiment and the number of titles scored, per pin row (memoised)."""
    scores = [None if t is None else score(t.strip() or None) for t in rows["title"].to_pylist()]
    return {
        "title_sentiment_sum": pa.array([s or 0.0 for s in scores], pa.float64()),
        "scored_titles": pa.array([0 if s is None else 1 for s in scores], pa.int64()),
    }


@dataclass(frozen=True)
class Judged:
    """A micro-batch with its late records set apart: ``records``, ``rows``, ``rejects`` hold
    only the records in time; ``late`` the others (``META`` columns)."""

    table: TableName
    records: pa.Table
    rows: pa.Table
    rejects: pa.Table
    late: pa.Table


def judge(batch: MicroBatch, clock: Clock, allowed_ms: int) -> tuple[Judged, Clock]:
    """Set ``batch``'s late records apart; the clock after the batch."""
    late, after = judge_lateness(batch.records, clock, allowed_ms)
    records, rows, rejects = (_without(t, late) for t in (batch.records, batch.rows, batch.rejects))
    return Judged(batch.table, records, rows, rejects, late), after


def count(judged: Judged, aggregate: Aggregate) -> pa.Table | None:
    """What a judged micro-batch adds to ``aggregate`` (None: nothing)."""
    if aggregate.name == "posts_by_category":
        found = _count(judged.rows, ("category",), "posts", _title_sentiment(judged.rows))
    elif aggregate.name == "events_by_country":
        found = _count(judged.rows, ("country",), "events")
    elif aggregate.name == "records_by_topic":
        records = judged.records
        found = _count(records.append_column("topic", records["_topic"]), ("topic",), "records")
    elif aggregate.name == "rejects_by_reason":
        found = _count(_with_table(judged.rejects, judged.table), ("table", "reason"), "rejects")
    else:
        found = _count(_with_table(judged.late, judged.table), ("table",), "late")
    return found if found.num_rows else None


def combine(aggregate: Aggregate, parts: list[pa.Table]) -> pa.Table:
    """Deltas of several micro-batches as one row per window and key (sums added)."""
    table = pa.concat_tables(parts)
    group = ["window_start", "window_end", *aggregate.keys]
    measures = [aggregate.measure, *aggregate.sums]
    summed = table.group_by(group, use_threads=False).aggregate([(m, "sum") for m in measures])
    summed = summed.rename_columns(
        [
            c.removesuffix("_sum")
            if c.endswith("_sum") and c.removesuffix("_sum") in measures
            else c
            for c in summed.column_names
        ]
    )
    return summed.select(list(aggregate.columns))


def _with_table(table: pa.Table, name: str) -> pa.Table:
    if "table" in table.column_names:
        table = table.drop_columns(["table"])
    return table.append_column("table", pa.array([name] * table.num_rows, pa.string()))
