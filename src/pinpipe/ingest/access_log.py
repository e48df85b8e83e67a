"""The JSON access log, kept off the request path.

A ``logging`` call per request costs about as much as the rest of a small request's work
(a ``LogRecord``, its formatting and a write each time), so lines are encoded with orjson
into a buffer and handed to the ``pinpipe.ingest.access`` logger as one message per flush:
every ``flush_every_s`` or ``max_buffer_bytes``, whichever comes first, and at shutdown.
Handlers, levels and formatters configured on that logger apply as before; a kill -9 loses
at most the last flush interval of access lines (never a record: those are in the log).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

access_logger = logging.getLogger("pinpipe.ingest.access")


class AccessLog:
    """Buffers access lines on the event loop; one logger call per flush."""

    def __init__(self, flush_every_s: float = 0.2, max_buffer_bytes: int = 64 * 1024) -> None:
        self.flush_every_s = flush_every_s
        self.max_buffer_bytes = max_buffer_bytes
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    @staticmethod
    def enabled() -> bool:
        return access_logger.isEnabledFor(logging.INFO)

    def add(self, line: dict[str, Any]) -> None:
        """Queue one line; called on the event loop thread."""
        data = orjson.dumps(line)
        self._lines.append(data)
        self._size += len(data) + 1
        if self._size >= self.max_buffer_bytes:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_every_s, self.flush)

    def flush(self) -> None:
        """Write what is buffered as one message (its lines joined by newlines)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            text = b"\n".join(self._lines).decode()
            self._lines.clear()
            self._size = 0
            access_logger.info(text)
