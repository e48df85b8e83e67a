"""Group commit for asyncio handlers: one writer thread, one durable transaction per round.

An fsync costs about as much for one record as for thousands. Handlers queue their batch and
await a loop-native future; the writer thread takes everything queued, appends it in one log
transaction (``Log.produce_many``), and wakes each waiting event loop once per round rather
than once per request, which matters at 10k+ requests/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pinpipe.errors import DiskFullError, LogError
from pinpipe.log.base import Idempotency, Log, Position, ProduceRecord, Replayed

logger = logging.getLogger("pinpipe.ingest")

_Item = tuple[str, Sequence[ProduceRecord], "asyncio.Future[list[Position]]", Idempotency | None]


class AsyncCommitter:
    """Funnels appends from many requests into few, large, durable log transactions."""

    def __init__(
        self,
        log: Log,
        *,
        max_records_per_commit: int = 20_000,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.log = log
        self.max_records_per_commit = max_records_per_commit
        self.on_commit = on_commit
        """Called on the writer thread after each durable transaction (the metrics counter)."""
        self._pending: list[_Item] = []
        self._lock = threading.Lock()
        self._running = False
        self._closed = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pinpipe-commit")
        self.commits = 0
        """Transactions so far (requests / commits = how well requests are grouped)."""
        self.committed_records = 0
        self.disk_full = False
        """The last transaction failed for want of disk space (logged once per episode)."""

    async def produce(
        self, topic: str, records: Sequence[ProduceRecord], once: Idempotency | None = None
    ) -> list[Position]:
        """Append ``records`` to ``topic``; returns once they are durable.

        With ``once``, a key the log remembers is answered with its first positions
        (``Replayed``) and nothing is appended.
        """
        future: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closed:
                raise LogError("the server is shutting down; retry on another instance")
            self._pending.append((topic, records, future, once))
            start = not self._running
            self._running = True
        if start:
            self._writer.submit(self._drain)
        return await future

    def close(self) -> None:
        """Finish every queued append, then stop the writer thread."""
        with self._lock:
            self._closed = True
        self._writer.shutdown(wait=True)

    # -- writer thread ------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                take, size = 0, 0
                while take < len(self._pending) and size < self.max_records_per_commit:
                    size += len(self._pending[take][1])
                    take += 1
                group = self._pending[:take]
                del self._pending[:take]
            self._commit([item for item in group if not item[2].done()])

    def _commit(self, group: list[_Item]) -> None:
        if not group:
            return
        results: list[Any]
        try:
            batches = [(t, r) for t, r, _, _ in group]
            keys = [once for _, _, _, once in group]
            if any(keys):
                results = list(self.log.produce_many_once(batches, keys))
            else:
                results = list(self.log.produce_many(batches))
            self.commits += 1
            if self.on_commit is not None:
                self.on_commit()
            if self.disk_full:
                self.disk_full = False
                logger.warning("log has disk space again: produce requests are stored again")
        except DiskFullError as exc:  # nothing in the transaction is durable; answered 507
            if not self.disk_full:
                self.disk_full = True
                logger.error(
                    "log disk full at %s: refusing produce requests with 507 until space is "
                    "freed (%s)",
                    exc.path,
                    exc,
                )
            results = [exc] * len(group)
        except Exception as exc:  # the whole transaction failed: nothing in it is durable
            logger.warning("group commit of %d requests failed: %s", len(group), exc)
            results = [exc] * len(group)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for (_, records, future, _), result in zip(group, results, strict=True):
            if not isinstance(result, BaseException | Replayed):
                self.committed_records += len(records)
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: its callers are gone
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in settled:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
