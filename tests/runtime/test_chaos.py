"""Chaos: random kill -9s of ``pinpipe up`` under keyed load through every door.

One home, one port: ``pinpipe up`` takes a steady load of single-record sends (Kafka REST v2
and v3, the API Gateway Kinesis proxy; the sends and checks of ``benchmarks/soak.py``), each
with its own ``Idempotency-Key``, and is killed with SIGKILL five times, each at a seeded
random moment, then restarted on the same home and port. A client resends every request
that got no answer (a cut connection, a refused one while ``up`` restarts, a 5xx) with the
same key until it is answered, as a careful client would.

Each kill lands while the log holds a record whose answer was never sent (found by freezing
``up`` with SIGSTOP for a moment), the case a resend without a key would append twice; the
sink and the stream job are cut wherever they are. Each such resend must be answered from
the first append (``Idempotent-Replayed``).

Afterwards the log holds every send exactly once, each acknowledged one at the position its
answer named, with dense offsets in every partition; the raw zone and the stream tables hold
each logged record exactly once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.soak import TABLES, Delivery, Load, check_delivery, producing, raw_lines
from pinpipe.emulator.generator import SourceTables
from pinpipe.lake import Lake
from pinpipe.lake.line import table_of_topic
from pinpipe.log.embedded import EmbeddedLog
from tests.fixtures import Spawn
from tests.helpers import stream_positions, wait_healthy
from tests.infra.process import free_port

pytestmark = pytest.mark.slow

SEED = 20261201
KILLS = 5
ENV = {
    "PINPIPE_BATCH__EVERY_MINUTES": "0",
    "PINPIPE_LOG__PARTITIONS": "2",  # dense offsets are checked per partition
    "PINPIPE_INGEST__ACCESS_LOG": "false",
}


def _log_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every record of the tables' topics as a raw-zone-like dict, and each partition whose
    offsets are not ``0, 1, 2, ...`` up to its end offset."""
    lines: list[dict[str, Any]] = []
    gaps: list[str] = []
    with EmbeddedLog(path, fsync=False) as log:
        for info in log.topics():
            if table_of_topic(info.name) is None:
                continue
            for p in range(info.partitions):
                end = log.end_offset(info.name, p)
                offsets: list[int] = []
                while len(offsets) < end:
                    for record in log.fetch(info.name, p, len(offsets)):
                        offsets.append(record.offset)
                        doc = orjson.loads(record.value or b"{}")
                        lines.append({**doc, "_topic": info.name, "_partition": p,
                                      "_offset": record.offset})  # fmt: skip
                if log.start_offset(info.name, p) != 0 or offsets != list(range(end)):
                    gaps.append(f"{info.name}[{p}]")
    return lines, gaps


def _logged(log: EmbeddedLog) -> int:
    """Records the log holds, over every topic and partition."""
    return sum(log.end_offset(t.name, p) for t in log.topics() for p in range(t.partitions))


def _kill_between_append_and_answer(
    up: subprocess.Popen[bytes], log_path: Path, load: Load
) -> None:
    """SIGKILL ``up`` while the log holds a record whose answer the client has not had.

    ``up`` is frozen (SIGSTOP) for a moment, long enough for answers already sent to reach
    the client; if every record the log holds was answered it runs on for a few ms and is
    frozen again; else the kill cuts at least one append from its answer."""
    with EmbeddedLog(log_path, fsync=False) as log:
        for _ in range(300):
            up.send_signal(signal.SIGSTOP)
            time.sleep(0.05)
            if _logged(log) > len(load.acked):
                break
            up.send_signal(signal.SIGCONT)
            time.sleep(0.005)
    up.send_signal(signal.SIGKILL)
    up.wait()


def _clean(delivery: Delivery) -> dict[str, int]:
    return {
        "lost": len(delivery.lost),
        "misplaced": len(delivery.misplaced),
        "duplicates": len(delivery.duplicates),
        "duplicate_positions": len(delivery.duplicate_positions),
    }


def test_random_kill_9s_under_keyed_load_lose_nothing_and_double_nothing(
    tmp_path: Path, source: SourceTables, spawn_pinpipe: Spawn
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = (tmp_path / "up.stderr").open("ab")

    def start() -> subprocess.Popen[bytes]:
        up = spawn_pinpipe("up", "--port", str(port), env=ENV, stderr=stderr)
        wait_healthy(url, up, timeout_s=60)
        return up

    rng = random.Random(SEED)
    load = Load()
    up = start()
    kills = 0
    with producing(url, source, load, rate=150, concurrency=16, give_up_s=120, run="chaos"):
        for _ in range(KILLS):
            time.sleep(rng.uniform(3.0, 8.0))
            assert up.poll() is None, (tmp_path / "up.stderr").read_text()[-3000:]
            _kill_between_append_and_answer(up, tmp_path / "log.db", load)
            kills += 1
            up = start()
        time.sleep(2.0)  # load on the last process too
    # every send has been answered by now (or given up: asserted below)
    up.send_signal(signal.SIGTERM)
    assert up.wait(120) == 0, (tmp_path / "up.stderr").read_text()[-3000:]
    stderr.close()

    assert kills == KILLS and load.replayed >= KILLS, "each kill must cut an append from its answer"
    assert load.rejected == {} and load.gave_up == set()
    assert len(load.acked) == load.sent > 3_000

    lines, gaps = _log_lines(tmp_path / "log.db")
    assert gaps == [], "offsets must be dense and unique in every partition"
    in_log = check_delivery(load.acked, lines)
    assert _clean(in_log) == dict.fromkeys(_clean(in_log), 0)
    assert in_log.held == load.sent  # no resend appended a second record
    logged = sorted((d["_topic"], d["_partition"], d["_offset"]) for d in lines)

    lake = Lake.at(tmp_path / "lake")
    in_raw = check_delivery(load.acked, raw_lines(lake))
    assert _clean(in_raw) == dict.fromkeys(_clean(in_raw), 0) and in_raw.held == load.sent
    streamed = sorted(p for table in TABLES for p in stream_positions(lake, table))
    assert streamed == logged  # each record once in the stream tables
