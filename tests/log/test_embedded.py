"""The embedded log: ordering, partitioning, offsets, groups, and crash safety across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pinpipe.errors import (
    InvalidTopicError,
    LogError,
    OffsetOutOfRangeError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pinpipe.log.base import ProduceRecord, TopicInfo
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.log.partitioner import murmur2, partition_for_key


def _values(log: EmbeddedLog, topic: str, partition: int) -> list[bytes | None]:
    return [r.value for r in log.fetch(topic, partition, 0, 1_000_000)]


def test_produce_appends_in_order_with_dense_offsets(log: EmbeddedLog) -> None:
    first = log.produce("t", [ProduceRecord(f"v{i}".encode()) for i in range(3)])
    second = log.produce("t", [ProduceRecord(b"v3"), ProduceRecord(None, key=b"k")])
    assert [p.offset for p in first + second] == [0, 1, 2, 3, 4]
    assert all(p.partition == 0 for p in first + second)
    records = log.fetch("t", 0, 0)
    assert [r.value for r in records] == [b"v0", b"v1", b"v2", b"v3", None]
    assert records[4].key == b"k"
    assert records[0].topic == "t"
    assert log.end_offset("t", 0) == 5


def test_timestamps_are_ingest_time_in_ms(log: EmbeddedLog) -> None:
    before = time.time_ns() // 1_000_000
    (position,) = log.produce("t", [ProduceRecord(b"x")])
    after = time.time_ns() // 1_000_000
    assert before <= position.timestamp <= after
    assert log.fetch("t", 0, 0)[0].timestamp == position.timestamp


def test_fetch_from_an_offset_with_a_limit(log: EmbeddedLog) -> None:
    log.produce("t", [ProduceRecord(str(i).encode()) for i in range(10)])
    assert [r.offset for r in log.fetch("t", 0, 4, max_records=3)] == [4, 5, 6]
    assert log.fetch("t", 0, 10) == []
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch("t", 0, 11)
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch("t", 0, -1)


def test_auto_create_and_explicit_create(log: EmbeddedLog) -> None:
    with pytest.raises(UnknownTopicError):
        log.describe("later")
    log.produce("later", [ProduceRecord(b"x")])
    assert log.describe("later") == TopicInfo("later", 1)
    assert log.create_topic("wide", 4) == TopicInfo("wide", 4)
    assert log.create_topic("wide", 8) == TopicInfo("wide", 4)  # idempotent, keeps the first
    assert [t.name for t in log.topics()] == ["later", "wide"]
    assert log.end_offset("wide", 3) == 0


def test_topic_names_are_validated(log: EmbeddedLog) -> None:
    for bad in ["", ".", "..", "has space", "a/b", "x" * 250]:
        with pytest.raises(InvalidTopicError):
            log.produce(bad, [ProduceRecord(b"x")])
    assert log.topics() == []


def test_keys_hash_like_kafka(log: EmbeddedLog) -> None:
    # Vectors from Kafka's UtilsTest.testMurmur2 (signed Java ints).
    vectors = {b"21": -973932308, b"foobar": -790332482, b"abc": 479470107}
    for data, expected in vectors.items():
        assert murmur2(data) == expected & 0xFFFFFFFF
    log.create_topic("keyed", 5)
    keys = [f"user-{i}".encode() for i in range(40)]
    positions = log.produce("keyed", [ProduceRecord(b"v", key=k) for k in keys])
    for key, position in zip(keys, positions, strict=True):
        assert position.partition == partition_for_key(key, 5)
    again = log.produce("keyed", [ProduceRecord(b"w", key=k) for k in keys])
    assert [p.partition for p in again] == [p.partition for p in positions]
    assert len({p.partition for p in positions}) > 1


def test_explicit_partitions_and_round_robin(log: EmbeddedLog) -> None:
    log.create_topic("rr", 3)
    positions = log.produce("rr", [ProduceRecord(str(i).encode()) for i in range(6)])
    assert sorted(p.partition for p in positions) == [0, 0, 1, 1, 2, 2]
    explicit = log.produce("rr", [ProduceRecord(b"e", key=b"k", partition=2)] * 2)
    assert [(p.partition, p.offset) for p in explicit] == [(2, 2), (2, 3)]
    with pytest.raises(UnknownPartitionError):
        log.produce("rr", [ProduceRecord(b"x", partition=3)])
    with pytest.raises(UnknownPartitionError):
        log.fetch("rr", 5, 0)
    assert sum(log.end_offset("rr", p) for p in range(3)) == 8  # the failed batch left nothing


def test_produce_many_isolates_a_bad_batch(log: EmbeddedLog) -> None:
    log.create_topic("two", 2)
    results = log.produce_many(
        [
            ("a", [ProduceRecord(b"1")]),
            ("bad name", [ProduceRecord(b"2")]),
            ("two", [ProduceRecord(b"3", partition=7)]),
            ("a", [ProduceRecord(b"4")]),
        ]
    )
    assert isinstance(results[1], InvalidTopicError)
    assert isinstance(results[2], UnknownPartitionError)
    assert not isinstance(results[0], Exception) and not isinstance(results[3], Exception)
    assert [p.offset for p in results[0] + results[3]] == [0, 1]
    assert _values(log, "a", 0) == [b"1", b"4"]


def test_committed_offsets_per_group(log: EmbeddedLog) -> None:
    assert log.committed("g", "t", 0) is None
    log.commit("g", {("t", 0): 5, ("t", 1): 2})
    log.commit("g", {("t", 0): 7})
    log.commit("other", {("t", 0): 1})
    assert log.committed("g", "t", 0) == 7
    assert log.committed("g", "t", 1) == 2
    assert log.committed("other", "t", 0) == 1
    with pytest.raises(LogError):
        log.commit("g", {("t", 0): -1})


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EmbeddedLog(path, default_partitions=2) as log:
        log.produce("t", [ProduceRecord(b"a", key=b"k")])
        log.commit("g", {("t", 0): 1})
    with EmbeddedLog(path) as log:
        assert log.describe("t").partitions == 2
        total = sum(len(log.fetch("t", p, 0)) for p in range(2))
        assert total == 1
        assert log.committed("g", "t", 0) == 1
    with pytest.raises(LogError):
        log.produce("t", [ProduceRecord(b"closed")])


def test_reads_from_other_threads(log: EmbeddedLog) -> None:
    import threading

    log.produce("t", [ProduceRecord(b"x")] * 3)
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(len(log.fetch("t", 0, 0))))
    thread.start()
    thread.join()
    assert seen == [3]


_PRODUCER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pinpipe.log.base import ProduceRecord
    from pinpipe.log.embedded import EmbeddedLog

    path, name, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    log = EmbeddedLog(Path(path), default_partitions=3, fsync=True)
    i = 0
    for _ in range(batches):
        records = []
        for _ in range(size):
            records.append(ProduceRecord(f"{name}:{i}".encode(), key=f"{name}-{i % 7}".encode()))
            i += 1
        positions = log.produce("shared", records)
        for record, p in zip(records, positions):
            sys.stdout.write(f"{p.partition} {p.offset} {record.value.decode()}\\n")
        sys.stdout.flush()
    """
)


