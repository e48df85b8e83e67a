"""The soak: one real ``pinpipe up`` at a steady rate for a while, watched for leaks and loss.

``run_soak`` starts ``pinpipe up`` on a home (batch schedule on, log retention and idempotency
window set so the log stays bounded), sends single-record requests at a steady rate through
every door (Kafka REST v2 and v3, the API Gateway Kinesis proxy), each with its own
``Idempotency-Key`` and resent with the same key until answered, and reads the console
(pages, its event stream, the analytics) as a user would. Every ``sample_every_s`` it samples
the process from ``/proc/<pid>`` (resident memory, open file descriptors, threads), the
producer's p99 latency over the interval and the home's disk use. At the end it stops ``up``
gracefully and checks the raw zone: each acknowledged record is there exactly once, at the
position its answer named.

Each record carries its send number ``n`` as its key field (``index`` for pins, ``ind``
otherwise): ``n`` identifies it in the log, the raw zone and the tables, so a duplicate from
a resend is visible wherever it lands. The same sends and checks serve the chaos test
(``tests/runtime/test_chaos.py``).

``python benchmarks/soak.py --minutes 30 --rate 200 --write-docs`` (``make soak``) writes the
``soak`` section of docs/benchmarks.md and docs/soak.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from deltalake import DeltaTable

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.sampler import payloads
from pinpipe.ingest.kinesis import parse_sequence_number
from pinpipe.ingest.probe import wait_healthy
from pinpipe.lake import Lake
from pinpipe.lake.line import TABLES
from pinpipe.runtime.demo import free_port

ROOT = Path(__file__).resolve().parent.parent
DOORS = ("v2", "v2", "kinesis", "v3")
"""The door of each send, cycled per row: half Kafka REST v2, a quarter each Kinesis and v3."""
PREFIX = "soak"
V2 = {"Content-Type": "application/vnd.kafka.json.v2+json"}
JSON = {"Content-Type": "application/json"}
CONCURRENCY = 16
"""Sends in flight at most. More costs the client: httpx's pool scans every connection per
request (measured at 2,000/s asked: 64 gave 172-239 answers/s at 6.9-7.8 s of client CPU per
8 s, 16 gave 297-300 at 5.5 s; the client, not ``up``, was the limit)."""
RETRIED = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses a client resends on (with the same key); any other non-200 is a rejection."""

Position = tuple[str, int, int]
"""(topic, partition, offset) of one record in the log."""


# -- the sends -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One single-record request, as it is sent and resent (same body, same key)."""

    n: int
    table: str
    door: str
    topic: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


def id_field(table: str) -> str:
    """The record field holding the send number: the table's key field."""
    return "index" if table == "pin" else "ind"


