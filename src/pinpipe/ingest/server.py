"""Run the ingest app: uvicorn with uvloop + httptools, one process or several.

Measured in ``benchmarks/bench_ingest.py``: on 2 cores uvicorn with httptools and uvloop
serves about twice the group-committed produce requests of uvicorn's h11 default; granian's
ASGI mode serves the same app about 10% faster still (see docs/benchmarks.md). uvicorn stays
the default because it embeds in a thread with a stop event (``pinpipe up``), drains
gracefully and runs several workers; ``pinpipe.ingest.asgi`` serves the app under granian.

In a background thread there are no signal handlers (only the main thread may install them);
the caller stops the server through the ``stop`` event instead. Stopping drains: new requests
get 503 + Retry-After (``/readyz`` too) for ``ingest.drain_seconds``, requests in flight
finish, queued appends are committed, then the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import uvicorn

from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.ingest import key_file
from pinpipe.ingest.app import IngestApp, create_app
from pinpipe.log import open_log
from pinpipe.log.base import Log
from pinpipe.settings import IngestSettings, Settings

logger = logging.getLogger("pinpipe.ingest")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; any other name counts as public."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    ingest = settings.ingest
    if not ingest.api_keys and not ingest.api_keys_file and not is_loopback(ingest.host):
        raise ConfigError(
            f"refusing to listen on {ingest.host} without API keys: anyone on the network "
            "could write to the log. Create a key with `pinpipe keys new`, put its hash in "
            "ingest.api_keys (PINPIPE_INGEST__API_KEYS='[\"sha256:<hex>\"]') or bind to 127.0.0.1"
        )


class _Server(uvicorn.Server):
    """uvicorn's server; a first signal drains, a second one exits at once."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals
        self.stop_requested = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self._handle_signals and threading.current_thread() is threading.main_thread():
            with super().capture_signals():
                yield
        else:
            yield

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.stop_requested:
            super().handle_exit(sig, frame)
        self.stop_requested = True


def serve(
    settings: Settings,
    *,
    log: Log | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
    on_bound: Callable[[str, int], None] | None = None,
    compose: Callable[[IngestApp], Any] | None = None,
) -> None:
    """Serve until Ctrl-C/SIGTERM (main thread) or until ``stop`` is set; blocks.

    ``ready`` is set once the socket listens; ``on_bound(host, port)`` receives the actual
    address (useful with ``port = 0``). A ``log`` passed in is left open; one opened here is
    closed on the way out. ``ingest.workers > 1`` forks that many server processes sharing
    the port (only when the log is opened here and signals stop the server).
    ``compose(app)`` returns the ASGI app actually served around the ingest app (``pinpipe up``
    puts the console beside it); ingest never knows what it is.
    """
    check_exposure(settings)
    if settings.ingest.workers > 1 and log is None and stop is None:
        _serve_workers(settings, ready, on_bound)
        return
    _serve_one(settings, log, ready, stop, on_bound, None, compose)


def _serve_one(
    settings: Settings,
    log: Log | None,
    ready: threading.Event | None,
    stop: threading.Event | None,
    on_bound: Callable[[str, int], None] | None,
    sock: socket.socket | None,
    compose: Callable[[IngestApp], Any] | None = None,
) -> None:
    ingest = resolved(settings)
    owned = log is None
    active_log = open_log(settings) if log is None else log
    unwatch = None
    try:
        if ingest.api_keys_file:  # before the file is read (only in the main thread)
            key_file.install_sighup_handler()
        seen = key_file.hups()
        app = create_app(active_log, ingest, settings.topics)
        if ingest.api_keys_file:
            unwatch = key_file.watch(app.ctx.reload_keys)
            if key_file.hups() != seen:  # a SIGHUP came while the file was being read
                app.ctx.reload_keys()
        config = uvicorn.Config(
            compose(app) if compose is not None else app,
            host=ingest.host,
            port=ingest.port,
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            http=_http_impl(ingest, app),
            timeout_keep_alive=ingest.keep_alive_s,
            h11_max_incomplete_event_size=ingest.max_header_bytes,
            timeout_graceful_shutdown=30,
            ssl_certfile=ingest.tls_cert_file or None,
            ssl_keyfile=ingest.tls_key_file or None,
        )
        server = _Server(config, handle_signals=stop is None)
        main = _run(server, app, ingest, ready, stop, on_bound, sock)
        try:
            _run_loop(main)
        except SystemExit as exc:  # uvicorn exits this way when it cannot bind or start
            raise PinpipeError(
                f"the ingest server could not start on {ingest.host}:{ingest.port} "
                "(port in use or not allowed? the log above has the reason)"
            ) from exc
    finally:
        if unwatch is not None:
            unwatch()
        if owned:
            active_log.close()


