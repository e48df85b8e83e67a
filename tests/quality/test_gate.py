"""``pinpipe quality --date``: every run check recorded, exit 3 naming a failed ``block`` check."""

from __future__ import annotations

import json
from pathlib import Path

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from tests.helpers import DAYS, delta_rows, land_three_days, run_pinpipe


def _batched(log: EmbeddedLog, lake: Lake, source: SourceTables, settings: Settings) -> None:
    land_three_days(log, lake, source)
    run_batch(lake, get_engine(settings=settings))


def test_the_gate_passes_records_results_and_reports(
    log: EmbeddedLog, lake: Lake, source: SourceTables, settings: Settings, tmp_path: Path
) -> None:
    _batched(log, lake, source, settings)
    gate = run_pinpipe(tmp_path, "quality", "--date", DAYS[1].isoformat())
    assert gate.returncode == 0, gate.stderr
    assert "quality gate passed" in gate.stdout
    recorded = {r["check"]: r for r in delta_rows(lake.quality_results)}
    assert recorded["geo_reject_share"]["status"] == "pass"
    assert recorded["geo_reject_share"]["observed"] == 1 / 61  # the day's one geo reject
    assert recorded["pin_unique_ind"]["scope"] == "run"

    report = run_pinpipe(tmp_path, "quality")
    assert report.returncode == 0, report.stderr
    assert "latest result of each check" in report.stdout
    assert "geo_reject_share" in report.stdout and "observed / threshold" in report.stdout


def test_a_block_failure_stops_the_gate_with_exit_3_naming_the_check(
    log: EmbeddedLog, lake: Lake, source: SourceTables, settings: Settings, tmp_path: Path
) -> None:
    _batched(log, lake, source, settings)
    day = DAYS[1].isoformat()
    strict = run_pinpipe(tmp_path, "quality", "--date", day, PINPIPE_QUALITY__MAX_REJECT_SHARE="0")
    assert strict.returncode == 3, strict.stdout + strict.stderr
    assert "quality gate failed: geo_reject_share (quarantine_rate, geo, block)" in strict.stderr
    assert "1 of 61 records quarantined" in strict.stderr
    assert "pin_reject_share" not in strict.stderr  # only the failed check is named

    checks = [
        {"name": "pin_titles", "kind": "null_rate", "table": "pin", "column": "title"},
        {"name": "strict_titles", "kind": "null_rate", "table": "pin", "column": "title",
         "severity": "block", "max_share": 0.0},
    ]  # fmt: skip
    custom = run_pinpipe(
        tmp_path, "quality", "--date", day, PINPIPE_QUALITY__CHECKS=json.dumps(checks)
    )
    nulls = sum(1 for r in delta_rows(lake.table("batch", "pin")) if r["title"] is None)
    assert custom.returncode == (3 if nulls else 0), custom.stderr
    if nulls:
        assert "quality gate failed: strict_titles" in custom.stderr
        assert "pin_titles" not in custom.stderr  # a warn check never blocks

    relaxed = run_pinpipe(tmp_path, "quality", "--date", day, "--max-reject-share", "0.5")
    assert relaxed.returncode == 0, relaxed.stderr


def test_a_batch_run_with_the_gate_stops_at_the_first_failing_day(
    log: EmbeddedLog, lake: Lake, source: SourceTables, tmp_path: Path
) -> None:
    land_three_days(log, lake, source)
    days = ("--since", DAYS[0].isoformat(), "--until", DAYS[2].isoformat(), "--skip-results")
    strict = {"PINPIPE_QUALITY__MAX_REJECT_SHARE": "0"}  # day two holds a geo reject
    run = run_pinpipe(tmp_path, "batch", *days, "--quality-gate", **strict)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "quality gate failed: geo_reject_share" in run.stderr
    assert f"{DAYS[1]}: geo" in run.stdout and f"{DAYS[2]}:" not in run.stdout  # stopped there
    judged = {(r["check"], r["window_start"].date()) for r in delta_rows(lake.quality_results)}
    assert ("geo_reject_share", DAYS[0]) in judged and ("geo_reject_share", DAYS[1]) in judged
