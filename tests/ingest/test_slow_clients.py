"""Slow and flooding clients against a real server: head and body deadlines, the body budget."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import requests

from tests.helpers import Running

ServerFactory = Callable[..., AbstractContextManager[Running]]
HEAD = (
    "POST /topics/slow.pin HTTP/1.1\r\nHost: x\r\n"
    "Content-Type: application/vnd.kafka.json.v2+json\r\n"
)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _metric(url: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", requests.get(f"{url}/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def _rejected(url: str, reason: str) -> float:
    return _metric(url, f'pinpipe_ingest_rejections_total{{reason="{reason}"}}')


def test_a_head_that_never_finishes_is_answered_408_and_closed(
    server_factory: ServerFactory,
) -> None:
    with server_factory(header_timeout_s=0.2) as (url, _), _connect(url) as sock:
        sock.sendall(HEAD.encode())  # ... and never the blank line
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")
        assert _rejected(url, "header_timeout") == 1
        # A request that sends its head in time is not affected.
        assert requests.get(f"{url}/healthz").status_code == 200


def test_an_idle_connection_without_a_request_is_closed(server_factory: ServerFactory) -> None:
    with server_factory(header_timeout_s=0.2) as (url, _), _connect(url) as sock:
        assert _answer(sock).startswith(b"HTTP/1.1 408 ")


def test_an_endless_head_is_answered_431(server_factory: ServerFactory) -> None:
    with server_factory(max_header_bytes=4096) as (url, _), _connect(url) as sock:
        sock.sendall(HEAD.encode())
        try:
            for i in range(100):
                sock.sendall(f"X-Filler-{i}: {'y' * 200}\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up while we were still sending
        assert _answer(sock).startswith(b"HTTP/1.1 431 ")
        assert _rejected(url, "header_too_large") == 1


def test_a_large_body_sent_with_its_head_in_one_write_is_not_a_large_head(
    server_factory: ServerFactory,
) -> None:
    """A 500-record batch arrives in the same socket reads as its head; only the head counts."""
    record = '{"value": {"index": 1, "title": "' + "t" * 400 + '"}}'
    body = ('{"records": [' + ",".join([record] * 500) + "]}").encode()
    assert len(body) > 4 * 4096
    with server_factory(max_header_bytes=4096) as (url, log), _connect(url) as sock:
        sock.sendall(f"{HEAD}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert log.end_offset("slow.pin", 0) == 500
        assert _rejected(url, "header_too_large") == 0


def test_a_body_that_stops_arriving_is_answered_408(server_factory: ServerFactory) -> None:
    with server_factory(body_timeout_s=0.2) as (url, log), _connect(url) as sock:
        sock.sendall(f'{HEAD}Content-Length: 100\r\n\r\n{{"records"'.encode())
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"ingest.body_timeout_s" in answer
        assert _rejected(url, "body_timeout") == 1
        assert log.topics() == []


def test_bodies_in_flight_past_the_budget_are_refused_503_until_memory_is_free(
    server_factory: ServerFactory,
) -> None:
    body = b'{"records": [{"value": "' + b"x" * 560 + b'"}]}'
    with server_factory(max_inflight_bytes=1000) as (url, log), _connect(url) as slow:
        slow.sendall(f"{HEAD}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
        deadline = time.monotonic() + 30
        while _metric(url, "pinpipe_ingest_inflight_bytes") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the server holds the slow request's bytes
        assert _metric(url, "pinpipe_ingest_inflight_bytes") == len(body)
        headers = {"Content-Type": "application/vnd.kafka.json.v2+json"}
        refused = requests.post(f"{url}/topics/slow.pin", data=body, headers=headers)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "ingest.max_inflight_bytes" in refused.json()["message"]
        assert _rejected(url, "overloaded") == 1
        slow.sendall(body[10:])
        assert slow.recv(65536).startswith(b"HTTP/1.1 200 ")
        accepted = requests.post(f"{url}/topics/slow.pin", data=body, headers=headers)
        assert accepted.status_code == 200
        assert _metric(url, "pinpipe_ingest_inflight_bytes") == 0
        assert log.end_offset("slow.pin", 0) == 2
