"""The scale profile end to end: HTTP → Kafka → sink to S3 → Airflow → Spark over s3a.

Records of two past UTC days go over HTTP (Kafka REST v2) to a real broker; the lake sink
writes them to a bucket of s3proxy; ``airflow dags test pinpipe_daily`` runs each day with
the ``pinpipe_spark`` Connection set, so its batch, results and maintenance tasks are
spark-submitted (local[2]) and Spark reads and writes the lake through s3a. The nine
analytics it leaves on S3 must equal those of the embedded default (the embedded log, a
local lake, DuckDB) over the same records.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import TABLES, Lake, open_lake
from pinpipe.lake.raw_index import DAY_MS
from pinpipe.log import open_log
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.serve.query import run_queries
from pinpipe.settings import Settings, SinkSettings, load_settings
from pinpipe.sink.lake_sink import LakeSink
from pinpipe.transform.queries import QUERIES
from tests.engines.spark.test_parity import assert_same_rows
from tests.helpers import DAYS, log_at, serving
from tests.infra.airflow_env import init_home, run, variables
from tests.infra.s3_server import S3Server

pytestmark = pytest.mark.slow

KAFKA_JSON = "application/vnd.kafka.json.v2+json"
DAG_ID = "pinpipe_daily"
TASKS = ("wait_for_raw_day", "batch", "quality_gate", "results", "maintain")
ROWS_OF_DAY = {DAYS[0]: range(0, 60), DAYS[1]: range(40, 100)}
"""Day two brings new inds and newer versions of some of day one's."""


@pytest.fixture
def s3proxy(s3_server: S3Server) -> Iterator[S3Server]:
    """s3proxy, the server whose conditional PUTs delta-rs's commits rely on, in this env."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_server.env().items():
            patch.setenv(key, value)
        yield s3_server


def _post_days(settings: Settings, source: SourceTables, prefix: str) -> int:
    """Each day's rows over HTTP to a real ingest server on the Kafka log; records sent."""
    sent = 0
    with open_log(settings) as log, serving(settings, log) as url:
        for day, rows in ROWS_OF_DAY.items():
            log_at(log, day, 12)  # the log's injectable clock stamps the CreateTime
            docs = [payloads(source, row) for row in rows]
            for i, table in enumerate(("pin", "geo", "user")):
                body = {"records": [{"value": doc[i]} for doc in docs]}
                answer = requests.post(
                    f"{url}/topics/{prefix}.{table}",
                    data=json.dumps(body),
                    headers={"Content-Type": KAFKA_JSON},
                    timeout=60,
                )
                assert answer.status_code == 200, answer.text
                assert all(o["error_code"] is None for o in answer.json()["offsets"]), answer.text
                sent += len(docs)
    return sent


