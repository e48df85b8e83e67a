"""Putting the console on a server: beside the ingest app (``pinpipe up``) or alone.

``with_ingest`` answers ``/ui`` with the console and everything else with the ingest app (its
lifespan included), so one port serves both and the ingest routes pay one prefix test.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from pinpipe.console.app import PREFIX, Console, create_console
from pinpipe.console.figures import Figures, IngestSource, Sources
from pinpipe.console.metrics import PipelineCollector
from pinpipe.console.reads import Reader
from pinpipe.console.session import Sessions
from pinpipe.console.status import PipelineStatus
from pinpipe.engines import StreamStats
from pinpipe.ingest.app import IngestApp
from pinpipe.ingest.auth import Authenticator
from pinpipe.lake.layout import open_lake
from pinpipe.settings import Settings

logger = logging.getLogger(__name__)


def build(
    settings: Settings,
    sources: Sources,
    closing: threading.Event,
    authenticator: Callable[[], Authenticator] | None = None,
) -> Console:
    """The console's parts over the settings' lake; its sampler runs until ``closing``.
    ``authenticator`` gives the API keys in force (beside ingest: the ingest app's)."""
    lake = open_lake(settings)
    reader = Reader(lake, settings.console)
    figures = Figures(settings, lake, reader.store, sources)
    figures.start(closing)
    return Console(
        figures=figures,
        reader=reader,
        sessions=Sessions(settings, authenticator),
        closing=closing,
        live=sources.ingest is not None,
    )


def _is_console(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/"))


class WithIngest:
    """``/ui...`` → the console; every other request and the lifespan → the ingest app."""

    def __init__(self, ingest: Any, console: ASGIApp) -> None:
        self.ingest = ingest
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_console(scope):
            await self.console(scope, receive, send)
        elif _browser_at_root(scope):
            await _redirect(send)
        else:
            await self.ingest(scope, receive, send)


def _browser_at_root(scope: Scope) -> bool:
    """A person opening ``/`` in a browser (API clients never ask ``GET /`` for HTML)."""
    if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "GET":
        return False
    accept = dict(scope["headers"]).get(b"accept", b"")
    return b"text/html" in accept


async def _redirect(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 307,
            "headers": [(b"location", f"{PREFIX}/".encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class Alone:
    """The console by itself: ``/`` and other paths redirect to ``/ui/``."""

    def __init__(self, console: ASGIApp) -> None:
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if _is_console(scope):
            await self.console(scope, receive, send)
            return
        await _redirect(send)


def attach(
    settings: Settings,
    status: PipelineStatus,
    stream_stats: Callable[[], StreamStats],
    closing: threading.Event,
) -> Callable[[IngestApp], Any]:
    """For ``serve(..., compose=...)``: the ingest app with the console beside it, and the
    console's figures added to the ingest app's ``/metrics``."""

    def compose(ingest: IngestApp) -> Any:
        try:
            return _with_console(ingest)
        except Exception:  # the console must never keep ingest from starting
            logger.exception("the console could not start; serving the ingest API alone")
            return ingest

    def _with_console(ingest: IngestApp) -> ASGIApp:
        doors = {route.template: route.door for route in ingest.router.routes}
        sources = Sources(
            ingest=IngestSource(ingest.ctx.metrics, doors),
            stream_stats=stream_stats,
            status=status,
            stream_group=settings.stream.group,
        )
        console = build(settings, sources, closing, lambda: ingest.ctx.auth)
        ingest.ctx.metrics.registry.register(PipelineCollector(console.figures))
        return WithIngest(ingest, create_console(console))

    return compose
