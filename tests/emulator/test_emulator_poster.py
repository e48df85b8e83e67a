"""The poster against a loopback stub: exact paths, headers and bodies; retries; give-up.

Backoff and pacing are checked on a ``FakeClock``: the tests assert the sleeps the poster
asks for, never how long a test took.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any

import pytest

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.poster import DeliveryError, Poster, Stats, run
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.errors import ConfigError, PinpipeError

Reply = tuple[int, dict[str, str], Any]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    port: int


@dataclass
class Stub:
    """Records requests; replies from a per-path script, then with a success."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    script: dict[str, list[Reply]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, path: str) -> Reply:
        with self.lock:
            queue = self.script.get(path)
            if queue:
                return queue.pop(0)
        if path.startswith("/topics/"):
            body = {"offsets": [{"partition": 0, "offset": 1, "error_code": None, "error": None}]}
            return 200, {"Content-Type": "application/vnd.kafka.v2+json"}, body
        return 200, {}, {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        dict(self.headers.items()),
                        json.loads(raw),
                        self.client_address[1],
                    )
                )
            status, headers, body = state.reply(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PUT = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class FakeClock:
    """Monotonic time that moves only when slept on (or ``advance``d); records each sleep."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def tables() -> SourceTables:
    return generate(300, seed=5)


def fast_poster(url: str, **kwargs: Any) -> Poster:
    kwargs.setdefault("initial_backoff", 0.001)
    kwargs.setdefault("max_backoff", 0.01)
    return Poster(url, "0e95b18877fd", **kwargs)


def test_batch_requests_exactly(stub: Stub, tables: SourceTables) -> None:
    row = payloads(tables, 7)
    with fast_poster(stub.url, mode="batch") as poster:
        poster.post_row(*row)
    assert stub.paths() == [
        "/topics/0e95b18877fd.pin",
        "/topics/0e95b18877fd.geo",
        "/topics/0e95b18877fd.user",
    ]
    for seen, record in zip(stub.seen, row, strict=True):
        assert seen.method == "POST"
        assert seen.headers["Content-Type"] == "application/vnd.kafka.json.v2+json"
        assert "x-api-key" not in {k.lower() for k in seen.headers}
        assert seen.body == {"records": [{"value": record}]}
    assert len({s.port for s in stub.seen}) == 1  # one pooled connection
    assert len({s.headers["Idempotency-Key"] for s in stub.seen}) == 3  # a fresh key per send
    assert poster.stats.acknowledged == {("batch", t): 1 for t in ("pin", "geo", "user")}
    assert poster.stats.rows == 1 and poster.stats.failed == poster.stats.retried == 0


def test_stream_requests_exactly(stub: Stub, tables: SourceTables) -> None:
    row = payloads(tables, 3)
    with fast_poster(stub.url, mode="stream", api_key="s3cret") as poster:
        poster.post_row(*row)
    assert stub.paths() == [
        "/streams/streaming-0e95b18877fd-pin/record",
        "/streams/streaming-0e95b18877fd-geo/record",
        "/streams/streaming-0e95b18877fd-user/record",
    ]
    for seen, record, table in zip(stub.seen, row, ("pin", "geo", "user"), strict=True):
        assert seen.method == "PUT"
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["x-api-key"] == "s3cret"
        assert seen.body == {
            "StreamName": f"streaming-0e95b18877fd-{table}",
            "Data": record,
            "PartitionKey": table,
        }


def test_both_doors(stub: Stub, tables: SourceTables) -> None:
    with fast_poster(stub.url, mode="both", partition_key="partition-1") as poster:
        poster.post_row(*payloads(tables, 0))
    assert len(stub.seen) == 6
    assert {s.body["PartitionKey"] for s in stub.seen if s.method == "PUT"} == {"partition-1"}
    assert poster.stats.total_acknowledged == 6
    assert set(poster.stats.acknowledged) == {
        (d, t) for d in ("batch", "stream") for t in ("pin", "geo", "user")
    }


def test_retries_500_and_429_then_succeeds(stub: Stub, tables: SourceTables) -> None:
    stub.script["/topics/0e95b18877fd.pin"] = [(500, {}, {"error_code": 50001}), (429, {}, {})]
    with fast_poster(stub.url) as poster:
        poster.post_row(*payloads(tables, 1))
    pins = [s for s in stub.seen if s.path.endswith(".pin")]
    assert len(pins) == 3 and pins[0].body == pins[1].body == pins[2].body
    assert len({s.headers["Idempotency-Key"] for s in pins}) == 1  # retries reuse the key
    assert poster.stats.retried == 2 and poster.stats.failed == 0
    assert poster.stats.acknowledged[("batch", "pin")] == 1


def test_honours_retry_after(stub: Stub, tables: SourceTables, clock: FakeClock) -> None:
    stub.script["/topics/0e95b18877fd.geo"] = [(429, {"Retry-After": "0.3"}, {})]
    with fast_poster(stub.url, clock=clock, sleep=clock.sleep) as poster:
        poster.post_row(*payloads(tables, 1))
    assert clock.sleeps == [0.3]  # the server's delay, not the (much shorter) backoff
    assert poster.stats.retried == 1


def test_retries_back_off_exponentially_up_to_the_cap(
    stub: Stub, tables: SourceTables, clock: FakeClock
) -> None:
    """Each wait doubles up to ``max_backoff``; the last is cut so none runs past the limit."""
    stub.script["/topics/0e95b18877fd.pin"] = [(503, {}, {})] * 10_000
    poster = fast_poster(
        stub.url,
        initial_backoff=1.0,
        max_backoff=8.0,
        max_retry_time=30.0,
        clock=clock,
        sleep=clock.sleep,
    )
    with poster, pytest.raises(DeliveryError, match="gave up"):
        poster.send("batch", "pin", payloads(tables, 0)[0])
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 7.0]
    assert len(stub.seen) == len(clock.sleeps) + 1 == poster.stats.retried + 1


def test_gives_up_after_bounded_time(stub: Stub, tables: SourceTables, clock: FakeClock) -> None:
    stub.script["/topics/0e95b18877fd.pin"] = [(503, {}, {})] * 10_000
    poster = fast_poster(stub.url, max_retry_time=0.3, clock=clock, sleep=clock.sleep)
    with poster, pytest.raises(DeliveryError) as info:
        poster.post_row(*payloads(tables, 1))
    assert sum(clock.sleeps) == pytest.approx(0.3)  # waited the retry time, and no longer
    assert max(clock.sleeps) <= poster.max_backoff
    assert isinstance(info.value, PinpipeError) and info.value.transient
    assert info.value.status == 503 and "gave up" in str(info.value)
    assert poster.stats.failed == 1 and poster.stats.retried >= 2
    assert stub.paths() == ["/topics/0e95b18877fd.pin"] * (poster.stats.retried + 1)


def test_a_slow_server_uses_up_the_retry_time(
    stub: Stub, tables: SourceTables, clock: FakeClock
) -> None:
    """Time spent waiting for answers counts: with no time left, there is no retry."""
    stub.script["/topics/0e95b18877fd.pin"] = [(503, {}, {})] * 10
    poster = fast_poster(stub.url, max_retry_time=0.5, clock=clock, sleep=clock.sleep)
    poster.session.hooks["response"].append(lambda response, **_: clock.advance(1.0))
    with poster, pytest.raises(DeliveryError, match="gave up"):
        poster.send("batch", "pin", payloads(tables, 0)[0])
    assert clock.sleeps == [] and len(stub.seen) == 1 and poster.stats.retried == 0


def test_connection_refused_is_retried_then_fails(tables: SourceTables, clock: FakeClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    poster = fast_poster(
        f"http://127.0.0.1:{port}", max_retry_time=0.2, clock=clock, sleep=clock.sleep
    )
    with poster, pytest.raises(DeliveryError, match="gave up"):
        poster.send("batch", "pin", payloads(tables, 0)[0])
    assert poster.stats.retried >= 1 and poster.stats.failed == 1
    assert sum(clock.sleeps) == pytest.approx(0.2)


def test_kafka_error_codes_in_a_200(stub: Stub, tables: SourceTables) -> None:
    retriable = {
        "offsets": [{"partition": None, "offset": None, "error_code": 50003, "error": "x"}]
    }
    fatal = {"offsets": [{"partition": None, "offset": None, "error_code": 40403, "error": "no"}]}
    stub.script["/topics/0e95b18877fd.pin"] = [(200, {}, retriable)]
    stub.script["/topics/0e95b18877fd.user"] = [(200, {}, fatal)]
    pin, _geo, user = payloads(tables, 2)
    with fast_poster(stub.url) as poster:
        poster.send("batch", "pin", pin)
        with pytest.raises(DeliveryError, match="40403") as info:
            poster.send("batch", "user", user)
    assert not info.value.transient
    assert stub.paths().count("/topics/0e95b18877fd.pin") == 2
    assert stub.paths().count("/topics/0e95b18877fd.user") == 1  # not retried
    assert poster.stats.retried == 1 and poster.stats.failed == 1


def test_kinesis_error_types_in_a_200(stub: Stub, tables: SourceTables) -> None:
    path = "/streams/streaming-0e95b18877fd-geo/record"
    throttled = {"__type": "ProvisionedThroughputExceededException", "message": "slow down"}
    stub.script[path] = [(200, {}, throttled), (200, {}, {"__type": "ResourceNotFoundException"})]
    geo = payloads(tables, 2)[1]
    poster = fast_poster(stub.url, mode="stream")
    with poster, pytest.raises(DeliveryError, match="ResourceNotFoundException"):
        poster.send("stream", "geo", geo)
    assert stub.paths().count(path) == 2 and poster.stats.retried == 1


def test_run_posts_the_sampled_rows(stub: Stub, tables: SourceTables) -> None:
    progress: list[int] = []
    stats = run(
        tables,
        mode="batch",
        count=5,
        seed=11,
        url=stub.url,
        prefix="pp",
        on_progress=lambda s: progress.append(s.rows),
    )
    expected = list(islice(sample_rows(len(tables), 11), 5))
    sent = [s.body["records"][0]["value"]["index"] for s in stub.seen if s.path == "/topics/pp.pin"]
    assert sent == expected
    geo = [s.body["records"][0]["value"] for s in stub.seen if s.path == "/topics/pp.geo"]
    assert [g["ind"] for g in geo] == expected and isinstance(geo[0]["timestamp"], str)
    assert isinstance(stats, Stats) and stats.rows == 5 and progress == [1, 2, 3, 4, 5]
    assert stats.total_acknowledged == 15


def test_run_paces_rows_at_the_rate(stub: Stub, tables: SourceTables, clock: FakeClock) -> None:
    stats = run(
        tables, mode="stream", count=6, rate=50, url=stub.url, clock=clock, sleep=clock.sleep
    )
    assert stats.rows == 6 and len(stub.seen) == 18
    assert sum(clock.sleeps) >= 5 / 50 - 1e-9  # 6 rows at 50/s span 5 intervals of 20 ms
    assert clock.sleeps == pytest.approx([1 / 50] * 5)
    assert stats.elapsed == pytest.approx(5 / 50)  # timed on the same clock


def test_run_counts_posting_time_towards_the_pace(
    stub: Stub, tables: SourceTables, clock: FakeClock
) -> None:
    """Rows that take longer to post than the rate allows are not slowed down further."""
    stats = run(
        tables,
        count=4,
        rate=50,
        url=stub.url,
        clock=clock,
        sleep=clock.sleep,
        on_progress=lambda s: clock.advance(0.03),  # each row takes 30 ms > 20 ms
    )
    assert stats.rows == 4 and clock.sleeps == []


def test_run_stop_event(stub: Stub, tables: SourceTables, clock: FakeClock) -> None:
    stop = threading.Event()

    def progress(s: Stats) -> None:
        if s.rows == 3:
            stop.set()

    stats = run(tables, mode="batch", stop_event=stop, on_progress=progress, url=stub.url)
    assert stats.rows == 3

    def stop_while_waiting(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    stop.clear()
    stats = run(
        tables, rate=10, stop_event=stop, url=stub.url, clock=clock, sleep=stop_while_waiting
    )
    assert stats.rows == 1 and clock.sleeps == [pytest.approx(0.1)]


def test_run_waits_on_the_stop_event_by_default(
    stub: Stub, tables: SourceTables, clock: FakeClock
) -> None:
    """Without ``sleep``, pacing waits on ``stop_event``: a stop ends the wait at once."""
    waits: list[float | None] = []

    class StoppedWhileWaiting(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            self.set()
            return True

    stats = run(tables, rate=0.001, stop_event=StoppedWhileWaiting(), url=stub.url, clock=clock)
    assert stats.rows == 1 and waits == [1000.0]


def test_run_skips_rejected_records_but_stops_on_auth_errors(
    stub: Stub, tables: SourceTables
) -> None:
    stub.script["/topics/pp.pin"] = [(400, {}, {"error_code": 42201, "message": "bad"})]
    stats = run(tables, mode="batch", count=3, url=stub.url, prefix="pp")
    assert stats.rows == 3 and stats.failed == 1 and stats.total_acknowledged == 8
    stub.script["/topics/pp.geo"] = [(401, {}, {"message": "no key"})]
    with pytest.raises(DeliveryError) as info:
        run(tables, mode="batch", count=3, url=stub.url, prefix="pp")
    assert info.value.status == 401


def test_concurrent_posters_send_each_sampled_row_once(stub: Stub, tables: SourceTables) -> None:
    progress: list[int] = []
    stats = run(
        tables,
        mode="both",
        count=40,
        seed=11,
        url=stub.url,
        prefix="pp",
        concurrency=4,
        on_progress=lambda s: progress.append(s.rows),
    )
    expected = sorted(islice(sample_rows(len(tables), 11), 40))
    sent = [s.body["records"][0]["value"]["index"] for s in stub.seen if s.path == "/topics/pp.pin"]
    assert sorted(sent) == expected  # every row once, in whatever order the posters took them
    assert stats.rows == 40 and stats.total_acknowledged == 240 and stats.failed == 0
    assert progress == sorted(progress) and progress[-1] == 40  # merged counts only grow


def test_concurrent_posters_stop_together_on_an_auth_error(
    stub: Stub, tables: SourceTables
) -> None:
    stub.script["/topics/pp.geo"] = [(401, {}, {"message": "no key"})] * 50
    with pytest.raises(DeliveryError) as info:
        run(tables, mode="batch", count=100, url=stub.url, prefix="pp", concurrency=3)
    assert info.value.status == 401
    assert len([s for s in stub.seen if s.path == "/topics/pp.pin"]) < 100


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        Poster("http://127.0.0.1:1", mode="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Poster("127.0.0.1:8082")
    with pytest.raises(ConfigError):
        run(generate(5), rate=0)
    with pytest.raises(ConfigError):
        run(generate(5), concurrency=0)


def test_equal_records_get_different_keys(stub: Stub, tables: SourceTables) -> None:
    row = payloads(tables, 7)
    with fast_poster(stub.url, mode="batch") as poster:
        poster.post_row(*row)
        poster.post_row(*row)
    pins = [s for s in stub.seen if s.path.endswith(".pin")]
    assert pins[0].body == pins[1].body
    assert pins[0].headers["Idempotency-Key"] != pins[1].headers["Idempotency-Key"]