def resolved(settings: Settings) -> IngestSettings:
    """The ingest settings with their file paths (keys, certificate, key) made absolute
    against home, as every other path in the settings."""
    ingest = settings.ingest
    files = ("api_keys_file", "tls_cert_file", "tls_key_file")
    update = {
        name: str(settings.resolve(getattr(ingest, name)))
        for name in files
        if getattr(ingest, name)
    }
    return ingest.model_copy(update=update) if update else ingest


def _http_impl(ingest: IngestSettings, app: IngestApp) -> type[asyncio.Protocol] | str:
    """httptools with a deadline and a cap on request heads (``slow_clients``), else h11
    (which caps heads itself; it has no head deadline)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    from pinpipe.ingest.slow_clients import guarded_protocol

    return guarded_protocol(
        ingest.header_timeout_s, ingest.max_header_bytes, app.ctx.metrics.reject
    )


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (about 2x the request rate of asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


async def _run(
    server: _Server,
    app: IngestApp,
    ingest: IngestSettings,
    ready: threading.Event | None,
    stop: threading.Event | None,
    on_bound: Callable[[str, int], None] | None,
    sock: socket.socket | None,
) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    while not server.started and not task.done():
        await asyncio.wait({task}, timeout=0.02)
    if server.started:
        host, port = _bound_address(server)
        scheme = "https" if ingest.tls_cert_file else "http"
        logger.info("pinpipe ingest listening on %s://%s:%d", scheme, host, port)
        if sock is None:
            print(f"pinpipe ingest listening on {scheme}://{host}:{port}", flush=True)
        if on_bound is not None:
            on_bound(host, port)
        if ready is not None:
            ready.set()
    while not task.done():
        if server.stop_requested or (stop is not None and stop.is_set()):
            app.start_drain()
            await asyncio.sleep(ingest.drain_seconds)
            await app.drain(timeout=30.0)
            server.should_exit = True
            break
        await asyncio.wait({task}, timeout=0.05)
    await task


def _bound_address(server: uvicorn.Server) -> tuple[str, int]:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return str(host), int(port)
    return server.config.host, server.config.port


# -- several processes ---------------------------------------------------------------------------


def _serve_workers(
    settings: Settings,
    ready: threading.Event | None,
    on_bound: Callable[[str, int], None] | None,
) -> None:
    """Bind once, then run ``workers`` processes on the shared socket; the kernel balances.

    Each worker opens its own log connection (the embedded log is multi-process safe) and
    has its own group commit. Consumer instances (v2) live in one worker each.
    """
    ingest = settings.ingest
    family = socket.AF_INET6 if ":" in ingest.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((ingest.host, ingest.port))
    except OSError as exc:
        where = f"{ingest.host}:{ingest.port}"
        raise PinpipeError(f"the ingest server could not bind {where}: {exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    # With a key file, workers start with SIGHUP ignored (inherited) until they handle it:
    # an early SIGHUP must not kill one (its default action); a worker reads the file on start.
    reloads = bool(ingest.api_keys_file)
    hup = signal.signal(signal.SIGHUP, signal.SIG_IGN) if reloads else None
    context = multiprocessing.get_context("spawn")
    one = settings.model_copy(update={"ingest": ingest.model_copy(update={"workers": 1})})
    procs = [
        context.Process(target=_worker, args=(one, sock), name=f"pinpipe-ingest-{i}")
        for i in range(ingest.workers)
    ]
    for proc in procs:
        proc.start()
    scheme = "https" if ingest.tls_cert_file else "http"
    print(
        f"pinpipe ingest listening on {scheme}://{host}:{port} ({len(procs)} workers)", flush=True
    )
    if on_bound is not None:
        on_bound(str(host), int(port))
    if ready is not None:
        ready.set()
    stopping = threading.Event()

    def forward(signum: int, frame: Any) -> None:
        stopping.set()
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    def forward_hup(signum: int, frame: Any) -> None:  # each worker re-reads its key file
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGHUP)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    if reloads:
        signal.signal(signal.SIGHUP, forward_hup)
        previous[signal.SIGHUP] = hup
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.1)
            if not stopping.is_set() and any(p.exitcode not in (None, 0) for p in procs):
                forward(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _worker(settings: Settings, sock: socket.socket) -> None:
    logging.basicConfig(level=logging.WARNING)
    _serve_one(settings, None, None, None, None, sock)
