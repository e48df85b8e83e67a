"""The quality clock fires freshness on a silent lake and records results when they change."""

from __future__ import annotations

from pinpipe.engines import interactive_engine
from pinpipe.lake import Lake
from pinpipe.quality import QualityMonitor
from pinpipe.settings import CheckSettings, QualitySettings
from tests.helpers import delta_rows
from tests.quality.crafted import MINUTE, T0, cleaned_rows, write


def test_freshness_fires_when_nothing_arrives_and_results_are_recorded_on_change(
    lake: Lake,
) -> None:
    fresh = CheckSettings(name="pins_fresh", kind="freshness", table="pin", minutes=2)
    settings = QualitySettings(checks=(fresh,), record_every_seconds=600)
    now = [T0 / 1000]
    monitor = QualityMonitor(lake, interactive_engine(), settings, clock=lambda: now[0])
    assert [r.status for r in monitor.tick()] == ["pass"]  # just started
    now[0] += 60
    monitor.tick()  # unchanged: not recorded again
    now[0] += 120
    (silent,) = monitor.tick()
    assert silent.status == "warn" and "no pin records in 3.0 min" in silent.message
    write(lake.table("stream", "pin"), cleaned_rows(1, at=T0 + 3 * MINUTE))
    (back,) = monitor.tick()
    assert (back.status, back.key) == ("pass", "pinpipe.pin")
    recorded = [(r["status"], r["key"], r["scope"]) for r in delta_rows(lake.quality_results)]
    assert sorted(recorded) == sorted(
        [("pass", "", "clock"), ("warn", "", "clock"), ("pass", "pinpipe.pin", "clock")]
    )
