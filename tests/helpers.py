"""Plain helpers shared by tests: start and run pinpipe, feed a log, read tables, lake lines."""

from __future__ import annotations

import datetime as dt
import errno
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from deltalake import DeltaTable
from starlette.testclient import TestClient

from pinpipe.emulator.generator import SourceTables
from pinpipe.emulator.sampler import payloads
from pinpipe.engines import Engine
from pinpipe.ingest import probe
from pinpipe.ingest.app import create_app
from pinpipe.ingest.server import serve
from pinpipe.lake import Lake
from pinpipe.lake.line import TableName, lake_line
from pinpipe.lake.raw_index import DAY_MS, day_bounds
from pinpipe.log.base import Log, LogRecord, ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import (
    IngestSettings,
    Settings,
    SinkSettings,
    StreamSettings,
    load_settings,
)
from pinpipe.sink.lake_sink import LakeSink
from pinpipe.transform.cleaning import Cleaned, clean


def pinpipe_command(*args: str) -> list[str]:
    """The argv of ``pinpipe ARGS`` run by this test's Python."""
    return [sys.executable, "-m", "pinpipe", *args]


def pinpipe_env(home: Path, **env: str) -> dict[str, str]:
    """This process's environment with ``PINPIPE_HOME=home`` and ``env`` on top."""
    return {**os.environ, "PINPIPE_HOME": str(home), **env}


def run_pinpipe(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``pinpipe ARGS`` in a child process with ``PINPIPE_HOME=home``; output captured."""
    return subprocess.run(
        pinpipe_command(*args), env=pinpipe_env(home, **env), capture_output=True, text=True
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Block until ``url/healthz`` answers; fail at once if ``proc`` exits first."""
    probe.wait_healthy(url, timeout_s=timeout_s, proc=proc)


def produce_rows(log_: Log, source: SourceTables, rows: list[int], prefix: str = "pinpipe") -> int:
    """Post rows' pin/geo/user to ``<prefix>.pin|geo|user``; returns records produced."""
    batches: dict[str, list[ProduceRecord]] = {"pin": [], "geo": [], "user": []}
    for row in rows:
        for table, doc in zip(("pin", "geo", "user"), payloads(source, row), strict=True):
            batches[table].append(ProduceRecord(orjson.dumps(doc)))
    for table, records in batches.items():
        log_.produce(f"{prefix}.{table}", records)
    return 3 * len(rows)


class SmallDisk:
    """A small real filesystem (tmpfs) at ``path``, filled on demand with a ballast file.

    ``fill(leave)`` writes ballast until ``leave`` bytes are free (0: until the disk refuses
    more), so a test reaches "disk full" after a known, small amount of writing; ``free()``
    deletes the ballast, which is what an operator freeing space does.
    """

    CHUNK = 64 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ballast = path / "ballast.bin"

    def free_bytes(self) -> int:
        return os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize

    def fill(self, leave: int = 0) -> None:
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while (room := self.free_bytes() - leave) > 0:
                try:
                    os.write(fd, b"\0" * min(self.CHUNK, room))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        finally:
            os.close(fd)

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)


