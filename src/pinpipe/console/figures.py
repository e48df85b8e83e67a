"""The overview's figures, sampled in one background thread and shared by every viewer.

One sampler serves every open page, the SSE streams and ``/metrics``, so an open console costs
ingest one sample per ``console.refresh_ms`` whatever the number of viewers; and it samples
only while someone looked in the last ``IDLE_AFTER_S`` (a page, a stream or a scrape).
Rates (requests/s, records/s) are differences between two samples of the ingest counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from pinpipe.alerts.state import AlertState
from pinpipe.console.status import PipelineStatus, public_message
from pinpipe.engines import StreamStats
from pinpipe.ingest.metrics import IngestMetrics
from pinpipe.lake.delta import TableStore, decode_watermark
from pinpipe.lake.feeds import all_partitions
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES
from pinpipe.lake.quarantine import STAGES
from pinpipe.log import open_log
from pinpipe.log.base import Log
from pinpipe.settings import Settings
from pinpipe.sink.lake_sink import SINK_GROUP

logger = logging.getLogger(__name__)

IDLE_AFTER_S = 15.0
HISTORY = 300
"""Samples kept for the overview's time series (5 minutes at one per second)."""

DOOR_NAMES = {
    "kafka": "Kafka REST v2",
    "kafka3": "Kafka REST v3",
    "kinesis": "Kinesis (API Gateway)",
    "aws": "Kinesis (native)",
}


@dataclass
class IngestSource:
    """The live ingest app's metrics, and which door each route belongs to."""

    metrics: IngestMetrics
    doors: Mapping[str, str]
    """Route template → door (``kafka``, ``kafka3``, ``kinesis``, ``aws``, ``plain``)."""


@dataclass
class Sources:
    """What the figures read; in ``pinpipe console`` only the lake (and the log if there)."""

    ingest: IngestSource | None = None
    stream_stats: Callable[[], StreamStats] | None = None
    status: PipelineStatus | None = None
    stream_group: str = "pinpipe-stream"


@dataclass
class _Counters:
    at: float
    requests: dict[str, float] = field(default_factory=dict)
    records: dict[str, float] = field(default_factory=dict)
    topics: dict[str, float] = field(default_factory=dict)


