"""Run the ingest app under uvicorn, in the main thread or in a supervisor's thread.

In a background thread there are no signal handlers (only the main thread may install them);
the caller stops the server through the ``stop`` event instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
from collections.abc import Callable, Generator

import uvicorn

from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.ingest.app import create_app
from pinpipe.log import open_log
from pinpipe.log.base import Log
from pinpipe.settings import Settings

logger = logging.getLogger("pinpipe.ingest")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name counts as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Server(uvicorn.Server):
    """uvicorn's server, leaving signals alone unless it owns the process's main thread."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self._handle_signals and threading.current_thread() is threading.main_thread():
            with super().capture_signals():
                yield
        else:
            yield


def serve(
    settings: Settings,
    *,
    log: Log | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    on_bound: Callable[[str, int], None] | None = None,
) -> None:
    """Serve until Ctrl-C (main thread) or until ``stop`` is set; blocks.

    ``ready`` is set once the socket listens; ``on_bound(host, port)`` receives the actual
    address (useful with ``port = 0``). A ``log`` passed in is left open; one opened here is
    closed on the way out.
    """
    ingest = settings.ingest
    if not ingest.api_keys and not is_loopback(ingest.host):
        raise ConfigError(
            f"refusing to listen on {ingest.host} without API keys: anyone on the network "
            "could write to the log. Set ingest.api_keys (PINPIPE_INGEST__API_KEYS='[\"<key>\"]') "
            "or bind to 127.0.0.1"
        )
    owned = log is None
    active_log = open_log(settings) if log is None else log
    try:
        app = create_app(active_log, ingest)
        config = uvicorn.Config(
            app,
            host=ingest.host,
            port=ingest.port,
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
        )
        server = _Server(config, handle_signals=stop is None)
        try:
            asyncio.run(_run(server, ready, stop, on_bound))
        except SystemExit as exc:  # uvicorn exits this way when it cannot bind or start
            raise PinpipeError(
                f"the ingest server could not start on {ingest.host}:{ingest.port} "
                "(port in use or not allowed? the log above has the reason)"
            ) from exc
    finally:
        if owned:
            active_log.close()


async def _run(
    server: _Server,
    ready: threading.Event | None,
    stop: threading.Event | None,
    on_bound: Callable[[str, int], None] | None,
) -> None:
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.wait({task}, timeout=0.02)
    if server.started:
        host, port = _bound_address(server)
        logger.info("pinpipe ingest listening on http://%s:%d", host, port)
        print(f"pinpipe ingest listening on http://{host}:{port}", flush=True)
        if on_bound is not None:
            on_bound(host, port)
        if ready is not None:
            ready.set()
    while not task.done():
        if stop is not None and stop.is_set():
            server.should_exit = True
        await asyncio.wait({task}, timeout=0.1)
    task.result()


def _bound_address(server: uvicorn.Server) -> tuple[str, int]:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return str(host), int(port)
    return server.config.host, server.config.port
