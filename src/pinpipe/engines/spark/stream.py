"""Kafka → Spark Structured Streaming → ``tables/stream/<table>``, exactly once.

One streaming query subscribes to every topic that feeds a table (``subscribePattern``). Each
micro-batch is turned into lake lines by the same encoder the sink uses (``pinpipe.lake.line``,
on the driver), so Spark parses exactly what the other engines parse; the shared Ibis
definition cleans them, and delta-spark writes rejects to ``tables/quarantine/<table>`` (stage
``stream``) first, then rows to the stream table. Both writes carry Delta's
``txnAppId``/``txnVersion`` (the micro-batch id), so a micro-batch that Spark replays from its
checkpoint after a crash is skipped by Delta instead of being appended twice. The checkpoint
lives under ``<lake>/_checkpoints/spark-stream``; deleting it starts a new app id (and a new
read). On an ``s3://`` lake it stays with the lake (Spark writes it through s3a), so a driver
restarted on another machine resumes where the last one stopped instead of reading anew.

The real-time windows (``engines/realtime.py``, the same definitions as the embedded job) are
counted from each micro-batch's Arrow on the driver and merged at its end, before Spark's
checkpoint moves past it; their offsets drop a replayed micro-batch record by record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from pinpipe.engines.base import StreamStats, WindowsMerged
from pinpipe.engines.realtime import RealtimeWindows
from pinpipe.engines.spark.engine import SparkEngine
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TOPIC_PATTERN, TableName, encode, table_of_topic
from pinpipe.lake.storage import Storage, join
from pinpipe.settings import SparkSettings, StreamSettings
from pinpipe.transform.cleaning import clean
from pinpipe.transform.realtime import META, META_SCHEMA, MicroBatch

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

APP_PREFIX = "pinpipe-spark-stream"


def kafka_lines(
    records: DataFrame,
) -> tuple[dict[TableName, list[bytes]], dict[TableName, pa.Table]]:
    """The lake lines of one micro-batch's Kafka rows by the table each feeds, and where
    each record sits in the log (``META`` columns, for the real-time windows).

    Encoded on the driver with the sink's encoder: a micro-batch is small (at most
    ``stream.max_batch`` records), and Python workers would cost a process hop per task.
    """
    from pyspark.sql import functions as F

    source = records.select(
        "topic", "partition", "offset", F.unix_millis("timestamp").alias("ts"), "value"
    ).toArrow()
    cols = [source[c].to_pylist() for c in ("topic", "partition", "offset", "ts", "value")]
    lines: dict[TableName, list[bytes]] = {t: [] for t in TABLES}
    meta: dict[TableName, list[tuple[str, int, int, int]]] = {t: [] for t in TABLES}
    for topic, partition, offset, ts, value in zip(*cols, strict=True):
        table = table_of_topic(topic)
        if table is not None:
            lines[table].append(encode(topic, partition, offset, ts, value))
            meta[table].append((topic, partition, offset, ts))
    positions = {
        t: pa.Table.from_pylist([dict(zip(META, m, strict=True)) for m in rows], META_SCHEMA)
        for t, rows in meta.items()
    }
    return lines, positions


class SparkStreamJob:
    """The stream job on Spark: one streaming query, one foreachBatch writer."""

    def __init__(
        self,
        engine: SparkEngine,
        lake: Lake,
        bootstrap_servers: str,
        settings: StreamSettings,
        spark: SparkSettings | None = None,
    ) -> None:
        self._engine = engine
        self._lake = lake
        self._bootstrap = bootstrap_servers
        self._settings = settings
        self._spark_settings = spark or SparkSettings()
        self.checkpoint = lake.checkpoint("spark-stream")
        """The checkpoint's URI (``s3://`` on an S3 lake; Spark writes it at its s3a name)."""
        self.stats = StreamStats()
        self._app_id = ""
        self._windows = (
            RealtimeWindows(lake, engine.tables, settings) if settings.realtime else None
        )

    def _stable_app_id(self) -> str:
        """An app id tied to this checkpoint: a new checkpoint restarts batch ids at 0."""
        storage = Storage.for_uri(self.checkpoint)
        marker = join(self.checkpoint, "pinpipe-app-id")
        if not storage.exists(marker):
            storage.write_atomically(marker, uuid.uuid4().hex.encode())
        return f"{APP_PREFIX}:{storage.read_bytes(marker).decode().strip()}"

    def source(self) -> DataFrame:
        reader = (
            self._engine.session.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self._bootstrap)
            .option("subscribePattern", self._spark_settings.topic_pattern or TOPIC_PATTERN)
            .option("startingOffsets", self._spark_settings.starting_offsets)
            .option("maxOffsetsPerTrigger", str(self._settings.max_batch))
            .option("failOnDataLoss", "true")
        )
        return reader.load()

    def start(self, *, available_now: bool = False) -> StreamingQuery:
        """Start the query: every trigger interval, or (``available_now``) drain and stop."""
        self._app_id = self._stable_app_id()
        writer = (
            self.source()
            .writeStream.queryName("pinpipe_stream")
            .option("checkpointLocation", self._engine.path(join(self.checkpoint, "query")))
            .foreachBatch(self._write_batch)
        )
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(
                processingTime=f"{self._settings.trigger_interval_ms} milliseconds"
            )
        return writer.start()

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        beat: Callable[[], None] | None = None,
    ) -> None:
        """Run until ``stop`` is set (or, with ``once``, until what Kafka holds is written)."""
        query = self.start(available_now=once)
        try:
            while query.isActive and not stop.is_set():
                query.awaitTermination(1)
                if beat is not None and query.isActive:
                    beat()
        finally:
            if query.isActive:
                query.stop()
        if query.exception() is not None:
            raise RuntimeError(f"the Spark stream query failed: {query.exception()}")

    def _write_batch(self, records: DataFrame, batch_id: int) -> None:
        """Clean one micro-batch per table and append it, idempotently per batch id."""
        from pyspark.sql import functions as F

        lines, positions = kafka_lines(records)
        # foreachBatch hands over a DataFrame of a cloned session: views must live there.
        engine = SparkEngine(session=records.sparkSession)
        for table in TABLES:
            if lines[table]:
                cleaned = clean(table, engine.raw_from_lines(table, lines[table]))
                rows = engine.dataframe(cleaned.rows).persist()
                rejects = engine.dataframe(cleaned.rejects).withColumn("stage", F.lit("stream"))
                if self._windows is not None:
                    self._windows.add(
                        MicroBatch(
                            table, positions[table], _arrow(rows, table), _arrow(rejects, table)
                        )
                    )
                n_rejects = self._append(self._lake.quarantine(table, "stream"), rejects, batch_id)
                n_rows = rows.count()
                if n_rows:
                    self._append(self._lake.table("stream", table), rows, batch_id)
                    stamps = rows.select("_timestamp").toArrow()["_timestamp"].to_pylist()
                    self.stats.observe(stamps, time.time() * 1000)
                rows.unpersist()
                self.stats.rows += n_rows
                self.stats.rejects += n_rejects
        if self._windows is not None:
            self._windows.flush()  # before Spark's checkpoint moves past this micro-batch
        self.stats.records += sum(len(v) for v in lines.values())
        self.stats.batches += 1
        log.info("spark stream batch %d written", batch_id)

    def on_windows_merged(self, callback: WindowsMerged) -> None:
        if self._windows is not None:
            self._windows.on_merged(callback)

    def reset(self) -> None:
        """Spark resumes from its checkpoint by itself; the windows reread their offsets."""
        if self._windows is not None:
            self._windows.reset()

    def _append(self, uri: str, frame: DataFrame, batch_id: int) -> int:
        """Append with Delta's idempotent-write options; returns the rows offered."""
        n = frame.count()
        if n == 0:
            return 0
        (
            frame.write.format("delta")
            .mode("append")
            .option("txnAppId", self._app_id)
            .option("txnVersion", str(batch_id))
            .save(self._engine.path(uri))
        )
        return n


_WINDOW_INPUTS = {"pin": ("category", "title"), "geo": ("country",), "user": ()}
"""What the windows need of a table's rows besides ``META`` (rejects: ``reason``)."""


def _arrow(frame: DataFrame, table: TableName) -> pa.Table:
    """The columns of ``frame`` the windows read, typed as the embedded job types them."""
    extra = ("reason",) if "reason" in frame.columns else _WINDOW_INPUTS[table]
    found = frame.select(*META, *extra).toArrow()
    return found.cast(pa.schema([*META_SCHEMA, *(found.schema.field(c) for c in extra)]))
