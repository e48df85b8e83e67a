"""HTTP client that posts rows to the ingest API, as the reference emulator did.

Two doors: the Kafka REST proxy (``mode="batch"``) and the API Gateway Kinesis proxy
(``mode="stream"``); ``"both"`` sends every record through both. Transient failures
(connection errors, 5xx, 429, retriable errors inside a 200 body) are retried with capped
exponential backoff, honouring ``Retry-After``, for at most ``max_retry_time`` seconds.
Every send carries a fresh random ``Idempotency-Key`` (never derived from the record: two
equal records are two records) and its retries reuse it, so a retry after a lost answer
does not append the record twice.

Time comes from an injectable ``clock`` (monotonic seconds) and ``sleep``, as the log's
``Clock`` gives record timestamps: tests check the backoff and pacing a poster asks for with a
fake clock instead of measuring how long it took.
"""

from __future__ import annotations

import email.utils
import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import orjson
import requests
import tenacity
from requests.adapters import HTTPAdapter

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.errors import ConfigError, PinpipeError

Mode = Literal["batch", "stream", "both"]
Door = Literal["batch", "stream"]
Clock = Callable[[], float]
"""Monotonic seconds (``time.monotonic``); deadlines, pacing and ``Stats.elapsed`` use it."""
Sleep = Callable[[float], object]
"""Waits the given seconds (``time.sleep``, or ``Event.wait`` to wake early on a stop)."""
TABLES: tuple[str, str, str] = ("pin", "geo", "user")
KAFKA_CONTENT_TYPE = "application/vnd.kafka.json.v2+json"
KINESIS_CONTENT_TYPE = "application/json"
#: Kafka REST per-record error codes worth retrying: 2 (v2 "retriable") and 5xxxx (server side).
_RETRIABLE_KINESIS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)
#: Rejections that concern one record only; ``run`` counts them and carries on.
_RECORD_REJECTIONS = frozenset({200, 400, 413, 422})