def _embedded_answers(tmp_path: Path, source: SourceTables, prefix: str) -> dict[str, Any]:
    """The embedded default over the same records: embedded log, local lake, DuckDB."""
    settings = load_settings(home=tmp_path / "embedded")
    lake = open_lake(settings)
    with EmbeddedLog(settings.log_path, fsync=False) as log:
        for day, rows in ROWS_OF_DAY.items():
            log_at(log, day, 12)
            docs = [payloads(source, row) for row in rows]
            for i, table in enumerate(("pin", "geo", "user")):
                log.produce(
                    f"{prefix}.{table}", [ProduceRecord(json.dumps(d[i]).encode()) for d in docs]
                )
        LakeSink(log, lake, SinkSettings(rotate_interval_ms=DAY_MS)).run(
            threading.Event(), once=True
        )
    duck = DuckDBEngine(threads=2)
    try:
        run_batch(lake, duck)
        return {
            n: _sorted(t.to_pylist()) for n, t in run_queries(lake, duck, list(QUERIES)).items()
        }
    finally:
        duck.close()


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in an order both engines agree on (floats, which may differ in the last bit, aside)."""
    return sorted(
        rows,
        key=lambda r: json.dumps(
            {k: v for k, v in r.items() if not isinstance(v, float)}, sort_keys=True, default=str
        ),
    )


def _task_states(airflow_home: Path) -> dict[tuple[str, str], str]:
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        found = db.execute(
            "SELECT substr(r.logical_date, 1, 10), t.task_id, t.state FROM task_instance t "
            "JOIN dag_run r ON t.dag_id = r.dag_id AND t.run_id = r.run_id WHERE t.dag_id = ?",
            (DAG_ID,),
        ).fetchall()
    return {(day, task): state for day, task, state in found}


def _on_s3(lake: Lake, uri: str) -> list[dict[str, Any]]:
    table = DeltaTable(uri, storage_options=lake.storage.delta_options() or None)
    return _sorted(table.to_pyarrow_table().to_pylist())


@pytest.mark.timeout(1800)  # ~4 min quiet; two `dags test` runs of up to 900 s each if slow
@pytest.mark.parametrize("s3_server", ["s3proxy"], indirect=True)
def test_http_kafka_s3_airflow_spark_gives_the_embedded_runs_analytics(
    kafka_bootstrap: str,
    s3proxy: S3Server,
    airflow_venv: Path,
    source: SourceTables,
    tmp_path: Path,
) -> None:
    prefix = f"scale{uuid.uuid4().hex[:8]}"
    bucket = f"scale-{uuid.uuid4().hex[:12]}"
    s3proxy.create_bucket(bucket)
    pinpipe_env = {  # the scale profile's settings, for this process and Airflow's tasks
        "PINPIPE_LOG__BACKEND": "kafka",
        "PINPIPE_LOG__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PINPIPE_LOG__TOPIC_FILTER": f"^{prefix}[.]",  # the broker is shared by the session
        "PINPIPE_SPARK__DRIVER_MEMORY": "1g",
        "PINPIPE_SPARK__SHUFFLE_PARTITIONS": "2",
    }
    home, root = tmp_path / "pinpipe", f"s3://{bucket}/lake"
    overrides = {
        k.removeprefix("PINPIPE_").lower().replace("__", "."): v for k, v in pinpipe_env.items()
    }
    settings = load_settings(home=home, **overrides, **{"lake.root": root, "ingest.port": 0})

    sent = _post_days(settings, source, prefix)
    assert sent == 3 * sum(len(rows) for rows in ROWS_OF_DAY.values())
    lake = open_lake(settings)
    with open_log(settings) as log:
        sink = LakeSink(log, lake, SinkSettings(rotate_interval_ms=DAY_MS))
        sink.run(threading.Event(), once=True)
    raw = [f for f in lake.raw_files() if "/" + prefix in f.uri]
    assert raw and all(f.uri.startswith(f"s3://{bucket}/lake/raw/topics/{prefix}.") for f in raw)

    env = init_home(
        tmp_path / "airflow",
        **variables(pinpipe_home=str(home), pinpipe_lake=root),
        AIRFLOW_CONN_PINPIPE_SPARK=json.dumps({"conn_type": "spark", "host": "local[2]"}),
        **pinpipe_env,
    )
    days = [d.isoformat() for d in ROWS_OF_DAY]
    for day in days:
        started = time.monotonic()
        done = run(["dags", "test", DAG_ID, day], env, timeout=900)
        output = f"{done.stdout[-5000:]}\n--- stderr ---\n{done.stderr[-5000:]}"
        assert done.returncode == 0, output
        submitted = done.stdout.count("--engine spark submit")
        assert submitted >= 3, "batch, results and maintain were not handed to spark-submit"
        print(
            f"airflow dags test {DAG_ID} {day} on Spark over s3a: {time.monotonic() - started:.0f}s"
        )
    states = _task_states(tmp_path / "airflow")
    assert states == {(day, task): "success" for day in days for task in TASKS}

    expected = _embedded_answers(tmp_path, source, prefix)
    for name in QUERIES:
        assert_same_rows(_on_s3(lake, lake.result(name)), expected[name])
    for table in TABLES:  # the merged days hold every ind once
        inds = [r["ind"] for r in _on_s3(lake, lake.table("batch", table))]
        assert len(inds) == len(set(inds)) == 100, table
