"""The real-time windows on Spark Structured Streaming equal the embedded job's, to the row.

The hand-counted fixture of ``tests/engines/test_realtime.py`` (out-of-order and late ingest
times, a reject) goes to a real broker with its CreateTimes; Spark reads it in micro-batches
of a few records, cut where Kafka cuts them, and must count what the embedded job counts.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from pinpipe.engines.spark import SparkEngine
from pinpipe.engines.spark.stream import SparkStreamJob
from pinpipe.lake import Lake
from pinpipe.log.kafka import KafkaLog
from pinpipe.settings import LogSettings, SparkSettings, StreamSettings
from tests.engines.test_realtime import MIN, assert_windows, produce_fixture

pytestmark = pytest.mark.slow


def test_spark_counts_the_windows_the_embedded_job_counts(
    kafka_bootstrap: str, spark_engine: SparkEngine, tmp_path: Path
) -> None:
    prefix = f"rt{uuid.uuid4().hex[:8]}"
    with KafkaLog(LogSettings(backend="kafka", bootstrap_servers=kafka_bootstrap)) as log:
        produce_fixture(log, prefix)
    lake = Lake.at(tmp_path / "lake")
    settings = StreamSettings(max_batch=3, allowed_lateness_ms=5 * MIN)
    spark = SparkSettings(topic_pattern=rf"{prefix}[.](pin|geo)")
    SparkStreamJob(spark_engine, lake, kafka_bootstrap, settings, spark).run(
        threading.Event(), once=True
    )
    assert_windows(lake, prefix)
