"""The console's pages and JSON: a Starlette app rendering Jinja2 templates, read-only.

Starlette brings routing, static files, streaming (server-sent events) and the test client;
the ingest API keeps its own lean router for speed, the console does not need one. Every page
is rendered on the server; ``static/console.js`` only draws charts and applies live updates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import pyarrow as pa
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pinpipe.console import explore
from pinpipe.console.figures import Figures
from pinpipe.console.reads import Reader
from pinpipe.console.session import COOKIE, Sessions
from pinpipe.console.status import public_message
from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.serve.formats import rows, to_csv
from pinpipe.serve.realtime import WINDOW_CHOICES
from pinpipe.transform.queries import QUERIES

PREFIX = "/ui"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
REALTIME_BARS = {
    "posts_by_category": ("category", "posts"),
    "events_by_country": ("country", "events"),
    "records_by_topic": ("topic", "records"),
    "trending": ("category", "score"),
}
"""Each real-time card's bar label and length."""
QUARANTINE_ROWS = 200
EVENT_POLL_S = 0.05
"""How often an event stream looks for a new sample (a float compare; sampling is apart)."""
TOP_N = 12

TITLES: dict[str, str] = {
    "category_by_country": "The most popular category in each country",
    "category_by_year": "The most popular category each year, 2018–2022",
    "top_user_by_country": "The user with the most followers in each country",
    "top_country": "The country of the user with the most followers",
    "category_by_age_group": "The most popular category per age group",
    "median_followers_by_age_group": "Median follower count per age group",
    "users_joined_by_year": "Users who joined each year, 2015–2020",
    "median_followers_by_join_year": "Median follower count by joining year, 2015–2020",
    "median_followers_by_join_year_and_age_group": "Median follower count by joining year "
    "and age group",
    "median_sentiment_by_category": "Median sentiment of pins per category",
}
ANALYTICS: dict[str, str] = {
    name: TITLES.get(name, name.replace("_", " ").capitalize()) for name in QUERIES
}
"""Every analytic of ``QUERIES``, with a title for people (a new one shows up by itself)."""


class _SignInNeeded(Exception):
    pass


