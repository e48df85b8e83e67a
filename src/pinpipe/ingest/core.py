"""A lean HTTP layer for the ingest routes: request, response, router, error envelopes.

Why not Starlette's routing and request objects: on the hot produce routes their per-request
cost is measurable next to a group-committed append, and every route here has the same simple
needs (headers, a size-capped body, path parameters, a JSON answer in its door's dialect).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

import orjson

from pinpipe.errors import IngestError
from pinpipe.ingest.limits import BodyBudget, BodyDeadlines

Door = Literal["kafka", "kafka3", "kinesis", "aws", "plain"]
"""Which wire dialect a route speaks; it decides the error envelope."""

Receive = Callable[[], Awaitable[dict[str, Any]]]

KAFKA_V2 = "application/vnd.kafka.v2+json"
AMZ_JSON = "application/x-amz-json-1.1"


class Request:
    """One HTTP request: headers as a dict of lower-case names, the body read by the app."""

    __slots__ = (
        "body",
        "client",
        "headers",
        "method",
        "params",
        "path",
        "principal",
        "raw_query",
        "receive",
        "records",
        "replayed",
        "reserved",
        "route",
        "scheme",
        "topic",
    )

    def __init__(
        self,
        method: str,
        path: str,
        raw_query: bytes,
        headers: dict[str, str],
        client: str,
        scheme: str = "http",
        receive: Receive | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.headers = headers
        self.client = client
        self.scheme = scheme
        self.receive = receive
        self.body = b""
        self.params: dict[str, str] = {}
        self.principal: Any = None
        self.route = "unmatched"
        self.topic: str | None = None
        self.records = 0
        """Records this request appended (for metrics)."""
        self.reserved = 0
        """Bytes of the body budget this request holds (given back when it ends)."""
        self.replayed = False
        """An idempotent resend: answered from the first send, nothing appended."""

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query.decode("latin-1")))

    def json(self, *, status: int = 400, code: int | str = 400) -> Any:
        """The body as JSON; malformed or empty bodies raise ``IngestError(status, code)``."""
        if not self.body.strip():
            raise IngestError(status, code, "the request body is empty; a JSON document is needed")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise IngestError(status, code, f"malformed JSON in the request body: {exc}") from exc


@dataclass(slots=True)
class Response:
    """A complete response, or a streamed one when ``stream`` is set."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None


def json_response(
    content: Any, status: int = 200, content_type: str = "application/json"
) -> Response:
    return Response(status, orjson.dumps(content), content_type)


def empty(status: int = 204) -> Response:
    return Response(status, b"", "")


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """``template`` like ``/topics/{topic}``; ``public`` routes skip authentication."""

    method: str
    template: str
    handler: Handler
    door: Door
    public: bool = False
    streaming: bool = False
    """The handler reads the body itself from ``request.receive`` (v3 streamed produce)."""
    summary: str = ""


_PARAM = re.compile(r"\{([a-z_]+)\}")


class Router:
    """Static paths by dict lookup, templated ones by regex; 404 and 405 as the caller likes."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        patterns: dict[str, dict[str, Route]] = {}
        for route in routes:
            if "{" not in route.template:
                self._static.setdefault(route.template, {})[route.method] = route
            else:
                patterns.setdefault(route.template, {})[route.method] = route
        for template, methods in patterns.items():
            regex = _PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
            self._dynamic.append((re.compile(f"^{regex}$"), methods))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """``(route, params, allowed methods)``; route None with methods: 405, without: 404."""
        methods = self._static.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for regex, candidates in self._dynamic:
                found = regex.match(path)
                if found:
                    methods = candidates
                    params = {k: unquote(v) for k, v in found.groupdict().items()}
                    break
        if methods is None:
            return None, {}, []
        route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        return route, params, sorted(methods)


def door_of(path: str) -> Door:
    """The dialect of an unmatched path, so even a 404 speaks the client's language."""
    if path.startswith("/streams"):
        return "kinesis"
    if path.startswith("/v3"):
        return "kafka3"
    if path.startswith(("/topics", "/consumers", "/brokers")):
        return "kafka"
    return "plain"


_AWS_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "UnknownOperationException",
    406: "ValidationException",
    413: "ValidationException",
    408: "RequestTimeout",
    415: "SerializationException",
    422: "ValidationException",
    429: "ProvisionedThroughputExceededException",
    503: "ServiceUnavailable",
    507: "InternalFailure",
}


def error_response(exc: IngestError, door: Door) -> Response:
    """``exc`` in the envelope of ``door``: Confluent ``error_code`` or AWS ``__type``."""
    if door in ("kinesis", "aws"):
        error_type = exc.code if isinstance(exc.code, str) else None
        error_type = error_type or _AWS_TYPES.get(exc.status, "InternalFailure")
        body = orjson.dumps({"__type": error_type, "message": exc.message})
        content_type = AMZ_JSON if door == "aws" else "application/json"
        return Response(
            exc.status, body, content_type, [(b"x-amzn-errortype", error_type.encode())]
        )
    code = exc.code if isinstance(exc.code, int) else exc.status
    content_type = KAFKA_V2 if door == "kafka" else "application/json"
    return Response(
        exc.status, orjson.dumps({"error_code": code, "message": exc.message}), content_type
    )


class Disconnected(Exception):
    """The client went away before the body arrived."""


async def read_body(
    request: Request,
    limit: int,
    budget: BodyBudget | None = None,
    deadlines: BodyDeadlines | None = None,
) -> bytes:
    """The whole body, refusing (413) anything over ``limit`` bytes before buffering it.

    The bytes are taken from ``budget`` (503 when it is spent: by ``Content-Length`` before
    reading, else chunk by chunk); a body slower than ``deadlines`` allows answers 408.
    """
    receive = request.receive
    assert receive is not None
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        if int(declared) > limit:
            raise IngestError(413, 413, _too_large(int(declared), limit))
        if budget is not None and declared != "0":
            budget.take(int(declared))
            request.reserved += int(declared)
    if deadlines is None:
        return await _receive_body(request, receive, limit, budget)
    task = deadlines.start()
    try:
        return await _receive_body(request, receive, limit, budget)
    except asyncio.CancelledError:
        if not deadlines.overdue(task):
            raise
        raise IngestError(
            408,
            408,
            "the request body did not arrive within ingest.body_timeout_s "
            f"({deadlines.timeout_s:g} s)",
        ) from None
    finally:
        deadlines.stop(task)


async def _receive_body(
    request: Request, receive: Receive, limit: int, budget: BodyBudget | None
) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise Disconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise IngestError(413, 413, _too_large(len(body), limit))
        _hold(request, budget, len(body))
        return body
    chunks = [body]
    size = len(body)
    _hold(request, budget, size)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise IngestError(413, 413, _too_large(size, limit))
        _hold(request, budget, size)
        chunks.append(chunk)
    return b"".join(chunks)


def _hold(request: Request, budget: BodyBudget | None, size: int) -> None:
    """Take what ``size`` bytes read so far need beyond what the request holds already."""
    if budget is not None and size > request.reserved:
        budget.take(size - request.reserved)
        request.reserved = size


def _too_large(size: int, limit: int) -> str:
    return f"request body of {size}+ bytes is over the limit of {limit} bytes (max_request_bytes)"
