"""The embedded log under pressure: retention bounds the disk, kill -9 never tears a record.

Many producer and consumer processes share one log file; some are killed with SIGKILL in the
middle of their work. Every acknowledged record must survive, no reader may ever see a
partial record or a gap, and the survivors finish normally.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pinpipe.errors import OffsetOutOfRangeError
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from tests.log.backends import ManualClock


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_size_retention_moves_the_start_and_bounds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = EmbeddedLog(path, fsync=False, retention_bytes=200_000, retention_check_ms=0)
    value = b"x" * 1000
    for _ in range(20):
        log.produce("t", [ProduceRecord(value)] * 100)
    size_early = _file_bytes(path)
    for _ in range(200):
        log.produce("t", [ProduceRecord(value)] * 100)
    assert log.end_offset("t", 0) == 22_000
    start = log.start_offset("t", 0)
    assert 21_790 <= start <= 21_801  # ~200 records of 1000 bytes remain
    kept = log.fetch("t", 0, start, 1_000)
    assert [r.offset for r in kept] == list(range(start, 22_000))
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch("t", 0, start - 1)
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch("t", 0, 0)
    # Ten times the data went through, the file stayed about where it was.
    assert _file_bytes(path) < 2 * size_early + 16 * 1024 * 1024


def test_time_retention_drops_only_expired_records(tmp_path: Path) -> None:
    clock = ManualClock()
    log = EmbeddedLog(
        tmp_path / "log.db", fsync=False, retention_ms=60_000, retention_check_ms=0, clock=clock
    )
    old = log.produce("t", [ProduceRecord(b"old")] * 5)
    clock.advance(1)  # the new records are a millisecond younger than the old ones
    new = log.produce("t", [ProduceRecord(b"new")] * 3)
    assert log.start_offset("t", 0) == 0  # nothing is a minute old yet
    assert log.enforce_retention(now_ms=old[-1].timestamp + 60_001) == 5
    assert log.start_offset("t", 0) == 5
    assert [r.value for r in log.fetch("t", 0, 5)] == [b"new"] * 3
    assert log.offset_for_time("t", 0, 0) == 5  # the earliest held record
    assert log.enforce_retention(now_ms=new[-1].timestamp + 120_000) == 3
    assert log.start_offset("t", 0) == log.end_offset("t", 0) == 8
    assert log.fetch("t", 0, 8) == []
    log.produce("t", [ProduceRecord(b"later")])
    assert [r.offset for r in log.fetch("t", 0, 8)] == [8]


def test_a_version_1_log_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path) as log:
        log.produce("t", [ProduceRecord(b"abc", key=b"k")] * 4)
    conn = sqlite3.connect(path)  # turn it back into the version 1 layout
    conn.executescript(
        "CREATE TABLE p1 AS SELECT topic_id, partition, next_offset FROM partitions;"
        "DROP TABLE partitions;"
        "CREATE TABLE partitions (topic_id INTEGER NOT NULL, partition INTEGER NOT NULL,"
        " next_offset INTEGER NOT NULL, PRIMARY KEY (topic_id, partition)) WITHOUT ROWID;"
        "INSERT INTO partitions SELECT * FROM p1; DROP TABLE p1; PRAGMA user_version = 1;"
    )
    conn.close()
    with EmbeddedLog(path, retention_bytes=8, retention_check_ms=0) as log:
        assert log.start_offset("t", 0) == 0
        log.produce("t", [ProduceRecord(b"abc", key=b"k")])  # 4 bytes each: keeps two
        assert log.start_offset("t", 0) == 3


_PRODUCER = textwrap.dedent(
    """
    import sys, zlib
    from pathlib import Path
    from pinpipe.log.base import ProduceRecord
    from pinpipe.log.embedded import EmbeddedLog

    path, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = EmbeddedLog(Path(path), default_partitions=2, fsync=True)
    i = 0
    for _ in range(batches):
        records = []
        for _ in range(20):
            body = f"{name}:{i}:" + "p" * 400
            value = f"{zlib.crc32(body.encode())}|{body}".encode()
            records.append(ProduceRecord(value, key=f"{name}{i % 5}".encode()))
            i += 1
        for p in log.produce("shared", records):
            sys.stdout.write(f"{p.partition} {p.offset}\\n")
        sys.stdout.flush()
    """
)

_CONSUMER = textwrap.dedent(
    """
    import sys, time, zlib
    from pathlib import Path
    from pinpipe.log.embedded import EmbeddedLog

    path, until = sys.argv[1], int(sys.argv[2])
    log = EmbeddedLog(Path(path), fsync=True)
    positions = {0: 0, 1: 0}
    while sum(positions.values()) < until:
        for p in positions:
            for r in log.fetch("shared", p, positions[p], 500):
                assert r.offset == positions[p], f"gap at {p}/{positions[p]}: {r.offset}"
                crc, body = r.value.split(b"|", 1)
                assert int(crc) == zlib.crc32(body), f"torn record at {p}/{r.offset}"
                positions[p] += 1
        sys.stdout.write(f"{sum(positions.values())}\\n")
        sys.stdout.flush()
        time.sleep(0.002)
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_many_processes_with_kill_9_of_writers_and_readers(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path) as log:
        log.create_topic("shared", 2)
    survivors = [_spawn(_PRODUCER, str(path), name, "60") for name in ("a", "b")]
    victim = _spawn(_PRODUCER, str(path), "k", "1000000")
    readers = [_spawn(_CONSUMER, str(path), str(10**9)) for _ in range(2)]
    acked: set[tuple[int, int]] = set()
    assert victim.stdout is not None
    while len(acked) < 1_500:  # the victim is mid-stream, holding the write lock often
        line = victim.stdout.readline()
        assert line, victim.stderr.read() if victim.stderr else "victim died"
        partition, offset = line.split()
        acked.add((int(partition), int(offset)))
    for child in (victim, readers[0]):
        os.kill(child.pid, signal.SIGKILL)
    rest, _ = victim.communicate(timeout=30)
    for line in rest.split("\n")[:-1]:  # a line without its newline was never complete
        partition, offset = line.split()
        acked.add((int(partition), int(offset)))
    readers[0].communicate(timeout=30)
    outputs = [child.communicate(timeout=180) for child in survivors]
    assert [c.returncode for c in survivors] == [0, 0], [err for _, err in outputs]
    for out, _ in outputs:
        acked.update((int(p), int(o)) for p, o in (ln.split() for ln in out.splitlines()))

    with EmbeddedLog(path) as log:
        ends = [log.end_offset("shared", p) for p in range(2)]
        stored = {(p, o) for p in range(2) for o in range(ends[p])}
    assert acked <= stored  # no acknowledged record lost
    assert len(acked) >= 1_500 + 2 * 60 * 20
    # The reader that was never killed reads on to the end, dense and checksummed; so does a
    # fresh reader started after the crashes. A torn record or a gap fails their assertions.
    reader = readers[1]
    assert reader.stdout is not None
    while (line := reader.stdout.readline()) and int(line) < sum(ends):
        pass
    os.kill(reader.pid, signal.SIGKILL)
    _, err = reader.communicate(timeout=30)
    assert line and int(line) == sum(ends), err
    fresh = _spawn(_CONSUMER, str(path), str(sum(ends)))
    _, err = fresh.communicate(timeout=120)
    assert fresh.returncode == 0, err
