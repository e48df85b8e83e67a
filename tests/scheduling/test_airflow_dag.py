"""The ``pinpipe_daily`` DAG run by a real Airflow 3, in its own venv, with ``airflow dags test``.

Airflow parses the DAG from pinpipe's bundle config, its tasks run this venv's ``pinpipe``
against a home whose lake holds three landed days, and the batch tables it leaves must be the
ones the batch job gives in-process. A quality gate that fails must fail the run at once, not
after three retries two minutes apart. Task states are read from Airflow's SQLite DB.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import BatchReport, run_batch, run_queries
from pinpipe.lake import open_lake
from pinpipe.lake.line import TABLES
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings
from pinpipe.transform.queries import QUERIES
from tests.helpers import DAYS, delta_rows, land_three_days, run_pinpipe
from tests.infra.airflow_env import init_home, run, variables

pytestmark = pytest.mark.slow

DAG_ID = "pinpipe_daily"
TASKS = ("wait_for_raw_day", "batch", "quality_gate", "results", "maintain")
GATE_TIMEOUT_S = 100.0
"""A failing run ends in ~15 s; the first retry of its gate would come after 120 s."""


@pytest.fixture
def pinpipe_home(tmp_path: Path, source: SourceTables) -> Path:
    """A pinpipe home whose lake holds the raw data of ``DAYS``, all committed by the sink."""
    settings = load_settings(home=tmp_path / "pinpipe")
    with EmbeddedLog(settings.log_path, fsync=False) as log:
        land_three_days(log, open_lake(settings), source)
    return settings.home


def _env(tmp_path: Path, pinpipe_home: Path, **extra: str) -> dict[str, str]:
    return init_home(
        tmp_path / "airflow",
        **variables(pinpipe_home=str(pinpipe_home), pinpipe_engine="duckdb"),
        **extra,
    )


def _dags_test(day: str, env: dict[str, str], timeout: float = 600.0) -> tuple[int, str]:
    done = run(["dags", "test", DAG_ID, day], env, timeout=timeout)
    return done.returncode, f"{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"


def _json_table(stdout: str) -> list[dict[str, Any]]:
    """The JSON of an ``--output json`` command: its last line (Airflow logs to stdout too)."""
    return json.loads(stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _task_states(airflow_home: Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(logical day, task) → (state, try number) of every task instance Airflow recorded."""
    with contextlib.closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        found = db.execute(
            "SELECT substr(r.logical_date, 1, 10), t.task_id, t.state, t.try_number "
            "FROM task_instance t JOIN dag_run r ON t.dag_id = r.dag_id AND t.run_id = r.run_id "
            "WHERE t.dag_id = ?",
            (DAG_ID,),
        ).fetchall()
    return {(day, task): (state, tries) for day, task, state, tries in found}


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_airflow_lists_the_daily_dag_from_the_bundle(airflow_venv: Path, tmp_path: Path) -> None:
    printed = run_pinpipe(tmp_path / "pinpipe", "airflow", "bundle-config")
    assert printed.returncode == 0, printed.stderr
    env = init_home(
        tmp_path / "airflow", AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=printed.stdout
    )
    synced = run(["dags", "reserialize"], env)
    assert synced.returncode == 0, synced.stderr[-4000:]
    listed = run(["dags", "list", "--output", "json"], env)
    assert listed.returncode == 0, listed.stderr[-4000:]
    assert "Failed to load" not in listed.stderr, listed.stderr[-4000:]
    dags = {d["dag_id"]: d for d in _json_table(listed.stdout)}
    assert DAG_ID in dags, listed.stdout
    assert dags[DAG_ID]["bundle_name"] == "pinpipe"

    shown = run(["dags", "details", DAG_ID, "--output", "json"], env)
    assert shown.returncode == 0, shown.stderr[-4000:]
    [details] = _json_table(shown.stdout)
    assert details["has_import_errors"] == "False"
    assert details["max_active_runs"] == "1"
    # The first run is day one's, and it waits for the end of day one (a data interval).
    assert details["next_dagrun_data_interval_start"] == "2026-11-01 00:00:00+00:00"
    assert details["next_dagrun_data_interval_end"] == "2026-11-02 00:00:00+00:00"


