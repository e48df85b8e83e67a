"""One SparkSession per process, with delta-spark, the Kafka source and s3a on its class path.

Starting Spark costs seconds, so every Spark engine and the streaming job in a process share
one session. The connector jars match the installed PySpark and delta-spark and come from Maven
Central through Spark's own Ivy, with an Ivy settings file that names Maven Central only (a
half-filled ``~/.m2`` or the spark-packages repository can then not break resolution). The
resolved jar list is remembered, so later starts put the cached files on the class path
directly instead of resolving again.

S3 is reached through Hadoop's s3a connector: ``hadoop-aws`` of the Hadoop PySpark bundles,
with the few AWS SDK v2 modules s3a loads instead of the SDK's ~600 MB ``bundle`` jar. Each
bucket is configured on the running session the first time Spark touches it (``reach``), from
the same ``S3Options`` the rest of pinpipe reaches it with, so one session serves any lake.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pinpipe.errors import ConfigError
from pinpipe.lake.storage import S3Options, Storage, is_local
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

AWS_SDK_V2 = {"3.4.2": "2.29.52", "3.5.0": "2.35.4"}
"""The AWS SDK v2 each ``hadoop-aws`` was built against (hadoop-project's aws-java-sdk-v2);
another Hadoop gets the newest one listed."""
AWS_SDK_MODULES = ("s3", "s3-transfer-manager")
"""The SDK modules s3a loads (their own dependencies come along through Ivy)."""
_NETTY = (
    "buffer", "codec", "codec-http", "codec-http2", "common", "handler", "resolver", "transport",
    "transport-classes-epoll", "transport-native-unix-common",
)  # fmt: skip
EXCLUDES = (
    "software.amazon.awssdk:bundle",
    *(f"io.netty:netty-{module}" for module in _NETTY),
    "org.apache.httpcomponents:httpclient",
    "org.apache.httpcomponents:httpcore",
    "commons-codec:commons-codec",
    "commons-logging:commons-logging",
)
"""Left out of resolution: the SDK's all-services bundle (~600 MB), which ``hadoop-aws`` depends
on though s3a needs a few modules; and older copies of what PySpark's own jars already hold
(Netty, Apache HttpClient, commons-codec, commons-logging as jcl-over-slf4j). Spark's copies
come first on the class path anyway; a second, older one could only mix two versions."""

_lock = threading.Lock()
_session: SparkSession | None = None


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the Spark engine needs `pip install 'pinpipe[spark]'`") from exc
    return pyspark


def hadoop_version() -> str:
    """The Hadoop PySpark bundles (``jars/hadoop-client-api-<version>.jar``): hadoop-aws's match."""
    homes = [Path(_pyspark().__file__).parent]
    if os.environ.get("SPARK_HOME"):
        homes.insert(0, Path(os.environ["SPARK_HOME"]))
    for home in homes:
        for jar in sorted((home / "jars").glob("hadoop-client-api-*.jar")):
            return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    raise ConfigError(
        "cannot tell which Hadoop this Spark bundles (no jars/hadoop-client-api-*.jar): "
        "set spark.resolve_jars = false and put hadoop-aws on the cluster's class path"
    )


def packages() -> list[str]:
    """Maven coordinates of the connectors matching the installed pyspark, delta-spark, Hadoop."""
    spark = _pyspark().__version__
    major_minor = ".".join(spark.split(".")[:2])
    delta = importlib.metadata.version("delta-spark")
    hadoop = hadoop_version()
    sdk = AWS_SDK_V2.get(hadoop, list(AWS_SDK_V2.values())[-1])
    return [
        f"io.delta:delta-spark_{major_minor}_{SCALA}:{delta}",
        f"org.apache.spark:spark-sql-kafka-0-10_{SCALA}:{spark}",
        f"org.apache.hadoop:hadoop-aws:{hadoop}",
        *(f"software.amazon.awssdk:{module}:{sdk}" for module in AWS_SDK_MODULES),
    ]


def jars_cache(settings: SparkSettings) -> Path:
    if settings.jars_cache:
        return Path(settings.jars_cache).expanduser()
    base = os.environ.get("PINPIPE_CACHE") or str(Path.home() / ".cache" / "pinpipe")
    return Path(base) / "spark-jars"


def _manifest(cache: Path, coords: list[str]) -> Path:
    key = hashlib.sha256(",".join(coords).encode()).hexdigest()[:16]
    return cache / f"classpath-{key}.txt"


def _coordinates() -> list[str]:
    """What the resolved class path depends on: the packages and what is left out of them."""
    return [*packages(), *(f"-{e}" for e in EXCLUDES)]


def cached_jars(settings: SparkSettings) -> list[str] | None:
    """The jar files an earlier start resolved for these connectors, if all still exist."""
    manifest = _manifest(jars_cache(settings), _coordinates())
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
        "spark.jars.excludes": ",".join(EXCLUDES),
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
    if settings.master.startswith("local"):
        # Python workers run here: this Python, so the sentiment UDF finds pinpipe and VADER.
        conf |= {"spark.pyspark.python": sys.executable,
                 "spark.pyspark.driver.python": sys.executable}  # fmt: skip
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
            if settings.master.startswith("local"):
                # PySpark starts its workers with PYSPARK_PYTHON, not the conf: this Python.
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
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
        _manifest(jars_cache(settings), _coordinates()).write_text("\n".join(files) + "\n")


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


# -- reaching S3 through s3a --------------------------------------------------------------

S3A_CREDENTIALS = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
"""The AWS SDK's default chain (environment, profile files, web identity, container, instance
role): what boto3, ``pyarrow.fs`` and delta-rs use. Keys never enter Spark's configuration."""

_reached: dict[str, tuple[Any, dict[str, str], set[str]]] = {}
"""Per bucket: the SparkContext ``reach`` configured, the options applied, the keys it set."""
_reach_lock = threading.Lock()
_CREDENTIAL_PROPERTIES = {
    "AWS_ACCESS_KEY_ID": "aws.accessKeyId",
    "AWS_SECRET_ACCESS_KEY": "aws.secretAccessKey",
    "AWS_SESSION_TOKEN": "aws.sessionToken",
}
"""The JVM system properties the SDK's default chain reads before the environment."""
_shared = False
"""Whether ``_share_credentials`` set them (and so may clear them)."""


def spark_uri(uri: str) -> str:
    """Spark's name for ``uri``: ``s3://`` becomes ``s3a://`` (Hadoop's S3 connector).

    Only Spark's own reads and writes use it; every other reader keeps the ``s3://`` URI.
    """
    if is_local(uri):
        return uri
    scheme, rest = uri.split("://", 1)
    if scheme in ("s3", "s3a"):
        return f"s3a://{rest}"
    raise ConfigError(
        f"the Spark engine cannot reach {uri!r}: it reads local paths and s3:// URIs (through "
        "s3a); run this job with --engine duckdb, or keep the lake on a path Spark can read"
    )


def s3a_conf(s3: S3Options) -> dict[str, str]:
    """s3a options (keys after ``fs.s3a.``) that reach the store the way ``s3`` does."""
    conf = {
        "endpoint.region": s3.region,
        "path.style.access": str(s3.path_style).lower(),
        "attempts.maximum": str(s3.retries),
        "aws.credentials.provider": S3A_CREDENTIALS,
    }
    if s3.endpoint_url:
        conf["endpoint"] = s3.endpoint_url
        conf["connection.ssl.enabled"] = str(not s3.endpoint_url.startswith("http://")).lower()
    return conf


def _user_set(hadoop: Any, key: str) -> bool:
    """Whether ``key`` was configured by someone (spark.hadoop.*, core-site.xml), not defaulted."""
    sources = hadoop.getPropertySources(key)
    return sources is not None and any(not str(s).endswith("-default.xml") for s in sources)


def reach(session: SparkSession, uris: Sequence[str]) -> list[str]:
    """``uris`` as Spark reads them, with each S3 bucket among them configured for s3a.

    The bucket's options go into the session's Hadoop configuration as
    ``fs.s3a.bucket.<bucket>.*`` before s3a first opens it, so buckets of different stores can
    share one session. A per-bucket option set by the user wins; so does a credentials provider
    chosen in the Spark configuration. Spark Connect sessions keep the server's configuration.
    """
    mapped = [spark_uri(u) for u in uris]
    buckets = {
        urlparse(m).netloc: u for m, u in zip(mapped, uris, strict=True) if m.startswith("s3a://")
    }
    for bucket, uri in buckets.items():
        s3 = Storage.for_uri(uri).s3
        if s3 is not None:
            _configure_bucket(session, bucket, s3a_conf(s3))
    return mapped


def _configure_bucket(session: SparkSession, bucket: str, conf: dict[str, str]) -> None:
    try:
        context = session.sparkContext
    except Exception:  # Spark Connect: no SparkContext here, the server reaches S3
        return
    with _reach_lock:
        known = _reached.get(bucket)
        if known is not None and known[0] is not context:
            known = None  # a new session: its Hadoop configuration starts afresh
        if known is not None and known[1] == conf:
            return
        _share_credentials(context._jvm)
        hadoop = context._jsc.hadoopConfiguration()
        owned = known[2] if known is not None else set()
        for key, value in conf.items():
            name = f"fs.s3a.bucket.{bucket}.{key}"
            if key not in owned and hadoop.get(name) is not None:
                continue  # the user configured this bucket
            if key == "aws.credentials.provider" and _user_set(hadoop, f"fs.s3a.{key}"):
                continue
            hadoop.set(name, value)
            owned.add(key)
        _reached[bucket] = (context, conf, owned)
        if known is not None:  # s3a caches one client per bucket: drop the stale one
            jvm: Any = context._jvm
            uri = jvm.java.net.URI.create(f"s3a://{bucket}/")
            jvm.org.apache.hadoop.fs.FileSystem.get(uri, hadoop).close()


def _share_credentials(jvm: Any) -> None:
    """Give the JVM the AWS keys this process's environment holds, if its own differ.

    The JVM's environment is a copy taken when Spark started; keys exported into this process
    later (a notebook, a test) would be invisible to s3a. The SDK's chain reads the
    ``aws.accessKeyId`` system properties first, so the keys go there: in memory only, never
    into a configuration that Spark writes out, and redacted where Spark shows properties.
    """
    global _shared
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    system = jvm.java.lang.System
    share = bool(key) and system.getenv("AWS_ACCESS_KEY_ID") != key
    if not share and not _shared:
        return
    for variable, prop in _CREDENTIAL_PROPERTIES.items():
        value = os.environ.get(variable) if share else None
        if value:
            system.setProperty(prop, value)
        else:
            system.clearProperty(prop)
    _shared = share


if __name__ == "__main__":  # spark-submit's --packages value (--excludes: --exclude-packages)
    print(",".join(EXCLUDES if "--excludes" in sys.argv[1:] else packages()))
