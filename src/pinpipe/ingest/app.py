"""The ingest ASGI app: every door over one log, with auth, limits, metrics and drain.

The app is a plain ASGI callable (see ``core`` for why not a framework). Every append goes
through an ``AsyncCommitter``, so a request is acknowledged only once its records are durable
and concurrent requests share fsyncs. The caller owns ``log``; the app owns the shared
``IngestContext`` (committer, log-call threads) and finishes it on shutdown (ASGI lifespan)
or on ``close()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pinpipe.errors import DiskFullError, IngestError, PinpipeError, RetryLaterError
from pinpipe.ingest import (
    kafka_consumers,
    kafka_rest,
    kafka_v3,
    kinesis_native,
    kinesis_proxy,
    ops,
)
from pinpipe.ingest.access_log import AccessLog
from pinpipe.ingest.auth import Principal
from pinpipe.ingest.context import TOPIC_NOT_ALLOWED, IngestContext
from pinpipe.ingest.core import (
    Disconnected,
    Door,
    Request,
    Response,
    Route,
    Router,
    door_of,
    error_response,
)
from pinpipe.ingest.errors import (
    INSUFFICIENT_STORAGE,
    LOG_UNAVAILABLE,
    TOPIC_LIMIT,
    from_log_error,
    internal_error,
    shutting_down,
)
from pinpipe.ingest.limits import OVERLOADED
from pinpipe.log.base import Log
from pinpipe.settings import OPEN_TOPICS, IngestSettings, TopicSettings

logger = logging.getLogger("pinpipe.ingest")

Scope = dict[str, Any]

UNAVAILABLE_LOG_EVERY_S = 10.0


class IngestApp:
    """The ASGI application. ``ctx`` holds the state; ``router`` the routes of every door."""

    def __init__(
        self, log: Log, settings: IngestSettings, topics: TopicSettings = OPEN_TOPICS
    ) -> None:
        self.ctx = IngestContext(log, settings, topics)
        routes: list[Route] = [
            *ops.routes(self.ctx, self),
            *kafka_rest.routes(self.ctx),
            *kafka_consumers.routes(self.ctx),
            *kafka_v3.routes(self.ctx),
            *kinesis_proxy.routes(self.ctx),
            *kinesis_native.routes(self.ctx),
        ]
        self.router = Router(routes)
        self.inflight = 0
        self.access = AccessLog()
        self._closed = False
        self._unavailable_logged_at = -UNAVAILABLE_LOG_EVERY_S
        self._unavailable_refused = 0

    def start_drain(self) -> None:
        """Stop taking new work: answer 503 + Retry-After; ``/readyz`` turns 503."""
        self.ctx.draining = True
        self.ctx.metrics.draining.set(1)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (bounded) for requests already running to finish."""
        self.start_drain()
        deadline = time.monotonic() + timeout
        while self.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Finish queued appends and running log calls; idempotent."""
        if not self._closed:
            self._closed = True
            self.ctx.close()

    # -- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain(timeout=30.0)
                self.access.flush()
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        request = Request(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            headers,
            client[0] if client else "",
            scope.get("scheme", "http"),
            receive,
        )
        self.inflight += 1
        self.ctx.metrics.inflight.inc()
        try:
            response = await self._respond(request, receive)
        except Disconnected:
            response = Response(499)
        finally:
            self.inflight -= 1
            self.ctx.metrics.inflight.dec()
            if request.reserved:
                self.ctx.budget.give(request.reserved)
        if request.replayed and response.status < 300:
            response.headers.append((b"idempotent-replayed", b"true"))
        if response.status != 499:
            await _send(send, response, request.method == "HEAD")
        elapsed = time.perf_counter() - started
        self.ctx.metrics.observe(
            request.route,
            request.method,
            response.status,
            request.topic,
            request.records,
            len(request.body),
            elapsed,
        )
        if self.ctx.settings.access_log and self.access.enabled():
            self.access.add(_access_line(request, response.status, elapsed))

    async def _respond(self, request: Request, receive: Any) -> Response:
        door: Door = door_of(request.path)
        try:
            route, params, allowed = self.router.match(request.method, request.path)
            if route is not None:
                door = route.door
            elif request.method == "POST" and request.path == "/":
                door = "aws"
            if self.ctx.draining and not (route is not None and route.public):
                self.ctx.metrics.reject("draining")
                raise shutting_down()
            if route is None:
                raise _no_route(request, allowed)
            request.route = route.template
            request.params = params
            if not route.public:
                request.principal = self.ctx.auth.authenticate(request.headers, request.client)
                principal: Principal = request.principal
                rate = principal.key.rate_limit if principal.key else None
                self.ctx.limiter.check(principal.bucket_id, rate)
            if not route.streaming:
                request.body = await self.ctx.read_body(request)
            return await route.handler(request)
        except IngestError as exc:
            return self._refuse(exc, door)
        except PinpipeError as exc:
            mapped = from_log_error(exc)
            if mapped.code == LOG_UNAVAILABLE:
                self._log_unavailable(exc)
            elif mapped.status >= 500 and not isinstance(exc, DiskFullError):  # logged once
                logger.error("%s %s failed: %s", request.method, request.path, exc)
            return self._refuse(mapped, door)
        except Disconnected:
            raise
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return self._refuse(internal_error(), door)

    def _log_unavailable(self, exc: PinpipeError) -> None:
        """One line per ``UNAVAILABLE_LOG_EVERY_S`` while the log is unreachable, not one per
        refused request (a busy server refuses thousands a second then)."""
        now = time.monotonic()
        self._unavailable_refused += 1
        if now - self._unavailable_logged_at >= UNAVAILABLE_LOG_EVERY_S:
            logger.warning(
                "the log is unavailable, answering produce requests with 503 + Retry-After "
                "(%d refused since the last such line): %s",
                self._unavailable_refused,
                exc,
            )
            self._unavailable_logged_at = now
            self._unavailable_refused = 0

    def _refuse(self, exc: IngestError, door: Door) -> Response:
        reason = {401: "unauthenticated", 403: "forbidden", 413: "too_large", 429: "rate_limited"}
        if exc.code in _REASON_BY_CODE:
            self.ctx.metrics.reject(_REASON_BY_CODE[exc.code])
        elif exc.status in reason:
            self.ctx.metrics.reject(reason[exc.status])
        elif 400 <= exc.status < 500 and exc.status != 404:
            self.ctx.metrics.reject("invalid")
        response = error_response(exc, door)
        if isinstance(exc, RetryLaterError):
            response.headers.append((b"retry-after", str(exc.retry_after).encode()))
        if exc.status == 401:
            response.headers.append((b"www-authenticate", b"Bearer"))
        if exc.status == 503:
            response.headers.append((b"connection", b"close"))
        return response


_REASON_BY_CODE: dict[int | str, str] = {
    TOPIC_NOT_ALLOWED: "topic_not_allowed",
    TOPIC_LIMIT: "topic_limit",
    LOG_UNAVAILABLE: "log_unreachable",
    OVERLOADED: "overloaded",
    INSUFFICIENT_STORAGE: "disk_full",
    408: "body_timeout",
}
"""Rejections counted by a reason of their own rather than their status's."""


