"""The stream job: log → cleaned rows in ``tables/stream/<table>``, exactly once.

How the records are read and committed is the engine's (its ``stream_runner``: micro-batches
over any log, or Spark Structured Streaming over Kafka); this module only composes it from
the settings, so callers never ask which engine runs.
"""

from __future__ import annotations

from pinpipe.engines import Engine, StreamRunner, get_engine
from pinpipe.lake.layout import Lake, open_lake
from pinpipe.settings import Settings


def stream_job(
    settings: Settings, *, lake: Lake | None = None, engine: Engine | None = None
) -> StreamRunner:
    """The stream job the settings describe (engine, log, lake, trigger)."""
    engine = engine or get_engine(settings=settings)
    return engine.stream_runner(settings, lake or open_lake(settings))
