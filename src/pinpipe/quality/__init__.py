"""Data-quality monitoring: checks declared in settings, evaluated per batch run, per closed
one-minute stream window and on a clock, with every result appended to ``tables/quality/results``.

``evaluate_run`` (a batch day), ``evaluate_window`` (the stream job calls it with a closed
window's bounds), ``QualityMonitor`` (the clock: freshness fires even when nothing arrives).
"""

from pinpipe.quality.checks import CheckResult, Scope, Status, default_checks, effective_checks
from pinpipe.quality.evaluate import (
    closed_windows,
    evaluate_clock,
    evaluate_run,
    evaluate_window,
)
from pinpipe.quality.monitor import QualityMonitor

__all__ = [
    "CheckResult",
    "QualityMonitor",
    "Scope",
    "Status",
    "closed_windows",
    "default_checks",
    "effective_checks",
    "evaluate_clock",
    "evaluate_run",
    "evaluate_window",
]
