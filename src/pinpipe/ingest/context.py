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
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pinpipe.errors import ConfigError, IdempotencyConflictError, IngestError, PinpipeError
from pinpipe.ingest import idempotency
from pinpipe.ingest.auth import Authenticator, Principal, forbid, require
from pinpipe.ingest.committer import AsyncCommitter
from pinpipe.ingest.core import Request, read_body
from pinpipe.ingest.errors import shutting_down
from pinpipe.ingest.key_file import read_key_file
from pinpipe.ingest.limits import BodyBudget, BodyDeadlines, RateLimiter, too_many
from pinpipe.ingest.metrics import IngestMetrics
from pinpipe.log.base import (
    Log,
    Position,
    ProduceRecord,
    Replayed,
    TopicInfo,
    validate_topic,
)
from pinpipe.settings import OPEN_TOPICS, IngestSettings, TopicSettings

T = TypeVar("T")

logger = logging.getLogger("pinpipe.ingest")

TOPIC_NOT_ALLOWED = 40302
TABLE_TOPICS = "names that feed a table: <anything>.pin, .geo or .user (also -pin, _pin, ...)"

MAX_CHECKED_TOPICS = 10_000
"""Topic names whose policy check is remembered (a set lookup instead of a regex search)."""

LOG_THREADS = 4
"""Threads for blocking log calls: enough for a few slow broker round trips at once, few
enough that the embedded log keeps a handful of read connections."""


class IngestContext:
    """The state the route modules share; one per app."""

    def __init__(
        self, log: Log, settings: IngestSettings, topics: TopicSettings = OPEN_TOPICS
    ) -> None:
        self.log = log
        self.settings = settings
        self.topic_policy = topics
        """Which topics may be written and created (``[topics]``)."""
        self._writable: set[str] = set()
        self.metrics = IngestMetrics()
        self.committer = AsyncCommitter(log, on_commit=self.metrics.commits.inc)
        self.auth = self.authenticator()
        self.limiter = RateLimiter(
            settings.rate_limit, settings.rate_burst, settings.record_rate_limit
        )
        self.budget = BodyBudget(settings.max_inflight_bytes)
        self.metrics.inflight_bytes.set_function(lambda: self.budget.held)
        """Request-body bytes in memory, capped (``ingest.max_inflight_bytes``)."""
        self.deadlines = BodyDeadlines(settings.body_timeout_s)
        self.draining = False
        self._log_calls = ThreadPoolExecutor(LOG_THREADS, thread_name_prefix="pinpipe-log")

    def authenticator(self) -> Authenticator:
        """The configured keys: ``ingest.api_keys`` and those of ``ingest.api_keys_file``."""
        path = self.settings.api_keys_file
        keys = self.settings.api_keys + (read_key_file(path) if path else ())
        return Authenticator(keys, required=bool(path))

    def reload_keys(self) -> None:
        """Re-read ``ingest.api_keys_file``; on a bad file keep the keys in use (logged)."""
        try:
            auth = self.authenticator()
        except ConfigError as exc:
            logger.error("API keys not reloaded, the old ones stay in use: %s", exc)
            return
        self.auth = auth  # one reference swap: requests see the old or the new keys
        logger.warning("API keys reloaded from ingest.api_keys_file: %d keys", len(auth.keys))

    async def read_body(self, request: Request) -> bytes:
        """The request's body within the size limit, the body budget and the body deadline."""
        settings = self.settings
        return await read_body(request, settings.max_request_bytes, self.budget, self.deadlines)

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
        self,
        request: Request,
        topic: str,
        records: Sequence[ProduceRecord],
        key: str | None = None,
    ) -> list[Position]:
        """Append durably (group commit); auto-creates the topic only when allowed.

        ``key`` (else the request's ``Idempotency-Key`` header) makes the append happen once:
        a resend answers the first positions and appends nothing (``request.replayed``).
        """
        require(request.principal, "produce")
        self.writable(topic)
        if not self.topic_policy.auto_create:
            await self.describe(topic)  # UnknownTopicError -> 404
        if key is None:
            key = request.headers.get(idempotency.HEADER)
        once = None if key is None else idempotency.once(request.principal, key, topic, records)
        try:
            positions = await self.committer.produce(topic, records, once)
        except IdempotencyConflictError as exc:
            raise idempotency.conflict(key or "") from exc
        except PinpipeError as exc:
            if self.draining and not isinstance(exc, IngestError):
                raise shutting_down() from exc
            raise
        if isinstance(positions, Replayed):
            request.replayed = True
            self.metrics.replays.inc()
        else:
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

    def writable(self, topic: str) -> None:
        """403 unless ``topics.pattern`` lets this topic be written and created."""
        if topic in self._writable:
            return
        if not self.topic_policy.allows(topic):
            rule = (
                self.topic_policy.pattern or "names that feed a table: <anything>.pin, .geo, .user"
            )
            raise IngestError(
                403,
                TOPIC_NOT_ALLOWED,
                f"topic {topic!r} may not be written or created on this server: it does not "
                f"match the setting topics.pattern ({rule})",
            )
        if len(self._writable) < MAX_CHECKED_TOPICS:
            self._writable.add(topic)

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