class DeliveryError(PinpipeError):
    """A record was not acknowledged: rejected, or retries ran out (then ``transient``)."""

    def __init__(
        self,
        message: str,
        *,
        door: str,
        table: str,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.door = door
        self.table = table
        self.status = status
        self.transient = transient

    @property
    def is_record_rejection(self) -> bool:
        """The server refused this record only (not us, not for lack of time)."""
        return not self.transient and self.status in _RECORD_REJECTIONS


class _Retriable(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, why: str, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.status = status
        self.retry_after = retry_after


@dataclass
class Stats:
    """Counters of one poster (or one ``run``)."""

    rows: int = 0
    acknowledged: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(door, table) -> records the server acknowledged."""
    failed: int = 0
    retried: int = 0
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    @property
    def total_acknowledged(self) -> int:
        return sum(self.acknowledged.values())


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body_error(door: Door, response: requests.Response) -> tuple[str, bool] | None:
    """An error reported inside a 2xx body: (message, retriable), or None when all is well."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if door == "batch":
        for offset in body.get("offsets") or ():
            code = offset.get("error_code") if isinstance(offset, dict) else None
            if code:
                retriable = code == 2 or 50_000 <= int(code) < 60_000
                return f"Kafka REST error_code {code}: {offset.get('error')}", retriable
        return None
    kind = body.get("__type")
    if kind:
        name = str(kind).rsplit("#", 1)[-1]
        return f"Kinesis {name}: {body.get('message') or body.get('Message')}", (
            name in _RETRIABLE_KINESIS
        )
    return None


class Poster:
    """Posts rows' pin/geo/user records over one pooled ``requests.Session``."""

    def __init__(
        self,
        url: str,
        prefix: str = "pinpipe",
        *,
        mode: Mode = "batch",
        api_key: str | None = None,
        partition_key: str | None = None,
        timeout: float = 10.0,
        max_retry_time: float = 30.0,
        initial_backoff: float = 0.05,
        max_backoff: float = 5.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if mode not in ("batch", "stream", "both"):
            raise ConfigError(f"unknown mode {mode!r}: use 'batch', 'stream' or 'both'")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"ingest URL {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.prefix = prefix
        self.mode: Mode = mode
        self.doors: tuple[Door, ...] = ("batch", "stream") if mode == "both" else (mode,)
        self.partition_key = partition_key
        self.timeout = timeout
        self.max_retry_time = max_retry_time
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.sleep = sleep
        self.stats = Stats(started=clock())
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if api_key:
            self.session.headers["x-api-key"] = api_key

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def endpoint(self, door: Door, table: str) -> str:
        if door == "batch":
            return f"{self.url}/topics/{self.prefix}.{table}"
        return f"{self.url}/streams/{self.stream_name(table)}/record"

    def stream_name(self, table: str) -> str:
        return f"streaming-{self.prefix}-{table}"

    def post_row(self, pin: dict[str, Any], geo: dict[str, Any], user: dict[str, Any]) -> None:
        """Send one row's three records through every door of this poster's mode.

        A record the server rejects does not keep the others of the row from being sent; the
        first such rejection is raised once the row is done.
        """
        self.stats.rows += 1
        rejected: DeliveryError | None = None
        for door in self.doors:
            for table, record in zip(TABLES, (pin, geo, user), strict=True):
                try:
                    self.send(door, table, record)
                except DeliveryError as e:
                    if not e.is_record_rejection:
                        raise
                    rejected = rejected or e
        if rejected is not None:
            raise rejected

    def send(self, door: Door, table: str, record: dict[str, Any]) -> None:
        """Deliver one record, retrying transient failures; raises ``DeliveryError``."""
        url = self.endpoint(door, table)
        if door == "batch":
            body = orjson.dumps({"records": [{"value": record}]})
            headers = {"Content-Type": KAFKA_CONTENT_TYPE}
        else:
            key = self.partition_key or table
            body = orjson.dumps(
                {"StreamName": self.stream_name(table), "Data": record, "PartitionKey": key}
            )
            headers = {"Content-Type": KINESIS_CONTENT_TYPE}
        headers["Idempotency-Key"] = uuid.uuid4().hex  # one per send; retries reuse it
        method = "POST" if door == "batch" else "PUT"
        try:
            for attempt in self._retrying():
                with attempt:
                    self._attempt(method, url, body, headers, door, table)
        except _Retriable as e:
            self.stats.failed += 1
            raise DeliveryError(
                f"gave up on {method} {url} after {self.max_retry_time:g}s of retries: {e}",
                door=door,
                table=table,
                status=e.status,
                transient=True,
            ) from e
        except DeliveryError:
            self.stats.failed += 1
            raise
        self.stats.acknowledged[(door, table)] += 1

    def _retrying(self) -> tenacity.Retrying:
        """Retries until ``max_retry_time`` has passed on ``clock``; sleeps never overshoot it."""
        clock = self.clock
        deadline = clock() + self.max_retry_time
        backoff = tenacity.wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            delay = backoff(state)
            if isinstance(error, _Retriable) and error.retry_after is not None:
                delay = error.retry_after
            return max(0.0, min(delay, deadline - clock()))

        def out_of_time(state: tenacity.RetryCallState) -> bool:
            return clock() >= deadline

        def pause(seconds: float) -> None:
            self.sleep(seconds)

        def count_retry(state: tenacity.RetryCallState) -> None:
            self.stats.retried += 1

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retriable),
            stop=out_of_time,
            wait=wait,
            sleep=pause,
            before_sleep=count_retry,
            reraise=True,
        )

    def _attempt(
        self, method: str, url: str, body: bytes, headers: dict[str, str], door: Door, table: str
    ) -> None:
        try:
            response = self.session.request(
                method, url, data=body, headers=headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Retriable(f"{type(e).__name__}: {e}", None) from e
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retriable(
                f"HTTP {status}: {response.text[:200]}", status, _retry_after(response)
            )
        if status >= 300:
            raise DeliveryError(
                f"{method} {url} refused with HTTP {status}: {response.text[:200]}",
                door=door,
                table=table,
                status=status,
            )
        problem = _body_error(door, response)
        if problem is not None:
            message, retriable = problem
            if retriable:
                raise _Retriable(message, status)
            raise DeliveryError(f"{method} {url}: {message}", door=door, table=table, status=status)


def _paced(
    rows: Iterator[int], rate: float | None, stop: threading.Event, clock: Clock, sleep: Sleep
) -> Iterator[int]:
    """Rows at ``rate`` per second (None: flat out), stopping when ``stop`` is set.

    Row ``n`` is due ``n / rate`` seconds after the first, so time spent posting counts
    towards the pace instead of adding to it.
    """
    start = clock()
    for n, row in enumerate(rows):
        if rate is not None:
            delay = start + n / rate - clock()
            if delay > 0:
                sleep(delay)
        if stop.is_set():
            return
        yield row


def run(
    tables: SourceTables,
    *,
    mode: Mode = "batch",
    count: int | None = None,
    rate: float | None = None,
    seed: int = 100,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[Stats], None] | None = None,
    url: str = "http://127.0.0.1:8082",
    prefix: str = "pinpipe",
    api_key: str | None = None,
    poster: Poster | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep | None = None,
    concurrency: int = 1,
) -> Stats:
    """Post sampled rows until ``count`` rows are sent or ``stop_event`` is set.

    ``concurrency`` posters (each its own connection) take the rows in turn: every post waits
    for a durable acknowledgement, so one poster leaves the server idle between its requests.
    The tables come out the same in any order, since a row's records are the same each time.

    Records the server rejects (4xx, non-retriable body errors) are counted in ``failed`` and
    skipped; when retries run out, or the server refuses us as a whole (401/403/404), the
    ``DeliveryError`` propagates. Pass ``poster`` to reuse a configured client (its clock
    then times ``Stats``). ``sleep`` paces the rows; by default it waits on ``stop_event``,
    so a stop ends the wait at once. ``clock`` and ``sleep`` also drive the poster made here.
    """
    if rate is not None and rate <= 0:
        raise ConfigError(f"rate must be positive rows/s (or None for flat out), got {rate}")
    if count is not None and count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
    stop = stop_event or threading.Event()
    pace: Sleep = sleep or stop.wait
    if concurrency > 1 and poster is None:
        make = functools.partial(
            Poster, url, prefix, mode=mode, api_key=api_key, clock=clock, sleep=sleep or time.sleep
        )
        picked: Iterator[int] = sample_rows(len(tables), seed)
        if count is not None:
            picked = islice(picked, count)
        paced = _paced(picked, rate, stop, clock, pace)
        return _run_many(tables, paced, [make() for _ in range(concurrency)], stop, on_progress)
    own = poster is None
    client = poster or Poster(
        url, prefix, mode=mode, api_key=api_key, clock=clock, sleep=sleep or time.sleep
    )
    stats = client.stats
    try:
        rows: Iterator[int] = sample_rows(len(tables), seed)
        if count is not None:
            rows = islice(rows, count)
        for row in _paced(rows, rate, stop, client.clock, pace):
            try:
                client.post_row(*payloads(tables, row))
            except DeliveryError as e:
                if not e.is_record_rejection:
                    raise
            stats.elapsed = client.clock() - stats.started
            if on_progress is not None:
                on_progress(stats)
    finally:
        stats.elapsed = client.clock() - stats.started
        if own:
            client.close()
    return stats


def _run_many(
    tables: SourceTables,
    rows: Iterator[int],
    posters: list[Poster],
    stop: threading.Event,
    on_progress: Callable[[Stats], None] | None,
) -> Stats:
    """``run`` with several posters taking rows from one (paced) sequence."""
    lock = threading.Lock()
    clock = posters[0].clock

    def merged() -> Stats:
        total = Stats(started=min(p.stats.started for p in posters))
        for p in posters:
            total.rows += p.stats.rows
            total.acknowledged.update(p.stats.acknowledged)
            total.failed += p.stats.failed
            total.retried += p.stats.retried
        total.elapsed = clock() - total.started
        return total

    def work(client: Poster) -> None:
        while not stop.is_set():
            with lock:
                row = next(rows, None)
            if row is None:
                return
            try:
                client.post_row(*payloads(tables, row))
            except DeliveryError as e:
                if not e.is_record_rejection:
                    stop.set()  # the others stop too; this error is the run's
                    raise
            if on_progress is not None:
                with lock:
                    on_progress(merged())

    try:
        with ThreadPoolExecutor(len(posters), thread_name_prefix="pinpipe-emulate") as pool:
            for done in [pool.submit(work, p) for p in posters]:
                done.result()
    finally:
        for p in posters:
            p.close()
    return merged()
