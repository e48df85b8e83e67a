"""DuckDB and Spark run one transform definition: same raw zone in, same tables and results out.

One dirty raw zone (repeats, stream-door re-sends, bad values, a torn line) goes through the
batch job on each engine. The cleaned tables, the quarantine and the nine query results must
be identical (doubles within 1e-9); then each engine must read the other's Delta tables.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.spark import SparkEngine
from pinpipe.jobs.batch import BatchReport, run_batch
from pinpipe.lake import TABLES, Lake
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.serve.query import run_queries
from pinpipe.transform.queries import QUERIES
from tests.engines.spark.raw_fixture import build_raw_zone


@dataclass
class Runs:
    duck: Lake
    spark: Lake
    duck_report: BatchReport
    spark_report: BatchReport


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, source: SourceTables, spark_engine: SparkEngine
) -> Runs:
    work = tmp_path_factory.mktemp("parity")
    duck = build_raw_zone(work / "duck", source)
    spark = Lake.at(work / "spark" / "lake")
    shutil.copytree(Path(duck.root) / "raw", Path(spark.root) / "raw")
    engine = DuckDBEngine(threads=2)
    duck_report = run_batch(duck, engine)
    engine.close()
    spark_report = run_batch(spark, spark_engine)
    return Runs(duck, spark, duck_report, spark_report)


def delta_rows(path: str, order: list[str]) -> list[dict[str, object]]:
    """A Delta table's rows read with delta-rs, in a fixed order."""
    table = DeltaTable(path).to_pyarrow_table()
    return table.sort_by([(c, "ascending") for c in order]).to_pylist()


def assert_same_rows(left: list[dict[str, object]], right: list[dict[str, object]]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=0, abs_tol=1e-9), (key, a, b)
            else:
                assert x == y, (key, a, b)


def test_the_fixture_is_dirty_enough_to_mean_something(runs: Runs) -> None:
    report = runs.duck_report
    assert all(report.raw_records[t] > report.rows[t] for t in TABLES), "duplicates present"
    assert all(report.rejects[t] >= 3 for t in TABLES), "rejects present in every table"


@pytest.mark.parametrize("table", TABLES)
def test_cleaned_tables_are_identical(runs: Runs, table: str) -> None:
    duck = delta_rows(runs.duck.table("batch", table), ["ind"])  # type: ignore[arg-type]
    spark = delta_rows(runs.spark.table("batch", table), ["ind"])  # type: ignore[arg-type]
    assert duck, "the table is not empty"
    assert_same_rows(duck, spark)


@pytest.mark.parametrize("table", TABLES)
def test_quarantine_is_identical(runs: Runs, table: str) -> None:
    order = ["_topic", "_partition", "_offset"]
    duck = delta_rows(runs.duck.quarantine(table, "batch"), order)  # type: ignore[arg-type]
    spark = delta_rows(runs.spark.quarantine(table, "batch"), order)  # type: ignore[arg-type]
    assert_same_rows(duck, spark)


def _batch_uri(lake: Lake, zone: str, table: str) -> str:
    """A batch-stage table: the cleaned rows (zone "batch") or the rejects ("quarantine")."""
    if zone == "quarantine":
        return lake.quarantine(table, "batch")  # type: ignore[arg-type]
    return lake.table("batch", table)  # type: ignore[arg-type]


def test_the_delta_schemas_are_identical(runs: Runs) -> None:
    for table in TABLES:
        for zone in ("batch", "quarantine"):
            duck = DeltaTable(_batch_uri(runs.duck, zone, table)).schema()
            spark = DeltaTable(_batch_uri(runs.spark, zone, table)).schema()
            assert [(f.name, str(f.type)) for f in duck.fields] == [
                (f.name, str(f.type)) for f in spark.fields
            ], (zone, table)


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_results_are_identical(runs: Runs, name: str) -> None:
    duck = DeltaTable(runs.duck.result(name)).to_pyarrow_table()
    spark = DeltaTable(runs.spark.result(name)).to_pyarrow_table()
    assert duck.num_rows > 0, "every query has an answer on this fixture"
    assert duck.column_names == spark.column_names
    assert_same_rows(duck.to_pylist(), spark.to_pylist())


def test_spark_records_the_batch_watermark_like_delta_rs(runs: Runs) -> None:
    for table in TABLES:
        duck = DeltaRsStore().watermark(runs.duck.table("batch", table))  # type: ignore[arg-type]
        assert duck and duck == DeltaRsStore().watermark(runs.spark.table("batch", table))  # type: ignore[arg-type]


def _answers(lake: Lake, engine: DuckDBEngine | SparkEngine) -> dict[str, pa.Table]:
    return run_queries(lake, engine, list(QUERIES), "batch")


def test_spark_reads_tables_written_by_delta_rs(runs: Runs, spark_engine: SparkEngine) -> None:
    """Spark queries the DuckDB run's tables (delta-rs) and gets the DuckDB run's answers."""
    answers = _answers(runs.duck, spark_engine)
    for name, table in answers.items():
        expected = DeltaTable(runs.duck.result(name)).to_pyarrow_table()
        assert_same_rows(expected.to_pylist(), table.to_pylist())


def test_delta_rs_reads_tables_written_by_spark(runs: Runs) -> None:
    """DuckDB (through delta-rs) queries the Spark run's tables and gets Spark's answers."""
    engine = DuckDBEngine(threads=2)
    try:
        answers = _answers(runs.spark, engine)
    finally:
        engine.close()
    for name, table in answers.items():
        expected = DeltaTable(runs.spark.result(name)).to_pyarrow_table()
        assert_same_rows(expected.to_pylist(), table.to_pylist())


def test_a_spark_rerun_replaces_only_the_batch_stage_rejects(
    runs: Runs, spark_engine: SparkEngine
) -> None:
    """Each stage owns its quarantine table: a batch rerun leaves the stream stage's alone."""
    path = runs.spark.quarantine("pin", "batch")
    batch_rows = delta_rows(path, ["_offset"])
    stream_row = {**batch_rows[0], "stage": "stream", "_offset": 10**9}
    schema = DeltaTable(path).to_pyarrow_table().schema
    stream_path = runs.spark.quarantine("pin", "stream")
    write_deltalake(stream_path, pa.Table.from_pylist([stream_row], schema=schema))
    run_batch(runs.spark, spark_engine, tables=("pin",))
    assert sorted(map(repr, delta_rows(path, ["_offset"]))) == sorted(map(repr, batch_rows))
    assert delta_rows(stream_path, ["_offset"]) == [stream_row]
