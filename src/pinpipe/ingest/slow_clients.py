"""uvicorn's httptools protocol with a deadline and a size cap on each request head.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no deadline for a
request's head: a client sending its headers a byte at a time ("slowloris") holds a socket
and a parser forever, and with httptools nothing caps the size of the headers it buffers.
This subclass answers 408 and closes a connection whose head does not arrive within
``header_timeout_s`` of the connection (or of the request's first byte; found by a sweep
every second at most, so the cut comes up to that much later), and 431 when a head grows
past ``max_header_bytes``. Bodies have their own deadline in the app (``read_body``).
Idle TLS connections are aborted rather than closed on a stop or a keep-alive timeout, so
neither waits for a close_notify an idle client never sends (asyncio waits 30 s for it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Reject = Callable[[str], None]
"""Counts a refusal by reason (the app's rejection metric)."""

_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
    b"connection: close\r\n\r\n"
)


def guarded_protocol(
    header_timeout_s: float, max_header_bytes: int, reject: Reject
) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these limits.

    A request only stamps when its head began (no timer per request: on the hot path a
    ``call_later`` + ``cancel`` per request costs as much as the rest of a small request's
    parsing); one sweep per event loop, every ``tick`` seconds, closes the late ones.
    """
    tick = min(1.0, header_timeout_s / 4)
    sweeps: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}

    class GuardedHttpTools(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_since: float | None = None
            """When the request head now arriving began (None: no head is arriving)."""
            self._head_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_since = self.loop.time()
            if self.loop not in sweeps:
                sweeps[self.loop] = self.loop.call_later(tick, self._sweep)

        def data_received(self, data: bytes) -> None:
            if self._head_since is None:
                super().data_received(data)
                return
            # The chunk may hold the end of the head and a large body: parse it first, and
            # count it against the head's cap only if the head is still not complete.
            self._head_bytes += len(data)
            super().data_received(data)
            if self._head_since is not None and self._head_bytes > max_header_bytes:
                self._refuse(_431, "header_too_large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head_since is None:
                self._head_since = self.loop.time()

        def on_headers_complete(self) -> None:
            self._head_since = None
            self._head_bytes = 0
            super().on_headers_complete()

        def shutdown(self) -> None:
            if self.scheme == "https" and self._idle():
                # asyncio waits up to 30 s for the client's TLS close_notify, which a client
                # holding an idle connection never sends: a stop would wait that long.
                self.transport.abort()
                return
            super().shutdown()

        def timeout_keep_alive_handler(self) -> None:
            if self.scheme == "https" and self._idle():
                self.transport.abort()  # as in shutdown: no 30 s wait per idle TLS connection
                return
            super().timeout_keep_alive_handler()

        def _idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _sweep(self) -> None:
            """Refuse the connections of this loop whose head is late; again while any are open."""
            loop = self.loop
            now = loop.time()
            for conn in list(self.connections):
                if isinstance(conn, GuardedHttpTools) and conn._late(now):
                    conn._refuse(_408, "header_timeout")
            if self.connections:
                sweeps[loop] = loop.call_later(tick, self._sweep)
            else:
                del sweeps[loop]

        def _late(self, now: float) -> bool:
            since = self._head_since
            return since is not None and now - since > header_timeout_s and self._idle()

        def _refuse(self, answer: bytes, reason: str) -> None:
            self._head_since = None
            if not self.transport.is_closing():
                reject(reason)
                self.transport.write(answer)
                self.transport.close()

    return GuardedHttpTools