def _spawn_producer(path: Path, name: str, batches: int, size: int) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _PRODUCER, str(path), name, str(batches), str(size)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_processes_produce_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    EmbeddedLog(path, default_partitions=3).close()
    children = [_spawn_producer(path, name, batches=150, size=10) for name in ("a", "b")]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0]
    acked = {}
    for line in "".join(outputs).splitlines():
        partition, offset, value = line.split(" ")
        acked[(int(partition), int(offset))] = value.encode()
    assert len(acked) == 3000  # no two acks share a position
    with EmbeddedLog(path) as log:
        stored = {}
        for p in range(3):
            records = log.fetch("shared", p, 0, 1_000_000)
            assert [r.offset for r in records] == list(range(len(records)))  # dense
            stored.update({(p, r.offset): r.value for r in records})
            values = [r.value or b"" for r in records]
            for name in (b"a:", b"b:"):  # each producer's records keep their order
                seq = [int(v[2:]) for v in values if v.startswith(name)]
                assert seq == sorted(seq)
    assert stored == acked


def _record_ack(acked: dict[tuple[int, int], bytes], line: str) -> None:
    partition, offset, value = line.split()
    acked[(int(partition), int(offset))] = value.encode()


@pytest.mark.slow
def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    child = _spawn_producer(path, "k", batches=100_000, size=5)
    assert child.stdout is not None
    acked: dict[tuple[int, int], bytes] = {}
    try:
        while len(acked) < 2000:
            line = child.stdout.readline()
            assert line, "the producer died before being killed"
            _record_ack(acked, line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    for line in rest.split("\n")[:-1]:  # a torn last line (no newline) was never acked
        _record_ack(acked, line)
    assert child.returncode == -signal.SIGKILL
    with EmbeddedLog(path) as log:
        for (partition, offset), value in acked.items():
            (record,) = log.fetch("shared", partition, offset, 1)
            assert (record.offset, record.value) == (offset, value)
        for partition in range(3):
            records = log.fetch("shared", partition, 0, 1_000_000)
            assert [r.offset for r in records] == list(range(len(records)))
        log.produce("shared", [ProduceRecord(b"after")])  # still writable after the crash


def test_a_reader_wakes_on_an_append_by_another_handle_of_the_file(tmp_path: Path) -> None:
    """The stream job of `pinpipe up` waits for appends, not for its trigger interval."""
    from pinpipe.log.base import ProduceRecord

    with EmbeddedLog(tmp_path / "log.db") as writer, EmbeddedLog(tmp_path / "log.db") as reader:
        stop = threading.Event()
        mark = reader.append_mark()
        woke: list[bool] = []
        waiter = threading.Thread(
            target=lambda: woke.append(reader.wait_for_appends(mark, 600, stop))
        )
        waiter.start()
        writer.produce("t.pin", [ProduceRecord(b"{}")])
        waiter.join(60)  # far below the 600 s timeout: only an append can end the wait
        assert woke == [True]
        assert not reader.wait_for_appends(reader.append_mark(), 0.01, stop), "nothing new"
        stop.set()  # and a stop ends a wait at once
        assert not reader.wait_for_appends(reader.append_mark(), 600, stop)
