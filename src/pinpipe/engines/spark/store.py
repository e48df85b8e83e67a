"""Spark's table store: batch tables written by delta-spark, so they are the cluster's own.

History (watermarks, app-transaction versions) is read through delta-rs like every other
table, so the watermark is written in the one form both writers can set: ``userMetadata``.
Spark's stream job is Structured Streaming, which writes its own appends. Spark writes at the
s3a name of a table (``SparkEngine.path``) and delta-rs reads it at the ``s3://`` URI: the Delta
log holds paths relative to the table, so both read one log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from pinpipe.lake.delta import Coverage, TableStore, commit_metadata, newer_than

if TYPE_CHECKING:
    from pinpipe.engines.spark.engine import SparkEngine


class SparkStore(TableStore):
    def __init__(self, engine: SparkEngine, storage_options: dict[str, str] | None) -> None:
        super().__init__(storage_options)
        self._engine = engine

    def overwrite(
        self,
        uri: str,
        rows: pa.Table,
        *,
        coverage: Coverage | None = None,
        predicate: str | None = None,
    ) -> None:
        writer = self._engine.from_arrow(rows).write.format("delta").mode("overwrite")
        if predicate is None:
            writer = writer.option("overwriteSchema", "true")
        else:
            writer = writer.option("replaceWhere", predicate)
        if coverage is not None:
            writer = writer.option("userMetadata", commit_metadata(coverage))
        writer.save(self._engine.path(uri))

    def merge_newer(self, uri: str, rows: pa.Table, *, key: str, added: Coverage) -> None:
        """delta-spark's MERGE; the commit's ``userMetadata`` comes from the session conf."""
        from delta.tables import DeltaTable

        spark = self._engine.session
        path = self._engine.path(uri)
        if not DeltaTable.isDeltaTable(spark, path):
            self.overwrite(uri, rows, coverage=added)
            return
        conf = "spark.databricks.delta.commitInfo.userMetadata"
        spark.conf.set(conf, self._merged_metadata(uri, added, None))
        try:
            (
                DeltaTable.forPath(spark, path)
                .alias("t")
                .merge(self._engine.from_arrow(rows).alias("s"), f"t.{key} = s.{key}")
                .whenMatchedUpdateAll(condition=newer_than("s", "t"))
                .whenNotMatchedInsertAll()
                .execute()
            )
        finally:
            spark.conf.unset(conf)
