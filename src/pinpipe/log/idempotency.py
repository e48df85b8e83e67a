"""Remembering idempotency keys: in a handle's memory, and the positions codec for the file.

A resent request (a client that lost the answer and retries) carries the key of its first
send. Whoever remembers the key answers the first append's positions instead of appending
again. The embedded log remembers in its SQLite file, in the same transaction as the append
(``EmbeddedLog.produce_many_once``); logs that cannot (Kafka) fall back to
``IdempotencyMemory``: per log handle, so per ingest process, and lost on restart.
"""

from __future__ import annotations

import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence

from pinpipe.errors import IdempotencyConflictError, LogError
from pinpipe.log.base import Batch, Idempotency, Position, Replayed

MAX_REMEMBERED = 200_000
"""Keys a memory holds at most; past it the oldest are forgotten early (bounded memory)."""

Produce = Callable[[Sequence[Batch]], list[list[Position] | LogError]]


class IdempotencyMemory:
    """Keys of the last ``window_ms`` (at most ``max_keys``) with the positions they got."""

    def __init__(self, window_ms: int, max_keys: int = MAX_REMEMBERED) -> None:
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._keys: OrderedDict[str, tuple[bytes, float, list[Position]]] = OrderedDict()
        self._lock = threading.Lock()

    def produce_many_once(
        self,
        produce: Produce,
        batches: Sequence[Batch],
        keys: Sequence[Idempotency | None],
        now_ms: float | None = None,
    ) -> list[list[Position] | LogError]:
        """Answer remembered keys from memory, append the rest with ``produce``.

        The lock is held across the append, so two resends racing in two threads cannot
        both append (the ingest app appends from one writer thread anyway).
        """
        now = time.time() * 1000 if now_ms is None else now_ms
        with self._lock:
            self._expire(now)
            results: list[list[Position] | LogError | None] = [None] * len(batches)
            first_of: dict[str, int] = {}
            todo: list[int] = []
            for i, once in enumerate(keys):
                if once is None:
                    todo.append(i)
                    continue
                earlier = self._keys.get(once.key)
                if earlier is not None:
                    results[i] = _answer(once, earlier[0], earlier[2])
                elif once.key not in first_of:  # a second send in this group waits for it
                    first_of[once.key] = i
                    todo.append(i)
            appended = produce([batches[i] for i in todo]) if todo else []
            for i, result in zip(todo, appended, strict=True):
                results[i] = result
                once = keys[i]
                if once is not None and not isinstance(result, LogError):
                    self._keys[once.key] = (once.fingerprint, now, result)
            out: list[list[Position] | LogError] = []
            for i, settled in enumerate(results):
                if settled is None:  # the same key twice in one group: answered by the first
                    once = keys[i]
                    assert once is not None
                    first, done = keys[first_of[once.key]], results[first_of[once.key]]
                    assert first is not None and done is not None
                    if not isinstance(done, LogError):
                        done = _answer(once, first.fingerprint, done)
                    out.append(done)
                else:
                    out.append(settled)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        return out

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_ms
        while self._keys:
            _, (_, stamp, _) = next(iter(self._keys.items()))
            if stamp >= cutoff:
                return
            self._keys.popitem(last=False)


def _answer(
    once: Idempotency, fingerprint: bytes, positions: list[Position]
) -> list[Position] | LogError:
    if once.fingerprint != fingerprint:
        return IdempotencyConflictError(once.key)
    return Replayed(positions)


def encode_positions(positions: Sequence[Position]) -> bytes:
    """``(partition, offset)`` pairs as little int64s (the timestamp is stored beside them)."""
    flat = array("q")
    for p in positions:
        flat.append(p.partition)
        flat.append(p.offset)
    if sys.byteorder == "big":
        flat.byteswap()
    return flat.tobytes()


def decode_positions(blob: bytes, timestamp: int) -> list[Position]:
    flat = array("q")
    flat.frombytes(blob)
    if sys.byteorder == "big":
        flat.byteswap()
    return [Position(flat[i], flat[i + 1], timestamp) for i in range(0, len(flat), 2)]
