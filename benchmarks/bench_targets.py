"""The performance issue's targets: each pinpipe figure beside its baseline from the same run.

Absolute figures on a shared 2-core machine drift by 3x within a day, so every row pairs
pinpipe with a baseline measured minutes apart on the same machine, alternating the two
where a row is measured more than once, and the target is the ratio:

1. single-record durable produce over HTTP (wrk) vs a bare ASGI app on the fastest server
   stack installed (uvicorn + httptools + uvloop, or granian);
2. 500 records per POST vs ``Log.produce`` of the same records in the same batches;
3. ``pinpipe batch`` through the CLI on a 600k-event raw zone vs DuckDB alone reading the
   same files, keeping the latest row per key and writing Parquet;
4. stream: HTTP ack -> row visible at 1,000 records/s, default settings, vs the trigger;
5. ``make demo``'s two parts on a fresh clone: the install (pip cache warm) and the run;
6. growth: batch time per event and peak RSS at 1M, 3M and 10M events whose distinct rows
   grow with them.

``python benchmarks/bench_targets.py --only ingest,batched`` runs some rows (a dry look);
``make bench`` runs them all and rewrites the section.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.ingest.probe import wait_healthy
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.runtime.demo import free_port
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ingest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TABLES = ("pin", "geo", "user")
BASE_ROWS = 11_154
JSON_V2 = "application/vnd.kafka.json.v2+json"


def progress(message: str) -> None:
    print(f"[bench-targets {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    path: str
    pinpipe: str
    baseline: str
    ratio: float
    target: str
    met: bool
    notes: list[str] = field(default_factory=list)


# -- 1 and 2: ingest --------------------------------------------------------------------------


def _serve(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    wait_healthy(f"http://127.0.0.1:{port}", proc=proc)
    return proc


def _bare(stack: str, work: Path) -> tuple[list[str], int]:
    port = free_port()
    app = "bare_asgi:app"
    if stack == "granian":
        granian = str(Path(PY).parent / "granian")
        cmd = [granian, "--interface", "asgi", "--loop", "uvloop", "--port", str(port)]
        cmd += ["--log-level", "warning", "--no-ws", app]
    else:
        cmd = [PY, "-m", "uvicorn", app, "--port", str(port), "--http", "httptools"]
        cmd += ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    return cmd, port


def _wrk(
    proc_cmd: list[str],
    port: int,
    env: dict[str, str],
    script: Path,
    conns: int,
    per_request: int,
    work: Path,
) -> float:
    """records/s of wrk against a fresh server started by ``proc_cmd``."""
    proc = _serve(proc_cmd, env, port, work / "server.err")
    try:
        wrk = bench_ingest._wrk()
        url = f"http://127.0.0.1:{port}/topics/bench.pin"
        result = bench_ingest._wrk_run(wrk, url, script, conns, "", per_request)
    finally:
        bench_ingest.stop(proc)
    if result.errors:
        raise RuntimeError(f"{result.errors} errors from wrk against {proc_cmd[:3]}")
    return result.records_per_s


def _pinpipe_serve(work: Path) -> tuple[list[str], int, dict[str, str]]:
    """``pinpipe serve`` with its defaults (access log on) and durable acks, in a new home."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    port = free_port()
    env = {**os.environ, "PINPIPE_HOME": str(home), "PINPIPE_LOG__FSYNC": "true"}
    return [PY, "-m", "pinpipe", "serve", "--port", str(port)], port, env


def bench_single(work: Path, rounds: int = 2) -> Row:
    body = orjson.dumps({"records": [{"value": bench_ingest.ROW}]})
    script = bench_ingest._script(work / "single.lua", body, JSON_V2, "POST")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    bare: dict[str, list[float]] = {"uvicorn": [], "granian": []}
    ours: list[float] = []
    for _ in range(rounds):
        for stack in bare:
            cmd, port = _bare(stack, work)
            bare[stack].append(_wrk(cmd, port, env, script, bench_ingest.CONNECTIONS, 1, work))
        cmd, port, penv = _pinpipe_serve(work)
        ours.append(_wrk(cmd, port, penv, script, bench_ingest.CONNECTIONS, 1, work))
        progress(f"single: bare {[round(v[-1]) for v in bare.values()]}, pinpipe {ours[-1]:.0f}")
    best_stack = max(bare, key=lambda s: statistics.mean(bare[s]))
    base, mine = statistics.mean(bare[best_stack]), statistics.mean(ours)
    ratio = mine / base
    return Row(
        "single-record durable produce over HTTP (wrk, 2 threads, 64 connections)",
        f"{mine:,.0f} req/s (access log on)",
        f"{base:,.0f} req/s (bare ASGI app on {best_stack})",
        ratio,
        ">= 0.5",
        ratio >= 0.5,
    )


