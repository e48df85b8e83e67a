"""The stream job: log → cleaned rows in ``tables/stream/<table>``, exactly once.

How the records are read and committed is the engine's (its ``stream_runner``: micro-batches
over any log, or Spark Structured Streaming over Kafka); this module only composes it from
the settings, so callers never ask which engine runs.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from pinpipe.engines import Engine, StreamRunner, get_engine, interactive_engine
from pinpipe.lake.layout import Lake, open_lake
from pinpipe.quality.checks import effective_checks
from pinpipe.quality.evaluate import closed_windows, evaluate_window
from pinpipe.settings import Settings

log = logging.getLogger(__name__)


def stream_job(
    settings: Settings, *, lake: Lake | None = None, engine: Engine | None = None
) -> StreamRunner:
    """The stream job the settings describe (engine, log, lake, trigger), with the quality
    checks judged on every closed one-minute window of its real-time windows."""
    engine = engine or get_engine(settings=settings)
    lake = lake or open_lake(settings)
    runner = engine.stream_runner(settings, lake)
    if settings.stream.realtime:
        runner.on_windows_merged(WindowJudge(lake, settings))
    return runner


class WindowJudge:
    """Runs the window checks of each newly closed window, in a thread of its own so the
    stream job's micro-batches never wait for them (about 0.3 s a window)."""

    def __init__(self, lake: Lake, settings: Settings) -> None:
        self._lake = lake
        self._checks = effective_checks(settings.quality)
        self._examples = settings.quality.examples
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="window-checks")
        self._busy = threading.Lock()

    def __call__(self, closed_before: int) -> None:
        if self._busy.acquire(blocking=False):  # one judge at a time; the next merge catches up
            self._pool.submit(self._judge, closed_before)

    def _judge(self, closed_before: int) -> None:
        engine = interactive_engine()
        try:
            for start, end in closed_windows(self._lake, engine, closed_before):
                evaluate_window(
                    self._lake, engine, self._checks, start, end, examples=self._examples
                )
        except Exception:  # a check that cannot run is logged; the stream job goes on
            log.exception("window checks failed")
        finally:
            engine.close()
            self._busy.release()
