"""Spark's table store: batch tables written by delta-spark, so they are the cluster's own.

History (watermarks, app-transaction versions) is read through delta-rs like every other
table, so the watermark is written in the one form both writers can set: ``userMetadata``.
Spark's stream job is Structured Streaming, which writes its own appends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from pinpipe.errors import ConfigError
from pinpipe.lake.delta import Coverage, TableStore, commit_metadata, newer_than
from pinpipe.lake.storage import is_local

if TYPE_CHECKING:
    from pinpipe.engines.spark.engine import SparkEngine


def local_only(uris: Sequence[str]) -> None:
    """Spark reaches local (or cluster-mounted) paths only, until s3a is wired in."""
    remote = [u for u in uris if not is_local(u)]
    if remote:
        raise ConfigError(
            f"the Spark engine cannot reach {remote[0]!r} yet (object storage needs s3a): "
            "run this job with --engine duckdb, or keep the lake on a path Spark can read"
        )


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
        local_only([uri])
        writer = self._engine.from_arrow(rows).write.format("delta").mode("overwrite")
        if predicate is None:
            writer = writer.option("overwriteSchema", "true")
        else:
            writer = writer.option("replaceWhere", predicate)
        if coverage is not None:
            writer = writer.option("userMetadata", commit_metadata(coverage))
        writer.save(uri)

    def merge_newer(self, uri: str, rows: pa.Table, *, key: str, coverage: Coverage) -> None:
        """delta-spark's MERGE; the commit's ``userMetadata`` comes from the session conf."""
        from delta.tables import DeltaTable

        local_only([uri])
        spark = self._engine.session
        if not DeltaTable.isDeltaTable(spark, uri):
            self.overwrite(uri, rows, coverage=coverage)
            return
        conf = "spark.databricks.delta.commitInfo.userMetadata"
        spark.conf.set(conf, commit_metadata(coverage, self.watermark(uri)))
        try:
            (
                DeltaTable.forPath(spark, uri)
                .alias("t")
                .merge(self._engine.from_arrow(rows).alias("s"), f"t.{key} = s.{key}")
                .whenMatchedUpdateAll(condition=newer_than("s", "t"))
                .whenNotMatchedInsertAll()
                .execute()
            )
        finally:
            spark.conf.unset(conf)
