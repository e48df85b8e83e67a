"""The embedded log keeps idempotency keys in its file, in the append's own transaction."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pinpipe.log.base import Idempotency, ProduceRecord, Replayed, fingerprint
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.log.idempotency import decode_positions

_KEYED_PRODUCER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pinpipe.log.base import Idempotency, ProduceRecord, fingerprint
    from pinpipe.log.embedded import EmbeddedLog

    log = EmbeddedLog(Path(sys.argv[1]), default_partitions=2, fsync=True)
    i = 0
    while True:
        batches, keys = [], []
        for _ in range(3):  # three keyed requests per transaction, like a group commit
            records = [ProduceRecord(str(i).encode()), ProduceRecord(str(i).encode())]
            batches.append(("t.pin", records))
            keys.append(Idempotency(f"k{i}", fingerprint("t.pin", records)))
            i += 1
        log.produce_many_once(batches, keys)
    """
)


def _once(key: str, records: list[ProduceRecord]) -> Idempotency:
    return Idempotency(key, fingerprint("t.pin", records))


def test_kill_9_never_keeps_a_key_without_its_records_or_records_without_their_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    child = subprocess.Popen([sys.executable, "-c", _KEYED_PRODUCER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists():
                with EmbeddedLog(path, fsync=False) as log:
                    topics = log.topics()
                    if topics and log.end_offset("t.pin", 0) >= 300:
                        break
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    with EmbeddedLog(path) as log:
        stored: dict[str, set[tuple[int, int]]] = {}
        for partition in (0, 1):
            for record in log.fetch("t.pin", partition, 0, 1_000_000):
                key = "k" + (record.value or b"").decode()
                stored.setdefault(key, set()).add((record.partition, record.offset))
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT key, created_ms, positions FROM idempotency").fetchall()
        remembered = {
            key: {(p.partition, p.offset) for p in decode_positions(blob, ts)}
            for key, ts, blob in rows
        }
        assert len(stored) >= 150
        assert remembered == stored  # every key with exactly its two records, and no other
        some = sorted(stored)[0]
        value = some.removeprefix("k").encode()
        records = [ProduceRecord(value), ProduceRecord(value)]
        (again,) = log.produce_many_once([("t.pin", records)], [_once(some, records)])
        assert isinstance(again, Replayed)
        assert {(p.partition, p.offset) for p in again} == stored[some]


def test_a_version_2_log_gains_the_idempotency_table(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path) as log:
        log.produce("t.pin", [ProduceRecord(b"old")])
    with sqlite3.connect(path) as db:  # turn it back into the version 2 layout
        db.executescript("DROP TABLE idempotency; PRAGMA user_version = 2;")
    records = [ProduceRecord(b"new")]
    with EmbeddedLog(path) as log:
        (first,) = log.produce_many_once([("t.pin", records)], [_once("k", records)])
        (again,) = log.produce_many_once([("t.pin", records)], [_once("k", records)])
        assert isinstance(again, Replayed) and again == first
        assert log.end_offset("t.pin", 0) == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_deleting_a_topic_forgets_its_keys(tmp_path: Path) -> None:
    records = [ProduceRecord(b"v")]
    with EmbeddedLog(tmp_path / "log.db") as log:
        log.produce_many_once([("t.pin", records)], [_once("k", records)])
        log.delete_topic("t.pin")
        (again,) = log.produce_many_once([("t.pin", records)], [_once("k", records)])
        assert not isinstance(again, Replayed)  # a new topic: the old positions mean nothing
        assert log.end_offset("t.pin", 0) == 1
