"""Group commit: many concurrent producers, one writer thread, one fsync per round.

An fsync costs about as much for one record as for thousands, so HTTP handlers do not append
one by one: they queue their batch and await a future. A single writer thread takes
everything queued, appends it in one log transaction (``produce_many`` when the backend has
it), and resolves each future with that request's positions, or with that request's error
only. The event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pinpipe.errors import LogError
from pinpipe.log.base import Log, Position, ProduceRecord

logger = logging.getLogger(__name__)


@runtime_checkable
class BatchProducer(Protocol):
    """A log that can append several topics' batches in one transaction."""

    def produce_many(
        self, batches: Sequence[tuple[str, Sequence[ProduceRecord]]]
    ) -> list[list[Position] | LogError]: ...


@dataclass(slots=True)
class _Request:
    topic: str
    records: Sequence[ProduceRecord]
    future: Future[list[Position]] = field(default_factory=Future)


class GroupCommitter:
    """Funnels appends from many callers into few, large, durable log transactions."""

    def __init__(self, log: Log, *, max_records_per_commit: int = 20_000) -> None:
        self.log = log
        self.max_records_per_commit = max_records_per_commit
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.commits = 0
        """Transactions made so far (for tests and metrics: requests/commits = grouping)."""
        self._thread = threading.Thread(target=self._run, name="pinpipe-group-commit", daemon=True)
        self._thread.start()

    def submit(self, topic: str, records: Sequence[ProduceRecord]) -> Future[list[Position]]:
        """Queue an append; the future resolves once it is durable (for threaded callers)."""
        request = _Request(topic, records)
        with self._lock:
            if self._closed:
                raise LogError("the ingest log writer is shut down")
            self._queue.put(request)
        return request.future

    async def produce(self, topic: str, records: Sequence[ProduceRecord]) -> list[Position]:
        """Append ``records`` to ``topic``; returns only after they are durable."""
        return await asyncio.wrap_future(self.submit(topic, records))

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish everything already queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    # -- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            size = len(first.records)
            while size < self.max_records_per_commit:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
                size += len(item.records)
            self._commit(group)

    def _commit(self, group: list[_Request]) -> None:
        # A caller that gave up (cancelled future) is dropped before anything is written,
        # so a request is either acknowledged or never appended.
        live = [r for r in group if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            if isinstance(self.log, BatchProducer):
                results = self.log.produce_many([(r.topic, r.records) for r in live])
                self.commits += 1
                for request, result in zip(live, results, strict=True):
                    if isinstance(result, BaseException):
                        request.future.set_exception(result)
                    else:
                        request.future.set_result(result)
            else:
                for request in live:
                    self._produce_one(request)
        except Exception as exc:  # the whole transaction failed: nothing in it is durable
            logger.warning("group commit of %d requests failed: %s", len(live), exc)
            for request in live:
                if not request.future.done():
                    request.future.set_exception(exc)

    def _produce_one(self, request: _Request) -> None:
        try:
            positions = self.log.produce(request.topic, request.records)
        except Exception as exc:
            request.future.set_exception(exc)
        else:
            self.commits += 1
            request.future.set_result(positions)
