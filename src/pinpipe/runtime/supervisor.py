"""``pinpipe up``: ingest API, lake sink, stream job and batch scheduler in one process.

Each part runs in its own thread with its own log handle. Stopping is two-staged: the API
stops accepting and finishes in-flight requests first, then the sink and the stream job
drain what the log holds, commit, and return. A second signal exits at once. A sink, stream
or batch failure is logged and that part restarts with backoff from its committed position;
only the API failing to start stops the process. A full disk (``DiskFullError``, the log's or
the lake's) is no failure: the stage pauses with one line naming the path, checks every
``lake.disk_full_retry_s`` whether a probe write fits there, and resumes from its committed
position, while ingest answers 507 on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinpipe.alerts import AlertEngine
from pinpipe.console.status import PipelineStatus
from pinpipe.engines import get_engine, interactive_engine
from pinpipe.errors import DiskFullError
from pinpipe.ingest.app import IngestApp
from pinpipe.ingest.key_file import install_sighup_handler
from pinpipe.ingest.server import serve
from pinpipe.jobs.batch import run_batch
from pinpipe.jobs.stream import stream_job
from pinpipe.lake.layout import open_lake
from pinpipe.log import open_log, verify_log
from pinpipe.quality import QualityMonitor
from pinpipe.quality import metrics as quality_metrics
from pinpipe.runtime.signals import stop_on_signals
from pinpipe.settings import Settings
from pinpipe.sink.lake_sink import LakeSink

log = logging.getLogger(__name__)

RESTART_MIN_S = 1.0
RESTART_MAX_S = 60.0
PROBE_BYTES = 1024 * 1024
"""What must fit on a full disk before its paused stages resume."""


def has_room(path: str, nbytes: int = PROBE_BYTES) -> bool:
    """Whether ``nbytes`` can be written (and fsync'd) beside ``path`` now: a real probe file,
    deleted at once, since free-space figures miss quotas and reserved blocks."""
    if "://" in path and not path.startswith("file://"):
        return True  # object stores do not fill up
    folder = Path(path.removeprefix("file://"))
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    probe = folder / f".pinpipe-space-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as out:
            out.write(b"\0" * nbytes)
            out.flush()
            os.fsync(out.fileno())
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


@dataclass
class Supervisor:
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    status: PipelineStatus = field(default_factory=PipelineStatus)
    """Each stage's health and the last batch run, for the console and ``/metrics``."""

    def __post_init__(self) -> None:
        self._server_stop = threading.Event()
        self._pipeline_stop = threading.Event()
        verify_log(self.settings)  # never serve a damaged log: acknowledged records live there
        lake = open_lake(self.settings)
        self.sink = LakeSink(open_log(self.settings), lake, self.settings.sink)
        self.stream = stream_job(self.settings, lake=lake)

    def _thread(
        self, name: str, target: Callable[[], None], *, restart: bool = False
    ) -> threading.Thread:
        """Run ``target`` in a thread; with ``restart`` a failure restarts it with backoff and a
        full disk pauses it (``_pause``); without, or while stopping, a failure stops all."""

        def guarded() -> None:
            backoff = RESTART_MIN_S
            while True:
                self.status.set(name, "running")
                try:
                    target()
                    self.status.set(name, "stopped")
                    return
                except Exception as exc:
                    running = restart and not self._pipeline_stop.is_set()
                    if running and isinstance(exc, DiskFullError):
                        if self._pause(name, exc):
                            continue
                        self.status.set(name, "stopped")
                        return
                    if not running:
                        log.exception("%s failed; stopping", name)
                        self.status.set(name, "failed", exc)
                        self.errors.append(exc)
                        self.stop.set()
                        return
                    log.exception("%s failed; restarting in %.0fs", name, backoff)
                    self.status.set(name, "restarting", exc)
                    if self._pipeline_stop.wait(backoff):
                        self.status.set(name, "stopped")
                        return
                    backoff = min(backoff * 2, RESTART_MAX_S)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        return thread

    def _pause(self, name: str, exc: DiskFullError) -> bool:
        """Wait until ``exc.path`` has room again; False when ``pinpipe up`` stops meanwhile.

        Nothing is lost by stopping the stage: it resumes from its committed positions (the
        sink's offsets, the stream tables' app transactions), which a failed write never moved.
        """
        every = self.settings.lake.disk_full_retry_s
        log.error(
            "%s disk full at %s: pausing %s, retrying every %g s; free space on that filesystem "
            "(or move %s.%s) to resume (%s)",
            exc.store,
            exc.path,
            name,
            every,
            exc.store,
            exc.setting,
            exc,
        )
        self.status.set(name, "paused", exc)
        while not self._pipeline_stop.wait(every):
            if has_room(exc.path):
                log.warning("%s disk has room again at %s: %s resumes", exc.store, exc.path, name)
                return True
        return False

    def _run_sink(self) -> None:
        self.sink.reset()  # after a failure, resume from committed offsets, not memory
        self.sink.run(self._pipeline_stop)

    def _run_stream(self) -> None:
        self.stream.reset()
        self.stream.run(self._pipeline_stop)

    def _batch_loop(self) -> None:
        every = self.settings.batch.every_minutes * 60
        while every and not self._pipeline_stop.wait(every):
            started = time.perf_counter()
            report = run_batch(open_lake(self.settings), get_engine(settings=self.settings))
            self.status.batch_ran(report.total_raw, time.perf_counter() - started)
            log.info("scheduled batch: %d raw records", report.total_raw)

    def _compose(self) -> Callable[[IngestApp], Any]:
        """The ingest app with the quality gauges on its ``/metrics``, and the console beside
        it unless ``console.enabled`` is off."""
        console = None
        if self.settings.console.enabled:
            from pinpipe.console.mount import attach

            console = attach(
                self.settings, self.status, lambda: self.stream.stats, self._server_stop
            )

        def compose(ingest: IngestApp) -> Any:
            ingest.ctx.metrics.registry.register(quality_metrics.collector())
            return console(ingest) if console is not None else ingest

        return compose

    def _run_quality(self) -> None:
        """Freshness on a clock (its own sealed embedded engine: it only reads and appends)."""
        lake, engine = open_lake(self.settings), interactive_engine()
        QualityMonitor(lake, engine, self.settings.quality).run(self._pipeline_stop)

    def _run_alerts(self) -> None:
        if self.settings.alerts.rules:
            lake, engine = open_lake(self.settings), interactive_engine()
            AlertEngine(lake, engine, self.settings.alerts).run(self._pipeline_stop)

    def run(self) -> int:
        """Run until ``stop`` is set; returns the process exit code."""
        server = self._thread(
            "ingest",
            lambda: serve(
                self.settings, ready=self.ready, stop=self._server_stop, compose=self._compose()
            ),
        )
        workers = [
            self._thread("sink", self._run_sink, restart=True),
            self._thread("stream", self._run_stream, restart=True),
            self._thread("batch-scheduler", self._batch_loop, restart=True),
            self._thread("quality-monitor", self._run_quality, restart=True),
            self._thread("alerts", self._run_alerts, restart=True),
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
        """First SIGINT/SIGTERM drains; a second one exits immediately; with
        ``ingest.api_keys_file``, SIGHUP re-reads it (else SIGHUP keeps its default)."""
        stop_on_signals(self.stop)
        if self.settings.ingest.api_keys_file:
            install_sighup_handler()
