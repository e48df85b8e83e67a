"""Day merges on Spark (delta-spark MERGE) give the tables DuckDB's full rebuild gives."""

from __future__ import annotations

import shutil
from pathlib import Path

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.spark import SparkEngine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import TABLES, Lake
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.log.embedded import EmbeddedLog
from tests.helpers import DAYS, delta_rows, land_three_days


def _order(row: dict[str, object]) -> tuple[str, int, int]:
    return (str(row["_topic"]), int(row["_partition"]), int(row["_offset"]))  # type: ignore[call-overload]


def test_spark_day_merges_in_any_order_equal_a_duckdb_full_rebuild(
    spark_engine: SparkEngine, source: SourceTables, tmp_path: Path
) -> None:
    full = Lake.at(tmp_path / "full")
    with EmbeddedLog(tmp_path / "log.db", fsync=False) as log:
        land_three_days(log, full, source)
    days = Lake.at(tmp_path / "days")
    for folder in ("raw", "_index"):
        shutil.copytree(Path(full.root) / folder, Path(days.root) / folder)
    duck = DuckDBEngine(threads=2)
    try:
        run_batch(full, duck)
    finally:
        duck.close()
    for day in (DAYS[2], DAYS[0], DAYS[1], DAYS[0]):
        run_batch(days, spark_engine, day=day)
    for table in TABLES:
        for merged_uri, rebuilt_uri in (
            (days.table("batch", table), full.table("batch", table)),
            (days.quarantine(table, "batch"), full.quarantine(table, "batch")),
        ):
            zone = merged_uri.rsplit("/", 2)[-2]
            merged = sorted(delta_rows(merged_uri), key=_order)
            rebuilt = sorted(delta_rows(rebuilt_uri), key=_order)
            assert merged == rebuilt, (zone, table)
        store = DeltaRsStore()
        assert store.watermark(days.table("batch", table)) == store.watermark(
            full.table("batch", table)
        )
