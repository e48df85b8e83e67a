"""``pinpipe demo``: the whole Lambda architecture on fresh data, in about a minute.

Starts ``up`` in-process under ``<home>/demo`` (recreated each run), posts sampled rows through
both doors, waits until the stream job has every record, stops (the sink drains into the raw
zone), runs the batch job and returns every analytic over the merged view for the caller to
show. Progress goes to ``say`` line by line.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from pinpipe.emulator.runner import emulate, summary
from pinpipe.engines import get_engine, interactive_engine
from pinpipe.errors import JobError
from pinpipe.jobs.batch import run_batch
from pinpipe.lake.feeds import logged_records
from pinpipe.lake.layout import open_lake
from pinpipe.log import open_log
from pinpipe.runtime.supervisor import Supervisor
from pinpipe.serve.query import run_queries
from pinpipe.settings import Settings, load_settings
from pinpipe.transform.queries import QUERIES

LAND_TIMEOUT_S = 120


@dataclass
class DemoResult:
    exit_code: int
    results: dict[str, pa.Table] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DEMO_POSTERS = 8
"""Posters at once: each waits for its fsync'd acknowledgement, so one alone leaves the server
mostly idle (6,000 records took ~22 s; with 8, a few seconds)."""


def demo_settings(base: Settings, port: int | None) -> Settings:
    home = base.resolve("demo")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    port = port or free_port()
    overrides: dict[str, object] = {
        "ingest.host": "127.0.0.1",
        "ingest.port": port,
        "emulator.url": f"http://127.0.0.1:{port}",
        "batch.every_minutes": 0,
        "emulator.concurrency": max(DEMO_POSTERS, base.emulator.concurrency),
        "console.enabled": False,  # nobody watches the demo's random port; `pinpipe up` has it
    }
    if base.log.backend == "kafka":
        # Kafka topics outlive the recreated home: fresh topic names keep each run apart.
        # The filter keeps other pinpipes' topics on the same cluster out of the demo.
        prefix = f"demo{time.time_ns() // 1_000_000}"
        overrides["emulator.prefix"] = prefix
        overrides["topics.pattern"] = rf"^({prefix}\.|streaming-{prefix}-)"
    return load_settings(home=home, **overrides)


def wait_until_streamed(cfg: Settings, supervisor: Supervisor, expected: int) -> None:
    """Block until the stream job has consumed every record the log holds."""
    deadline = time.monotonic() + LAND_TIMEOUT_S
    with open_log(cfg) as log_:
        while time.monotonic() < deadline:
            total = logged_records(log_)
            if total >= expected and supervisor.stream.stats.records >= total:
                return
            time.sleep(0.2)
    raise JobError(f"records did not land within {LAND_TIMEOUT_S}s")


def run_demo(
    base: Settings, *, rows: int, port: int | None, say: Callable[[str], None]
) -> DemoResult:
    cfg = demo_settings(base, port)
    say(f"[bold]pinpipe demo[/bold] in {cfg.home}")
    supervisor = Supervisor(cfg)
    runner = threading.Thread(target=supervisor.run, name="up", daemon=True)
    runner.start()
    if not supervisor.ready.wait(30) or supervisor.errors:
        supervisor.stop.set()
        raise JobError("the ingest API did not start; see the log above")
    started = time.perf_counter()
    stats = emulate(cfg, mode="both", count=rows, rate=None, db=None, api_key=None)
    say(f"posted: {summary(stats)} in {time.perf_counter() - started:.1f}s")
    wait_until_streamed(cfg, supervisor, stats.total_acknowledged)
    s = supervisor.stream.stats
    say(f"stream job: {s.records:,} records → {s.rows:,} rows, {s.rejects:,} quarantined")
    supervisor.stop.set()
    runner.join()
    say(
        f"sink: {supervisor.sink.records_written:,} records in "
        f"{supervisor.sink.files_written:,} raw files"
    )
    lake = open_lake(cfg)
    report = run_batch(lake, get_engine(settings=cfg))
    say(
        f"batch: {report.total_raw:,} raw records → "
        + ", ".join(f"{t} {n:,}" for t, n in report.rows.items())
        + f" rows in {report.clean_seconds + report.query_seconds:.2f}s\n"
    )
    results = run_queries(lake, interactive_engine(), list(QUERIES), "merged")
    return DemoResult(1 if supervisor.errors or stats.failed else 0, results)


def watch_live(base: Settings) -> list[str]:
    """How to watch the same pipeline live in the console (the demo's last words)."""
    where = f"http://{base.ingest.host}:{base.ingest.port}"
    return [
        "[bold]Watch it live[/bold]: run [bold]pinpipe up[/bold], post rows with "
        "[bold]pinpipe emulate --rate 5[/bold] in another shell, and open "
        f"[bold]{where}/ui/[/bold] (overview, the analytics as charts, Explore, SQL, quarantine).",
    ]
