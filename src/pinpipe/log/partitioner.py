"""Partition choice shared by every backend: explicit, else key hash, else round robin.

The key hash is Kafka's own (murmur2 of the key bytes, sign bit dropped, modulo the partition
count, as in ``BuiltInPartitioner.partitionForKey``), so a keyed record lands on the same
partition here as it would through a Java or librdkafka producer with ``murmur2_random``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from pinpipe.log.base import ProduceRecord

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 (``Utils.murmur2``), returned as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    tail = length & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@lru_cache(maxsize=65_536)
def partition_for_key(key: bytes, partitions: int) -> int:
    """Kafka's default keyed partition: ``toPositive(murmur2(key)) % partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def choose_partitions(
    records: Sequence[ProduceRecord],
    count: int,
    round_robin: Iterator[int],
    check: Callable[[int], None],
) -> list[int]:
    """Explicit partition (``check`` raises if missing), else key hash, else round robin."""
    chosen: list[int] = []
    for record in records:
        if record.partition is not None:
            check(record.partition)
            chosen.append(record.partition)
        elif count == 1:
            chosen.append(0)
        elif record.key is not None:
            chosen.append(partition_for_key(bytes(record.key), count))
        else:
            chosen.append(next(round_robin) % count)
    return chosen
