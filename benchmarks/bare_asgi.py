"""The baseline server for the ingest benchmark: an ASGI app that does nothing of pinpipe's.

It reads the whole request body and answers a fixed Kafka REST v2 JSON, so the gap between it
and ``pinpipe serve`` on the same server stack is pinpipe's own per-request work.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}]}'
HEADERS = [
    (b"content-type", b"application/vnd.kafka.v2+json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, answer 200 with a fixed body; lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
