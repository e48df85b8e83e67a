"""Make the small pinpipe home that later releases must still open (run once per release).

    python -m tests.upgrade.make_home tests/upgrade/homes/<release date>
    tar -czf tests/upgrade/homes/<release date>.tar.gz -C tests/upgrade/homes <release date>
    rm -r tests/upgrade/homes/<release date>     # only the archive is kept

A home made by the release of that date: an embedded log with records of three topics (and
an idempotency key, and the sink's and stream job's group offsets), its lake with the raw
zone, batch, stream, quarantine, realtime and result tables, and ``expected.json``: the
analytics that release answered over it. ``test_old_homes.py`` opens every home kept here
with the code of today.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

from pinpipe import __version__
from pinpipe.emulator.generator import generate
from pinpipe.engines import get_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import open_lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings, load_settings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import merged_answers, produce_rows, stream_once


def make(home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)
    settings = load_settings(home=home)
    lake = open_lake(settings)
    source = generate(60, seed=12)
    with EmbeddedLog(settings.log_path) as log:
        produce_rows(log, source, list(range(40)))
        log.produce("pinpipe.geo", [ProduceRecord(b'{"ind": 3, "latitude": "north"}')])
        LakeSink(log, lake, SinkSettings(flush_size=25)).run(threading.Event(), once=True)
        run_batch(lake, get_engine("duckdb"))
        produce_rows(log, source, list(range(30, 50)))  # newer rows only the stream has
        stream_once(log, lake, get_engine("duckdb"))
    answers = merged_answers(lake)
    (home / "expected.json").write_text(
        json.dumps({"release": __version__, "answers": answers}, indent=1, default=str) + "\n"
    )
    for leftover in home.rglob("*-wal"):
        leftover.unlink()


if __name__ == "__main__":
    make(Path(sys.argv[1]))