def _batch_body() -> tuple[bytes, list[ProduceRecord]]:
    values = [{**bench_ingest.ROW, "index": i} for i in range(500)]
    body = orjson.dumps({"records": [{"value": v} for v in values]})
    return body, [ProduceRecord(orjson.dumps(v)) for v in values]


def _log_produce_rate(work: Path, records: list[ProduceRecord], seconds: float = 10.0) -> float:
    """records/s of ``Log.produce`` of 500-record batches, fsync on, for ``seconds``."""
    path = Path(tempfile.mkdtemp(prefix="log-", dir=work)) / "log.db"
    with EmbeddedLog(path, fsync=True) as log:
        log.create_topic("bench.pin")
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            log.produce("bench.pin", records)
            done += len(records)
        return done / (time.perf_counter() - started)


def bench_batched(work: Path, rounds: int = 2) -> Row:
    body, records = _batch_body()
    script = bench_ingest._script(work / "batch.lua", body, JSON_V2, "POST")
    base: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        base.append(_log_produce_rate(work, records))
        cmd, port, env = _pinpipe_serve(work)
        ours.append(_wrk(cmd, port, env, script, 8, 500, work))
        progress(f"batched: Log.produce {base[-1]:,.0f}/s, HTTP {ours[-1]:,.0f}/s")
    ratio = statistics.mean(ours) / statistics.mean(base)
    return Row(
        "batched produce over HTTP (500 records per request, 8 connections)",
        f"{statistics.mean(ours):,.0f} records/s",
        f"{statistics.mean(base):,.0f} records/s (`Log.produce`, same batches, fsync on)",
        ratio,
        ">= 0.8",
        ratio >= 0.8,
    )


# -- 3 and 6: the batch path ------------------------------------------------------------------


