"""The Spark engine on an ``s3://`` lake, through s3a, against real S3-protocol servers.

The dirty raw zone of the parity test goes to a bucket of each server (moto, s3proxy); the
Spark batch job over it must give the tables and results DuckDB gives on a local copy, and
delta-rs must read what Spark wrote at the ``s3://`` URIs (watermarks included). Day merges
(delta-spark MERGE) on Spark over S3 must give what DuckDB's give on a local copy. Endpoint
and credentials come only from the standard AWS environment variables, and no key ends up in
Spark's configuration.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.spark import SparkEngine
from pinpipe.engines.spark.session import S3A_CREDENTIALS, s3a_conf, spark_uri
from pinpipe.engines.spark.stream import SparkStreamJob
from pinpipe.errors import ConfigError
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import TABLES, Lake, open_lake
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.lake.line import TableName
from pinpipe.lake.storage import S3Options, join
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.log.kafka import KafkaLog
from pinpipe.serve.query import run_queries
from pinpipe.settings import SparkSettings, StreamSettings, load_settings
from pinpipe.transform.queries import QUERIES
from tests.engines.spark.raw_fixture import build_raw_zone
from tests.engines.spark.test_parity import assert_same_rows
from tests.helpers import DAYS, land_three_days, produce_rows
from tests.infra.s3_server import S3Server

ZONES: tuple[tuple[str, list[str]], ...] = (
    ("batch", ["ind"]),
    ("quarantine", ["_topic", "_partition", "_offset"]),
)
"""The batch stage's tables: its rows and its rejects, with the order to compare them in."""


def _uri(lake: Lake, zone: str, table: TableName) -> str:
    return lake.quarantine(table, "batch") if zone == "quarantine" else lake.table("batch", table)


@pytest.fixture(scope="module")
def aws_env(s3_server: S3Server) -> Iterator[S3Server]:
    """The server's AWS variables in this process's environment (after Spark started)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in s3_server.env().items():
            patch.setenv(key, value)
        yield s3_server


def _s3_lake(server: S3Server, home: Path) -> Lake:
    bucket = f"spark-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return open_lake(load_settings(home=home, **{"lake.root": f"s3://{bucket}/pinpipe"}))


def _upload(local: Lake, remote: Lake) -> None:
    """Every file of the local lake (raw zone, day index) to the same keys under ``remote``."""
    for entry in local.storage.list_files(local.root):
        key = entry.uri.removeprefix(local.root + "/")
        remote.storage.write_atomically(join(remote.root, key), Path(entry.uri).read_bytes())


def _rows(lake: Lake, uri: str, order: list[str]) -> list[dict[str, object]]:
    """A table's rows through delta-rs at its own URI (``s3://`` on the S3 lake)."""
    table = DeltaTable(uri, storage_options=lake.storage.delta_options() or None)
    return table.to_pyarrow_table().sort_by([(c, "ascending") for c in order]).to_pylist()


def _keys(server: S3Server, lake: Lake) -> list[str]:
    bucket, _, root = lake.root.removeprefix("s3://").partition("/")
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


@dataclass
class Runs:
    server: S3Server
    local: Lake
    s3: Lake


@pytest.fixture(scope="module")
def runs(
    aws_env: S3Server,
    spark_engine: SparkEngine,
    source: SourceTables,
    tmp_path_factory: pytest.TempPathFactory,
) -> Runs:
    """One dirty raw zone: batch on DuckDB locally, and on Spark in a bucket of the server."""
    work = tmp_path_factory.mktemp(f"spark-s3-{aws_env.kind}")
    local = build_raw_zone(work / "local", source)
    s3 = _s3_lake(aws_env, work)
    _upload(local, s3)
    duck = DuckDBEngine(threads=2)
    try:
        run_batch(local, duck)
    finally:
        duck.close()
    run_batch(s3, spark_engine)
    return Runs(aws_env, local, s3)


@pytest.mark.slow
def test_spark_batch_on_s3_gives_duckdbs_tables_and_results(runs: Runs) -> None:
    for zone, order in ZONES:
        for table in TABLES:
            expected = _rows(runs.local, _uri(runs.local, zone, table), order)
            got = _rows(runs.s3, _uri(runs.s3, zone, table), order)
            assert expected, (zone, table)
            assert_same_rows(expected, got)
    for name in QUERIES:
        expected = DeltaTable(runs.local.result(name)).to_pyarrow_table()
        got = DeltaTable(
            runs.s3.result(name), storage_options=runs.s3.storage.delta_options()
        ).to_pyarrow_table()
        assert expected.num_rows > 0 and expected.column_names == got.column_names, name
        assert_same_rows(expected.to_pylist(), got.to_pylist())


@pytest.mark.slow
def test_delta_rs_reads_sparks_tables_at_the_s3_uris(runs: Runs) -> None:
    """Spark wrote at s3a://; delta-rs (watermarks, schemas, DuckDB's queries) reads s3://."""
    store = DeltaRsStore()
    for table in TABLES:
        local, s3 = runs.local.table("batch", table), runs.s3.table("batch", table)
        assert s3.startswith("s3://")
        assert store.watermark(local) and store.watermark(s3) == store.watermark(local)
        schema = DeltaTable(s3, storage_options=runs.s3.storage.delta_options()).schema()
        assert [f.name for f in schema.fields] == [
            f.name for f in DeltaTable(local).schema().fields
        ]
    duck = DuckDBEngine(threads=2)
    try:
        answers = run_queries(runs.s3, duck, list(QUERIES), "batch")
    finally:
        duck.close()
    for name, answer in answers.items():
        expected = DeltaTable(runs.local.result(name)).to_pyarrow_table()
        assert_same_rows(expected.to_pylist(), answer.to_pylist())
    keys = _keys(runs.server, runs.s3)
    assert not [k for k in keys if k.endswith("_$folder$")]  # no Hadoop-2-style markers
    assert any("/tables/batch/pin/_delta_log/00000000000000000000.json" in k for k in keys)


