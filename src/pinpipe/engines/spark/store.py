"""Spark's table store: batch tables written by delta-spark, so they are the cluster's own.

History (watermarks, app-transaction versions) is read through delta-rs like every other
table, so the watermark is written in the one form both writers can set: ``userMetadata``.
Spark's stream job is Structured Streaming, which writes its own appends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from pinpipe.lake.delta import Positions, TableStore, commit_metadata

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
        watermark: Positions | None = None,
        predicate: str | None = None,
    ) -> None:
        writer = self._engine.from_arrow(rows).write.format("delta").mode("overwrite")
        if predicate is None:
            writer = writer.option("overwriteSchema", "true")
        else:
            writer = writer.option("replaceWhere", predicate)
        if watermark is not None:
            writer = writer.option("userMetadata", commit_metadata(watermark))
        writer.save(uri)
