"""The scale-out engine: PySpark through Ibis, Delta through delta-spark.

Lake lines are parsed once per line with ``from_json`` into a struct of text fields (Spark
renders a JSON number or object as its JSON text when the field is a string), giving the same
raw relation as the DuckDB engine, so the same Ibis cleaning and queries run unchanged.
Results come back as Arrow (``DataFrame.toArrow``) cast to the expression's Ibis schema, so
both engines hand the jobs identical Arrow types.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa
import pyarrow.dataset as pads

from pinpipe.engines.base import LINE_FIELD, RAW_META, Engine, check_read_only, raw_schema
from pinpipe.errors import ConfigError
from pinpipe.settings import SparkSettings
from pinpipe.transform.schema import RAW_TEXT_FIELD, TableName
from pinpipe.transform.staging import raw_fields

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_NAMES = itertools.count()
_CORRUPT = "_pinpipe_corrupt"
_TEXT_META = ("_topic", "_partition", "_offset", "_timestamp", RAW_TEXT_FIELD)

_SPARK_FORBIDDEN = re.compile(
    r"\b(reflect|try_reflect|java_method|read_files|input_file_name)\s*\("
    r"|\b(parquet|delta|json|csv|text|orc|avro|binaryfile)\s*\.\s*`",
    re.IGNORECASE,
)
"""Spark SQL that reaches outside the views: JVM calls and path-as-table reads."""


def _name(prefix: str) -> str:
    return f"pinpipe_{prefix}_{next(_NAMES)}"


def _text(lines: Sequence[bytes]) -> pa.Array:
    try:
        return pa.array(lines, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([ln.decode("utf-8", "backslashreplace") for ln in lines], pa.string())


def json_schema(table: TableName) -> Any:
    """Every lake-line field as text, plus a column that flags lines that are not JSON."""
    from pyspark.sql.types import StringType, StructField, StructType

    names = (*_TEXT_META, *raw_fields(table), _CORRUPT)
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


class SparkEngine(Engine):
    """Runs the transform on a Spark session (local, a cluster, or Spark/Databricks Connect)."""

    name = "spark"

    def __init__(
        self, settings: SparkSettings | None = None, *, session: SparkSession | None = None
    ) -> None:
        from pinpipe.engines.spark_session import get_session

        self._spark = session or get_session(settings)
        self._con = ibis.pyspark.connect(self._spark)
        self._lock = threading.Lock()

    @property
    def session(self) -> SparkSession:
        return self._spark

    @property
    def backend(self) -> Any:
        return self._con

    # -- reading -------------------------------------------------------------------------

    def raw_from_files(self, table: TableName, paths: Sequence[str]) -> ibis.Table:
        if not paths:
            return self._empty(table)
        lines = self._spark.read.text(list(paths)).withColumnRenamed("value", "j")
        return self.view(self.parse(table, lines, files=True))

    def raw_from_lines(self, table: TableName, lines: Sequence[bytes]) -> ibis.Table:
        if not lines:
            return self._empty(table)
        df = self.from_arrow(pa.table({"j": _text(lines)}))
        return self.view(self.parse(table, df, files=False))

    def parse(self, table: TableName, lines: DataFrame, *, files: bool) -> DataFrame:
        """The raw relation of a DataFrame of lake lines in column ``j``.

        Like the DuckDB engine, a line in a file that is not JSON keeps no text (``_line`` is
        NULL) and a line given in memory keeps its text; either way it becomes a reject.
        """
        from pyspark.sql import functions as F

        options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
        parsed = lines.select(
            F.col("j"), F.from_json(F.col("j"), json_schema(table), options).alias("doc")
        )
        doc = F.col("doc")
        valid = doc.isNotNull() & doc[_CORRUPT].isNull()
        is_object = valid & F.ltrim(F.col("j")).startswith("{")
        line = F.when(valid, F.col("j")) if files else F.col("j")
        return parsed.select(*raw_columns(table, doc, F.coalesce(is_object, F.lit(False)), line))

    def _empty(self, table: TableName) -> ibis.Table:
        return self.table(raw_schema(table).to_pyarrow().empty_table())

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

    def read_delta(self, path: str) -> ibis.Table | None:
        from delta.tables import DeltaTable

        if not DeltaTable.isDeltaTable(self._spark, path):
            return None
        return self.view(self._spark.read.format("delta").load(path))

    # -- executing -----------------------------------------------------------------------

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        arrow = self.dataframe(expr).toArrow()
        return arrow.cast(expr.schema().to_pyarrow())

    def sql(self, query: str, views: dict[str, ibis.Table]) -> pa.Table:
        body = check_read_only(query)
        found = _SPARK_FORBIDDEN.search(body)
        if found:
            raise ConfigError(
                "only read-only queries over the named views are allowed: "
                f"{(found.group(1) or found.group(2)).upper()!r} is not permitted"
            )
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

    # -- writing -------------------------------------------------------------------------

    def overwrite_delta(
        self,
        path: str,
        rows: pa.Table,
        *,
        metadata: dict[str, str] | None = None,
        predicate: str | None = None,
    ) -> bool:
        """Replace the table (or the rows matching ``predicate``) with delta-spark.

        Commit metadata goes into Delta's ``userMetadata`` as a JSON object, where
        ``delta_io.read_watermark`` looks for it besides delta-rs's custom metadata.
        """
        writer = self.from_arrow(rows).write.format("delta").mode("overwrite")
        if predicate is None:
            writer = writer.option("overwriteSchema", "true")
        else:
            writer = writer.option("replaceWhere", predicate)
        if metadata:
            writer = writer.option("userMetadata", json.dumps(metadata, sort_keys=True))
        writer.save(path)
        return True

    def close(self) -> None:
        """Keep the shared session: other engines in this process may still use it."""
