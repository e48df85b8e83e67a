"""The scale-out engine: PySpark through Ibis, Delta through delta-spark.

Lake lines are parsed once per line with ``from_json`` into a struct of text fields (Spark
renders a JSON number or object as its JSON text when the field is a string), giving the same
raw relation as the DuckDB engine, so the same Ibis cleaning and queries run unchanged.
Results come back as Arrow (``DataFrame.toArrow``) cast to the expression's Ibis schema, so
both engines hand the jobs identical Arrow types. Spark reaches an ``s3://`` lake as
``s3a://`` (``paths``); the URIs the jobs and delta-rs see stay ``s3://``.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
import pyarrow.dataset as pads

from pinpipe.engines.base import (
    RAW_META,
    TEXT_FIELDS,
    Engine,
    Job,
    StreamRunner,
    lines_text,
)
from pinpipe.engines.spark.store import SparkStore
from pinpipe.engines.sql_guard import check_read_only
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import LINE_FIELD, RAW_TEXT_FIELD, TableName, raw_fields
from pinpipe.settings import Settings, SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_NAMES = itertools.count()
_CORRUPT = "_pinpipe_corrupt"


def _name(prefix: str) -> str:
    return f"pinpipe_{prefix}_{next(_NAMES)}"


def json_schema(table: TableName) -> Any:
    """Every lake-line field as text, plus a column that flags lines that are not JSON."""
    from pyspark.sql.types import StringType, StructField, StructType

    names = (*TEXT_FIELDS, *raw_fields(table), _CORRUPT)
    return StructType([StructField(n, StringType()) for n in names])


def raw_columns(table: TableName, doc: Column, is_object: Column, line: Column) -> list[Column]:
    """The raw relation's columns from the parsed struct ``doc`` (engines/base.py RAW_META).

    ``line`` is the line text, or NULL where the line was not JSON at all (a torn write).
    """
    from pyspark.sql import functions as F

    cols: list[Column] = []
    for name, typ in RAW_META.items():
        if name == LINE_FIELD:
            col = line
        elif name == RAW_TEXT_FIELD:
            col = F.when(is_object, doc[name]).otherwise(F.coalesce(line, F.lit("")))
        elif typ.is_string():
            col = doc[name]
        else:
            col = doc[name].try_cast("int" if typ.is_int32() else "bigint")
        cols.append(col.alias(name))
    cols.extend(doc[name].alias(name) for name in raw_fields(table))
    return cols


def _spark_submit() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else the one PySpark ships, else the one on PATH."""
    home = os.environ.get("SPARK_HOME")
    if home:
        return os.path.join(home, "bin", "spark-submit")
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.origin is not None:
        bundled = os.path.join(os.path.dirname(spec.origin), "bin", "spark-submit")
        if os.path.exists(bundled):
            return bundled
    return "spark-submit"


def _driver_script() -> str:
    """The file spark-submit runs on the driver (``pinpipe/cli/spark_submit.py``)."""
    spec = importlib.util.find_spec("pinpipe.cli.spark_submit")
    assert spec is not None and spec.origin is not None
    return spec.origin


