"""Where pinpipe's Airflow DAGs live, and the bundle config that points Airflow at them.

Airflow runs in a virtualenv of its own (its pins must never meet pinpipe's), so nothing here
imports pinpipe or Airflow: the DAG files in ``dags/`` only shell out to the ``pinpipe``
command, and ``bundle_config`` is the JSON-ready value of Airflow's ``[dag_processor]
dag_bundle_config_list`` (``pinpipe airflow bundle-config`` prints it).
"""

from __future__ import annotations

from pathlib import Path

DAGS_FOLDER: Path = Path(__file__).resolve().parent / "dags"
"""The DAG bundle folder: DAG files only, so Airflow can parse all of it."""

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def bundle_config(name: str = "pinpipe") -> list[dict[str, object]]:
    """One ``LocalDagBundle`` named ``name`` serving ``DAGS_FOLDER`` of this installation.

    A local bundle has no versions, so Airflow re-reads the files as they are; an editable
    install therefore serves the work tree's DAGs.
    """
    return [{"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(DAGS_FOLDER)}}]
