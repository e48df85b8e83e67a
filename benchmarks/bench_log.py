"""Log backends: produce and consume throughput, produce-to-visible latency.

Records are 500-byte JSON objects. Produce: batches of ``BATCH`` records through
``Log.produce`` (embedded: one fsync'd SQLite transaction per batch; Kafka: idempotent
``acks=all`` producer, each call returns after every delivery report). Consume: a fresh
client reads the partition back with ``fetch`` in chunks of 5,000, as the sink does.
Latency: a producer thread appends 10-record batches every 5 ms while a second client polls
``fetch``; each record carries its send time, and the latency is the moment a reader first
sees it minus that time, i.e. the acknowledged write plus the reader's discovery.
Kafka runs as the single-node KRaft broker of the test suite (``-Xmx512m``) on the same
machine, or on ``$PINPIPE_BENCH_KAFKA`` when set.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.infra.kafka_broker starts the broker

from pinpipe.log.base import Log, ProduceRecord  # noqa: E402
from pinpipe.log.embedded import EmbeddedLog  # noqa: E402
from pinpipe.settings import LogSettings  # noqa: E402

RECORDS = 300_000
BATCH = 5_000
LATENCY_S = 5.0


def _record(i: int) -> bytes:
    doc = {"ind": i, "t": 0, "title": "", "description": "x", "tag_list": "a,b,c"}
    pad = 500 - len(orjson.dumps(doc))
    doc["title"] = "p" * pad
    return orjson.dumps(doc)


def _throughput(open_log: Callable[[], Log], topic: str) -> tuple[float, float]:
    batch = [ProduceRecord(_record(i)) for i in range(BATCH)]
    assert len(batch[0].value or b"") == 500
    with open_log() as log:
        log.create_topic(topic, 1)
        log.produce(topic, batch[:10])  # warm up: connections, metadata
        started = time.perf_counter()
        for _ in range(RECORDS // BATCH):
            log.produce(topic, batch)
        produce = RECORDS / (time.perf_counter() - started)
    with open_log() as log:
        offset, started = 0, time.perf_counter()
        while offset < RECORDS + 10:
            got = log.fetch(topic, 0, offset, 5_000)
            offset = got[-1].offset + 1
        consume = (RECORDS + 10) / (time.perf_counter() - started)
    return produce, consume


def _latency(open_log: Callable[[], Log], topic: str) -> tuple[float, float]:
    with open_log() as writer, open_log() as reader:
        writer.create_topic(topic, 1)
        seen: list[float] = []
        done = threading.Event()

        def produce() -> None:
            i = 0
            while not done.is_set():
                batch = []
                for _ in range(10):
                    doc = orjson.loads(_record(i))
                    doc["t"] = time.perf_counter_ns()
                    batch.append(ProduceRecord(orjson.dumps(doc)))
                    i += 1
                writer.produce(topic, batch)
                time.sleep(0.005)

        thread = threading.Thread(target=produce)
        thread.start()
        offset, until = 0, time.monotonic() + LATENCY_S
        while time.monotonic() < until:
            for record in reader.fetch(topic, 0, offset, 1_000):
                now = time.perf_counter_ns()
                seen.append((now - orjson.loads(record.value or b"{}")["t"]) / 1e6)
                offset = record.offset + 1
            time.sleep(0.0002)
        done.set()
        thread.join()
    cuts = statistics.quantiles(seen, n=100)
    return cuts[49], cuts[98]


def _embedded(tmp: Path) -> Callable[[], Log]:
    return lambda: EmbeddedLog(tmp / "bench.db", fsync=True)


def run() -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        opener = _embedded(Path(tmp))
        produce, consume = _throughput(opener, "bench")
        p50, p99 = _latency(opener, "latency")
        rows.append(("embedded (SQLite WAL, fsync each batch)", produce, consume, p50, p99))

        broker = None
        bootstrap = os.environ.get("PINPIPE_BENCH_KAFKA")
        if not bootstrap:
            from tests.infra.kafka_broker import start

            broker = start(Path(tmp) / "kafka")
            bootstrap = broker.bootstrap
        try:
            settings = LogSettings(backend="kafka", bootstrap_servers=bootstrap)

            def kafka() -> Log:
                from pinpipe.log.kafka import KafkaLog

                return KafkaLog(settings)

            run_id = uuid.uuid4().hex[:8]
            produce, consume = _throughput(kafka, f"bench-{run_id}")
            p50, p99 = _latency(kafka, f"latency-{run_id}")
            rows.append(("Kafka 4.4 (1 broker, acks=all, idempotent)", produce, consume, p50, p99))
        finally:
            if broker is not None:
                broker.stop()
    lines = [
        "## Log backends",
        "",
        (__doc__ or "").strip(),
        "",
        f"{RECORDS:,} records of 500 bytes, produced in batches of {BATCH:,}.",
        "",
        "| backend | produce records/s | consume records/s | produce→visible p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, produce, consume, p50, p99 in rows:
        lines.append(f"| {name} | {produce:,.0f} | {consume:,.0f} | {p50:.1f} | {p99:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
