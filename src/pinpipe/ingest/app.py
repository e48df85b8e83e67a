"""The ingest HTTP app: Kafka REST v2 and API Gateway Kinesis proxy routes over one log.

Every append goes through a ``GroupCommitter``, so a request is acknowledged only once its
records are durable, and concurrent requests share fsyncs. The caller owns ``log``; the app
owns the committer and drains it on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pinpipe.errors import IngestError
from pinpipe.ingest import kafka_rest, kinesis_proxy
from pinpipe.ingest.errors import JSONResponse, internal_error, render_error
from pinpipe.ingest.http import IngestContext
from pinpipe.log.base import Log
from pinpipe.log.group_commit import GroupCommitter
from pinpipe.settings import IngestSettings

logger = logging.getLogger("pinpipe.ingest")


def create_app(log: Log, settings: IngestSettings) -> Starlette:
    """A ready Starlette app; run it with uvicorn (``pinpipe.ingest.server.serve``)."""
    committer = GroupCommitter(log)
    keys = tuple(k.get_secret_value().encode() for k in settings.api_keys)
    ctx = IngestContext(log=log, committer=committer, settings=settings, api_keys=keys)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(committer.close)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            *kafka_rest.routes(ctx),
            *kinesis_proxy.routes(ctx),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.ingest = ctx
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404 unknown path, 405 wrong method) as JSON too."""
    assert isinstance(exc, HTTPException)
    error = IngestError(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {exc.detail}")
    if exc.status_code == 404:
        error.message += f": no route for {request.method} {request.url.path}"
    return render_error(error, request.url.path, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort (routes catch their own errors): 500 JSON, details only in the log."""
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render_error(internal_error(), request.url.path)
