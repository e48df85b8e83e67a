"""The data-quality gate of one ingest day: a scheduler's go/no-go after the day's batch run.

Every configured check that applies to a batch run (``pinpipe.quality``) is evaluated over the
day and recorded; a failing ``block`` check (by default: a table's reject share above
``quality.max_reject_share``, or a duplicate ``ind`` in a batch table) fails the gate
(``pinpipe quality --date`` exits 3), so a broken producer stops the daily run instead of
quietly thinning the tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pinpipe.engines import Engine
from pinpipe.lake.layout import Lake
from pinpipe.quality import CheckResult, effective_checks, evaluate_run
from pinpipe.settings import QualitySettings


@dataclass(frozen=True)
class DayQuality:
    day: dt.date
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> list[CheckResult]:
        """The blocking checks that failed."""
        return [r for r in self.results if r.blocks]

    @property
    def passed(self) -> bool:
        return not self.failed


def day_quality(lake: Lake, engine: Engine, day: dt.date, settings: QualitySettings) -> DayQuality:
    """Evaluate and record the run checks of ``day`` (run after ``batch --date``)."""
    checks = effective_checks(settings)
    results = evaluate_run(lake, engine, checks, day, examples=settings.examples)
    return DayQuality(day, tuple(results))