class Figures:
    """Samples the overview; ``latest()`` is what pages, streams and ``/metrics`` read."""

    def __init__(self, settings: Settings, lake: Lake, store: TableStore, sources: Sources) -> None:
        self.settings = settings
        self.lake = lake
        self.store = store
        self._alerts_version = -2
        self._firing: list[dict[str, Any]] = []
        self.sources = sources
        self.interval = settings.console.refresh_ms / 1000
        self._lock = threading.Lock()
        self._latest: dict[str, Any] = {}
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._previous: _Counters | None = None
        self._wanted = 0.0
        self._wake = threading.Event()
        self._log: Log | None = None
        self._tables: dict[str, DeltaTable] = {}
        self._rows: dict[str, tuple[int, int]] = {}
        self._versions: dict[str, int] = {}
        self._batches: dict[str, tuple[int, tuple[float, dict[str, int]] | None]] = {}
        self.samples = 0
        self.cpu_seconds = 0.0
        """CPU time spent sampling (what watching costs the server), for /metrics."""

    # -- reading -----------------------------------------------------------------------------

    def latest(self) -> dict[str, Any]:
        """The newest sample (taken now if there is none yet); wakes the sampler."""
        self._wanted = time.monotonic()
        self._wake.set()
        with self._lock:
            if self._latest:
                return self._latest
        return self.sample()

    def touch(self) -> None:
        """Someone is watching: keep sampling (cheap; a stream calls it often)."""
        self._wanted = time.monotonic()
        if not self._wake.is_set():
            self._wake.set()

    @property
    def latest_at(self) -> float:
        """When the newest sample was taken (0 before the first); no lock, no sampling."""
        return float(self._latest.get("at", 0.0))

    def peek(self) -> dict[str, Any]:
        """The newest sample as it is (possibly empty), without sampling."""
        with self._lock:
            return self._latest

    def history(self) -> list[dict[str, Any]]:
        """Recent ``{t, requests_per_s, records_per_s}`` points for the time-series charts."""
        with self._lock:
            return list(self._history)

    # -- sampling ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sample every ``interval`` while someone watches; idle otherwise. Blocks."""
        try:
            while not stop.is_set():
                if time.monotonic() - self._wanted < IDLE_AFTER_S:
                    try:
                        self.sample()
                    except Exception as exc:  # a figure failing must not stop the console
                        logger.warning("console sample failed: %s", exc)
                    stop.wait(self.interval)
                else:
                    self._wake.wait(1.0)
                    self._wake.clear()
        finally:
            if self._log is not None:
                self._log.close()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(stop,), name="console-figures", daemon=True
        )
        thread.start()
        return thread

    def sample(self) -> dict[str, Any]:
        started = time.thread_time()
        now = time.time()
        snapshot: dict[str, Any] = {"at": now}
        snapshot["ingest"] = self._ingest(now)
        snapshot["log"] = self._log_offsets()
        snapshot["freshness"] = self._freshness(now)
        snapshot["tables"] = self._table_rows()
        snapshot["batch"] = self._batch()
        snapshot["alerts"] = self._alerts()
        status = self.sources.status
        snapshot["stages"] = status.snapshot()["stages"] if status else {}
        point = {
            "t": now,
            "requests_per_s": snapshot["ingest"]["requests_per_s"],
            "records_per_s": snapshot["ingest"]["records_per_s"],
            "stream_rows": snapshot["tables"]["stream"]["total"],
        }
        with self._lock:
            self.samples += 1
            self.cpu_seconds += time.thread_time() - started
            snapshot["console"] = {"samples": self.samples, "cpu_seconds": self.cpu_seconds}
            self._latest = snapshot
            self._history.append(point)
        return snapshot

    def _ingest(self, now: float) -> dict[str, Any]:
        empty: dict[str, Any] = {
            "live": False,
            "doors": [],
            "topics": [],
            "acks": 0,
            "rejections": {},
            "requests_per_s": 0.0,
            "records_per_s": 0.0,
        }
        source = self.sources.ingest
        if source is None:
            return empty
        counters = _Counters(now)
        acks = 0.0
        for metric in source.metrics.requests.collect():
            for s in metric.samples:
                if not s.name.endswith("_total"):
                    continue
                door = source.doors.get(s.labels["route"], "plain")
                if door == "plain":
                    continue
                counters.requests[door] = counters.requests.get(door, 0.0) + s.value
                if s.labels["status"].startswith("2"):
                    acks += s.value
        for metric in source.metrics.records.collect():
            for s in metric.samples:
                if not s.name.endswith("_total"):
                    continue
                door = source.doors.get(s.labels["route"], "plain")
                topic = s.labels["topic"]
                if door == "plain" or not topic:
                    continue
                counters.records[door] = counters.records.get(door, 0.0) + s.value
                counters.topics[topic] = counters.topics.get(topic, 0.0) + s.value
        rejections: dict[str, float] = {}
        for metric in source.metrics.rejections.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    rejections[s.labels["reason"]] = s.value
        previous, self._previous = self._previous, counters
        span = (now - previous.at) if previous else 0.0

        def rate(kind: str, key: str) -> float:
            if previous is None or span <= 0:
                return 0.0
            before = getattr(previous, kind).get(key, 0.0)
            return max(0.0, (getattr(counters, kind).get(key, 0.0) - before) / span)

        doors = [
            {
                "door": door,
                "name": DOOR_NAMES.get(door, door),
                "requests": int(counters.requests.get(door, 0)),
                "records": int(counters.records.get(door, 0)),
                "requests_per_s": round(rate("requests", door), 2),
                "records_per_s": round(rate("records", door), 2),
            }
            for door in sorted(set(counters.requests) | set(counters.records))
        ]
        topics = [
            {"topic": t, "records": int(n), "records_per_s": round(rate("topics", t), 2)}
            for t, n in sorted(counters.topics.items())
        ]
        return {
            "live": True,
            "doors": doors,
            "topics": topics,
            "acks": int(acks),
            "rejections": {k: int(v) for k, v in sorted(rejections.items())},
            "requests_per_s": round(sum(rate("requests", d) for d in counters.requests), 2),
            "records_per_s": round(sum(rate("records", d) for d in counters.records), 2),
        }

    def _open_log(self) -> Log | None:
        if self._log is None:
            cfg = self.settings
            if cfg.log.backend == "embedded" and not cfg.log_path.exists():
                return None  # a lake without its log (``pinpipe console`` elsewhere)
            self._log = open_log(cfg)
        return self._log

    def _log_offsets(self) -> dict[str, Any]:
        try:
            log = self._open_log()
            if log is None:
                return {"available": False, "partitions": [], "error": None}
            rows = []
            for topic, p in all_partitions(log):
                end = log.end_offset(topic, p)
                sink = log.committed(SINK_GROUP, topic, p)
                stream = log.committed(self.sources.stream_group, topic, p)
                rows.append(
                    {
                        "topic": topic,
                        "partition": p,
                        "end": end,
                        "sink_lag": end - (sink or 0),
                        "stream_lag": end - (stream or 0),
                    }
                )
            return {"available": True, "partitions": rows, "error": None}
        except Exception as exc:
            return {"available": False, "partitions": [], "error": public_message(exc)}

    def _freshness(self, now: float) -> dict[str, Any]:
        stats = self.sources.stream_stats() if self.sources.stream_stats else None
        if stats is None:
            return {"live": False, "rows": 0, "p50_ms": None, "p99_ms": None}
        window = stats.freshness(now * 1000)
        if not window:
            return {"live": True, "rows": 0, "p50_ms": None, "p99_ms": None}
        return {
            "live": True,
            "rows": len(window),
            "p50_ms": round(_quantile(window, 0.5), 1),
            "p99_ms": round(_quantile(window, 0.99), 1),
        }

    def _table(self, uri: str) -> DeltaTable | None:
        table = self._tables.get(uri)
        if table is None:
            table = self.store.open(uri)
            if table is None:
                return None
            self._tables[uri] = table
        else:
            table.update_incremental()
        return table

    def _count(self, uri: str) -> int:
        table = self._table(uri)
        if table is None:
            self._versions[uri] = -1
            return 0
        version = table.version()
        self._versions[uri] = version
        cached = self._rows.get(uri)
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = _row_count(table)
        self._rows[uri] = (version, rows)
        return rows

    def _table_rows(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for zone in ("batch", "stream"):
            counts = {t: self._count(self.lake.table(zone, t)) for t in TABLES}
            found[zone] = {"tables": counts, "total": sum(counts.values())}
        quarantine = {
            t: sum(self._count(self.lake.quarantine(t, stage)) for stage in STAGES) for t in TABLES
        }
        found["quarantine"] = {"tables": quarantine, "total": sum(quarantine.values())}
        # changes with every commit to a table the analytics read: their pages then refetch
        found["version"] = "-".join(
            str(self._versions.get(self.lake.table(zone, t), -1))
            for zone in ("batch", "stream")
            for t in TABLES
        )
        return found

    def _alerts(self) -> dict[str, Any]:
        """Firing alert episodes (``tables/alerts/firing``), re-read only after a commit."""
        uri = self.lake.alerts("firing")
        table = self._table(uri)
        version = -1 if table is None else table.version()
        if version != self._alerts_version:
            self._alerts_version = version
            try:
                episodes = AlertState(self.lake, self.store).load() if table is not None else {}
            except Exception as exc:  # logged; the sampler never stops for it
                logger.warning("could not read the alert state: %s", exc)
                episodes = {}
            self._firing = [
                {
                    "rule": e.rule,
                    "key": e.key,
                    "since": e.episode_start / 1000,
                    "value": e.value,
                    "message": e.message,
                    "delivery": e.delivery,
                }
                for e in sorted(episodes.values(), key=lambda e: (e.rule, e.key))
                if e.state == "firing"
            ]
        return {"firing": list(self._firing)}

    def _batch(self) -> dict[str, Any]:
        """The last batch commit (time, watermark per partition), from the batch tables."""
        last: float | None = None
        watermark: dict[str, dict[str, int]] = {}
        for t in TABLES:
            uri = self.lake.table("batch", t)
            table = self._table(uri)
            if table is None:
                continue
            version = table.version()
            cached = self._batches.get(uri)
            if cached is None or cached[0] != version:  # history is read once per commit
                cached = (version, _last_batch_commit(table))
                self._batches[uri] = cached
            found = cached[1]
            if found is not None:
                at, positions = found
                last = at if last is None else max(last, at)
                watermark[t] = positions
        status = self.sources.status
        run = status.snapshot()["batch"] if status else None
        return {"last_commit_at": last, "watermark": watermark, "run": run}


def _row_count(table: DeltaTable) -> int:
    """Rows of the current version from the log's per-file statistics (no data file is
    opened: a stream table has a file per micro-batch); Parquet footers when stats lack."""
    counts = pa.chunked_array(table.get_add_actions(flatten=True).column("num_records"))
    if counts.null_count == 0:
        return int(pc.sum(counts).as_py() or 0)
    return int(table.to_pyarrow_dataset().count_rows())


def _last_batch_commit(table: DeltaTable) -> tuple[float, dict[str, int]] | None:
    """Time and watermark of the newest commit that recorded a batch run, if any."""
    for entry in table.history(limit=20):
        positions = decode_watermark(entry.get("userMetadata"))
        if positions is not None:
            at = float(entry.get("timestamp", 0)) / 1000
            return at, {f"{topic}/{p}": end for (topic, p), end in positions.items()}
    return None


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
