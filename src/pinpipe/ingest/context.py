"""What every door shares: the log, the group committer, settings, auth, limits and metrics.

Log calls other than appends can block: on the Kafka backend each is a broker round trip, on
the embedded one a SQLite query. Handlers therefore never call the log on the event loop;
they ``await ctx.call(...)``, which runs the call on a small pool of threads owned by the
context (appends go through the committer's writer thread). One log handle is shared by the
loop, the writer and the pool, which both backends allow (see their class docstrings). The
one exception is ``describe`` of a topic the handle already knows (``Log.known_topic``): it
answers from memory, so the hot produce routes pay no thread hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pinpipe.errors import IngestError, PinpipeError
from pinpipe.ingest.auth import Authenticator, Principal, forbid, require
from pinpipe.ingest.committer import AsyncCommitter
from pinpipe.ingest.core import Request
from pinpipe.ingest.errors import shutting_down
from pinpipe.ingest.limits import RateLimiter, too_many
from pinpipe.ingest.metrics import IngestMetrics
from pinpipe.log.base import Log, Position, ProduceRecord, TopicInfo, validate_topic
from pinpipe.settings import IngestSettings

T = TypeVar("T")

LOG_THREADS = 4
"""Threads for blocking log calls: enough for a few slow broker round trips at once, few
enough that the embedded log keeps a handful of read connections."""


class IngestContext:
    """The state the route modules share; one per app."""

    def __init__(self, log: Log, settings: IngestSettings) -> None:
        self.log = log
        self.settings = settings
        self.metrics = IngestMetrics()
        self.committer = AsyncCommitter(log, on_commit=self.metrics.commits.inc)
        self.auth = Authenticator(settings.api_keys)
        self.limiter = RateLimiter(
            settings.rate_limit, settings.rate_burst, settings.record_rate_limit
        )
        self.draining = False
        self._log_calls = ThreadPoolExecutor(LOG_THREADS, thread_name_prefix="pinpipe-log")

    # -- the log, off the event loop --------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a log call that may block (a query, a broker round trip) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._log_calls, fn, *args)

    async def describe(self, topic: str) -> TopicInfo:
        """``Log.describe``, from memory when the handle knows the topic (no thread hop)."""
        known = self.log.known_topic(topic)
        if known is not None:
            return known
        return await self.call(self.log.describe, topic)

    async def topics(self) -> list[TopicInfo]:
        return await self.call(self.log.topics)

    async def produce(
        self, request: Request, topic: str, records: Sequence[ProduceRecord]
    ) -> list[Position]:
        """Append durably (group commit); auto-creates the topic only when allowed."""
        require(request.principal, "produce")
        if not self.settings.auto_create_topics:
            await self.describe(topic)  # UnknownTopicError -> 404
        try:
            positions = await self.committer.produce(topic, records)
        except PinpipeError as exc:
            if self.draining and not isinstance(exc, IngestError):
                raise shutting_down() from exc
            raise
        request.records += len(positions)
        return positions

    def close(self) -> None:
        """Finish queued appends and running log calls; the caller still owns the log."""
        self.committer.close()
        self._log_calls.shutdown(wait=True)

    # -- who may do what --------------------------------------------------------------------

    def topic(self, request: Request, name: str) -> str:
        """Validate ``name`` by Kafka's rules and check the caller may use it."""
        validate_topic(name)
        request.topic = name
        if request.principal is not None:
            forbid(request.principal, name)
        return name

    def record_budget(self, request: Request, n: int) -> int:
        """How many of ``n`` records the caller's record rate limit lets through now."""
        principal: Principal | None = request.principal
        if principal is None:
            return n
        rate = principal.key.record_rate_limit if principal.key else None
        return self.limiter.take_records(principal.bucket_id, rate, n)

    def require_records(self, request: Request, n: int) -> None:
        """All ``n`` records within the record rate limit, or 429 for the whole request."""
        if self.record_budget(request, n) < n:
            wait = self.limiter.record_wait(request.principal.bucket_id)
            raise too_many(wait, "over the record rate limit")