def make_send(source: SourceTables, n: int, *, prefix: str = PREFIX, run: str = "") -> Send:
    """Send ``n``: table ``n % 3`` of emulator row ``n // 3`` (cycled), its key field set to
    ``n``, through door ``DOORS[(n // 3) % 4]``, keyed ``<run>-<n>``."""
    table, row = TABLES[n % 3], (n // 3) % len(source.pin)
    doc = payloads(source, row)[n % 3]
    doc[id_field(table)] = n
    door = DOORS[(n // 3) % len(DOORS)]
    headers = {"Idempotency-Key": f"soak{run}-{n}"}
    body: dict[str, Any]
    if door == "v2":
        topic = f"{prefix}.{table}"
        body = {"records": [{"key": str(n), "value": doc}]}
        return Send(n, table, door, topic, "POST", f"/topics/{topic}", orjson.dumps(body),
                    {**V2, **headers})  # fmt: skip
    if door == "v3":
        topic = f"{prefix}.{table}"
        body = {"key": {"type": "STRING", "data": str(n)}, "value": {"type": "JSON", "data": doc}}
        path = f"/v3/clusters/pinpipe/topics/{topic}/records"
        return Send(n, table, door, topic, "POST", path, orjson.dumps(body), {**JSON, **headers})
    topic = f"streaming-{prefix}-{table}"
    body = {"StreamName": topic, "Data": doc, "PartitionKey": str(n)}
    path = f"/streams/{topic}/record"
    return Send(n, table, door, topic, "PUT", path, orjson.dumps(body), {**JSON, **headers})


def answered_position(send: Send, body: Any) -> Position | None:
    """The log position an answer names, or None when its body reports an error."""
    if send.door == "v2":
        offset = (body.get("offsets") or [{}])[0]
        if offset.get("error_code") or offset.get("offset") is None:
            return None
        return send.topic, int(offset["partition"]), int(offset["offset"])
    if send.door == "v3":
        if body.get("error_code") != 200:
            return None
        return send.topic, int(body["partition_id"]), int(body["offset"])
    if "SequenceNumber" not in body:
        return None
    partition, offset = parse_sequence_number(str(body["SequenceNumber"]))
    return send.topic, partition, offset


@dataclass
class Load:
    """What the producer sent and what came back; filled from its thread, read from others."""

    acked: dict[int, Position] = field(default_factory=dict)
    sent: int = 0
    resends: int = 0
    replayed: int = 0
    """Answers a resend got from the append of an earlier send (``Idempotent-Replayed``)."""
    gave_up: set[int] = field(default_factory=set)
    rejected: dict[int, str] = field(default_factory=dict)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    """(monotonic time answered, seconds from the first attempt to the answer)."""
    behind_s: float = 0.0
    """How far the pacing loop fell behind its schedule at worst (the server held it)."""


async def deliver(client: httpx.AsyncClient, send: Send, load: Load, give_up_at: float) -> None:
    """Send until answered, resending with the same key on a lost answer, 408, 429 or 5xx."""
    started = time.monotonic()
    backoff = 0.05
    first = True
    while True:
        if not first:
            load.resends += 1
        first = False
        try:
            answer = await client.request(
                send.method, send.path, content=send.body, headers=send.headers
            )
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            position = answered_position(send, answer.json())
            if position is not None:
                load.acked[send.n] = position
                load.replayed += answer.headers.get("idempotent-replayed") == "true"
                now = time.monotonic()
                load.latencies.append((now, now - started))
                return
        elif answer is not None and answer.status_code not in RETRIED:
            load.rejected[send.n] = f"HTTP {answer.status_code}: {answer.text[:200]}"
            return
        if time.monotonic() + backoff > give_up_at:
            load.gave_up.add(send.n)
            return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


async def produce(
    url: str,
    source: SourceTables,
    load: Load,
    *,
    rate: float,
    stop: threading.Event,
    concurrency: int = CONCURRENCY,
    give_up_s: float = 60.0,
    prefix: str = PREFIX,
    run: str = "",
) -> None:
    """Sends at ``rate`` per second until ``stop`` is set, at most ``concurrency`` in flight;
    send ``n`` is due ``n / rate`` seconds after the first, so slow answers do not slow the
    pace until every slot is taken. Returns once every send is answered or given up."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:

        async def one(send: Send) -> None:
            try:
                await deliver(client, send, load, time.monotonic() + give_up_s)
            finally:
                slots.release()

        start = time.monotonic()
        n = 0
        while not stop.is_set():
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            load.behind_s = max(load.behind_s, -delay)
            await slots.acquire()
            task = asyncio.create_task(one(make_send(source, n, prefix=prefix, run=run)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            load.sent = n
        if tasks:
            await asyncio.gather(*tasks)


@contextlib.contextmanager
def producing(url: str, source: SourceTables, load: Load, **options: Any) -> Iterator[None]:
    """``produce`` in a thread of its own while the body runs; waits for it on the way out."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(produce(url, source, load, stop=stop, **options))
        except BaseException as exc:  # the caller sees it when the body ends
            errors.append(exc)

    thread = threading.Thread(target=target, name="soak-producer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(120)
    if thread.is_alive():
        raise RuntimeError("the producer did not finish its sends within 120 s")
    if errors:
        raise errors[0]


# -- checks ----------------------------------------------------------------------------------


@dataclass
class Delivery:
    """Acknowledged records against what a store (the log, the raw zone) holds."""

    held: int
    lost: list[int]
    """Acknowledged sends the store does not hold."""
    misplaced: list[int]
    """Acknowledged sends held somewhere other than the position their answer named."""
    duplicates: list[int]
    """Sends held more than once (a resend appended again)."""
    duplicate_positions: list[Position]


def check_delivery(acked: dict[int, Position], lines: Iterable[dict[str, Any]]) -> Delivery:
    """Compare answers with stored records (dicts with ``_topic``, ``_partition``,
    ``_offset`` and the key field); only this run's topics (``PREFIX``) count."""
    where: dict[int, list[Position]] = {}
    positions: Counter[Position] = Counter()
    for doc in lines:
        topic = str(doc["_topic"])
        table = next((t for t in TABLES if topic.endswith(t)), None)
        if table is None:
            continue
        position = (topic, int(doc["_partition"]), int(doc["_offset"]))
        positions[position] += 1
        where.setdefault(int(doc[id_field(table)]), []).append(position)
    lost = sorted(n for n in acked if n not in where)
    misplaced = sorted(n for n, p in acked.items() if n in where and p not in where[n])
    return Delivery(
        held=sum(positions.values()),
        lost=lost,
        misplaced=misplaced,
        duplicates=sorted(n for n, held in where.items() if len(held) > 1),
        duplicate_positions=sorted(p for p, c in positions.items() if c > 1),
    )


def batch_runs(lake: Lake) -> int:
    """How often the batch job has written its tables (each run commits the pin table once)."""
    uri = lake.table("batch", "pin")
    return len(DeltaTable(uri).history()) if DeltaTable.is_deltatable(uri) else 0


def raw_lines(lake: Lake) -> Iterator[dict[str, Any]]:
    """Every line of the raw zone (committed objects only)."""
    for raw in lake.raw_files():
        for line in lake.storage.read_bytes(raw.uri).splitlines():
            yield orjson.loads(line)


# -- sampling --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float
    rss_mb: float
    fds: int
    files: int
    """Descriptors that are not sockets (the log, raw files, Parquet and Delta files)."""
    threads: int
    rust_threads: int
    """Of ``threads``, delta-rs' tokio runtime (``tokio-rt-worker``): its blocking pool starts
    threads on demand and ends them after 10 s idle, so their number follows the load."""
    cpu_pct: float
    """``up``'s CPU time over the interval, in % of one core."""
    p99_ms: float | None
    """Producer latency (first attempt to answer) of the interval's answers."""
    answers_per_s: float
    log_mb: float
    """The log file, its WAL and shared memory."""
    lake_mb: float

    @property
    def own_threads(self) -> int:
        """Threads other than tokio's: Python's, DuckDB's, SQLite's, the server's."""
        return self.threads - self.rust_threads


def proc_status(pid: int) -> tuple[float, int, int, int, int]:
    """(resident MB, open descriptors, of which not sockets, threads, of which tokio's) of
    ``pid`` from /proc."""
    fields = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = row.partition(":")
        fields[name] = value.split()
    fds = files = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            files += not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            fds += 1
    rust = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):  # ended while we looked
            rust += Path(f"/proc/{pid}/task/{task}/comm").read_text().startswith("tokio-rt")
    return int(fields["VmRSS"][0]) / 1024, fds, files, int(fields["Threads"][0]), rust


def cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def disk_mb(path: Path) -> float:
    """Disk blocks used under ``path`` (a file or a tree), in MB."""
    if path.is_file():
        return path.stat().st_blocks * 512 / 1e6
    used = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                used += os.stat(os.path.join(folder, name)).st_blocks * 512
    return used / 1e6


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the console reader ----------------------------------------------------------------------

CONSOLE_PAGES = ("/ui/", "/ui/api/overview", "/ui/analytics", "/ui/realtime", "/ui/api/realtime")


@dataclass
class ConsoleReads:
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    events_bytes: int = 0


async def read_console(
    url: str, reads: ConsoleReads, stop: threading.Event, every_s: float
) -> None:
    """Fetch the console's pages in turn every ``every_s`` and keep its event stream open."""

    async def events(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                async with client.stream("GET", "/ui/events") as answer:
                    async for chunk in answer.aiter_bytes():
                        reads.events_bytes += len(chunk)
                        if stop.is_set():
                            return
            except httpx.HTTPError as exc:
                reads.failed.append(f"/ui/events: {type(exc).__name__}")
                await asyncio.sleep(1)

    timeout = httpx.Timeout(60.0, read=60.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        stream = asyncio.create_task(events(client))
        i = 0
        while not stop.is_set():
            page = CONSOLE_PAGES[i % len(CONSOLE_PAGES)]
            try:
                answer = await client.get(page)
                if answer.status_code == 200:
                    reads.ok += 1
                else:
                    reads.failed.append(f"{page}: HTTP {answer.status_code}")
            except httpx.HTTPError as exc:
                reads.failed.append(f"{page}: {type(exc).__name__}")
            i += 1
            await asyncio.sleep(every_s)
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream


# -- the soak --------------------------------------------------------------------------------


@dataclass
class SoakResult:
    minutes: float
    rate: float
    samples: list[Sample]
    sent: int
    acked: int
    resends: int
    gave_up: int
    rejected: int
    delivery: Delivery
    console: ConsoleReads
    alive_throughout: bool
    exit_code: int | None
    batch_runs: int
    settings: dict[str, str]
    behind_s: float = 0.0
    concurrency: int = CONCURRENCY
    client_cpu_s: float = 0.0
    """CPU seconds of this process (producer, console reader, sampler) during the soak."""
    load_average: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average at the start and at the end (others' work too)."""

    def _quarters(self) -> tuple[list[Sample], list[Sample]]:
        """The second and last quarter of the samples: the first quarter is warm-up."""
        n = len(self.samples)
        return self.samples[n // 4 : n // 2], self.samples[3 * n // 4 :]

    def growth(self, metric: str) -> float:
        """Mean of ``metric`` over the last quarter minus over the second quarter."""
        second, last = self._quarters()
        if not second or not last:
            return 0.0
        mean = lambda s: sum(getattr(x, metric) for x in s) / len(s)  # noqa: E731
        return float(mean(last) - mean(second))

    def floor_growth(self, metric: str) -> float:
        """The lowest ``metric`` of the last quarter minus the lowest of the second quarter.

        What is held for a moment (a connection, a file the batch job reads) comes and goes
        between samples; what leaks is never given back, so it lifts the floor."""
        return self._edge_growth(metric, min)

    def ceiling_growth(self, metric: str) -> float:
        """The highest ``metric`` of the last quarter minus the highest of the second quarter.

        Thread pools grow to their cap while warming up and stay there; a thread started per
        request or per batch run and never ended would raise the cap."""
        return self._edge_growth(metric, max)

    def _edge_growth(self, metric: str, edge: Any) -> float:
        second, last = self._quarters()
        if not second or not last:
            return 0.0
        return float(
            edge(getattr(s, metric) for s in last) - edge(getattr(s, metric) for s in second)
        )

    @property
    def rss_growth(self) -> float:
        """Relative resident-memory growth after warm-up (0.05 = 5 %)."""
        second, _ = self._quarters()
        base = sum(s.rss_mb for s in second) / len(second) if second else 0.0
        return self.growth("rss_mb") / base if base else 0.0

    @property
    def p99_ms(self) -> float:
        values = [s.p99_ms for s in self.samples if s.p99_ms is not None]
        return max(values) if values else 0.0


def run_soak(
    minutes: float,
    rate: float,
    *,
    home: Path,
    sample_every_s: float = 10.0,
    batch_every_minutes: int | None = None,
    retention_s: int = 300,
    concurrency: int = CONCURRENCY,
    console_every_s: float = 2.0,
    env: dict[str, str] | None = None,
    progress: bool = False,
) -> SoakResult:
    """Soak ``pinpipe up`` on ``home`` for ``minutes`` at ``rate`` requests/s (see the module).

    The batch schedule runs every ``batch_every_minutes`` (default: a sixth of the soak, at
    least 1); the log keeps ``retention_s`` of records and idempotency keys.
    """
    every = batch_every_minutes or max(1, int(minutes / 6))
    settings = {
        "PINPIPE_BATCH__EVERY_MINUTES": str(every),
        "PINPIPE_LOG__RETENTION_MS": str(retention_s * 1000),
        "PINPIPE_INGEST__IDEMPOTENCY_WINDOW_S": str(retention_s),
        "PINPIPE_INGEST__ACCESS_LOG": "false",
    }
    home.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()[0]
    cpu_at_start = time.process_time()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = (home / "up.stderr").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "up", "--port", str(port)],
        env={**os.environ, "PINPIPE_HOME": str(home), **settings, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        wait_healthy(url, proc=up, timeout_s=60)
        source = generate(2_000, seed=11)
        load, reads, samples = Load(), ConsoleReads(), []
        alive = True
        stop_console = threading.Event()
        console = threading.Thread(
            target=asyncio.run,
            args=(read_console(url, reads, stop_console, console_every_s),),
            daemon=True,
        )
        console.start()
        started = time.monotonic()
        end = started + minutes * 60
        with producing(url, source, load, rate=rate, concurrency=concurrency):
            seen = 0
            next_at = started + sample_every_s
            cpu_before = cpu_s(up.pid)
            while next_at <= end + 1e-6:
                time.sleep(max(0.0, next_at - time.monotonic()))
                if up.poll() is not None:
                    alive = False
                    break
                rss, fds, files, threads, rust = proc_status(up.pid)
                cpu_now = cpu_s(up.pid)
                interval = load.latencies[seen:]
                seen += len(interval)
                waits = [s for _, s in interval]
                sample = Sample(
                    t_s=round(time.monotonic() - started, 1),
                    rss_mb=rss,
                    fds=fds,
                    files=files,
                    threads=threads,
                    rust_threads=rust,
                    cpu_pct=100 * (cpu_now - cpu_before) / sample_every_s,
                    p99_ms=quantile(waits, 0.99) * 1000 if waits else None,
                    answers_per_s=len(interval) / sample_every_s,
                    log_mb=sum(disk_mb(p) for p in home.glob("log.db*")),
                    lake_mb=disk_mb(home / "lake"),
                )
                samples.append(sample)
                cpu_before = cpu_now
                if progress:
                    print(_progress(sample), file=sys.stderr, flush=True)
                next_at += sample_every_s
        stop_console.set()
        console.join(90)
        up.send_signal(signal.SIGTERM)
        exit_code = up.wait(180)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        stderr.close()
    lake = Lake.at(home / "lake")
    delivery = check_delivery(load.acked, raw_lines(lake))
    return SoakResult(
        minutes=minutes,
        rate=rate,
        samples=samples,
        sent=load.sent,
        acked=len(load.acked),
        resends=load.resends,
        gave_up=len(load.gave_up),
        rejected=len(load.rejected),
        delivery=delivery,
        console=reads,
        alive_throughout=alive,
        exit_code=exit_code,
        batch_runs=batch_runs(lake),
        behind_s=load.behind_s,
        concurrency=concurrency,
        client_cpu_s=time.process_time() - cpu_at_start,
        settings=settings,
        load_average=(load_at_start, os.getloadavg()[0]),
    )


def _progress(s: Sample) -> str:
    p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.0f} ms"
    return (
        f"[soak {s.t_s:6.0f}s] rss {s.rss_mb:.0f} MB, {s.fds} fds ({s.files} not sockets), "
        f"{s.threads} threads ({s.rust_threads} tokio), cpu {s.cpu_pct:.0f}%, "
        f"p99 {p99}, {s.answers_per_s:.0f}/s, log {s.log_mb:.1f} MB, lake {s.lake_mb:.1f} MB"
    )


# -- the report ------------------------------------------------------------------------------


def svg_chart(samples: list[Sample]) -> str:
    """Four small line charts (memory, descriptors, p99, disk) over minutes, as SVG text."""
    width, panel, left, gap = 640, 90, 60, 28
    panels = [
        ("resident memory (MB)", [("rss_mb", "#1f77b4")]),
        (
            "open descriptors: all (orange), not sockets (brown)",
            [("fds", "#ff7f0e"), ("files", "#8c564b")],
        ),
        ("producer p99 (ms)", [("p99_ms", "#d62728")]),
        ("disk (MB): log (green), lake (purple)", [("log_mb", "#2ca02c"), ("lake_mb", "#9467bd")]),
    ]
    height = len(panels) * (panel + gap) + 20
    t_max = max((s.t_s for s in samples), default=1.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, (title, series) in enumerate(panels):
        top = 14 + i * (panel + gap)
        values = [getattr(s, m) for m, _ in series for s in samples if getattr(s, m) is not None]
        high = max(values, default=1.0) * 1.1 or 1.0
        out.append(f'<text x="{left}" y="{top - 3}" font-weight="bold">{title}</text>')
        out.append(
            f'<rect x="{left}" y="{top}" width="{width - left - 10}" height="{panel}" '
            'fill="none" stroke="#bbb"/>'
        )
        out.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{high:.0f}</text>')
        out.append(f'<text x="{left - 4}" y="{top + panel}" text-anchor="end">0</text>')
        for metric, colour in series:
            points = " ".join(
                f"{left + (width - left - 10) * s.t_s / t_max:.1f},"
                f"{top + panel - panel * getattr(s, metric) / high:.1f}"
                for s in samples
                if getattr(s, metric) is not None
            )
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
    bottom = height - 6
    out.append(f'<text x="{left}" y="{bottom}">0 min</text>')
    out.append(f'<text x="{width - 10}" y="{bottom}" text-anchor="end">{t_max / 60:.1f} min</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(result: SoakResult, chart: str | None = None) -> str:
    """The ``soak`` section of docs/benchmarks.md."""
    d = result.delivery
    per_minute = max(1, round(60 / _interval(result.samples)))
    rows = result.samples[per_minute - 1 :: per_minute]
    if result.samples and (not rows or rows[-1] is not result.samples[-1]):
        rows.append(result.samples[-1])
    lines = [
        f"## Soak: `pinpipe up` for {result.minutes:g} minutes at {result.rate:g} requests/s",
        "",
        "`make soak` (`benchmarks/soak.py`, `SOAK_MINUTES`, `SOAK_RATE`): one real `pinpipe up`"
        " (embedded log, fsync on) takes single-record sends through Kafka REST v2 (half), v3"
        " and the Kinesis proxy (a quarter each), each with an `Idempotency-Key`, paced at a"
        f" steady rate with at most {result.concurrency} in flight; a reader fetches a console"
        " page every 2 s and keeps its event stream open. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in result.settings.items())
        + f". The batch schedule ran {result.batch_runs} times. Sampled from `/proc/<pid>` every"
        f" {_interval(result.samples):g} s; p99 is the producer's, first attempt to answer, over"
        " each interval. Log disk = `log.db` + WAL + shm (bounded by the retention); lake disk"
        " is the raw zone and the tables, which grow with the data.",
        "",
        f"- sent {result.sent:,}, acknowledged {result.acked:,}, resent {result.resends:,},"
        f" given up {result.gave_up}, rejected {result.rejected}; the pacing fell behind its"
        f" schedule by at most {result.behind_s:.1f} s (every slot waiting for an answer)",
        f"- raw zone: {len(d.lost)} acknowledged records lost, {len(d.duplicates)} duplicates,"
        f" {len(d.misplaced)} misplaced, {len(d.duplicate_positions)} doubled positions",
        f"- after warm-up (second vs last quarter of samples): resident memory"
        f" {result.rss_growth:+.1%} (means), open fds {result.growth('fds'):+.1f} (means),"
        f" descriptors other than sockets {result.floor_growth('files'):+.0f} (lowest),"
        f" threads other than delta-rs' tokio pool {result.ceiling_growth('own_threads'):+.0f}"
        " (highest)",
        f"- console: {result.console.ok} pages read, {len(result.console.failed)} failed,"
        f" {result.console.events_bytes:,} bytes of events",
        f"- `up` alive throughout: {'yes' if result.alive_throughout else 'NO'},"
        f" exit code {result.exit_code} after SIGTERM",
        f"- machine load average (1 min, {os.cpu_count()} cores, every process on it):"
        f" {result.load_average[0]:.1f} at the start, {result.load_average[1]:.1f} at the end;"
        f" the driver itself (producer, console reader, sampler) used"
        f" {1000 * result.client_cpu_s / max(1, result.acked):.1f} ms of CPU per answered send",
        "",
    ]
    if chart:
        lines += [f"![soak samples]({chart})", ""]
    lines += [
        "| t (min) | RSS (MB) | fds | not sockets | threads (tokio) | CPU (% of a core) |"
        " p99 (ms) | answers/s | log (MB) | lake (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in rows:
        p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.0f}"
        lines.append(
            f"| {s.t_s / 60:.1f} | {s.rss_mb:.0f} | {s.fds} | {s.files} |"
            f" {s.threads} ({s.rust_threads}) | {s.cpu_pct:.0f} | {p99} |"
            f" {s.answers_per_s:.0f} | {s.log_mb:.1f} | {s.lake_mb:.1f} |"
        )
    return "\n".join(lines)


def _interval(samples: list[Sample]) -> float:
    if len(samples) < 2:
        return samples[0].t_s if samples else 10.0
    return round((samples[-1].t_s - samples[0].t_s) / (len(samples) - 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--home", type=Path, help="keep the home here (default: a temp dir)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="pinpipe-soak-"))
    try:
        result = run_soak(
            args.minutes, args.rate, home=home, sample_every_s=args.sample_every, progress=True
        )
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    chart = "soak.svg" if args.write_docs else None
    section = report(result, chart)
    print(section)
    if args.write_docs:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from run import HEADER, OUT, update

        (OUT.parent / "soak.svg").write_text(svg_chart(result.samples))
        doc = OUT.read_text() if OUT.exists() else HEADER
        OUT.write_text(update(doc, "soak", section))
    d = result.delivery
    clean = not (d.lost or d.duplicates or d.misplaced or d.duplicate_positions)
    return 0 if clean and result.alive_throughout else 1


if __name__ == "__main__":
    sys.exit(main())
