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

    def tick(self) -> list[CheckResult]:
        now = int(self._clock() * 1000)
        self.last = evaluate_clock(self.lake, self.engine, self.checks, now, since=self.started_ms)
        for r in self.last:
            if r.failed:
                log.warning("data quality: %s", r.describe())
        return self.last

    def run(self, stop: threading.Event) -> None:
        while True:
            self.tick()
            if stop.wait(self.settings.every_seconds):
                return
