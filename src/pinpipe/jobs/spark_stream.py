"""Kafka → Spark Structured Streaming → ``tables/stream/<table>``, exactly once.

One streaming query subscribes to every topic that feeds a table (``subscribePattern``). Each
micro-batch is split by table, turned into the same raw relation the lake lines give (value
fields as text, ``_topic``/``_partition``/``_offset``/``_timestamp`` from the Kafka columns,
a value that is not a JSON object kept under ``_raw``), cleaned by the shared Ibis definition,
and written with delta-spark: rejects to ``tables/quarantine/<table>`` (stage ``stream``)
first, then rows to the stream table. Both writes carry Delta's ``txnAppId``/``txnVersion``
(the micro-batch id), so a micro-batch that Spark replays from its checkpoint after a crash
is skipped by Delta instead of being appended twice. The checkpoint lives under
``<lake>/_checkpoints/spark-stream``; deleting it starts a new app id (and a new read).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pinpipe.engines.base import LINE_FIELD, RAW_META
from pinpipe.engines.spark import SparkEngine, json_schema
from pinpipe.jobs.stream import StreamStats
from pinpipe.lake import Lake
from pinpipe.settings import SparkSettings, StreamSettings
from pinpipe.transform.cleaning import clean
from pinpipe.transform.schema import RAW_TEXT_FIELD, TABLES, TableName
from pinpipe.transform.staging import raw_fields

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

APP_PREFIX = "pinpipe-spark-stream"


def _table_filter(table: TableName) -> Column:
    from pyspark.sql import functions as F

    return F.col("topic").rlike(f"[._-]{table}$")


def kafka_raw(table: TableName, records: DataFrame) -> DataFrame:
    """The raw relation (engines/base.py ``raw_schema``) of Kafka source rows.

    Mirrors the sink's lake line: a JSON string holding a JSON object is unwrapped once, and
    ``_line`` is the value's object plus the four metadata fields, as the quarantine keeps it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    text = F.col("value").cast("string")
    # Wrapping the value in an object lets from_json render it as text: an object as its
    # JSON, a JSON string as its content (the second encoding of a twice-encoded record).
    wrapped = F.from_json(
        F.concat(F.lit('{"v":'), text, F.lit("}")),
        StructType([StructField("v", StringType())]),
        {"mode": "PERMISSIVE"},
    )["v"]
    meta = F.struct(
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.unix_millis(F.col("timestamp")).alias("_timestamp"),
    )
    staged = records.select(
        text.alias("v"),
        F.when(F.ltrim(wrapped).startswith("{"), wrapped).alias("obj"),
        meta.alias("meta"),
    )
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_pinpipe_corrupt"}
    doc = F.from_json(F.col("obj"), json_schema(table), options)
    parsed = staged.select("v", "obj", "meta", doc.alias("doc"))
    is_object = F.coalesce(
        F.col("doc").isNotNull() & F.col("doc")["_pinpipe_corrupt"].isNull(), F.lit(False)
    )
    meta_fields = F.expr("substring(to_json(meta), 2)")  # '"_topic":...}' without '{'
    body = F.regexp_replace(F.col("obj"), r"\}\s*$", "")
    raw_text = F.regexp_replace(
        F.expr("substring(to_json(named_struct('r', coalesce(v, ''))), 6)"), r"\}$", ""
    )
    line = F.when(
        is_object,
        F.concat(body, F.when(F.trim(body) == "{", F.lit("")).otherwise(F.lit(",")), meta_fields),
    ).otherwise(F.concat(F.lit('{"_raw":'), raw_text, F.lit(","), meta_fields))
    cols: list[Column] = []
    for name in RAW_META:
        if name == LINE_FIELD:
            col = line
        elif name == RAW_TEXT_FIELD:
            col = F.when(is_object, F.col("doc")[name]).otherwise(F.coalesce(F.col("v"), F.lit("")))
        else:
            col = F.col("meta")[name]
        cols.append(col.alias(name))
    cols.extend(F.col("doc")[name].alias(name) for name in raw_fields(table))
    return parsed.select(*cols)


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
        self.checkpoint = lake.root / "_checkpoints" / "spark-stream"
        self.stats = StreamStats()
        self._app_id = ""

    def _stable_app_id(self) -> str:
        """An app id tied to this checkpoint: a new checkpoint restarts batch ids at 0."""
        marker = self.checkpoint / "pinpipe-app-id"
        if not marker.exists():
            self.checkpoint.mkdir(parents=True, exist_ok=True)
            marker.write_text(uuid.uuid4().hex)
        return f"{APP_PREFIX}:{marker.read_text().strip()}"

    def source(self) -> DataFrame:
        reader = (
            self._engine.session.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self._bootstrap)
            .option("subscribePattern", self._spark_settings.topic_pattern)
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
            .option("checkpointLocation", str(self.checkpoint / "query"))
            .foreachBatch(self._write_batch)
        )
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(
                processingTime=f"{self._settings.trigger_interval_ms} milliseconds"
            )
        return writer.start()

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Run until ``stop`` is set (or, with ``once``, until what Kafka holds is written)."""
        query = self.start(available_now=once)
        try:
            while query.isActive and not stop.is_set():
                query.awaitTermination(1)
        finally:
            if query.isActive:
                query.stop()
        if query.exception() is not None:
            raise RuntimeError(f"the Spark stream query failed: {query.exception()}")

    def _write_batch(self, records: DataFrame, batch_id: int) -> None:
        """Clean one micro-batch per table and append it, idempotently per batch id."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        records = records.persist(StorageLevel.MEMORY_AND_DISK)
        # foreachBatch hands over a DataFrame of a cloned session: views must live there.
        engine = SparkEngine(session=records.sparkSession)
        try:
            for table in TABLES:
                part = records.filter(_table_filter(table))
                raw = engine.view(kafka_raw(table, part))
                cleaned = clean(table, raw)
                rows = engine.dataframe(cleaned.rows).persist()
                rejects = engine.dataframe(cleaned.rejects).withColumn("stage", F.lit("stream"))
                n_rejects = self._append(self._lake.table("quarantine", table), rejects, batch_id)
                n_rows = rows.count()
                if n_rows:
                    self._append(self._lake.table("stream", table), rows, batch_id)
                    stamps = rows.select("_timestamp").toArrow()["_timestamp"].to_pylist()
                    now = time.time() * 1000
                    if len(self.stats.latencies_ms) < 1_000_000:
                        self.stats.latencies_ms.extend(now - s for s in stamps)
                rows.unpersist()
                self.stats.rows += n_rows
                self.stats.rejects += n_rejects
            self.stats.records += records.count()
            self.stats.batches += 1
            log.info("spark stream batch %d written", batch_id)
        finally:
            records.unpersist()

    def _append(self, path: Path, frame: DataFrame, batch_id: int) -> int:
        """Append with Delta's idempotent-write options; returns the rows offered."""
        n = frame.count()
        if n == 0:
            return 0
        (
            frame.write.format("delta")
            .mode("append")
            .option("txnAppId", self._app_id)
            .option("txnVersion", str(batch_id))
            .save(str(path))
        )
        return n
