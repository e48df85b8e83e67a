"""A scheduler asks the engine what to run: Spark answers with a spark-submit line that works.

``pinpipe --engine spark submit batch`` runs that line, so a DAG's task is one pinpipe command
whichever engine (and Spark master) the configuration names.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.spark import SparkEngine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import TABLES, Lake
from pinpipe.settings import load_settings
from tests.engines.spark.raw_fixture import build_raw_zone
from tests.helpers import delta_rows, pinpipe_command, pinpipe_env


def test_spark_submit_of_the_batch_job_gives_the_embedded_engines_tables(
    source: SourceTables, tmp_path: Path
) -> None:
    submitted = build_raw_zone(tmp_path / "submitted", source)
    embedded = Lake.at(tmp_path / "embedded" / "lake")
    shutil.copytree(Path(submitted.root) / "raw", Path(embedded.root) / "raw")
    settings = load_settings(
        home=tmp_path / "submitted",
        engine="spark",
        **{"lake.root": submitted.root, "spark.master": "local[1]"},
    )
    command = SparkEngine.job_command(["batch", "--full"], settings)
    assert command[0].endswith("spark-submit") and command[1:3] == ["--master", "local[1]"]
    assert command[-2:] == ["batch", "--full"]
    done = subprocess.run(
        pinpipe_command("--lake", submitted.root, "--engine", "spark", "submit", "batch"),
        env=pinpipe_env(tmp_path / "submitted", PINPIPE_SPARK__MASTER="local[1]"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pin:" in done.stdout  # the pinpipe CLI's batch report, printed by the driver

    duck = DuckDBEngine(threads=2)
    try:
        run_batch(embedded, duck)
    finally:
        duck.close()
    for table in TABLES:
        by_spark = sorted(delta_rows(submitted.table("batch", table)), key=lambda r: r["ind"])
        by_duckdb = sorted(delta_rows(embedded.table("batch", table)), key=lambda r: r["ind"])
        assert by_spark == by_duckdb, table
