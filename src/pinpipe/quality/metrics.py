"""Prometheus gauges per check: the last observed value and status of each check and key.

A collector of this process's latest results, not a registry of its own: whoever exposes
metrics (the runtime, the console) registers ``collector()`` in its registry, so the ingest
app never imports this package.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pinpipe.quality.checks import CheckResult

STATUS_VALUE = {"pass": 0.0, "warn": 1.0, "fail": 2.0}


class QualityCollector(Collector):
    """``pinpipe_quality_observed`` and ``pinpipe_quality_status`` (0 pass, 1 warn, 2 fail)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str, str, str], CheckResult] = {}

    def observe(self, results: Sequence[CheckResult]) -> None:
        with self._lock:
            for r in results:
                self._latest[(r.check.name, r.check.table, r.key, r.scope)] = r

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["check", "table", "key", "scope"]
        observed = GaugeMetricFamily(
            "pinpipe_quality_observed", "Last observed value of a data-quality check", labels=labels
        )
        status = GaugeMetricFamily(
            "pinpipe_quality_status",
            "Last status of a check: 0 pass, 1 warn, 2 fail",
            labels=labels,
        )
        with self._lock:
            latest = dict(self._latest)
        for key, r in sorted(latest.items()):
            value = math.nan if r.observed is None else r.observed
            observed.add_metric(list(key), value)
            status.add_metric(list(key), STATUS_VALUE[r.status])
        yield observed
        yield status


_COLLECTOR = QualityCollector()


def collector() -> QualityCollector:
    """This process's collector: register it once, ``registry.register(collector())``."""
    return _COLLECTOR


def observe(results: Sequence[CheckResult]) -> None:
    _COLLECTOR.observe(results)
