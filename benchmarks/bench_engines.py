"""Engine comparison: DuckDB vs Spark local[2] on one raw zone, and stream latency on Kafka.

``run()`` returns a markdown section for docs/benchmarks.md. The raw zone is built once (the
generated source, sampled rows, an embedded log with fsync off, the lake sink) and both
engines run the same batch job on it: cleaning + dedup + Delta writes, then the nine queries
(each written to a Delta result table). Spark's session start is timed on its own. Stream
latency, if a Kafka broker can be started, is ingest (Kafka acknowledgement timestamp) →
commit of the row's Delta version, for the DuckDB stream job and the Spark Structured
Streaming job, at the same steady rate on the same broker.

Usage: python benchmarks/bench_engines.py [--events N] [--stream-seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from pinpipe.emulator.generator import generate
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.jobs.batch import BatchReport, run_batch
from pinpipe.lake import Lake
from pinpipe.log.base import Log, ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import LogSettings, SinkSettings, SparkSettings, StreamSettings
from pinpipe.sink.lake_sink import LakeSink

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("pin", "geo", "user")
SPARK = SparkSettings(master="local[2]", driver_memory="2g", shuffle_partitions=4)


def progress(message: str) -> None:
    print(f"[bench-engines {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build_raw_zone(events: int, work: Path) -> tuple[Path, float]:
    """Produce ``events`` sampled records and sink them; returns the raw dir and its MB."""
    source = generate()
    rows = sample_rows(len(source.pin), seed=100)
    lake = Lake.at(work / "raw-lake")
    with EmbeddedLog(work / "log.db", fsync=False) as log:
        per_table, done = events // 3, 0
        while done < per_table:
            n = min(5_000, per_table - done)
            docs = [payloads(source, next(rows)) for _ in range(n)]
            for i, table in enumerate(TABLES):
                log.produce(f"bench.{table}", [ProduceRecord(orjson.dumps(d[i])) for d in docs])
            done += n
        LakeSink(log, lake, SinkSettings(flush_size=10_000)).run(threading.Event(), once=True)
    mb = sum(f.size for f in lake.raw_files()) / 1e6
    progress(f"raw zone: {3 * per_table:,} events, {mb:.0f} MB")
    return Path(lake.root) / "raw", mb


def _lake_with(raw: Path, root: Path) -> Lake:
    """A fresh lake whose raw zone is ``raw`` (a symlink: both engines read the same files)."""
    root.mkdir(parents=True)
    (root / "raw").symlink_to(raw, target_is_directory=True)
    return Lake.at(root)


def bench_batch(raw: Path, work: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    duck = DuckDBEngine()
    report = run_batch(_lake_with(raw, work / "duck"), duck)
    duck.close()
    results |= {"duck_clean": report.clean_seconds, "duck_query": report.query_seconds}
    results["events"] = report.total_raw
    progress(f"duckdb: clean {report.clean_seconds:.1f}s, queries {report.query_seconds:.2f}s")
    started = time.perf_counter()
    from pinpipe.engines.spark import SparkEngine

    spark = SparkEngine(SPARK)
    spark.session.range(1).count()
    results["spark_start"] = time.perf_counter() - started
    report_s: BatchReport = run_batch(_lake_with(raw, work / "spark"), spark)
    results |= {"spark_clean": report_s.clean_seconds, "spark_query": report_s.query_seconds}
    progress(f"spark: clean {report_s.clean_seconds:.1f}s, queries {report_s.query_seconds:.1f}s")
    assert report_s.rows == report.rows, "both engines must clean to the same tables"
    return results


def _post_steadily(log: Log, prefix: str, rate: float, seconds: float) -> int:
    """Produce one row (pin, geo, user) every 1/rate s to Kafka; returns records produced."""
    source = generate(2_000, seed=1)
    rows = sample_rows(len(source.pin), seed=1)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        for table, doc in zip(TABLES, payloads(source, next(rows)), strict=True):
            log.produce(f"{prefix}.{table}", [ProduceRecord(orjson.dumps(doc))])
        n += 1
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return 3 * n


def _latency(
    bootstrap: str, name: str, job: Callable[[Lake, str, threading.Event], list[float]],
    rate: float, seconds: float, work: Path,
) -> dict[str, float]:  # fmt: skip
    from pinpipe.log.kafka import KafkaLog

    prefix = f"lat{name}{uuid.uuid4().hex[:6]}"
    log = KafkaLog(LogSettings(backend="kafka", bootstrap_servers=bootstrap))
    for table in TABLES:
        log.create_topic(f"{prefix}.{table}", 1)
    lake = Lake.at(work / f"stream-{name}")
    stop = threading.Event()
    latencies: list[float] = []
    runner = threading.Thread(target=lambda: latencies.extend(job(lake, prefix, stop)))
    runner.start()
    time.sleep(5 if name == "duckdb" else 20)  # let the job start (Spark: JVM + first batch)
    sent = _post_steadily(log, prefix, rate, seconds)
    time.sleep(15)
    stop.set()
    runner.join()
    log.close()
    ordered = sorted(latencies)
    progress(f"{name} stream: {len(ordered)} of {sent} records timed")
    return {
        "records": sent,
        "timed": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
    }


def _duck_stream(bootstrap: str) -> Callable[[Lake, str, threading.Event], list[float]]:
    def job(lake: Lake, prefix: str, stop: threading.Event) -> list[float]:
        from pinpipe.engines.microbatch import MicroBatchStream
        from pinpipe.log.kafka import KafkaLog

        log = KafkaLog(LogSettings(backend="kafka", bootstrap_servers=bootstrap))
        stream = MicroBatchStream(log, lake, DuckDBEngine(threads=2), StreamSettings())
        stream.run(stop)
        log.close()
        return [ms for ms in stream.stats.latencies_ms]

    return job


def _spark_stream(bootstrap: str) -> Callable[[Lake, str, threading.Event], list[float]]:
    def job(lake: Lake, prefix: str, stop: threading.Event) -> list[float]:
        from pinpipe.engines.spark import SparkEngine
        from pinpipe.engines.spark.stream import SparkStreamJob

        pattern = SPARK.model_copy(update={"topic_pattern": rf"{prefix}\.(pin|geo|user)"})
        stream = SparkStreamJob(SparkEngine(SPARK), lake, bootstrap, StreamSettings(), pattern)
        stream.run(stop)
        return list(stream.stats.latencies_ms)

    return job


def bench_stream(work: Path, rate: float, seconds: float) -> dict[str, dict[str, float]] | None:
    try:
        sys.path.insert(0, str(ROOT))
        from tests.infra.kafka_broker import start
    except ImportError:
        return None
    broker = start(work / "kafka")
    try:
        out = {}
        for name, job in (("duckdb", _duck_stream), ("spark", _spark_stream)):
            out[name] = _latency(broker.bootstrap, name, job(broker.bootstrap), rate, seconds, work)
        return out
    finally:
        broker.stop()


def report(batch: dict[str, float], raw_mb: float, stream: dict[str, dict[str, float]] | None,
           rate: float) -> str:  # fmt: skip
    duck_total = batch["duck_clean"] + batch["duck_query"]
    spark_total = batch["spark_clean"] + batch["spark_query"]

    def row(label: str, d: float, s: float) -> str:
        return f"| {label} | {d:.2f} | {s:.2f} | {s / d:.1f}× |"

    lines = [
        "## Engines: DuckDB vs Spark local[2]",
        "",
        f"One raw zone of {batch['events']:,.0f} events ({raw_mb:.0f} MB of NDJSON, built like",
        "the batch benchmark but with fsync off), read by both engines from the same files.",
        "Each runs the same batch job (the same Ibis cleaning, dedup, quarantine and Delta",
        "writes: delta-rs for DuckDB, delta-spark for Spark), then the nine queries, each",
        "written to its Delta result table. Spark runs `local[2]` with 2 GB driver memory and",
        "4 shuffle partitions; its session start (JVM, cached connector jars) is timed apart.",
        "",
        "| step | DuckDB s | Spark local[2] s | Spark / DuckDB |",
        "|---|---:|---:|---:|",
        row("batch clean + dedup + Delta write", batch["duck_clean"], batch["spark_clean"]),
        row("nine queries + result writes", batch["duck_query"], batch["spark_query"]),
        row("**clean + queries**", duck_total, spark_total),
        row("clean + queries + Spark session start", duck_total,
            spark_total + batch["spark_start"]),
        "",
        f"Spark session start: {batch['spark_start']:.1f} s.",
    ]  # fmt: skip
    if stream:
        lines += [
            "",
            f"Stream latency on one Apache Kafka broker (KRaft, loopback), {3 * rate:.0f}",
            "records/s produced steadily, 500 ms trigger interval for both jobs; latency is",
            "the Kafka timestamp at ingest → the stream job's Delta commit holding the row.",
            "",
            "| engine | records | timed | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, s in stream.items():
            lines.append(
                f"| {name} | {s['records']:,.0f} | {s['timed']:,.0f} | {s['p50_ms']:,.0f} "
                f"| {s['p99_ms']:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def run(events: int = 1_000_000, stream_seconds: float = 30.0, rate: float = 50.0) -> str:
    """The markdown section, measured now."""
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-engines-") as tmp:
        work = Path(tmp)
        raw, mb = build_raw_zone(events, work)
        batch = bench_batch(raw, work)
        stream = bench_stream(work, rate, stream_seconds) if stream_seconds > 0 else None
        return report(batch, mb, stream, rate)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stream-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="rows/s (3 records each)")
    args = parser.parse_args()
    print(run(args.events, args.stream_seconds, args.rate))


if __name__ == "__main__":
    main()
