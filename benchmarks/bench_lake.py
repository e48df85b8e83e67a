"""The lake at scale: the sink to S3 against a local disk, and the daily batch as data grows.

Sink: the same records (sampled pins, 10,000 per raw object) go through the sink to a local
lake and to an ``s3://`` lake on s3proxy (filesystem backend, loopback); the baseline is the
storage alone: the sink's objects PUT to the same store with ``pyarrow.fs``, no log, no sink.

Daily batch: ten UTC days of equal size, each with new inds (the table grows every day), are
merged one day at a time with ``pinpipe batch --date`` on each engine; day 10 against day 1
shows what a growing table costs a MERGE (target: within 1.3×), and a full rebuild of all ten
days is timed beside it.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.infra.s3_server starts s3proxy

from pinpipe.emulator.generator import generate  # noqa: E402
from pinpipe.emulator.sampler import payloads, sample_rows  # noqa: E402
from pinpipe.engines import Engine  # noqa: E402
from pinpipe.engines.duckdb import DuckDBEngine  # noqa: E402
from pinpipe.jobs.batch import run_batch  # noqa: E402
from pinpipe.lake import Lake, open_lake  # noqa: E402
from pinpipe.lake.raw_index import day_bounds  # noqa: E402
from pinpipe.log.base import ProduceRecord  # noqa: E402
from pinpipe.log.embedded import EmbeddedLog  # noqa: E402
from pinpipe.settings import SinkSettings, SparkSettings, load_settings  # noqa: E402
from pinpipe.sink.lake_sink import LakeSink  # noqa: E402

SINK_RECORDS = 200_000
DAYS = 10
ROWS_PER_DAY = 20_000
FIRST_DAY = dt.date(2026, 1, 1)
SPARK = SparkSettings(master="local[2]", driver_memory="2g", shuffle_partitions=4)


def progress(message: str) -> None:
    print(f"[bench-lake {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _pins(n: int) -> list[ProduceRecord]:
    source = generate()
    rows = sample_rows(len(source.pin), seed=100)
    return [ProduceRecord(orjson.dumps(payloads(source, next(rows))[0])) for _ in range(n)]


def _sink(log: EmbeddedLog, lake: Lake) -> float:
    started = time.perf_counter()
    LakeSink(log, lake, SinkSettings(flush_size=10_000)).run(threading.Event(), once=True)
    return time.perf_counter() - started


def _put_alone(local: Lake, remote: Lake) -> float:
    """The storage alone: the local lake's raw objects PUT to ``remote``'s store."""
    objects = [(f.uri.removeprefix(local.root), local.storage.read_bytes(f.uri)) for f in
               local.raw_files()]  # fmt: skip
    started = time.perf_counter()
    for name, data in objects:
        remote.storage.write_atomically(f"{remote.root}/baseline{name}", data)
    return time.perf_counter() - started


def bench_sink(work: Path) -> dict[str, float] | None:
    try:
        from tests.infra.s3_server import start
    except ImportError:
        return None
    server = start("s3proxy", work / "s3proxy")
    saved = dict(os.environ)
    try:
        os.environ.update(server.env())
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        server.create_bucket(bucket)
        with EmbeddedLog(work / "sink-log.db", fsync=False) as log:
            log.produce("bench.pin", _pins(SINK_RECORDS))
            local = Lake.at(work / "sink-local")
            local_s = _sink(log, local)
            log.commit("pinpipe-sink", {("bench.pin", 0): 0})
            remote = open_lake(load_settings(home=work, **{"lake.root": f"s3://{bucket}/lake"}))
            s3_s = _sink(log, remote)
        put_s = _put_alone(local, remote)
        progress(f"sink: local {local_s:.2f}s, s3 {s3_s:.2f}s, PUT alone {put_s:.2f}s")
        return {"local": local_s, "s3": s3_s, "put": put_s}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def _land_days(work: Path) -> Lake:
    """Ten days of ``ROWS_PER_DAY`` pins, geos and users each, with new inds every day."""
    source = generate()
    rows = sample_rows(len(source.pin), seed=7)
    lake = Lake.at(work / "days-lake")
    with EmbeddedLog(work / "days-log.db", fsync=False) as log:
        for d in range(DAYS):
            start, _ = day_bounds(FIRST_DAY + dt.timedelta(days=d))
            log.clock = lambda start=start: start + 43_200_000  # noon of the day
            docs = [payloads(source, next(rows)) for _ in range(ROWS_PER_DAY)]
            for i, (pin, geo, user) in enumerate(docs):
                ind = d * 1_000_000 + i  # new inds each day: the tables grow
                pin["index"], geo["ind"], user["ind"] = ind, ind, ind
            for t, table in enumerate(("pin", "geo", "user")):
                log.produce(f"bench.{table}", [ProduceRecord(orjson.dumps(x[t])) for x in docs])
        LakeSink(log, lake, SinkSettings(flush_size=10_000)).run(threading.Event(), once=True)
    return lake


def _days(lake: Lake, engine: Engine) -> dict[str, float]:
    times = []
    for d in range(DAYS):
        started = time.perf_counter()
        run_batch(lake, engine, day=FIRST_DAY + dt.timedelta(days=d), results=False)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    run_batch(lake, engine, results=False)
    return {"day1": times[0], "day10": times[-1], "full": time.perf_counter() - started}


def bench_days(work: Path) -> dict[str, dict[str, float]]:
    lake = _land_days(work)
    progress(f"landed {DAYS} days of {3 * ROWS_PER_DAY:,} records")
    out = {"duckdb": _days(lake, DuckDBEngine())}
    progress(f"duckdb: {out['duckdb']}")
    try:
        from pinpipe.engines.spark import SparkEngine

        spark_lake = Lake.at(work / "days-spark")
        Path(spark_lake.root).mkdir(parents=True)
        for folder in ("raw", "_index"):
            os.symlink(Path(lake.root) / folder, Path(spark_lake.root) / folder)
        spark = SparkEngine(SPARK)
        spark.to_arrow(spark.table(pa.table({"warm": [1]})))  # session start is not timed
        out["spark"] = _days(spark_lake, spark)
        progress(f"spark: {out['spark']}")
    except ImportError:
        pass
    return out


def report(sink: dict[str, float] | None, days: dict[str, dict[str, float]]) -> str:
    lines = ["## Lake: the sink to S3, and the daily batch as the tables grow", ""]
    if sink:
        rate = SINK_RECORDS / 1e3
        lines += [
            f"{SINK_RECORDS:,} sampled pins through the sink (10,000 per raw object) to a local",
            "lake and to an `s3://` lake on s3proxy (filesystem backend, loopback). Baseline:",
            "the same objects PUT to the same store with `pyarrow.fs` alone.",
            "",
            "| target | seconds | records/s | ÷ PUT alone |",
            "|---|---:|---:|---:|",
            f"| local disk (fsync) | {sink['local']:.2f} | {rate / sink['local']:,.0f}k | |",
            f"| S3 (s3proxy) | {sink['s3']:.2f} | {rate / sink['s3']:,.0f}k "
            f"| {sink['s3'] / sink['put']:.2f}× |",
            f"| PUT alone (baseline) | {sink['put']:.2f} | | 1.00× |",
            "",
        ]
    lines += [
        f"{DAYS} UTC days of {ROWS_PER_DAY:,} rows per table each, new inds every day, merged",
        "one day at a time (`batch --date`, results not refreshed); then one full rebuild of",
        f"all {DAYS} days. Each engine on its own copy of the lake; Spark's session is started",
        "before the clock starts.",
        "",
        "| engine | day 1 s | day 10 s | day 10 ÷ day 1 | full rebuild s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in days.items():
        lines.append(
            f"| {name} | {t['day1']:.2f} | {t['day10']:.2f} | {t['day10'] / t['day1']:.2f}× "
            f"| {t['full']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def run() -> str:
    """The markdown section, measured now."""
    with tempfile.TemporaryDirectory(prefix="pinpipe-bench-lake-") as tmp:
        work = Path(tmp)
        sink = bench_sink(work)
        days = bench_days(work)
        return report(sink, days)


if __name__ == "__main__":
    print(run())
