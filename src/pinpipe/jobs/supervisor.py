"""``pinpipe up``: ingest API, lake sink, stream job and batch scheduler in one process.

Each part runs in its own thread with its own log handle. Stopping is two-staged: the API
stops accepting and finishes in-flight requests first, then the sink and the stream job
drain what the log holds, commit, and return. A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from pinpipe.engines import get_engine
from pinpipe.ingest.server import serve
from pinpipe.jobs.batch import run_batch
from pinpipe.jobs.stream import StreamJob
from pinpipe.log import open_log
from pinpipe.settings import Settings
from pinpipe.sink.lake_sink import LakeSink

log = logging.getLogger(__name__)


@dataclass
class Supervisor:
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server_stop = threading.Event()
        self._pipeline_stop = threading.Event()
        lake = self.settings.open_lake()
        self.sink = LakeSink(open_log(self.settings), lake, self.settings.sink)
        self.stream = StreamJob(
            open_log(self.settings), lake, get_engine("duckdb"), self.settings.stream
        )

    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # a dead stage must stop the whole process
                log.exception("%s failed", name)
                self.errors.append(exc)
                self.stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        return thread

    def _batch_loop(self) -> None:
        every = self.settings.batch.every_minutes * 60
        while every and not self._pipeline_stop.wait(every):
            report = run_batch(self.settings.open_lake(), get_engine("duckdb"))
            log.info("scheduled batch: %d raw records", report.total_raw)

    def run(self) -> int:
        """Run until ``stop`` is set; returns the process exit code."""
        server = self._thread(
            "ingest",
            lambda: serve(self.settings, ready=self.ready, stop=self._server_stop),
        )
        workers = [
            self._thread("sink", lambda: self.sink.run(self._pipeline_stop)),
            self._thread("stream", lambda: self.stream.run(self._pipeline_stop)),
            self._thread("batch-scheduler", self._batch_loop),
        ]
        self.stop.wait()
        log.info("stopping: draining ingest, then sink and stream")
        self._server_stop.set()
        server.join()
        self._pipeline_stop.set()
        for worker in workers:
            worker.join()
        return 1 if self.errors else 0

    def install_signal_handlers(self) -> None:
        """First SIGINT/SIGTERM drains; a second one exits immediately."""

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                os._exit(130)
            log.info("received %s", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)