def build_raw_zone(events: int, lake_root: Path, distinct_every: int = 0) -> float:
    """``events`` sampled records through a log and the sink into ``lake_root``'s raw zone.

    With ``distinct_every``, the source rows are replicated so one event in that many is a
    new row (a fresh ``ind``): the number of distinct rows grows with the events, as a real
    pipeline's does. Returns the raw zone's size in MB.
    """
    source = generate()
    per_table = events // 3
    replicas = max(1, per_table // (distinct_every * BASE_ROWS)) if distinct_every else 1
    rows = sample_rows(len(source.pin) * replicas, seed=100)
    lake_root.mkdir(parents=True, exist_ok=True)
    lake = Lake.at(lake_root)
    log_dir = Path(tempfile.mkdtemp(prefix="log-", dir=lake_root.parent))
    with EmbeddedLog(log_dir / "log.db", fsync=False) as log:
        done = 0
        while done < per_table:
            n = min(5_000, per_table - done)
            batches: list[list[ProduceRecord]] = [[], [], []]
            for _ in range(n):
                row = next(rows)
                base, replica = row % len(source.pin), row // len(source.pin)
                docs = payloads(source, base)
                if replica:
                    offset = replica * BASE_ROWS
                    docs[0]["index"] += offset
                    docs[1]["ind"] += offset
                    docs[2]["ind"] += offset
                for i in range(3):
                    batches[i].append(ProduceRecord(orjson.dumps(docs[i])))
            for table, batch in zip(TABLES, batches, strict=True):
                log.produce(f"bench.{table}", batch)
            done += n
            if done % 500_000 < 5_000:
                progress(f"raw zone: {3 * done:,} of {events:,} events in the log")
        LakeSink(log, lake, SinkSettings(flush_size=10_000)).run(threading.Event(), once=True)
    shutil.rmtree(log_dir)
    return sum(f.size for f in lake.raw_files()) / 1e6


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of a child process, which must succeed."""
    # A small launcher reads the child's peak: a child forked from this (large) process
    # would report this process's resident size as its own peak.
    launcher = (
        "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
    )
    started = time.perf_counter()
    done = subprocess.run([PY, "-c", launcher, *cmd], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {done.stderr[-2000:]}")
    return seconds, int(done.stdout.split()[-1]) / 2**20  # ru_maxrss is in KiB on Linux


def pinpipe_batch(home: Path) -> tuple[float, float]:
    """``pinpipe batch --full`` through the CLI: wall seconds and peak RSS in GiB."""
    env = {**os.environ, "PINPIPE_HOME": str(home)}
    return _timed([PY, "-m", "pinpipe", "batch", "--full"], env)


DUCKDB_ALONE = """
import sys, duckdb
raw, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
for table, key in (("pin", "index"), ("geo", "ind"), ("user", "ind")):
    con.execute(f'''COPY (
        SELECT * FROM read_json_auto('{raw}/topics/bench.{table}/*/*.json',
                                     format='newline_delimited')
        QUALIFY row_number() OVER (PARTITION BY "{key}" ORDER BY _timestamp DESC, _offset DESC) = 1
    ) TO '{out}/{table}.parquet' (FORMAT parquet)''')
"""


def duckdb_alone(raw: Path, out: Path) -> tuple[float, float]:
    """DuckDB by itself on the same raw files: latest row per key, to Parquet."""
    out.mkdir(parents=True, exist_ok=True)
    return _timed([PY, "-c", DUCKDB_ALONE, str(raw), str(out)], dict(os.environ))


def bench_batch_path(work: Path, events: int = 600_000, rounds: int = 2) -> Row:
    home = work / "batch-home"
    mb = build_raw_zone(events, home / "lake")
    raw = home / "lake" / "raw"
    progress(f"batch: raw zone of {events:,} events, {mb:.0f} MB")
    ours: list[float] = []
    base: list[float] = []
    for i in range(rounds):
        base.append(duckdb_alone(raw, work / f"duck-{i}")[0])
        ours.append(pinpipe_batch(home)[0])
        progress(f"batch: DuckDB alone {base[-1]:.1f} s, pinpipe batch {ours[-1]:.1f} s")
    ratio = statistics.mean(ours) / statistics.mean(base)
    return Row(
        f"`pinpipe batch --full` through the CLI, {events:,} events ({mb:.0f} MB NDJSON)",
        f"{statistics.mean(ours):.1f} s",
        f"{statistics.mean(base):.1f} s (DuckDB alone: read, latest row per key, Parquet)",
        ratio,
        "<= 1.5x slower",
        ratio <= 1.5,
        [
            f"batch times {', '.join(f'{s:.1f}' for s in ours)} s; DuckDB alone "
            f"{', '.join(f'{s:.1f}' for s in base)} s"
        ],
    )


def bench_growth(
    work: Path, sizes: tuple[int, ...] = (1_000_000, 3_000_000, 10_000_000)
) -> tuple[list[str], Row]:
    """Batch time per event and peak RSS as events and distinct rows grow together."""
    lines = [
        "| events | distinct rows | raw MB | batch s | us per event | peak RSS GiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    per_event: dict[int, float] = {}
    peak: dict[int, float] = {}
    for events in sizes:
        home = work / f"growth-{events}"
        mb = build_raw_zone(events, home / "lake", distinct_every=10)
        seconds, rss = pinpipe_batch(home)
        distinct = _distinct(home)
        per_event[events] = seconds / events * 1e6
        peak[events] = rss
        lines.append(
            f"| {events:,} | {distinct:,} | {mb:,.0f} | {seconds:.1f} | "
            f"{per_event[events]:.2f} | {rss:.2f} |"
        )
        progress(f"growth: {events:,} events in {seconds:.1f} s, peak {rss:.2f} GiB")
        shutil.rmtree(home)
    small, large = sizes[0], sizes[-1]
    ratio = per_event[large] / per_event[small]
    row = Row(
        f"batch time per event at {large:,} vs {small:,} events (distinct rows grow with them)",
        f"{per_event[large]:.2f} us/event, peak RSS {peak[large]:.2f} GiB",
        f"{per_event[small]:.2f} us/event at {small:,}",
        ratio,
        "<= 1.15x, peak RSS < 4 GiB",
        ratio <= 1.15 and peak[large] < 4,
    )
    return lines, row


def _distinct(home: Path) -> int:
    return sum(
        len(DeltaTable(Lake.at(home / "lake").table("batch", t)).to_pyarrow_table(columns=["ind"]))
        for t in TABLES
    )


# -- 4: stream latency ------------------------------------------------------------------------


def bench_stream(
    work: Path,
    records_per_s: float = 1000.0,
    seconds: float = 30.0,
    settings: dict[str, str] | None = None,
) -> Row:
    """Ack -> visible with ``pinpipe up``'s defaults (or ``settings``, env-style, for an A/B),
    single-record posts from 8 threads."""
    home = Path(tempfile.mkdtemp(prefix="stream-home-", dir=work))
    port = free_port()
    env = {**os.environ, "PINPIPE_HOME": str(home), **(settings or {})}
    proc = _serve([PY, "-m", "pinpipe", "up", "--port", str(port)], env, port, work / "up.err")
    url = f"http://127.0.0.1:{port}"
    source = generate()
    acked: dict[tuple[str, int], float] = {}
    visible: dict[tuple[str, int], float] = {}
    stop = threading.Event()
    lake = Lake.at(home / "lake")

    def watch() -> None:
        """Stamp each record when a table version holding it appears: only the data files a
        version adds are read, so the watcher's own work stays small beside the server's."""
        tables: dict[str, DeltaTable] = {}
        read: dict[str, set[str]] = {t: set() for t in TABLES}
        while not stop.is_set():
            for table in TABLES:
                try:
                    if table not in tables:
                        tables[table] = DeltaTable(lake.table("stream", table))
                    dt = tables[table]
                    before = dt.version()
                    dt.update_incremental()
                except Exception:  # not created yet
                    continue
                if dt.version() == before and read[table]:
                    continue
                now = time.perf_counter()
                for uri in set(dt.file_uris()) - read[table]:
                    read[table].add(uri)
                    part = pq.read_table(uri, columns=["_topic", "_offset"])
                    for topic, offset in zip(
                        part["_topic"].to_pylist(), part["_offset"].to_pylist(), strict=True
                    ):
                        visible.setdefault((topic, offset), now)
            time.sleep(0.005)

    threads = 8
    interval = threads / records_per_s

    def post(worker: int) -> None:
        session = requests.Session()
        rows: Iterator[int] = sample_rows(len(source.pin), seed=worker)
        started, n = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            table = n % 3
            doc = payloads(source, next(rows))[table]
            topic = f"bench.{TABLES[table]}"
            body = orjson.dumps({"records": [{"value": doc}]})
            answer = session.post(
                f"{url}/topics/{topic}", data=body, headers={"Content-Type": JSON_V2}
            )
            acked[(topic, answer.json()["offsets"][0]["offset"])] = time.perf_counter()
            n += 1
            pause = started + n * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, range(threads)))
    achieved = len(acked) / (time.perf_counter() - started)
    deadline = time.perf_counter() + 30
    while len(visible) < len(acked) and time.perf_counter() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    bench_ingest.stop(proc)
    trigger = _setting("stream", "trigger_interval_ms")
    latencies = sorted(1000 * (visible[k] - t) for k, t in acked.items() if k in visible)
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    return Row(
        f"stream: HTTP ack -> row visible in the stream tables, {achieved:,.0f} records/s, "
        "default settings, ingest in the same process",
        f"p50 {p50:,.0f} / p99 {p99:,.0f} ms ({len(latencies):,} of {len(acked):,} visible)",
        f"the trigger interval: {trigger} ms",
        p99 / trigger,
        "p99 <= 250 ms",
        p99 <= 250 and len(latencies) == len(acked),
    )


def _setting(section: str, name: str) -> int:
    from pinpipe.settings import Settings

    return int(getattr(getattr(Settings(), section), name))


# -- 5: the demo ------------------------------------------------------------------------------


def bench_demo(work: Path) -> Row:
    """``make demo`` on a fresh clone: the install (pip cache warm) and the run, apart."""
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PINPIPE_HOME")}
    started = time.perf_counter()
    subprocess.run(
        ["make", "-s", "-C", str(clone), ".venv/.installed"],
        check=True,
        env=env,
        capture_output=True,
    )
    install = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        ["make", "-s", "-C", str(clone), "demo"], check=True, env=env, capture_output=True
    )
    total = install + time.perf_counter() - started
    run = total - install
    return Row(
        "`make demo` on a fresh clone, install included (pip cache warm)",
        f"{total:.0f} s: install {install:.0f} s, run {run:.0f} s",
        "",
        float("nan"),
        "<= 60 s",
        total <= 60,
    )


# -- 7: `pinpipe up` memory under a steady load -----------------------------------------------


def bench_up_memory(work: Path, minutes: float = 10.0, rate: float = 2000.0) -> Row:
    """``pinpipe up``'s resident memory while wrk posts single records at ``rate`` for
    ``minutes`` (each of ``rate / 100`` connections waits 10 ms between requests)."""
    home = Path(tempfile.mkdtemp(prefix="up-memory-", dir=work))
    port = free_port()
    env = {**os.environ, "PINPIPE_HOME": str(home), "PINPIPE_LOG__RETENTION_MS": "300000"}
    proc = _serve([PY, "-m", "pinpipe", "up", "--port", str(port)], env, port, work / "up.err")
    body = orjson.dumps({"records": [{"value": bench_ingest.ROW}]})
    script = bench_ingest._script(work / "paced.lua", body, JSON_V2, "POST", delay_ms=10)
    conns = max(1, int(rate / 100))
    seconds = int(minutes * 60)
    wrk = subprocess.Popen(
        [bench_ingest._wrk(), "-t2", f"-c{conns}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}/topics/bench.pin"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    samples: list[float] = []
    while wrk.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        samples.append(int(status.split("VmRSS:")[1].split()[0]) / 1024)
        time.sleep(10)
    out = wrk.communicate()[0]
    bench_ingest.stop(proc)
    achieved = float(out.split("Requests/sec:")[1].split()[0])
    quarter = max(1, len(samples) // 4)
    warm, last = (
        statistics.mean(samples[quarter : 2 * quarter]),
        statistics.mean(samples[-quarter:]),
    )
    growth = last / warm - 1
    return Row(
        f"`pinpipe up` resident memory over {minutes:g} minutes at {achieved:,.0f} requests/s "
        "(wrk, single records, defaults)",
        f"{warm:,.0f} MB after warm-up, {last:,.0f} MB in the last quarter (+{growth:.1%})",
        f"samples every 10 s: {', '.join(f'{v:.0f}' for v in samples[::6])} MB",
        last / warm,
        "growth < 5% after warm-up",
        growth < 0.05,
    )


# -- the section ------------------------------------------------------------------------------

STEPS: dict[str, Callable[[Path], Row]] = {
    "ingest": bench_single,
    "batched": bench_batched,
    "batch": bench_batch_path,
    "stream": bench_stream,
    "demo": bench_demo,
    "up-memory": bench_up_memory,
}


def report(rows: list[Row], growth: list[str] | None) -> str:
    lines = [
        "## Targets: pinpipe beside its baseline, from one run",
        "",
        "Each row measures pinpipe and its baseline minutes apart on this machine (alternating "
        "them where a row is measured twice, the mean of each shown), so the ratio holds "
        "when the machine's speed drifts. `benchmarks/bench_targets.py` says how each is "
        "measured.",
        "",
        "| path | pinpipe | baseline (same run) | ratio | target | met |",
        "|---|---|---|---:|---|---|",
    ]
    for r in rows:
        ratio = "" if r.ratio != r.ratio else f"{r.ratio:.2f}"
        lines.append(
            f"| {r.path} | {r.pinpipe} | {r.baseline} | {ratio} | {r.target} | "
            f"{'yes' if r.met else '**no**'} |"
        )
    notes = [n for r in rows for n in r.notes]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    if growth:
        lines += ["", "### Growth: batch time and peak memory", "", *growth]
    return "\n".join(lines) + "\n" + LIMITS


LIMITS = """
What limits each row, what was tried, and what the misses would need:

- **Single record (0.29)**: the bare app does nothing per request; pinpipe parses and checks
  the body, authenticates, applies the topic policy and limits, appends through the group
  commit (a thread, an fsync per round), counts metrics and writes the access log, all in one
  Python process that shares the GIL with its commit thread and two cores with wrk. Done this
  time: the access log is buffered (it cost ~15% of a request; now one logger call per 0.2 s),
  records and positions are NamedTuples. Tried before: h11 vs httptools/uvloop vs granian,
  two worker processes, a lean ASGI layer, one loop wake-up per group commit. 0.5 would need
  the per-request Python (~75 us of CPU against ~20 us for the bare app) halved again: a
  native HTTP front (granian's Rust workers feeding one log writer) or more cores.
- **Batched (0.56)**: one 500-record request now costs ~22% less CPU (msgspec decodes and
  checks the body in one pass and keeps values as JSON text). What remains is the commit
  thread itself, which is `Log.produce` (SQLite's executemany and the fsync), competing for
  the GIL with the request parsing of the next requests; `Log.produce` alone has the GIL and
  the cores to itself. 0.8 would need the append off the GIL (SQLite rows built in C, or a
  log writer process).
- **Batch (4.6x)**: DuckDB alone does one scan, a window and a Parquet write; `pinpipe batch`
  also applies every cleaning rule of DATA.md (coercions, regular expressions, reject
  reasons), writes three Delta tables and the quarantine, runs ten queries (VADER sentiment
  alone is ~0.8 s of pure Python for ~11k distinct texts) and pays ~1 s of Python start and
  imports. Done: raw lines read as text (as fast as the JSON reader, and torn lines keep their
  text). 1.5x would need the cleaning fused into the read (one query per table instead of a
  materialised raw relation and three outputs) and sentiment scored once per distinct text
  across runs.
- **Stream (p99 354 ms at ~950 records/s, was 839 ms at 300/s)**: done: wake on append with a
  100 ms spacing, one cleaning query per micro-batch and table instead of two, the real-time
  windows merged on their own thread, no empty quarantine commits. What is left is one
  micro-batch's own time (three Delta commits, ~30-60 ms each on this disk) while ingest
  takes the other core; 250 ms would need the three tables' commits in parallel or fewer,
  larger tables.
- **Demo (23 s)**: met: uv installs the base in ~6 s (pip took ~29 s) and 8 concurrent posters
  send the 6,000 records in a few seconds.
- **Growth**: time per event falls as the data grows (fixed costs amortised). Peak RSS at 10M
  was 7.0 GiB in this run: DuckDB takes up to 80% of RAM by default. Since then DuckDB's
  memory is capped (`duckdb.memory_limit`, 2 GiB, spilling to the home): the same 10M-event
  raw zone then took 58.6 s at 2.49 GiB peak, measured alone after this run (rerun `make
  bench` for the row).
- **`pinpipe up` memory**: not flat. The 30-minute soak at 200 requests/s (soak section) grew
  from 426 to 1,443 MB while descriptors, threads and Python's heap (tracemalloc) stayed flat:
  the growth is native, and delta-rs alone grows ~100 KB per commit on a table kept open
  (~28 KB with compaction every 100-200 commits) while the stream job commits ~12 times a
  second. Fewer, larger commits (at a latency cost) or reopening tables after checkpoints
  are the next things to measure. The `up-memory` row (wrk paced at 2,000 requests/s for
  10 minutes) runs with `--only up-memory`.
"""


def run(only: tuple[str, ...] = (*STEPS, "growth")) -> str:
    rows: list[Row] = []
    growth: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-targets-") as tmp:
        work = Path(tmp)
        for name in only:
            if name == "growth":
                growth, row = bench_growth(work)
            else:
                row = STEPS[name](work)
            rows.append(row)
            progress(f"{name}: {row.pinpipe} vs {row.baseline}")
    return report(rows, growth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join((*STEPS, "growth")))
    args = parser.parse_args()
    print(run(tuple(args.only.split(","))))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
