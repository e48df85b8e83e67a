"""The in-memory fallback (the Kafka backend's): a window, and a bound on the keys held."""

from __future__ import annotations

from collections.abc import Sequence

from pinpipe.errors import LogError
from pinpipe.log.base import Batch, Idempotency, Position, ProduceRecord, Replayed, fingerprint
from pinpipe.log.idempotency import IdempotencyMemory


class Counting:
    """A stand-in for ``produce_many`` that hands out offsets and counts the appends."""

    def __init__(self) -> None:
        self.appended = 0

    def __call__(self, batches: Sequence[Batch]) -> list[list[Position] | LogError]:
        out: list[list[Position] | LogError] = []
        for _, records in batches:
            out.append([Position(0, self.appended + i, 0) for i in range(len(records))])
            self.appended += len(records)
        return out


RECORDS = [ProduceRecord(b"v")]


def _key(name: str) -> Idempotency:
    return Idempotency(name, fingerprint("t.pin", RECORDS))


def test_a_key_is_remembered_for_the_window_only() -> None:
    memory, produce = IdempotencyMemory(window_ms=1000), Counting()
    (first,) = memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key("a")], now_ms=0)
    (again,) = memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key("a")], now_ms=999)
    assert isinstance(again, Replayed) and again == first and produce.appended == 1
    (late,) = memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key("a")], now_ms=2001)
    assert not isinstance(late, Replayed) and produce.appended == 2


def test_the_oldest_keys_go_first_past_the_bound() -> None:
    memory, produce = IdempotencyMemory(window_ms=10_000, max_keys=2), Counting()
    for name in ("a", "b", "c"):
        memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key(name)], now_ms=0)
    (b,) = memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key("b")], now_ms=1)
    (a,) = memory.produce_many_once(produce, [("t.pin", RECORDS)], [_key("a")], now_ms=1)
    assert isinstance(b, Replayed) and not isinstance(a, Replayed)
