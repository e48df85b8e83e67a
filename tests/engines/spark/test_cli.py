"""The Spark commands' choices: the engines offered and the stream job's need for Kafka."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pinpipe.cli.main import app
from pinpipe.engines import ENGINES, get_engine
from pinpipe.engines.spark import SparkEngine
from pinpipe.errors import ConfigError


def test_spark_stream_refuses_the_embedded_log_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINPIPE_HOME", str(tmp_path))
    monkeypatch.setenv("PINPIPE_LOG__BACKEND", "embedded")
    result = CliRunner().invoke(app, ["stream", "--engine", "spark", "--once"])
    assert result.exit_code != 0
    assert "PINPIPE_LOG__BACKEND=kafka" in str(result.exception) + result.output


def test_get_engine_knows_spark_and_refuses_unknown_names(spark_engine: SparkEngine) -> None:
    assert ENGINES == ("duckdb", "spark")
    assert get_engine("spark").session is spark_engine.session  # one session per process
    with pytest.raises(ConfigError, match="duckdb, spark"):
        get_engine("flink")


def test_spark_sql_refuses_jvm_calls_and_path_reads(spark_engine: SparkEngine) -> None:
    view = spark_engine.table(pa.table({"x": [1, 2]}))
    assert spark_engine.sql("SELECT sum(x) AS s FROM t", {"t": view}).to_pylist() == [{"s": 3}]
    for query in (
        "SELECT reflect('java.lang.System', 'exit', 0)",
        "SELECT * FROM parquet.`/etc`",
    ):
        with pytest.raises(ConfigError, match="not permitted"):
            spark_engine.sql(query, {"t": view})


def test_spark_on_other_object_storage_names_the_way_out(spark_engine: SparkEngine) -> None:
    with pytest.raises(ConfigError, match="--engine duckdb"):
        spark_engine.read_delta("gs://bucket/lake/tables/batch/pin")
    with pytest.raises(ConfigError, match="s3a"):
        spark_engine.raw_from_files("pin", ["gs://bucket/lake/raw/topics/a.pin/x.json"])
