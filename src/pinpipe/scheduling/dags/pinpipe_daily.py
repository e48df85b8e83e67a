"""pinpipe's daily batch as an Airflow DAG: wait for a day's raw data, merge it, gate, publish,
then keep the lake small (``pinpipe maintain``).

Runs in Airflow's own virtualenv, so it never imports pinpipe: every task runs the
``pinpipe`` command of pinpipe's environment. Which command, and with what settings, come
from Airflow Variables read when a task renders, so switching to Spark is configuration:

* ``pinpipe_command``: the ``pinpipe`` executable (default ``pinpipe`` on PATH); may be
  several words, e.g. ``/opt/pinpipe/.venv/bin/python -m pinpipe``.
* ``pinpipe_home``, ``pinpipe_lake``, ``pinpipe_engine`` (``duckdb`` or ``spark``): passed
  as ``--home``, ``--lake`` and ``--engine`` when set; unset, pinpipe's own settings apply.
  Tasks run in a temporary directory, so give absolute paths.

And from one Airflow Connection: when ``pinpipe_spark`` exists (type ``spark``; host the
master URL as the Spark provider writes it: ``spark://host`` with a port, ``yarn``,
``k8s://https://...`` or ``local[N]``; extra ``{"conf": {...}}`` for Spark settings), the
tasks that run an engine (batch, results, maintain) become ``pinpipe --engine spark submit
...``: pinpipe's spark-submit of the same command to that master, with the connectors it needs.
The sensor and the quality gate only read, so they stay on the embedded engine.

Days commute and a day merged twice gives the same tables, so catchup and reruns are safe;
one run at a time keeps the results refresh from racing another day's merge.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from typing import Any

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

START_DATE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
"""The first ingest day the scheduler runs (catchup fills every day since)."""

QUALITY_FAILED = 3
"""``pinpipe quality``'s exit code for a failed blocking check."""

FLAGS = {"pinpipe_home": "--home", "pinpipe_lake": "--lake", "pinpipe_engine": "--engine"}
"""Airflow Variable → the global pinpipe flag it sets."""

SPARK_CONNECTION = "pinpipe_spark"
"""The Connection whose presence hands the engine's jobs to spark-submit."""


def pinpipe(variables: Any) -> str:
    """The shell words of ``pinpipe [global flags]`` from the Variables (``var.value``)."""
    argv = shlex.split(variables.get("pinpipe_command", "pinpipe"))
    for key, flag in FLAGS.items():
        if value := variables.get(key, ""):
            argv += [flag, value]
    return shlex.join(argv)


def spark_master(connection: Any) -> str:
    """The master URL of a ``spark`` Connection: its host, with its port when it has one."""
    host = str(connection.host or "").strip()
    if not host:
        raise AirflowFailException(f"Connection {SPARK_CONNECTION!r} has no host (the master URL)")
    return f"{host}:{connection.port}" if connection.port else host


def pinpipe_job(variables: Any, connections: Any) -> str:
    """``pinpipe`` for a task that runs an engine: spark-submit when ``pinpipe_spark`` exists."""
    connection = connections.get(SPARK_CONNECTION)
    if connection is None:
        return pinpipe(variables)
    env = {"PINPIPE_SPARK__MASTER": spark_master(connection)}
    if conf := (connection.extra_dejson or {}).get("conf"):
        env["PINPIPE_SPARK__CONF"] = json.dumps(conf)
    assignments = [f"{key}={shlex.quote(value)}" for key, value in env.items()]
    return " ".join([*assignments, pinpipe(variables), "--engine", "spark", "submit"])


class GateOperator(BashOperator):
    """A BashOperator whose ``skip_on_exit_code`` fails the task for good instead.

    A failed quality check fails again on retry, so it ends the run at once, while any other
    non-zero exit (a crash, a lost disk) is retried like every task.
    """

    def execute(self, context: Any) -> Any:
        """Run the command; its gate exit code becomes a failure that is not retried."""
        try:
            return super().execute(context)
        except AirflowSkipException:
            raise AirflowFailException(f"{self.task_id} failed: the run fails, no retry") from None


with DAG(
    dag_id="pinpipe_daily",
    description="Merge each UTC ingest day into the batch tables, check it, refresh results.",
    # "@daily" with data intervals, as in Airflow 2: the run of day D starts once D is over,
    # and {{ ds }} is D. (A bare "@daily" is a trigger timetable in Airflow 3: that run would
    # start at D's first moment and its sensor would wait out the whole day.)
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=2)},
    user_defined_macros={"pinpipe": pinpipe, "pinpipe_job": pinpipe_job},
    tags=["pinpipe"],
) as dag:
    wait = BashSensor(
        task_id="wait_for_raw_day",
        bash_command="{{ pinpipe(var.value) }} lake ready --date {{ ds }}",
        retry_exit_code=1,  # 1 means "not yet"; any other failure fails the sensor
        mode="reschedule",
        poke_interval=dt.timedelta(minutes=5),
        timeout=dt.timedelta(hours=12),
    )
    batch = BashOperator(
        task_id="batch",
        bash_command="{{ pinpipe_job(var.value, conn) }} batch --date {{ ds }} --skip-results",
    )
    quality = GateOperator(
        task_id="quality_gate",
        bash_command="{{ pinpipe(var.value) }} quality --date {{ ds }}",
        skip_on_exit_code=QUALITY_FAILED,
    )
    results = BashOperator(
        task_id="results", bash_command="{{ pinpipe_job(var.value, conn) }} results"
    )

    # Trim covered stream rows, expire old covered raw days (maintain.raw_retention_days),
    # compact and VACUUM: safe for concurrent readers, and a failure here loses nothing.
    maintain = BashOperator(
        task_id="maintain", bash_command="{{ pinpipe_job(var.value, conn) }} maintain"
    )
    wait >> batch >> quality >> results >> maintain
