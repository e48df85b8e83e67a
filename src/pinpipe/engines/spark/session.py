"""One SparkSession per process, with delta-spark and the Kafka source on its class path.

Starting Spark costs seconds, so every Spark engine and the streaming job in a process share
one session. The connector jars match the installed PySpark and delta-spark and come from Maven
Central through Spark's own Ivy, with an Ivy settings file that names Maven Central only (a
half-filled ``~/.m2`` or the spark-packages repository can then not break resolution). The
resolved jar list is remembered, so later starts put the cached files on the class path
directly instead of resolving again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pinpipe.errors import ConfigError
from pinpipe.settings import SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MAVEN_CENTRAL = "https://repo1.maven.org/maven2/"
SCALA = "2.13"

_IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="central"/>
  <caches defaultCacheDir="{cache}"/>
  <resolvers>
    <ibiblio name="central" m2compatible="true" root="{root}"/>
  </resolvers>
</ivysettings>
"""

_lock = threading.Lock()
_session: SparkSession | None = None


def packages() -> list[str]:
    """Maven coordinates of the connectors matching the installed pyspark and delta-spark."""
    try:
        import pyspark
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the Spark engine needs `pip install 'pinpipe[spark]'`") from exc
    spark = pyspark.__version__
    major_minor = ".".join(spark.split(".")[:2])
    delta = importlib.metadata.version("delta-spark")
    return [
        f"io.delta:delta-spark_{major_minor}_{SCALA}:{delta}",
        f"org.apache.spark:spark-sql-kafka-0-10_{SCALA}:{spark}",
    ]


def jars_cache(settings: SparkSettings) -> Path:
    if settings.jars_cache:
        return Path(settings.jars_cache).expanduser()
    base = os.environ.get("PINPIPE_CACHE") or str(Path.home() / ".cache" / "pinpipe")
    return Path(base) / "spark-jars"


def _manifest(cache: Path, coords: list[str]) -> Path:
    key = hashlib.sha256(",".join(coords).encode()).hexdigest()[:16]
    return cache / f"classpath-{key}.txt"


def cached_jars(settings: SparkSettings) -> list[str] | None:
    """The jar files an earlier start resolved for these connectors, if all still exist."""
    manifest = _manifest(jars_cache(settings), packages())
    if not manifest.exists():
        return None
    jars = [line for line in manifest.read_text().splitlines() if line]
    if not jars or not all(Path(j.removeprefix("file://")).exists() for j in jars):
        return None
    return jars


def jar_conf(settings: SparkSettings) -> dict[str, str]:
    """Where the connector jars come from: the cached files, or Maven Central through Ivy."""
    if not settings.resolve_jars:
        return {}
    jars = cached_jars(settings)
    if jars is not None:
        return {"spark.jars": ",".join(jars)}
    cache = jars_cache(settings)
    cache.mkdir(parents=True, exist_ok=True)
    ivy = cache / "ivysettings.xml"
    ivy.write_text(_IVY_SETTINGS.format(cache=cache / "ivy-cache", root=MAVEN_CENTRAL))
    return {
        "spark.jars.packages": ",".join(packages()),
        "spark.jars.ivySettings": str(ivy),
        "spark.jars.ivy": str(cache / "ivy"),
    }


def delta_conf() -> dict[str, str]:
    """What any Spark session needs to read and write Delta tables."""
    return {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    }


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """The configuration pinpipe starts Spark with: small, quiet, Delta-enabled, UTC."""
    conf = {
        "spark.app.name": "pinpipe",
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        **delta_conf(),
        # Delta rebuilds table state with 50 tasks by default: seconds wasted on small tables.
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        **jar_conf(settings),
    }
    conf.update(settings.conf)
    return conf


def get_session(settings: SparkSettings | None = None) -> SparkSession:
    """The process's SparkSession, started on first use with ``settings``."""
    global _session
    with _lock:
        if _session is not None and not _is_stopped(_session):
            return _session
        settings = settings or SparkSettings()
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        if settings.remote:
            builder = builder.remote(settings.remote)
            conf = {k: v for k, v in settings.conf.items()}
        elif not settings.master:
            # spark-submit or a Databricks job configured the cluster: keep its settings.
            conf = {**delta_conf(), "spark.sql.session.timeZone": "UTC", **settings.conf}
        else:
            builder = builder.master(settings.master)
            conf = session_conf(settings)
        for key, value in conf.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        if settings.master and not settings.remote:
            session.sparkContext.setLogLevel("ERROR")
            _remember_jars(settings, session)
        _session = session
        return session


def _remember_jars(settings: SparkSettings, session: SparkSession) -> None:
    """Store the jars Ivy resolved, so the next start skips resolution."""
    if not settings.resolve_jars or cached_jars(settings) is not None:
        return
    jars = session.sparkContext.getConf().get("spark.jars", "") or ""
    files = [j for j in jars.split(",") if j]
    if files:
        _manifest(jars_cache(settings), packages()).write_text("\n".join(files) + "\n")


def _is_stopped(session: SparkSession) -> bool:
    try:
        return session.sparkContext._jsc is None
    except Exception:  # Spark Connect sessions have no SparkContext
        return False


def stop_session() -> None:
    """Stop the process's session (tests and benchmarks that measure a cold start)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


if __name__ == "__main__":  # the --packages value for spark-submit
    print(",".join(packages()))
