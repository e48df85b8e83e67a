"""The clock of data quality: freshness checks evaluated every ``quality.every_seconds``.

The stream job evaluates closed windows and the batch run its day, but neither runs when
nothing arrives; this loop does, so "no pin records for 10 minutes" fires on a silent log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pinpipe.engines import Engine
from pinpipe.lake.layout import Lake
from pinpipe.quality.checks import CheckResult, effective_checks
from pinpipe.quality.evaluate import evaluate_clock
from pinpipe.quality.results import append_results
from pinpipe.settings import QualitySettings

log = logging.getLogger(__name__)


class QualityMonitor:
    """``run(stop)`` in a thread of ``pinpipe up``; ``tick()`` evaluates once."""

    def __init__(
        self,
        lake: Lake,
        engine: Engine,
        settings: QualitySettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lake = lake
        self.engine = engine
        self.settings = settings
        self.checks = effective_checks(settings)
        self._clock = clock
        self.started_ms = int(clock() * 1000)
        self.last: list[CheckResult] = []
        self._recorded: dict[tuple[str, str], str] = {}
        self._recorded_at = -float("inf")

    def tick(self) -> list[CheckResult]:
        """Evaluate the clock's checks; record them when a status changed or a while passed."""
        now = int(self._clock() * 1000)
        found = evaluate_clock(
            self.lake, self.engine, self.checks, now, since=self.started_ms, record=False
        )
        statuses: dict[tuple[str, str], str] = {(r.check.name, r.key): r.status for r in found}
        heartbeat = now - self._recorded_at >= 1000 * self.settings.record_every_seconds
        if statuses != self._recorded or heartbeat:
            append_results(self.engine.tables, self.lake.quality_results, found)
            self._recorded, self._recorded_at = statuses, now
        for r in found:
            if r.failed and self.last_status(r) != r.status:
                log.warning("data quality: %s", r.describe())
        self.last = found
        return found

    def last_status(self, result: CheckResult) -> str | None:
        """The status of the same check and key at the previous tick."""
        for r in self.last:
            if (r.check.name, r.key) == (result.check.name, result.key):
                return r.status
        return None

    def run(self, stop: threading.Event) -> None:
        while True:
            self.tick()
            if stop.wait(self.settings.every_seconds):
                return
