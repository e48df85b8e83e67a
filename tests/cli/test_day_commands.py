"""The commands a scheduler runs each day: lake ready, batch --date, quality, results."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables
from pinpipe.lake import Lake
from pinpipe.lake.raw_index import day_bounds
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings
from pinpipe.transform.queries import QUERIES
from tests.helpers import DAYS, land_three_days, run_pinpipe

pytestmark = pytest.mark.slow


@pytest.fixture
def home(settings: Settings, log: EmbeddedLog, lake: Lake, source: SourceTables) -> Path:
    land_three_days(log, lake, source)
    return settings.home


def test_lake_ready_waits_for_the_sink_to_pass_the_day(home: Path, log: EmbeddedLog) -> None:
    ready = run_pinpipe(home, "lake", "ready", "--date", str(DAYS[1]))
    assert ready.returncode == 0 and "raw data complete" in ready.stdout
    # A late record of day 2 that the sink has not written yet: day 2 is not complete.
    log.clock = lambda: day_bounds(DAYS[1])[0] + 1_000
    log.produce("pinpipe.user", [ProduceRecord(b'{"ind": 1}')])
    late = run_pinpipe(home, "lake", "ready", "--date", str(DAYS[1]))
    assert late.returncode == 1 and "pinpipe.user[0]" in late.stdout
    today = dt.datetime.now(dt.UTC).date()
    open_day = run_pinpipe(home, "lake", "ready", "--date", str(today))
    assert open_day.returncode == 1 and "has not ended" in open_day.stdout


def test_a_day_run_then_the_gate_then_the_results(home: Path) -> None:
    batch = run_pinpipe(home, "batch", "--date", str(DAYS[0]), "--skip-results")
    assert batch.returncode == 0, batch.stderr
    assert f"{DAYS[0]}: pin: 60 raw → 60 rows" in batch.stdout
    assert not (home / "lake" / "results").exists()
    gate = run_pinpipe(home, "quality", "--date", str(DAYS[0]))
    assert gate.returncode == 0 and "quality gate passed" in gate.stdout
    results = run_pinpipe(home, "results")
    assert results.returncode == 0 and f"{len(QUERIES)} results refreshed" in results.stdout
    top = DeltaTable(str(home / "lake" / "results" / "top_country")).to_pyarrow_table()
    assert top.num_rows > 0
    out = run_pinpipe(home, "query", "top_country", "--view", "batch", "--format", "json")
    assert json.loads(out.stdout) == top.to_pylist()


def test_the_gate_fails_with_status_3_when_too_much_is_quarantined(home: Path) -> None:
    assert run_pinpipe(home, "batch", "--date", str(DAYS[1])).returncode == 0
    gate = run_pinpipe(home, "quality", "--date", str(DAYS[1]), "--max-reject-share", "0")
    assert gate.returncode == 3
    assert "geo" in gate.stderr and "quality gate failed" in gate.stderr
    assert "1 of 61 raw records quarantined" in gate.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "YYYY-MM-DD"),
        (["--date", "2026-11-01", "--full"], "--full rebuilds everything"),
        (["--until", "2026-11-01"], "--until needs --since"),
        (["--since", "2026-11-03", "--until", "2026-11-01"], "before --since"),
    ],
)
def test_bad_day_flags_name_the_fix(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_pinpipe(tmp_path, "batch", *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr
