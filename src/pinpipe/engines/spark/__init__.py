"""The scale-out engine: PySpark through Ibis, Delta through delta-spark (``pinpipe[spark]``)."""

from pinpipe.engines.spark.engine import SparkEngine, json_schema

__all__ = ["SparkEngine", "json_schema"]
