"""The ``Log`` contract, one suite run against every backend (embedded SQLite and real Kafka)."""

from __future__ import annotations

import threading
import time

import pytest

from pinpipe.errors import (
    IdempotencyConflictError,
    InvalidTopicError,
    LogError,
    OffsetOutOfRangeError,
    TopicLimitError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pinpipe.log.base import Idempotency, Log, ProduceRecord, Replayed, TopicInfo, fingerprint
from pinpipe.log.partitioner import partition_for_key
from tests.log.backends import (
    Backend,
    ManualClock,
    WatchedMonotonic,
)


def _values(log: Log, topic: str, partition: int = 0) -> list[bytes | None]:
    """Everything one partition holds, fetched the way the sink does (in chunks)."""
    out: list[bytes | None] = []
    offset = log.start_offset(topic, partition)
    while batch := log.fetch(topic, partition, offset, 100):
        out.extend(r.value for r in batch)
        offset = batch[-1].offset + 1
    return out


def test_batches_keep_order_keys_and_values(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("order")
    first = log.produce(topic, [ProduceRecord(f"v{i}".encode(), key=b"k") for i in range(3)])
    second = log.produce(topic, [ProduceRecord(b"v3"), ProduceRecord(None, key=b"only-key")])
    assert [p.offset for p in first + second] == [0, 1, 2, 3, 4]
    records = backend.open().fetch(topic, 0, 0)  # another client sees them once acknowledged
    assert [r.value for r in records] == [b"v0", b"v1", b"v2", b"v3", None]
    assert [r.key for r in records] == [b"k", b"k", b"k", None, b"only-key"]
    assert {r.topic for r in records} == {topic}
    assert log.end_offset(topic, 0) == 5


def test_timestamps_are_produce_time_in_ms(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("time")
    before = time.time_ns() // 1_000_000
    (position,) = log.produce(topic, [ProduceRecord(b"x")])
    after = time.time_ns() // 1_000_000
    assert before <= position.timestamp <= after
    assert log.fetch(topic, 0, 0)[0].timestamp == position.timestamp


def test_explicit_partitions_keys_and_round_robin(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("parts")
    assert log.create_topic(topic, 3) == TopicInfo(topic, 3)
    explicit = log.produce(topic, [ProduceRecord(f"e{i}".encode(), partition=2) for i in range(4)])
    assert [(p.partition, p.offset) for p in explicit] == [(2, 0), (2, 1), (2, 2), (2, 3)]
    keys = [f"user-{i}".encode() for i in range(30)]
    keyed = log.produce(topic, [ProduceRecord(b"v", key=k) for k in keys])
    assert [p.partition for p in keyed] == [partition_for_key(k, 3) for k in keys]
    spread = log.produce(topic, [ProduceRecord(b"rr") for _ in range(6)])
    assert sorted(p.partition for p in spread) == [0, 0, 1, 1, 2, 2]
    assert _values(log, topic, 2)[:4] == [b"e0", b"e1", b"e2", b"e3"]
    assert sum(log.end_offset(topic, p) for p in range(3)) == 40


def test_create_list_and_describe_topics(backend: Backend) -> None:
    log = backend.open(partitions=2)
    wide, auto = backend.topic("wide"), backend.topic("auto")
    assert log.create_topic(wide, 4) == TopicInfo(wide, 4)
    assert log.create_topic(wide, 8) == TopicInfo(wide, 4)  # idempotent, keeps the first
    log.produce(auto, [ProduceRecord(b"x")])  # created on first use with the default count
    assert log.describe(auto) == TopicInfo(auto, 2)
    mine = [t for t in backend.open().topics() if t.name.endswith(backend.run_id)]
    assert mine == sorted([TopicInfo(auto, 2), TopicInfo(wide, 4)], key=lambda t: t.name)
    assert log.end_offset(wide, 3) == 0


def test_unknown_topics_and_partitions_are_clear_errors(backend: Backend) -> None:
    log, missing = backend.open(auto_create_topics=False), backend.topic("missing")
    with pytest.raises(UnknownTopicError, match=missing):
        log.describe(missing)
    with pytest.raises(UnknownTopicError):
        log.fetch(missing, 0, 0)
    with pytest.raises(UnknownTopicError):
        log.end_offset(missing, 0)
    with pytest.raises(UnknownTopicError):
        log.produce(missing, [ProduceRecord(b"x")])
    assert missing not in {t.name for t in log.topics()}
    with pytest.raises(InvalidTopicError):
        log.produce("has space", [ProduceRecord(b"x")])
    topic = backend.topic("two")
    log.create_topic(topic, 2)
    with pytest.raises(UnknownPartitionError, match=r"0\.\.1"):
        log.produce(topic, [ProduceRecord(b"x", partition=2)])
    with pytest.raises(UnknownPartitionError):
        log.fetch(topic, 5, 0)
    assert log.end_offset(topic, 0) + log.end_offset(topic, 1) == 0  # nothing half-appended


def test_out_of_range_offsets(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("range")
    log.produce(topic, [ProduceRecord(str(i).encode()) for i in range(10)])
    assert [r.offset for r in log.fetch(topic, 0, 4, max_records=3)] == [4, 5, 6]
    assert log.fetch(topic, 0, 10) == []  # the end: nothing yet, not an error
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch(topic, 0, 11)
    with pytest.raises(OffsetOutOfRangeError):
        log.fetch(topic, 0, -1)
    assert [r.offset for r in log.fetch(topic, 0, 8)] == [8, 9]  # still usable afterwards


def test_seek_back_and_forth_on_one_client(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("seek")
    log.produce(topic, [ProduceRecord(str(i).encode()) for i in range(50)])
    assert [r.offset for r in log.fetch(topic, 0, 10, 5)] == [10, 11, 12, 13, 14]
    assert [r.offset for r in log.fetch(topic, 0, 15, 2)] == [15, 16]  # continues
    assert [r.offset for r in log.fetch(topic, 0, 3, 2)] == [3, 4]  # back
    assert [r.offset for r in log.fetch(topic, 0, 40, 100)] == list(range(40, 50))  # forward
    assert [r.value for r in log.fetch(topic, 0, 0, 3)] == [b"0", b"1", b"2"]


def test_seek_by_time(backend: Backend) -> None:
    clock = ManualClock()
    log, topic = backend.open(clock=clock), backend.topic("bytime")
    early = log.produce(topic, [ProduceRecord(b"early")] * 3)
    clock.advance(1_000)
    late = log.produce(topic, [ProduceRecord(b"late")] * 2)
    assert late[0].timestamp > early[-1].timestamp
    assert log.offset_for_time(topic, 0, 0) == 0
    assert log.offset_for_time(topic, 0, early[-1].timestamp + 1) == late[0].offset
    assert log.offset_for_time(topic, 0, late[-1].timestamp + 60_000) is None
    found = log.offset_for_time(topic, 0, late[0].timestamp)
    assert found is not None and log.fetch(topic, 0, found)[0].value == b"late"


def test_replay_from_the_beginning(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("replay")
    log.produce(topic, [ProduceRecord(f"{i}".encode()) for i in range(1200)])
    assert log.start_offset(topic, 0) == 0
    expected = [f"{i}".encode() for i in range(1200)]
    assert _values(log, topic) == expected
    assert _values(backend.open(), topic) == expected  # a fresh client replays the same


def test_interleaved_partitions_on_one_client(backend: Backend) -> None:
    """The sink's pattern: one client walks every partition in turns, in small chunks."""
    log, topic = backend.open(), backend.topic("walk")
    log.create_topic(topic, 3)
    records = [ProduceRecord(f"{p}:{i}".encode(), partition=p) for p in range(3) for i in range(90)]
    log.produce(topic, records)
    reader = backend.open()
    positions = {p: 0 for p in range(3)}
    seen: dict[int, list[bytes | None]] = {p: [] for p in range(3)}
    while any(positions[p] < 90 for p in range(3)):
        for p in range(3):
            batch = reader.fetch(topic, p, positions[p], 7)
            assert [r.offset for r in batch] == list(range(positions[p], positions[p] + len(batch)))
            seen[p].extend(r.value for r in batch)
            positions[p] += len(batch)
    assert seen == {p: [f"{p}:{i}".encode() for i in range(90)] for p in range(3)}


def test_an_idle_partition_answers_without_waiting(backend: Backend) -> None:
    monotonic = WatchedMonotonic()
    log, topic = backend.open(monotonic=monotonic), backend.topic("idle")
    log.create_topic(topic, 1)
    for _ in range(5):
        assert log.fetch(topic, 0, 0) == []
    assert monotonic.reads == 0, "a fetch at the end of an idle partition must not wait"


def test_records_appear_to_a_waiting_reader(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("live")
    log.create_topic(topic, 1)
    reader = backend.open()
    assert reader.fetch(topic, 0, 0) == []
    done = threading.Event()
    threading.Thread(
        target=lambda: (log.produce(topic, [ProduceRecord(b"new")]), done.set())
    ).start()
    assert done.wait(30)
    got: list[bytes | None] = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = [r.value for r in reader.fetch(topic, 0, 0)]
    assert got == [b"new"]


def test_produce_many_isolates_a_bad_batch(backend: Backend) -> None:
    log, a, two = backend.open(), backend.topic("a"), backend.topic("two")
    log.create_topic(two, 2)
    results = log.produce_many(
        [
            (a, [ProduceRecord(b"1")]),
            ("bad name", [ProduceRecord(b"2")]),
            (two, [ProduceRecord(b"3", partition=7)]),
            (a, [ProduceRecord(b"4")]),
        ]
    )
    assert isinstance(results[1], InvalidTopicError)
    assert isinstance(results[2], UnknownPartitionError)
    assert not isinstance(results[0], Exception) and not isinstance(results[3], Exception)
    assert [p.offset for p in results[0] + results[3]] == [0, 1]
    assert _values(log, a) == [b"1", b"4"]


def test_consumer_groups_keep_committed_offsets(backend: Backend) -> None:
    log, topic = backend.open(), backend.topic("grp")
    group, other = backend.topic("g"), backend.topic("other")
    log.create_topic(topic, 2)
    assert log.committed(group, topic, 0) is None
    log.commit(group, {(topic, 0): 5, (topic, 1): 2})
    log.commit(group, {(topic, 0): 7})
    log.commit(other, {(topic, 0): 1})
    fresh = backend.open()  # another process resuming the group
    assert fresh.committed(group, topic, 0) == 7
    assert fresh.committed(group, topic, 1) == 2
    assert fresh.committed(other, topic, 0) == 1
    with pytest.raises(LogError):
        log.commit(group, {(topic, 0): -1})
    with pytest.raises(LogError):
        log.commit("", {(topic, 0): 1})


def test_delete_topic(backend: Backend) -> None:
    log, topic, keep = backend.open(), backend.topic("gone"), backend.topic("kept")
    log.produce(topic, [ProduceRecord(b"x")])
    log.produce(keep, [ProduceRecord(b"y")])
    log.delete_topic(topic)
    names = {t.name for t in backend.open().topics()}
    assert topic not in names and keep in names
    with pytest.raises(UnknownTopicError):
        backend.open().fetch(topic, 0, 0)
    with pytest.raises(UnknownTopicError):
        log.delete_topic(topic)
    assert _values(log, keep) == [b"y"]


def test_topic_filter_limits_what_consumers_see(backend: Backend) -> None:
    mine, other = backend.topic("mine.pin"), backend.topic("other.pin")
    writer = backend.open()
    writer.produce(mine, [ProduceRecord(b"m")])
    writer.produce(other, [ProduceRecord(b"o")])
    filtered = backend.open(topic_filter=r"^mine\.")
    assert [t.name for t in filtered.topics()] == [mine]
    assert filtered.fetch(other, 0, 0)[0].value == b"o"  # a filter is not access control


def test_produce_many_once_appends_a_key_once(backend: Backend) -> None:
    """On Kafka the keys live in the handle's memory; the embedded log keeps them in its file."""
    log, topic = backend.open(partitions=2), backend.topic("once")
    log.create_topic(topic, 2)
    records = [ProduceRecord(b"a", partition=0), ProduceRecord(b"b", partition=1)]
    key = Idempotency("k", fingerprint(topic, records))
    other = Idempotency("k", fingerprint(topic, records[:1]))
    first, in_group, conflict = log.produce_many_once(
        [(topic, records), (topic, records), (topic, records[:1])], [key, key, other]
    )
    assert isinstance(first, list) and not isinstance(first, Replayed)
    assert isinstance(in_group, Replayed) and in_group == first
    assert isinstance(conflict, IdempotencyConflictError)
    (again,) = log.produce_many_once([(topic, records)], [key])
    assert isinstance(again, Replayed) and again == first
    (unkeyed,) = log.produce_many_once([(topic, records)], [None])
    assert not isinstance(unkeyed, Replayed)
    assert [log.end_offset(topic, p) for p in (0, 1)] == [2, 2]


def test_max_topics_counts_the_topics_the_filter_lists(backend: Backend) -> None:
    prefix = backend.topic("ceiling")
    log = backend.open(topic_filter=f"^{prefix}", max_topics=2)
    log.create_topic(f"{prefix}.a")
    log.create_topic(f"{prefix}.b")
    log.create_topic(f"{prefix}.a")  # an existing topic is not one more
    with pytest.raises(TopicLimitError, match=r"topics\.max_topics"):
        log.create_topic(f"{prefix}.c")
    with pytest.raises(TopicLimitError):
        log.produce(f"{prefix}.d", [ProduceRecord(b"x")])