class _Security:
    """Adds the content security policy and friends to every console response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if (
                    not scope["path"].startswith(f"{PREFIX}/static/")
                    and b"cache-control" not in names
                ):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass
class Console:
    """What the pages read; ``closing`` ends the live streams when the server stops."""

    figures: Figures
    reader: Reader
    sessions: Sessions
    closing: threading.Event
    live: bool
    """True inside ``pinpipe up`` (ingest, stages), False for ``pinpipe console``."""


def create_console(console: Console) -> ASGIApp:
    env = Environment(
        loader=PackageLoader("pinpipe.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_safe"] = _json_for_script
    env.globals.update(prefix=PREFIX, analytics=ANALYTICS)

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        signed_in = console.sessions.required and request.cookies.get(COOKIE) is not None
        html = env.get_template(template).render(
            request=request, live=console.live, signed_in=signed_in, **context,
        )  # fmt: skip
        return HTMLResponse(html, status)

    def check(request: Request) -> None:
        if not console.sessions.required:
            return
        headers = {k.lower(): v for k, v in request.headers.items()}
        if console.sessions.reader(request.cookies.get(COOKIE), headers) is None:
            raise _SignInNeeded

    Endpoint = Callable[[Request], Awaitable[Response]]

    def guarded(fn: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            check(request)
            return await fn(request)

        return endpoint

    # -- overview ------------------------------------------------------------------------------

    async def overview(request: Request) -> Response:
        snapshot = await run_in_threadpool(console.figures.latest)
        return page(
            request, "overview.html", snap=snapshot, history=console.figures.history(),
            active="overview",
        )  # fmt: skip

    async def overview_json(request: Request) -> Response:
        snapshot = await run_in_threadpool(console.figures.latest)
        return JSONResponse({"overview": snapshot, "history": console.figures.history()})

    async def events(request: Request) -> Response:
        figures = console.figures

        async def stream() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n\n"
            snapshot = await run_in_threadpool(figures.latest)
            last = snapshot.get("at")
            yield b"event: overview\ndata: " + orjson.dumps(snapshot) + b"\n\n"
            while not console.closing.is_set():
                figures.touch()
                if figures.latest_at != last:  # a new sample: send it at once
                    snapshot = figures.peek()
                    last = snapshot.get("at")
                    yield b"event: overview\ndata: " + orjson.dumps(snapshot) + b"\n\n"
                await asyncio.sleep(EVENT_POLL_S)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    # -- analytics -------------------------------------------------------------------------------

    def _analytic_name(request: Request) -> str:
        name = request.path_params["name"]
        if name not in QUERIES:
            raise HTTPException(404, f"no analytic named {name!r}")
        return str(name)

    async def analytics_index(request: Request) -> Response:
        return page(request, "analytics.html", active="analytics")

    async def analytic_page(request: Request) -> Response:
        name = _analytic_name(request)
        try:
            _, table = await run_in_threadpool(console.reader.analytic, name)
            error = None
        except ConfigError as exc:
            table, error = pa.table({}), public_message(str(exc))
        return page(
            request, "analytic.html", name=name, title=ANALYTICS[name], table=_grid(table),
            error=error, active="analytics",
        )  # fmt: skip

    async def analytic_data(request: Request) -> Response:
        name = _analytic_name(request)
        fmt = request.path_params.get("fmt", "live")
        try:
            versions, table = await run_in_threadpool(console.reader.analytic, name)
        except ConfigError as exc:
            return _json_error(409, public_message(str(exc)))
        if fmt == "csv":
            return Response(
                to_csv(table), media_type="text/csv; charset=utf-8",
                headers={"content-disposition": f'attachment; filename="{name}.csv"'},
            )  # fmt: skip
        if fmt == "json":
            return Response(
                orjson.dumps(rows(table), option=orjson.OPT_INDENT_2),
                media_type="application/json",
                headers={"content-disposition": f'attachment; filename="{name}.json"'},
            )
        if fmt != "live":
            raise HTTPException(404, "downloads are .csv or .json")
        payload = {"name": name, "version": list(versions), **_grid(table)}
        return Response(orjson.dumps(payload), media_type="application/json")

    # -- real time -------------------------------------------------------------------------------

    def _minutes(request: Request) -> int:
        raw = request.query_params.get("minutes", "15")
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in WINDOW_CHOICES:
            raise HTTPException(400, f"minutes is one of {', '.join(map(str, WINDOW_CHOICES))}")
        return int(raw)

    async def _realtime(minutes: int) -> dict[str, Any]:
        try:
            found = await run_in_threadpool(console.reader.realtime, minutes)
        except ConfigError as exc:
            return {"error": public_message(str(exc)), "grids": {}}
        grids = {
            name: {**_grid(t), "measure": measure, "labels": [key]}
            for name, t in found.items()
            for key, measure in [REALTIME_BARS[name]]
        }
        return {"error": None, "grids": grids}

    async def realtime_page(request: Request) -> Response:
        minutes = _minutes(request)
        data = await _realtime(minutes)
        return page(
            request, "realtime.html", active="realtime", minutes=minutes,
            choices=WINDOW_CHOICES, realtime=data,
        )  # fmt: skip

    async def realtime_data(request: Request) -> Response:
        data = await _realtime(_minutes(request))
        return Response(orjson.dumps(data), media_type="application/json")

    # -- explore and SQL -------------------------------------------------------------------------

    async def explore_page(request: Request) -> Response:
        params = parse_qs(request.url.query, keep_blank_values=True)
        source = (params.get("table") or ["pin"])[0]
        if source not in explore.SOURCES:
            source = "pin"
        columns = await run_in_threadpool(console.reader.columns, source)
        answer = error = None
        status = 200
        if "measure" in params:
            try:
                question = explore.parse(params, columns)
                answer = await run_in_threadpool(console.reader.explore, question)
            except ConfigError as exc:
                error, status = public_message(str(exc)), 400
        return page(
            request, "explore.html", status, active="explore", columns=columns, source=source,
            params={k: v[0] for k, v in params.items()}, sources=explore.SOURCES,
            measures=explore.MEASURES, ops=explore.OPS, max_filters=explore.MAX_FILTERS,
            answer=_answer(answer), error=error,
        )  # fmt: skip

    async def sql_page(request: Request) -> Response:
        query = request.query_params.get("q", "")
        answer = error = None
        status = 200
        if query.strip():
            try:
                answer = await run_in_threadpool(console.reader.sql, query)
            except ConfigError as exc:
                error, status = public_message(str(exc)), 400
        return page(
            request, "sql.html", status, active="sql", query=query, answer=_answer(answer),
            error=error,
        )  # fmt: skip

    # -- quarantine ------------------------------------------------------------------------------

    async def quarantine_page(request: Request) -> Response:
        search = request.query_params.get("q", "").strip()
        reason = request.query_params.get("reason", "").strip()
        table = await run_in_threadpool(console.reader.quarantine)
        data = _quarantine(table, search, reason)
        return page(
            request, "quarantine.html", active="quarantine", search=search, reason=reason, **data
        )

    # -- sign-in ---------------------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        nxt = _safe_next(request.query_params.get("next", ""))
        return page(request, "login.html", next=nxt, error=None, required=console.sessions.required)

    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > 16_384:
            raise HTTPException(413, "the sign-in form is too large")
        form = parse_qs(body.decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0].strip()
        nxt = _safe_next((form.get("next") or [""])[0])
        if not console.sessions.required:
            return RedirectResponse(nxt, 303)
        try:
            cookie = console.sessions.sign_in(key)
        except PinpipeError as exc:
            message = getattr(exc, "message", str(exc))
            return page(
                request, "login.html", 401, next=nxt, error=public_message(message), required=True
            )
        response = RedirectResponse(nxt, 303)
        response.set_cookie(
            COOKIE, cookie, max_age=console.sessions.max_age, path=PREFIX, httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(f"{PREFIX}/login", 303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", 307)

    # -- errors ----------------------------------------------------------------------------------

    def wants_json(request: Request) -> bool:
        path = request.url.path
        return path.startswith((f"{PREFIX}/api/", f"{PREFIX}/events")) or path.endswith(
            (".csv", ".json")
        )

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        if wants_json(request):
            return _json_error(401, "sign in with an API key (or send x-api-key) to read")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", 303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if wants_json(request):
            return _json_error(exc.status_code, str(exc.detail))
        return page(request, "error.html", exc.status_code, message=str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger(__name__).exception("console %s failed", request.url.path)
        message = "the console hit an internal error; the server log has the details"
        if wants_json(request):
            return _json_error(500, message)
        return page(request, "error.html", 500, message=message)

    static = StaticFiles(directory=str(files("pinpipe.console").joinpath("static")))
    g = guarded
    routes = [
        Route(PREFIX, root),
        Route(f"{PREFIX}/", g(overview)),
        Route(f"{PREFIX}/api/overview", g(overview_json)),
        Route(f"{PREFIX}/events", g(events)),
        Route(f"{PREFIX}/analytics", g(analytics_index)),
        Route(f"{PREFIX}/analytics/{{name}}.{{fmt}}", g(analytic_data)),
        Route(f"{PREFIX}/analytics/{{name}}", g(analytic_page)),
        Route(f"{PREFIX}/api/analytics/{{name}}", g(analytic_data)),
        Route(f"{PREFIX}/realtime", g(realtime_page)),
        Route(f"{PREFIX}/api/realtime", g(realtime_data)),
        Route(f"{PREFIX}/explore", g(explore_page)),
        Route(f"{PREFIX}/sql", g(sql_page)),
        Route(f"{PREFIX}/quarantine", g(quarantine_page)),
        Route(f"{PREFIX}/login", login_page, methods=["GET"]),
        Route(f"{PREFIX}/login", login, methods=["POST"]),
        Route(f"{PREFIX}/logout", logout, methods=["POST"]),
        Mount(f"{PREFIX}/static", static, name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            _SignInNeeded: sign_in_needed,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    return _Security(app)


def _json_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status)


def _json_for_script(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = orjson.dumps(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _safe_next(target: str) -> str:
    """Only a path inside the console (no open redirect)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def _grid(table: pa.Table) -> dict[str, Any]:
    numeric = [
        name
        for name in table.column_names
        if pa.types.is_integer(table.schema.field(name).type)
        or pa.types.is_floating(table.schema.field(name).type)
    ]
    data = rows(table)
    return {
        "columns": table.column_names,
        "numeric": numeric,
        "rows": [[row[c] for c in table.column_names] for row in data],
    }