def test_two_days_through_airflow_give_the_batch_jobs_tables(
    airflow_venv: Path, tmp_path: Path, pinpipe_home: Path
) -> None:
    expected_home = tmp_path / "expected"
    shutil.copytree(pinpipe_home, expected_home)
    env = _env(tmp_path, pinpipe_home)
    days = [d.isoformat() for d in DAYS[:2]]
    for day in days:
        started = time.monotonic()
        code, output = _dags_test(day, env)
        assert code == 0, output
        print(f"airflow dags test {DAG_ID} {day}: {time.monotonic() - started:.1f}s")

    states = _task_states(tmp_path / "airflow")
    assert states == {(day, task): ("success", 1) for day in days for task in TASKS}

    actual = open_lake(load_settings(home=pinpipe_home))
    expected = open_lake(load_settings(home=expected_home))
    engine = get_engine("duckdb")
    for day in DAYS[:2]:
        run_batch(expected, engine, day=day, results=False)
    run_queries(expected, engine, BatchReport())
    for table in TABLES:
        got = delta_rows(actual.table("batch", table))
        assert got, table
        assert _sorted(got) == _sorted(delta_rows(expected.table("batch", table))), table
    for name in QUERIES:
        got = delta_rows(actual.result(name))
        assert _sorted(got) == _sorted(delta_rows(expected.result(name))), name


def test_a_failed_quality_gate_fails_the_run_without_retrying(
    airflow_venv: Path, tmp_path: Path, pinpipe_home: Path
) -> None:
    day = DAYS[1].isoformat()  # its geo records include a reject: any share of it is too much
    env = _env(tmp_path, pinpipe_home, PINPIPE_QUALITY__MAX_REJECT_SHARE="0")
    try:  # a retried gate would wait 3 x 2 minutes: fail well before that
        code, output = _dags_test(day, env, timeout=GATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run still went on after {GATE_TIMEOUT_S}s: is the gate retried?")
    assert code != 0, output
    assert "DagRun failed" in output, output

    states = _task_states(tmp_path / "airflow")
    assert states[(day, "batch")] == ("success", 1)
    assert states[(day, "quality_gate")] == ("failed", 1), "a failed gate must not be retried"
    assert states[(day, "results")][0] == states[(day, "maintain")][0] == "upstream_failed"


def test_variables_choose_the_command_and_its_settings(airflow_venv: Path, tmp_path: Path) -> None:
    """Spark (or another lake, home or pinpipe) is a change of Variables, quoted for the shell."""
    env = init_home(
        tmp_path / "airflow",
        **variables(
            pinpipe_command="/opt/pinpipe/bin/python -m pinpipe",
            pinpipe_home="/srv/pin pipe",
            pinpipe_lake="s3://bucket/lake",
            pinpipe_engine="spark",
        ),
    )
    rendered = run(["tasks", "render", DAG_ID, "batch", "2026-11-01"], env)
    assert rendered.returncode == 0, rendered.stderr[-4000:]
    assert (
        "/opt/pinpipe/bin/python -m pinpipe --home '/srv/pin pipe' --lake s3://bucket/lake "
        "--engine spark batch --date 2026-11-01 --skip-results"
    ) in rendered.stdout


def test_a_spark_connection_hands_the_engine_tasks_to_spark_submit(
    airflow_venv: Path, tmp_path: Path
) -> None:
    """With the ``pinpipe_spark`` Connection, engine tasks spark-submit to its master URL."""
    connection = {
        "conn_type": "spark",
        "host": "spark://spark-master",
        "port": 7077,
        "extra": {"conf": {"spark.executor.memory": "2g"}},
    }
    env = init_home(
        tmp_path / "airflow",
        **variables(pinpipe_command="pinpipe", pinpipe_lake="s3://bucket/lake"),
        AIRFLOW_CONN_PINPIPE_SPARK=json.dumps(connection),
    )
    rendered = {task: run(["tasks", "render", DAG_ID, task, "2026-11-01"], env) for task in TASKS}
    for task, done in rendered.items():
        assert done.returncode == 0, (task, done.stderr[-4000:])
    submit = (
        "PINPIPE_SPARK__MASTER=spark://spark-master:7077 "
        """PINPIPE_SPARK__CONF='{"spark.executor.memory": "2g"}' """
        "pinpipe --lake s3://bucket/lake --engine spark submit"
    )
    assert f"{submit} batch --date 2026-11-01 --skip-results" in rendered["batch"].stdout
    assert f"{submit} results" in rendered["results"].stdout
    assert f"{submit} maintain" in rendered["maintain"].stdout
    for reader in ("wait_for_raw_day", "quality_gate"):  # they only read: no Spark for them
        assert (
            "submit" not in rendered[reader].stdout and "pinpipe --lake" in rendered[reader].stdout
        )