@pytest.mark.slow
def test_s3a_is_set_per_bucket_from_the_lake_and_keys_stay_out(
    runs: Runs, spark_engine: SparkEngine
) -> None:
    bucket = runs.s3.root.removeprefix("s3://").split("/")[0]
    context = spark_engine.session.sparkContext
    hadoop = context._jsc.hadoopConfiguration()
    prefix = f"fs.s3a.bucket.{bucket}."
    assert hadoop.get(prefix + "endpoint") == runs.server.endpoint
    assert hadoop.get(prefix + "path.style.access") == "true"
    assert hadoop.get(prefix + "connection.ssl.enabled") == "false"
    assert hadoop.get(prefix + "endpoint.region") == runs.server.region
    assert hadoop.get("fs.s3a.endpoint") != runs.server.endpoint  # only this bucket's
    jvm = context._jvm
    assert jvm is not None
    writer = jvm.java.io.StringWriter()
    hadoop.writeXml(writer)
    spark_conf = str(context.getConf().getAll())
    for secret in (runs.server.secret_key, runs.server.access_key):
        assert secret not in writer.toString() and secret not in spark_conf


@pytest.mark.slow
def test_spark_day_merges_on_s3_equal_duckdbs(
    aws_env: S3Server, spark_engine: SparkEngine, source: SourceTables, tmp_path: Path
) -> None:
    """The last day first (new tables), then the first day (a MERGE into them), as on DuckDB."""
    local = Lake.at(tmp_path / "local")
    with EmbeddedLog(tmp_path / "log.db", fsync=False) as log:
        land_three_days(log, local, source)
    days = _s3_lake(aws_env, tmp_path)
    _upload(local, days)
    duck = DuckDBEngine(threads=2)
    try:
        for day in (DAYS[2], DAYS[0]):
            run_batch(local, duck, day=day, results=False)
            # the results are the parity run's to check
            assert run_batch(days, spark_engine, day=day, results=False).day == day
    finally:
        duck.close()
    store = DeltaRsStore()
    for table in TABLES:
        for zone, order in ZONES:
            merged = _rows(days, _uri(days, zone, table), order)
            assert merged == _rows(local, _uri(local, zone, table), order), (zone, table)
            assert merged or zone == "quarantine", table  # the one reject lands on day 1
        uri = days.table("batch", table)
        assert store.watermark(uri) == store.watermark(local.table("batch", table))
        assert store.coverage(uri) == store.coverage(local.table("batch", table))


@pytest.mark.slow
def test_structured_streaming_writes_its_tables_and_checkpoint_on_s3(
    aws_env: S3Server,
    spark_engine: SparkEngine,
    kafka_bootstrap: str,
    source: SourceTables,
    tmp_path: Path,
) -> None:
    """Kafka → Spark → Delta on S3, the checkpoint beside the tables: a rerun appends nothing."""
    prefix = f"s3{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        home=tmp_path, **{"log.backend": "kafka", "log.bootstrap_servers": kafka_bootstrap}
    )
    log = KafkaLog(settings.log)
    try:
        for table in TABLES:
            log.create_topic(f"{prefix}.{table}", 1)
        produce_rows(log, source, list(range(30)), prefix=prefix)
    finally:
        log.close()
    lake = _s3_lake(aws_env, tmp_path)
    spark = SparkSettings(topic_pattern=rf"{prefix}\.(pin|geo|user)")
    for _ in range(2):  # the second run resumes from the checkpoint on S3
        job = SparkStreamJob(spark_engine, lake, kafka_bootstrap, StreamSettings(), spark)
        job.run(threading.Event(), once=True)
        for table in TABLES:
            assert len(_rows(lake, lake.table("stream", table), ["ind"])) == 30, table
    assert job.checkpoint.startswith("s3://") and job.stats.records == 0
    keys = _keys(aws_env, lake)
    checkpoint = lake.checkpoint("spark-stream").split("/", 3)[3]
    assert f"{checkpoint}/pinpipe-app-id" in keys
    assert any(k.startswith(f"{checkpoint}/query/offsets/") for k in keys)


# -- the mapping itself (no Spark, no server) ---------------------------------------------


@pytest.mark.parametrize(
    ("uri", "spark"),
    [
        ("s3://b/lake/tables/batch/pin", "s3a://b/lake/tables/batch/pin"),
        ("s3a://b/k", "s3a://b/k"),
        ("/data/lake/raw/x.json", "/data/lake/raw/x.json"),
        ("file:///data/lake", "file:///data/lake"),
    ],
)
def test_spark_reaches_s3_as_s3a_and_local_paths_unchanged(uri: str, spark: str) -> None:
    assert spark_uri(uri) == spark


def test_other_object_stores_are_refused_with_the_way_out() -> None:
    with pytest.raises(ConfigError, match=r"gs://b/x.*--engine duckdb"):
        spark_uri("gs://b/x")


def test_s3a_options_follow_the_lakes_s3_options() -> None:
    local = s3a_conf(S3Options("http://127.0.0.1:9000", "eu-west-1", True, 3))
    assert local == {
        "endpoint": "http://127.0.0.1:9000",
        "endpoint.region": "eu-west-1",
        "path.style.access": "true",
        "connection.ssl.enabled": "false",
        "attempts.maximum": "3",
        "aws.credentials.provider": S3A_CREDENTIALS,
    }
    aws = s3a_conf(S3Options(region="us-east-2"))
    assert "endpoint" not in aws and aws["path.style.access"] == "false"
