"""What every ingest route shares: API keys, the request size cap, JSON bodies, error mapping."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from pinpipe.errors import IngestError, PinpipeError
from pinpipe.ingest.errors import from_log_error, internal_error, render_error
from pinpipe.log.base import Log
from pinpipe.log.group_commit import GroupCommitter
from pinpipe.settings import IngestSettings

logger = logging.getLogger("pinpipe.ingest")

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class IngestContext:
    """The app's collaborators, handed to the route modules."""

    log: Log
    committer: GroupCommitter
    settings: IngestSettings
    api_keys: tuple[bytes, ...]


def guarded(ctx: IngestContext, handler: Endpoint) -> Endpoint:
    """Wrap a route: check the API key first, turn every failure into a JSON error."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        path = request.url.path
        try:
            _authorize(request, ctx.api_keys)
            return await handler(request)
        except IngestError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return render_error(exc, path, headers)
        except PinpipeError as exc:
            mapped = from_log_error(exc)
            if mapped.status >= 500:
                logger.error("%s %s failed: %s", request.method, path, exc)
            return render_error(mapped, path)
        except Exception:
            logger.exception("%s %s failed", request.method, path)
            return render_error(internal_error(), path)

    return endpoint


def _authorize(request: Request, api_keys: tuple[bytes, ...]) -> None:
    if not api_keys:
        return
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if not given:
        raise IngestError(
            401,
            40101,
            "an API key is required: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'",
        )
    candidate = given.encode()
    matched = False
    for key in api_keys:  # compare with every key, in constant time, to leak nothing
        matched |= hmac.compare_digest(candidate, key)
    if not matched:
        raise IngestError(401, 40101, "the API key is not valid")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes before buffering it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IngestError(413, 413, _too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, 413, _too_large(size, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return f"request body of {size}+ bytes is over the limit of {limit} bytes (max_request_bytes)"


def parse_json(body: bytes, *, status: int, code: int | str) -> Any:
    """Parse a JSON body; a parse failure becomes ``IngestError(status, code)`` naming where."""
    if not body.strip():
        raise IngestError(status, code, "the request body is empty; a JSON document is required")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(status, code, f"malformed JSON in the request body: {exc}") from exc