def _no_route(request: Request, allowed: list[str]) -> IngestError:
    if allowed:
        return IngestError(
            405, 405, f"HTTP 405 Method Not Allowed: {request.path} accepts {', '.join(allowed)}"
        )
    return IngestError(
        404, 404, f"HTTP 404 Not Found: no route for {request.method} {request.path}"
    )


async def _send(send: Any, response: Response, head: bool) -> None:
    headers = list(response.headers)
    if response.content_type:
        headers.append((b"content-type", response.content_type.encode()))
    if response.stream is None:
        if response.status not in (204, 304):
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    async for chunk in response.stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _access_line(request: Request, status: int, elapsed: float) -> dict[str, Any]:
    principal: Principal | None = request.principal
    return {
        "ts": round(time.time(), 3),
        "client": request.client,
        "method": request.method,
        "path": request.path,
        "route": request.route,
        "status": status,
        "ms": round(elapsed * 1000, 3),
        "bytes": len(request.body),
        "records": request.records,
        "topic": request.topic,
        "key": principal.name if principal is not None else None,
    }


def create_app(
    log: Log, settings: IngestSettings, topics: TopicSettings = OPEN_TOPICS
) -> IngestApp:
    """A ready ASGI app; run it with ``pinpipe.ingest.server.serve`` (uvicorn).

    ``topics`` is the topic policy; servers pass ``Settings.topics``, and without it any
    valid name may be written (an app embedded in a test or a program of its own).
    """
    return IngestApp(log, settings, topics)
