"""A damaged embedded-log file: pinpipe refuses to serve it, `pinpipe doctor` saves the rest.

The file is damaged for real: a page in the middle of the records is overwritten with
garbage after the log is closed, as a bad disk sector or a torn copy would leave it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pinpipe.log.base import ProduceRecord
from pinpipe.log.doctor import DamagedLogError, diagnose, recover, refuse_if_damaged
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings
from tests.helpers import run_pinpipe

RECORDS = 3_000


def _values() -> list[bytes]:
    return [b'{"ind": %d, "title": "%s"}' % (i, b"x" * 400) for i in range(RECORDS)]


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A home whose log held 3,000 acknowledged records, one of its pages now garbage."""
    path = load_settings(home=tmp_path).log_path
    with EmbeddedLog(path) as log:
        for start in range(0, RECORDS, 500):
            log.produce("d.pin", [ProduceRecord(v) for v in _values()[start : start + 500]])
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, as a clean stop does
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page,) = conn.execute("PRAGMA page_size").fetchone()
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
    with path.open("r+b") as f:
        f.seek((pages // 2) * page)
        f.write(b"\xa5" * page)
    return tmp_path


def test_a_healthy_log_passes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path) as log:
        log.produce("d.pin", [ProduceRecord(b"{}")])
    assert diagnose(path).healthy
    refuse_if_damaged(path)


def test_pinpipe_refuses_to_serve_a_damaged_log(damaged: Path) -> None:
    path = load_settings(home=damaged).log_path
    with pytest.raises(DamagedLogError, match="pinpipe doctor --recover"):
        refuse_if_damaged(path)
    served = run_pinpipe(damaged, "serve", "--port", "0")
    assert served.returncode == 2, served.stderr
    assert "is damaged" in served.stderr and "pinpipe doctor" in served.stderr
    assert "Traceback" not in served.stderr
    up = run_pinpipe(damaged, "up", "--port", "0")
    assert up.returncode == 2 and "pinpipe doctor" in up.stderr


def test_doctor_recovers_every_readable_record_and_names_the_lost_offsets(damaged: Path) -> None:
    checked = run_pinpipe(damaged, "doctor")
    assert checked.returncode == 1 and "damaged" in checked.stdout, checked.stderr

    done = run_pinpipe(damaged, "doctor", "--recover")
    assert done.returncode == 1, done.stderr
    target = load_settings(home=damaged).log_path.with_suffix(".recovered.db")
    assert f"into {target}" in done.stdout

    assert diagnose(target).problems == [] or all("holds" in p for p in diagnose(target).problems)
    report = recover(load_settings(home=damaged).log_path, damaged / "again.db")
    lost = {o for ranges in report.lost.values() for a, b in ranges for o in range(a, b)}
    assert 0 < len(lost) < RECORDS // 10, "one damaged page loses a few records, not all"
    assert report.records == RECORDS - len(lost)
    with EmbeddedLog(target) as log:
        values = _values()
        kept = log.fetch("d.pin", 0, 0, RECORDS)
        assert {r.offset for r in kept} == set(range(RECORDS)) - lost
        assert all(r.value == values[r.offset] for r in kept), "recovered bytes are the originals"
        assert log.end_offset("d.pin", 0) == RECORDS  # new appends never reuse a lost offset
    spans = [line for line in done.stdout.splitlines() if line.strip().startswith("d.pin[0]")]
    assert spans, done.stdout
