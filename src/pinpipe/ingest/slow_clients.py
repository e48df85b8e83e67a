"""uvicorn's httptools protocol with a deadline and a size cap on each request head.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no deadline for a
request's head: a client sending its headers a byte at a time ("slowloris") holds a socket
and a parser forever, and with httptools nothing caps the size of the headers it buffers.
This subclass answers 408 and closes a connection whose head does not arrive within
``header_timeout_s`` of the connection (or of the request's first byte), and 431 when a head
grows past ``max_header_bytes``. Bodies have their own deadline in the app (``read_body``).
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
    """The protocol class for ``uvicorn.Config(http=...)`` with these limits."""

    class GuardedHttpTools(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_bytes = 0
            self._in_head = True

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > max_header_bytes:
                    self._refuse(_431, "header_too_large")
                    return
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:
                self._start_head()

        def on_headers_complete(self) -> None:
            self._stop_head()
            super().on_headers_complete()

        def _start_head(self) -> None:
            self._stop_head()
            self._in_head = True
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_late)

        def _stop_head(self) -> None:
            self._in_head = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if self.cycle is None or self.cycle.response_complete:  # no request is running
                self._refuse(_408, "header_timeout")

        def _refuse(self, answer: bytes, reason: str) -> None:
            self._stop_head()
            if not self.transport.is_closing():
                reject(reason)
                self.transport.write(answer)
                self.transport.close()

    return GuardedHttpTools
