"""HTTP → Kafka → Spark Structured Streaming → Delta → queries, on a real broker.

``pinpipe serve`` runs on the Kafka backend; the emulator posts through both doors; the Spark
stream job drains the topics into the stream tables, which the serving layer (DuckDB through
delta-rs) and Spark both query. A second run over the same checkpoint appends nothing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.poster import run
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.spark import SparkEngine
from pinpipe.engines.spark.stream import SparkStreamJob
from pinpipe.lake import TABLES, Lake
from pinpipe.lake.line import META_COLUMNS
from pinpipe.serve.query import run_queries
from pinpipe.settings import SparkSettings, StreamSettings
from pinpipe.transform.queries import QUERIES
from pinpipe.transform.schema import CLEAN_COLUMNS
from tests.fixtures import Spawn
from tests.helpers import wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow


def _serve(spawn: Spawn, bootstrap: str, port: int) -> subprocess.Popen[bytes]:
    env = {"PINPIPE_LOG__BACKEND": "kafka", "PINPIPE_LOG__BOOTSTRAP_SERVERS": bootstrap}
    proc = spawn("serve", "--port", str(port), env=env)
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def _rows(path: str) -> list[dict[str, object]]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def test_http_to_kafka_to_structured_streaming_to_delta_to_queries(
    kafka_bootstrap: str, spark_engine: SparkEngine, tmp_path: Path, spawn_pinpipe: Spawn
) -> None:
    prefix = f"spark{uuid.uuid4().hex[:8]}"
    port = free_port()
    server = _serve(spawn_pinpipe, kafka_bootstrap, port)
    url = f"http://127.0.0.1:{port}"
    try:
        stats = run(generate(500, seed=11), mode="both", count=40, seed=3, url=url, prefix=prefix)
        bad = requests.post(
            f"{url}/topics/{prefix}.geo",
            data=json.dumps({"records": [{"value": {"ind": 1, "latitude": "north"}}]}),
            headers={"Content-Type": "application/vnd.kafka.json.v2+json"},
        )
        assert bad.status_code == 200, bad.text
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert stats.total_acknowledged == 240 and stats.failed == 0

    lake = Lake.at(tmp_path / "lake")
    settings = SparkSettings(topic_pattern=rf"{prefix}[._-](pin|geo|user)")
    job = SparkStreamJob(
        spark_engine, lake, kafka_bootstrap, StreamSettings(trigger_interval_ms=200), settings
    )
    job.run(threading.Event(), once=True)

    stream_pin = _rows(lake.table("stream", "pin"))
    assert len(stream_pin) == 80  # every acknowledged pin, from both doors, once
    assert {r["_topic"] for r in stream_pin} == {f"{prefix}.pin", f"streaming-{prefix}-pin"}
    for table in TABLES:
        schema = DeltaTable(lake.table("stream", table)).schema()
        assert [f.name for f in schema.fields] == [*CLEAN_COLUMNS[table], *META_COLUMNS]
    quarantined = _rows(lake.quarantine("geo", "stream"))
    assert [(q["reason"], q["stage"], q["_topic"]) for q in quarantined] == [
        ("latitude is not a number", "stream", f"{prefix}.geo")
    ]
    assert '"latitude":"north"' in str(quarantined[0]["raw"])

    # The serving layer reads Spark's stream tables with delta-rs; Spark gets the same answers.
    duck = DuckDBEngine(threads=2)
    try:
        served = run_queries(lake, duck, list(QUERIES), "stream")
    finally:
        duck.close()
    by_spark = run_queries(lake, spark_engine, list(QUERIES), "stream")
    assert sum(r["category_count"] for r in served["category_by_country"].to_pylist()) > 0
    for name in QUERIES:
        assert served[name].to_pylist() == by_spark[name].to_pylist(), name

    # Same checkpoint again: nothing new in Kafka, nothing appended.
    again = SparkStreamJob(
        spark_engine, lake, kafka_bootstrap, StreamSettings(trigger_interval_ms=200), settings
    )
    again.run(threading.Event(), once=True)
    assert len(_rows(lake.table("stream", "pin"))) == 80


def test_a_replayed_micro_batch_is_skipped_by_the_delta_transaction(
    spark_engine: SparkEngine, tmp_path: Path
) -> None:
    """Spark replays the last batch id after a crash; Delta's txn makes the second write a no-op."""
    lake = Lake.at(tmp_path / "lake")
    job = SparkStreamJob(spark_engine, lake, "unused:9092", StreamSettings())
    job._app_id = "pinpipe-spark-stream:test"
    frame = spark_engine.session.createDataFrame([(1, "a")], "ind int, title string")
    path = lake.table("stream", "pin")
    assert job._append(path, frame, 0) == 1
    job._append(path, frame, 0)  # the replay of batch 0
    job._append(path, frame, 1)
    assert len(_rows(path)) == 2
