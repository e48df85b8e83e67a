"""``pinpipe console``: the console alone, read-only over an existing lake (local or S3)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import uvicorn

from pinpipe.console.app import PREFIX, create_console
from pinpipe.console.figures import Sources
from pinpipe.console.mount import Alone, build
from pinpipe.errors import ConfigError
from pinpipe.ingest.server import is_loopback
from pinpipe.settings import Settings


def check_exposure(settings: Settings) -> None:
    host = settings.console.host
    keyed = settings.ingest.api_keys or settings.ingest.api_keys_file
    if not keyed and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve the console on {host} without API keys: anyone on the network "
            "could read every record. Put a key's hash in ingest.api_keys (`pinpipe keys new`) "
            "or bind to 127.0.0.1"
        )


def serve_console(
    settings: Settings, *, on_bound: Callable[[str, int], None] | None = None
) -> None:
    """Serve until Ctrl-C/SIGTERM; blocks."""
    check_exposure(settings)
    closing = threading.Event()
    console = build(settings, Sources(stream_group=settings.stream.group), closing)
    config = uvicorn.Config(
        Alone(create_console(console)),
        host=settings.console.host,
        port=settings.console.port,
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    original = server.handle_exit

    def handle_exit(sig: int, frame: object) -> None:
        closing.set()  # ends the live streams, so the server stops at once
        original(sig, frame)  # type: ignore[arg-type]

    server.handle_exit = handle_exit  # type: ignore[method-assign]

    async def main() -> None:
        import asyncio

        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            host, port = _bound(server)
            print(f"pinpipe console on http://{host}:{port}{PREFIX}/ (read-only)", flush=True)
            if on_bound is not None:
                on_bound(host, port)
        await task

    import asyncio

    try:
        asyncio.run(main())
    finally:
        closing.set()
        console.reader.close()


def _bound(server: uvicorn.Server) -> tuple[str, int]:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return str(host), int(port)
    return server.config.host, server.config.port