def _answer(answer: Any) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "sql": answer.sql,
        "truncated": answer.truncated,
        "seconds": round(answer.seconds, 3),
        **_grid(answer.table),
    }


def _quarantine(table: pa.Table | None, search: str, reason: str) -> dict[str, Any]:
    if table is None or table.num_rows == 0:
        return {"total": 0, "reasons": {}, "series": {"t": [], "by": {}}, "records": [], "shown": 0}
    data = table.select(
        [c for c in ("table", "reason", "stage", "_topic", "_partition", "_offset", "_timestamp",
                     "raw") if c in table.column_names]
    ).to_pylist()  # fmt: skip
    reasons: dict[str, int] = {}
    buckets: dict[int, dict[str, int]] = {}
    for row in data:
        why = row.get("reason") or "unknown"
        reasons[why] = reasons.get(why, 0) + 1
        ts = row.get("_timestamp")  # epoch milliseconds
        minute = int(ts // 60_000 * 60) if ts is not None else 0
        buckets.setdefault(minute, {})
        buckets[minute][why] = buckets[minute].get(why, 0) + 1
    times = sorted(buckets)
    if times and (times[-1] - times[0]) // 60 <= 1440:  # a day or less: every minute, zeros too
        times = list(range(times[0] - 60, times[-1] + 120, 60))
    series = {
        "t": times,
        "by": {why: [buckets.get(t, {}).get(why, 0) for t in times] for why in sorted(reasons)},
    }
    needle = search.lower()
    chosen = [
        row
        for row in data
        if (not reason or row.get("reason") == reason)
        and (not needle or needle in str(row.get("raw") or "").lower())
    ]
    shown = chosen[:QUARANTINE_ROWS]
    for row in shown:
        ts = row.get("_timestamp")
        when = dt.datetime.fromtimestamp(ts / 1000, dt.UTC) if ts is not None else None
        row["when"] = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""
    return {
        "total": len(data),
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "series": series,
        "records": shown,
        "shown": len(chosen),
    }