class SparkEngine(Engine):
    """Runs the transform on a Spark session (local, a cluster, or Spark/Databricks Connect)."""

    name = "spark"
    dialect = "spark"

    def __init__(
        self,
        settings: SparkSettings | None = None,
        *,
        session: SparkSession | None = None,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        from pinpipe.engines.spark.session import get_session

        self._settings = settings or SparkSettings()
        self._spark = session or get_session(settings)
        self._con = ibis.pyspark.connect(self._spark)
        self._lock = threading.Lock()
        self._tables = SparkStore(self, storage_options)

    @classmethod
    def from_settings(cls, settings: Settings) -> SparkEngine:
        return cls(settings.spark)

    @property
    def session(self) -> SparkSession:
        return self._spark

    @property
    def backend(self) -> Any:
        return self._con

    def paths(self, uris: Sequence[str]) -> list[str]:
        """Where Spark itself reads and writes ``uris``: ``s3://`` as s3a, its bucket set up."""
        from pinpipe.engines.spark.session import reach

        return reach(self._spark, uris)

    def path(self, uri: str) -> str:
        return self.paths([uri])[0]

    # -- reading -------------------------------------------------------------------------

    def raw_from_files(self, table: TableName, uris: Sequence[str]) -> ibis.Table:
        if not uris:
            return self.empty_raw(table)
        lines = self._spark.read.text(self.paths(uris)).withColumnRenamed("value", "j")
        return self.view(self.parse(table, lines, files=True))

    def raw_from_lines(self, table: TableName, lines: Sequence[bytes]) -> ibis.Table:
        if not lines:
            return self.empty_raw(table)
        df = self.from_arrow(pa.table({"j": lines_text(lines)}))
        return self.view(self.parse(table, df, files=False))

    def parse(self, table: TableName, lines: DataFrame, *, files: bool) -> DataFrame:
        """The raw relation of a DataFrame of lake lines in column ``j``.

        Like the DuckDB engine, a line that is not JSON (a torn write in a file) keeps its
        text and becomes a reject.
        """
        from pyspark.sql import functions as F

        options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
        parsed = lines.select(
            F.col("j"), F.from_json(F.col("j"), json_schema(table), options).alias("doc")
        )
        doc = F.col("doc")
        valid = doc.isNotNull() & doc[_CORRUPT].isNull()
        is_object = valid & F.ltrim(F.col("j")).startswith("{")
        del files  # read alike, from files or memory
        return parsed.select(
            *raw_columns(table, doc, F.coalesce(is_object, F.lit(False)), F.col("j"))
        )

    def view(self, df: DataFrame) -> ibis.Table:
        """A DataFrame as an Ibis table (a temporary view of this session)."""
        name = _name("view")
        df.createOrReplaceTempView(name)
        return self._con.table(name)

    def dataframe(self, expr: ibis.Table) -> DataFrame:
        """``expr`` as a Spark DataFrame (lazy), for writers that stay inside Spark."""
        self._con._run_pre_execute_hooks(expr)
        return self._spark.sql(str(self._con.compile(expr)))

    def from_arrow(self, arrow: pa.Table) -> DataFrame:
        """A DataFrame of ``arrow``; naive timestamps stay TIMESTAMP_NTZ, as delta-rs has them."""
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(arrow.schema, prefer_timestamp_ntz=True)
        return self._spark.createDataFrame(arrow, schema=schema)

    def table(self, arrow: pa.Table | pads.Dataset) -> ibis.Table:
        if isinstance(arrow, pads.Dataset):
            arrow = arrow.to_table()
        return self.view(self.from_arrow(arrow))

    def read_delta(self, uri: str) -> ibis.Table | None:
        from delta.tables import DeltaTable

        path = self.path(uri)
        if not DeltaTable.isDeltaTable(self._spark, path):
            return None
        return self.view(self._spark.read.format("delta").load(path))

    # -- executing -----------------------------------------------------------------------

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        arrow = self.dataframe(expr).toArrow()
        return arrow.cast(expr.schema().to_pyarrow())

    def sql(self, query: str, views: dict[str, ibis.Table]) -> pa.Table:
        body = check_read_only(query, dialect=self.dialect)
        from pyspark.errors import PySparkException

        with self._lock:
            for name, expr in views.items():
                self.dataframe(expr).createOrReplaceTempView(name)
            try:
                return self._spark.sql(body).toArrow()
            except PySparkException as exc:
                raise ConfigError(f"the SQL query failed: {exc}") from exc
            finally:
                for name in views:
                    self._spark.catalog.dropTempView(name)

    @contextmanager
    def materialized(self, expr: ibis.Table) -> Iterator[ibis.Table]:
        """``expr`` computed once and kept in Spark's cache (memory, spilling to disk)."""
        from pyspark import StorageLevel

        df = self.dataframe(expr).persist(StorageLevel.MEMORY_AND_DISK)
        df.count()
        name = _name("cached")
        df.createOrReplaceTempView(name)
        try:
            yield self._con.table(name)
        finally:
            self._spark.catalog.dropTempView(name)
            df.unpersist()

    # -- jobs ----------------------------------------------------------------------------

    def stream_runner(self, settings: Settings, lake: Lake) -> StreamRunner:
        """Structured Streaming, which reads Kafka itself: the log must be Kafka."""
        if settings.log.backend != "kafka":
            raise ConfigError(
                'the Spark stream job reads from Kafka: set log.backend = "kafka" '
                "(PINPIPE_LOG__BACKEND=kafka) and log.bootstrap_servers, or use the duckdb engine"
            )
        from pinpipe.engines.spark.stream import SparkStreamJob

        spark = settings.spark
        if not spark.topic_pattern:  # the topic policy, unless Spark is given its own
            spark = spark.model_copy(update={"topic_pattern": settings.topics.subscribe_pattern})
        return SparkStreamJob(self, lake, settings.log.bootstrap_servers, settings.stream, spark)

    @classmethod
    def job_command(cls, job: Job, settings: Settings) -> list[str]:
        """``spark-submit`` of pinpipe's driver script, configured as pinpipe starts Spark.

        The master is ``spark.master`` (a cluster's URL, ``yarn``, ``k8s://...``, or
        ``local[N]``); the driver runs the same ``pinpipe`` command line on the session
        spark-submit made. A stream job is pointed at the configured Kafka.
        """
        from pinpipe.engines.spark import session

        spark = settings.spark
        master = spark.master or "local[2]"
        conf = session.session_conf(spark.model_copy(update={"master": master}))
        command = [_spark_submit(), "--master", master]
        for key, value in conf.items():
            command += ["--conf", f"{key}={value}"]
        command += [_driver_script(), "--home", str(settings.home), "--lake", settings.lake_root]
        if list(job[:1]) == ["stream"]:
            command += ["--bootstrap-servers", settings.log.bootstrap_servers]
        return [*command, *job]

    def close(self) -> None:
        """Keep the shared session: other engines in this process may still use it."""
