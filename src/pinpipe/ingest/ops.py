"""Operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document and docs.

These are public (no API key): a load balancer and a Prometheus scraper must reach them.
They reveal no records, only counts; put ``/metrics`` behind your network's rules if even
counts per topic are sensitive.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from pinpipe.ingest import openapi
from pinpipe.ingest.core import Request, Response, Route, json_response

if TYPE_CHECKING:
    from pinpipe.ingest.app import IngestApp
    from pinpipe.ingest.context import IngestContext

_DOCS = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>pinpipe ingest API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2rem}li{margin:.3rem 0}</style></head>
<body><h1>pinpipe ingest API</h1>
<p>The machine-readable description is <a href="/openapi.json">/openapi.json</a>
(OpenAPI 3.1); load it into any OpenAPI viewer or client generator.</p>
<ul id="routes"></ul>
<script>
fetch('/openapi.json').then(r => r.json()).then(spec => {
  const list = document.getElementById('routes');
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const li = document.createElement('li');
      const code = document.createElement('code');
      code.textContent = method.toUpperCase() + ' ' + path;
      li.appendChild(code);
      li.appendChild(document.createTextNode(' ' + (op.summary || '')));
      list.appendChild(li);
    }
  }
});
</script></body></html>
"""


READY_TIMEOUT_S = 5.0
"""``/readyz`` answers 503 when the log does not answer its query within this."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Take a finished probe's outcome, so an error nobody awaited is not reported as lost."""
    if not future.cancelled():
        future.exception()


def routes(ctx: IngestContext, app: IngestApp) -> list[Route]:
    spec: dict[str, Any] = {}

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    probe: list[asyncio.Future[Any]] = []
    """The log query of ``/readyz`` under way: concurrent probes share it, so a log that does
    not answer (Kafka down: the query takes its whole timeout) holds one log-call thread, not
    one per probe."""

    async def readyz(request: Request) -> Response:
        if ctx.draining:
            response = json_response({"status": "draining"}, 503)
            response.headers.append((b"retry-after", b"1"))
            return response
        if not probe or probe[0].done():
            probe[:] = [asyncio.ensure_future(ctx.topics())]
            probe[0].add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(probe[0]), timeout=READY_TIMEOUT_S)
        except Exception:  # any failure means "not ready"; the reason goes to the server log
            ctx.metrics.reject("log_unreachable")
            return json_response({"status": "log unreachable"}, 503)
        return json_response({"status": "ready"})

    async def metrics(request: Request) -> Response:
        # Collectors may read more than counters (the console's pipeline figures): rendering
        # runs off the loop, so a slow figure never stalls requests.
        body = await asyncio.to_thread(ctx.metrics.render)
        return Response(200, body, "text/plain; version=0.0.4; charset=utf-8")

    async def openapi_json(request: Request) -> Response:
        if not spec:
            spec.update(openapi.document(app.router.routes))
        return Response(200, orjson.dumps(spec), "application/json")

    async def docs(request: Request) -> Response:
        return Response(200, _DOCS, "text/html; charset=utf-8")

    def route(path: str, handler: Any, summary: str) -> Route:
        return Route("GET", path, handler, "plain", public=True, summary=summary)

    return [
        route("/healthz", healthz, "Liveness: the process answers"),
        route("/readyz", readyz, "Readiness: the log is reachable and the server not stopping"),
        route("/metrics", metrics, "Prometheus metrics"),
        route("/openapi.json", openapi_json, "This API's OpenAPI document"),
        route("/docs", docs, "Human-readable API docs"),
    ]
