"""Limits against abuse: per-key rate limits (token buckets) and the in-flight body budget.

A bucket refills continuously at ``rate`` tokens per second up to ``burst``; an empty bucket
answers 429 with ``Retry-After`` (whole seconds, rounded up, as HTTP wants). The body budget
caps the request-body bytes held in memory at once: a request that would pass it is refused
with 503 + Retry-After before its body is read (by ``Content-Length``, or chunk by chunk).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from pinpipe.errors import RetryLaterError

MAX_BUCKETS = 100_000
"""Bound on tracked clients, so a flood of addresses cannot grow memory without limit."""


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take_up_to(self, n: int) -> int:
        """Take as many of ``n`` tokens as there are (whole tokens); returns how many."""
        self._refill()
        got = min(n, int(self.tokens))
        self.tokens -= got
        return got

    def wait_for(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens will be there."""
        missing = min(n, self.burst) - self.tokens
        return max(0.0, missing / self.rate) if self.rate > 0 else 1.0


class RateLimiter:
    """Buckets by identity: ``check`` for requests, ``take_records`` for records."""

    def __init__(self, default_rate: float, default_burst: float, record_rate: float) -> None:
        self.default_rate = default_rate
        self.default_burst = default_burst
        self.record_rate = record_rate
        self._requests: dict[str, TokenBucket] = {}
        self._records: dict[str, TokenBucket] = {}

    def check(self, identity: str, rate: float | None) -> None:
        """Count one request; 429 when the bucket is empty."""
        rate = self.default_rate if rate is None else rate
        if rate <= 0:
            return
        bucket = _bucket(self._requests, identity, rate, self.default_burst or rate)
        if bucket.take_up_to(1) == 0:
            raise too_many(bucket.wait_for(1), f"over the rate limit of {rate:g} requests/s")

    def take_records(self, identity: str, rate: float | None, n: int) -> int:
        """How many of ``n`` records the key may append now (all of them without a limit)."""
        rate = self.record_rate if rate is None else rate
        if rate <= 0:
            return n
        return _bucket(self._records, identity, rate, rate).take_up_to(n)

    def record_wait(self, identity: str) -> float:
        bucket = self._records.get(identity)
        return bucket.wait_for(1) if bucket else 1.0


def _bucket(buckets: dict[str, TokenBucket], key: str, rate: float, burst: float) -> TokenBucket:
    bucket = buckets.get(key)
    if bucket is None or bucket.rate != rate:
        if len(buckets) >= MAX_BUCKETS:
            buckets.clear()  # crude but bounded; a refill on next use is the worst outcome
        bucket = buckets[key] = TokenBucket(rate, burst)
    return bucket


def too_many(wait: float, why: str) -> RetryLaterError:
    """429 with the Retry-After seconds (whole, at least 1)."""
    return RetryLaterError(429, 429, f"too many requests: {why}; retry later", math.ceil(wait) or 1)


OVERLOADED = 50302
"""The code of a request refused because the body budget is spent."""


class BodyBudget:
    """Bytes of request bodies held right now, at most ``limit`` (``ingest.max_inflight_bytes``).

    One per app; only the event loop touches it, so plain integers suffice (the metric reads
    ``held`` when scraped, so a request pays no metric update).
    """

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, n: int) -> None:
        """Hold ``n`` more bytes, or refuse with 503 when that would pass the limit."""
        if self.held + n > self.limit:
            raise RetryLaterError(
                503,
                OVERLOADED,
                f"the server holds {self.held} bytes of request bodies, and this request would "
                f"pass ingest.max_inflight_bytes ({self.limit}); retry in a moment",
                1,
            )
        self.held += n

    def give(self, n: int) -> None:
        self.held -= n


class BodyDeadlines:
    """Body reads that take longer than ``timeout_s`` are cancelled by one sweep per app.

    No timer per request (``asyncio.timeout`` costs a few microseconds, as much as the rest
    of a small request's read): a read registers its task and deadline in a dict
    (``start``/``stop``), and a sweep every ``tick`` seconds, scheduled while reads are
    running, cancels the late ones, which the reader tells from other cancellations with
    ``overdue``. The cut comes up to ``tick`` late.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tick = min(1.0, timeout_s / 4)
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._late: set[asyncio.Task[Any]] = set()
        self._sweeping: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[Any] | None:
        """Register the running task's body read (``stop`` it in a ``finally``)."""
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing can cancel it
            return None
        loop = task.get_loop()
        self._reading[task] = loop.time() + self.timeout_s
        if self._sweeping is not loop:
            self._sweeping = loop
            loop.call_later(self.tick, self._sweep, loop)
        return task

    def overdue(self, task: asyncio.Task[Any] | None) -> bool:
        """After a ``CancelledError``: True when this sweep cancelled ``task`` (undone here)."""
        if task is None or task not in self._late:
            return False
        self._late.discard(task)
        task.uncancel()
        return True

    def stop(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._reading.pop(task, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for task, deadline in list(self._reading.items()):
            if deadline <= now and task not in self._late and task.get_loop() is loop:
                self._late.add(task)
                task.cancel()
        if self._reading and not loop.is_closed():
            loop.call_later(self.tick, self._sweep, loop)
        elif self._sweeping is loop:
            self._sweeping = None
