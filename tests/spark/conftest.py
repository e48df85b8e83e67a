"""One SparkSession (local[2], small) for every Spark test: starting Spark costs seconds."""

from __future__ import annotations

import pytest

from pinpipe.engines.spark import SparkEngine
from pinpipe.settings import SparkSettings


@pytest.fixture(scope="session")
def spark_engine() -> SparkEngine:
    """The shared Spark engine; the session lives until the test process ends."""
    return SparkEngine(SparkSettings(master="local[2]", driver_memory="1g", shuffle_partitions=2))
