"""``pinpipe up``: ingest API, lake sink, stream job and batch scheduler in one process.

Each part runs in its own thread with its own log handle. Stopping is two-staged: the API
stops accepting and finishes in-flight requests first, then the sink and the stream job
drain what the log holds, commit, and return. A second signal exits at once. A sink, stream
or batch failure is logged and that part restarts with backoff from its committed position,
for as long as it takes; only the API failing to start stops the process.

The log going away (a Kafka broker stopped: ``LogUnavailableError``) is an outage, not a bug:
one warning line when it starts and one a minute while it lasts (no stack traces), retries
every ``UNAVAILABLE_RETRY_MAX_S`` at most, so a returning broker is used within seconds, and
a line when the stage works again. A restarted sink or stream shows ``restarting`` in
the stage health until its first pass over the log succeeds (its ``beat``).

A full disk (``DiskFullError``, the log's or the lake's) is no failure either: the stage
pauses with one line naming the path, checks every ``lake.disk_full_retry_s`` whether a
probe write fits there, and resumes from its committed position, while ingest answers 507.
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
from pinpipe.errors import DiskFullError, LogUnavailableError
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
UNAVAILABLE_RETRY_MAX_S = 5.0
"""Longest wait between retries while the log is unreachable."""
UNAVAILABLE_REMIND_S = 60.0
"""While the log stays unreachable, a stage says so again this often."""
HEALTHY_AFTER_S = 60.0
"""A stage that ran this long before it failed restarts from the shortest backoff again."""

Beat = Callable[[], None]
"""What a stage calls after each pass that worked: it is running (again)."""

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
        self,
        name: str,
        target: Callable[[Beat], None],
        *,
        restart: bool = False,
        beats: bool = False,
    ) -> threading.Thread:
        """Run ``target(beat)`` in a thread; a failure restarts it with backoff or stops
        everything, and a full disk pauses it (``_pause``). With ``beats`` a restarted stage is
        ``running`` only once it beats."""
        outage: list[float] = []  # [since, last line] while the log is unreachable

        def beat() -> None:
            if outage:
                log.warning("%s: the log answers again after %.0fs; resumed", name, _ago(outage[0]))
                outage.clear()
            self.status.alive(name)

        def guarded() -> None:
            backoff = RESTART_MIN_S
            attempt = 0
            while True:
                if attempt == 0 or not beats:
                    self.status.set(name, "running")
                attempt += 1
                started = time.monotonic()
                try:
                    target(beat)
                    self.status.set(name, "stopped")
                    return
                except Exception as exc:
                    if (
                        restart
                        and not self._pipeline_stop.is_set()
                        and isinstance(exc, DiskFullError)
                    ):
                        if self._pause(name, exc):
                            self.status.set(name, "restarting")  # running once it beats
                            continue
                        self.status.set(name, "stopped")
                        return
                    unreachable = isinstance(exc, LogUnavailableError)
                    if restart and self._pipeline_stop.is_set() and unreachable:
                        # Stopping with the log away: what was not committed is read again
                        # on the next start, so this is no failure of the stage.
                        log.warning("%s stopped with the log unreachable: %s", name, exc)
                        self.status.set(name, "stopped", exc)
                        return
                    if not restart or self._pipeline_stop.is_set():
                        log.exception("%s failed; stopping", name)
                        self.status.set(name, "failed", exc)
                        self.errors.append(exc)
                        self.stop.set()
                        return
                    if time.monotonic() - started >= HEALTHY_AFTER_S:
                        backoff = RESTART_MIN_S
                    cap = UNAVAILABLE_RETRY_MAX_S if unreachable else RESTART_MAX_S
                    backoff = min(backoff, cap)
                    if unreachable:
                        _report_outage(name, exc, outage, backoff)
                    else:
                        log.exception("%s failed; restarting in %.0fs", name, backoff)
                    self.status.set(name, "restarting", exc)
                    if self._pipeline_stop.wait(backoff):
                        self.status.set(name, "stopped")
                        return
                    backoff = min(backoff * 2, cap)

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

    def _run_sink(self, beat: Beat) -> None:
        self.sink.reset()  # after a failure, resume from committed offsets, not memory
        self.sink.run(self._pipeline_stop, beat=beat)

    def _run_stream(self, beat: Beat) -> None:
        self.stream.reset()
        self.stream.run(self._pipeline_stop, beat=beat)

    def _batch_loop(self, beat: Beat) -> None:
        every = self.settings.batch.every_minutes * 60
        while every and not self._pipeline_stop.wait(every):
            started = time.perf_counter()
            engine = get_engine(settings=self.settings)
            try:
                report = run_batch(open_lake(self.settings), engine)
            finally:
                engine.close()  # a DuckDB connection holds its buffers until closed
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

    def _run_quality(self, beat: Beat) -> None:
        """Freshness on a clock (its own sealed embedded engine: it only reads and appends)."""
        lake, engine = open_lake(self.settings), interactive_engine()
        QualityMonitor(lake, engine, self.settings.quality).run(self._pipeline_stop)

    def _run_alerts(self, beat: Beat) -> None:
        if self.settings.alerts.rules:
            lake, engine = open_lake(self.settings), interactive_engine()
            AlertEngine(lake, engine, self.settings.alerts).run(self._pipeline_stop)

    def run(self) -> int:
        """Run until ``stop`` is set; returns the process exit code."""
        server = self._thread(
            "ingest",
            lambda beat: serve(
                self.settings, ready=self.ready, stop=self._server_stop, compose=self._compose()
            ),
        )
        workers = [
            self._thread("sink", self._run_sink, restart=True, beats=True),
            self._thread("stream", self._run_stream, restart=True, beats=True),
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


def _ago(since: float) -> float:
    return time.monotonic() - since


def _report_outage(name: str, exc: Exception, outage: list[float], wait: float) -> None:
    """A line when the log becomes unreachable, then one per ``UNAVAILABLE_REMIND_S``."""
    now = time.monotonic()
    if not outage:
        outage[:] = [now, now]
        log.warning("%s: the log is unreachable, retrying every %.0fs: %s", name, wait, exc)
    elif now - outage[1] >= UNAVAILABLE_REMIND_S:
        outage[1] = now
        log.warning(
            "%s: the log is still unreachable after %.0fs, retrying: %s", name, _ago(outage[0]), exc
        )