@contextmanager
def small_disk(path: Path, size: str = "32m") -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` mounted at ``path`` (made if missing) and unmounted afterwards.

    Needs root (CI and the dev container run as root); anything else fails loudly, as a full
    disk is a promise the suite must prove rather than skip.
    """
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        raise AssertionError("a small filesystem needs root: run the suite as root (CI does)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield SmallDisk(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)  # a child still had it open


def delta_rows(uri: str) -> list[dict[str, Any]]:
    """Every row of the Delta table at ``uri``."""
    return DeltaTable(uri).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def stream_positions(lake: Lake, table: TableName) -> list[tuple[str, int, int]]:
    """Sorted ``(topic, partition, offset)`` of every row of a stream table (none yet: [])."""
    uri = lake.table("stream", table)
    if not DeltaTable.is_deltatable(uri):
        return []
    t = DeltaTable(uri).to_pyarrow_table(columns=["_topic", "_partition", "_offset"])
    return sorted(
        zip(
            t["_topic"].to_pylist(),
            t["_partition"].to_pylist(),
            t["_offset"].to_pylist(),
            strict=True,
        )
    )


def line(
    value: Any,
    *,
    topic: str = "abc.pin",
    partition: int = 0,
    offset: int = 0,
    timestamp: int = 1_700_000_000_000,
) -> bytes:
    """The lake line of one record whose value is ``value`` (JSON-encoded unless bytes)."""
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return lake_line(LogRecord(topic, partition, offset, timestamp, None, raw))


def cleaned(engine: Engine, table: TableName, values: list[Any]) -> Cleaned:
    """Clean ``values`` sent one by one to ``abc.<table>`` at offsets 0, 1, ..."""
    lines = [line(v, topic=f"abc.{table}", offset=i) for i, v in enumerate(values)]
    return clean(table, engine.raw_from_lines(table, lines))


def rows(engine: Engine, expr: Any) -> list[dict[str, Any]]:
    """The rows of ``expr`` as dicts."""
    return list(engine.to_arrow(expr).to_pylist())


DAYS = [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]


def log_at(log: EmbeddedLog, day: dt.date, hour: int) -> None:
    """Stamp the log's next records with ``hour`` o'clock UTC of ``day``."""
    start, _ = day_bounds(day)
    log.clock = lambda: start + hour * 3_600_000


def land_three_days(log: EmbeddedLog, lake: Lake, source: SourceTables) -> None:
    """Records of three UTC days (new inds, newer versions, a reject) sunk to the raw zone."""
    log_at(log, DAYS[0], 9)
    produce_rows(log, source, list(range(60)))
    log_at(log, DAYS[1], 23)  # late in the day: a file started now must not run into the next
    produce_rows(log, source, list(range(40, 100)))
    log.produce("pinpipe.geo", [ProduceRecord(b'{"ind": 5, "latitude": "north"}')])
    log_at(log, DAYS[2], 0)
    produce_rows(log, source, list(range(10)))
    pin, _, _ = payloads(source, 3)
    log.produce("pinpipe.pin", [ProduceRecord(orjson.dumps({**pin, "title": "Day three"}))])
    settings = SinkSettings(flush_size=25, rotate_interval_ms=DAY_MS)
    LakeSink(log, lake, settings).run(threading.Event(), once=True)


Running = tuple[str, EmbeddedLog]
"""A running ingest server: its base URL and the log it appends to."""


def app_client(log: Log, **settings: Any) -> TestClient:
    """An in-process client of the ingest app over ``log`` with ``IngestSettings(**settings)``."""
    return TestClient(create_app(log, IngestSettings(**settings)), raise_server_exceptions=False)


@contextmanager
def running_server(home: Path, **ingest: Any) -> Iterator[Running]:
    """A real ingest server on a free loopback port, run in a thread like ``pinpipe up`` does.

    Any topic name may be written (``topics.pattern = ".*"``: tests name topics freely);
    tests of the topic policy build their app with it.
    """
    overrides = {f"ingest.{k}": v for k, v in ingest.items()}
    base = {"ingest.port": 0, "log.fsync": True, "topics.pattern": ".*"}
    settings = load_settings(home=home, **{**base, **overrides})
    log = EmbeddedLog(settings.log_path, fsync=True)
    try:
        with serving(settings, log) as url:
            yield url, log
    finally:
        log.close()


@contextmanager
def serving(settings: Settings, log: Log) -> Iterator[str]:
    """The ingest server of ``settings`` over ``log`` in a thread; yields its base URL."""
    ready, stop = threading.Event(), threading.Event()
    bound: list[int] = []
    thread = threading.Thread(
        target=serve,
        args=(settings,),
        kwargs={"log": log, "ready": ready, "stop": stop, "on_bound": lambda h, p: bound.append(p)},
        daemon=True,
    )
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield f"http://127.0.0.1:{bound[0]}"
    finally:
        stop.set()
        thread.join(40)
        assert not thread.is_alive()


def stream_once(log: Log, lake: Lake, engine: Engine, **stream: Any) -> None:
    """The micro-batch stream job until it has written what the log holds."""
    from pinpipe.engines.microbatch import MicroBatchStream

    MicroBatchStream(log, lake, engine, StreamSettings(**stream)).run(threading.Event(), once=True)


def merged_answers(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    """The nine analytics over the merged view, read with the interactive engine."""
    from pinpipe.engines import interactive_engine
    from pinpipe.serve.query import run_queries
    from pinpipe.transform.queries import QUERIES

    reader = interactive_engine()
    try:
        return {n: t.to_pylist() for n, t in run_queries(lake, reader, list(QUERIES)).items()}
    finally:
        reader.close()
