"""The whole pipeline on the embedded profile.

1. Batch: 1M emulated events → embedded log → raw zone → batch clean → nine queries (DuckDB).
2. Stream latency: HTTP acknowledgement → row visible in the stream Delta table, at a steady
   rate, against a real `pinpipe up` process, at two trigger intervals.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import requests
from deltalake import DeltaTable

from pinpipe.emulator.generator import generate
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.engines import get_engine
from pinpipe.ingest.probe import wait_healthy
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.runtime.demo import free_port
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("pin", "geo", "user")


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_batch(events: int, work: Path) -> dict[str, float]:
    """Produce ``events`` records, sink them, clean them and run the queries."""
    source = generate()
    rows = sample_rows(len(source.pin), seed=100)
    log = EmbeddedLog(work / "log.db", fsync=True)
    per_table = events // 3
    chunk = 5_000
    started = time.perf_counter()
    done = 0
    while done < per_table:
        n = min(chunk, per_table - done)
        picked = [next(rows) for _ in range(n)]
        docs = [payloads(source, r) for r in picked]
        for i, table in enumerate(TABLES):
            log.produce(f"bench.{table}", [ProduceRecord(orjson.dumps(d[i])) for d in docs])
        done += n
        if done % 50_000 < chunk:
            progress(f"produced {3 * done:,} records")
    produce_s = time.perf_counter() - started
    total = 3 * per_table
    lake = Lake.at(work / "lake")
    started = time.perf_counter()
    sink = LakeSink(log, lake, SinkSettings(flush_size=10_000))
    sink.run(threading.Event(), once=True)
    sink_s = time.perf_counter() - started
    raw_bytes = sum(f.size for f in lake.raw_files())
    progress(f"sink wrote {sink.files_written} files, {raw_bytes / 1e6:.0f} MB")
    report = run_batch(lake, get_engine("duckdb"))
    log.close()
    return {
        "events": total,
        "raw_mb": raw_bytes / 1e6,
        "produce_s": produce_s,
        "sink_s": sink_s,
        "clean_s": report.clean_seconds,
        "query_s": report.query_seconds,
        "clean_rows": sum(report.rows.values()),
    }


def bench_latency(rate: float, seconds: float, work: Path, trigger_ms: int) -> dict[str, float]:
    """Post at ``rate`` rows/s through Kafka REST; time from 200 OK to row in the stream table."""
    port = free_port()
    env = {
        **os.environ,
        "PINPIPE_HOME": str(work),
        "PINPIPE_STREAM__TRIGGER_INTERVAL_MS": str(trigger_ms),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pinpipe", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc=server)
    source = generate()
    rows = sample_rows(len(source.pin), seed=1)
    acked: dict[tuple[str, int], float] = {}
    visible: dict[tuple[str, int], float] = {}
    stop = threading.Event()
    lake = Lake.at(work / "lake")

    def watch() -> None:
        seen = {t: -1 for t in TABLES}
        while not stop.is_set() or len(visible) < len(acked):
            for table in TABLES:
                try:
                    dt = DeltaTable(lake.table("stream", table))
                except Exception:
                    continue
                if dt.version() == seen[table]:
                    continue
                seen[table] = dt.version()
                now = time.perf_counter()
                offsets = dt.to_pyarrow_table(columns=["_topic", "_offset"]).to_pylist()
                for row in offsets:
                    visible.setdefault((row["_topic"], row["_offset"]), now)
            if stop.is_set() and time.perf_counter() > deadline:
                return
            time.sleep(0.005)

    deadline = time.perf_counter() + seconds + 30
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = requests.Session()
    headers = {"Content-Type": "application/vnd.kafka.json.v2+json"}
    interval = 1 / rate
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        row = next(rows)
        for table, doc in zip(TABLES, payloads(source, row), strict=True):
            topic = f"bench.{table}"
            body = orjson.dumps({"records": [{"value": doc}]})
            answer = session.post(f"{url}/topics/{topic}", data=body, headers=headers)
            offset = answer.json()["offsets"][0]["offset"]
            acked[(topic, offset)] = time.perf_counter()
        n += 1
        pause = started + n * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    stop.set()
    watcher.join()
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    latencies = sorted(1000 * (visible[k] - t) for k, t in acked.items() if k in visible)
    return {
        "trigger_ms": trigger_ms,
        "records": len(acked),
        "visible": len(latencies),
        "rate": 3 * rate,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
    }


def rate(batch: dict[str, float], key: str) -> str:
    return f"{batch['events'] / batch[key]:,.0f}"


def write_report(batch: dict[str, float], latencies: list[dict[str, float]]) -> str:
    events = batch["events"]
    both = batch["clean_s"] + batch["query_s"]
    rows = "\n".join(
        "| "
        + " | ".join(
            f"{lat[k]:,.0f}"
            for k in ("trigger_ms", "rate", "records", "visible", "p50_ms", "p99_ms", "max_ms")
        )
        + " |"
        for lat in latencies
    )
    return f"""## Pipeline: batch path and stream latency (embedded profile)

### Batch path: {events:,.0f} emulated events

Events are sampled with replacement from the generated source tables (seed 100), a third each
pin, geo and user, produced to the embedded log in batches of 5,000 with fsync on, written to
the raw zone by the sink (10,000 records per file, {batch["raw_mb"]:.0f} MB of NDJSON), then
cleaned, deduplicated to one row per ind and queried by the batch job on DuckDB.

| step | seconds | records/s |
|---|---:|---:|
| produce to the embedded log | {batch["produce_s"]:.2f} | {rate(batch, "produce_s")} |
| sink to the raw zone | {batch["sink_s"]:.2f} | {rate(batch, "sink_s")} |
| batch clean + dedup + Delta write | {batch["clean_s"]:.2f} | {rate(batch, "clean_s")} |
| nine queries | {batch["query_s"]:.2f} | |
| **batch clean + queries** | **{both:.2f}** | **{events / both:,.0f}** |

The cleaned tables hold {batch["clean_rows"]:,.0f} rows (one per ind and table).

### Stream path: HTTP acknowledgement → row visible in the stream table

A client posts single-record Kafka REST requests at a steady rate to a `pinpipe up` process
(fsync on; ingest, sink and stream job share the process). A watcher polls the three stream
Delta tables every 5 ms; latency is the time from the 200 OK to the first table version holding
the record. The trigger interval is the stream job's `stream.trigger_interval_ms`
(default 500).

| trigger ms | records/s | records | visible | p50 ms | p99 ms | max ms |
|---:|---:|---:|---:|---:|---:|---:|
{rows}
"""


def run(events: int = 1_000_000, rate: float = 50.0, seconds: float = 30.0) -> str:
    """Run both parts and return the markdown section."""
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-"))
    try:
        progress(f"batch path with {events:,} events in {work}")
        (work / "batch").mkdir()
        batch = bench_batch(events, work / "batch")
        latencies = []
        for trigger in (500, 100):
            progress(f"stream latency at {rate} rows/s for {seconds}s, trigger {trigger} ms")
            latencies.append(bench_latency(rate, seconds, work / f"stream-{trigger}", trigger))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return write_report(batch, latencies)
