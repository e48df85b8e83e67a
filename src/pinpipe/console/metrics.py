"""Every overview figure that the ingest counters do not already carry, for ``/metrics``.

Requests, records and rejections are the ingest app's own counters (Prometheus computes their
rates); this collector adds the rest from the console's latest sample: log end offsets and the
lag of the sink and stream groups, stream freshness, rows per table, the last batch commit and
its watermark, and each stage's state. ``docs/grafana/pinpipe.json`` charts all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pinpipe.console.figures import Figures
from pinpipe.console.status import StageState

STATES: tuple[StageState, ...] = get_args(StageState)


class PipelineCollector(Collector):
    """Reads ``figures.latest()``: a scrape never reads the lake on the server's loop."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def describe(self) -> list[Metric]:
        return []  # registering must not take a sample

    def collect(self) -> Iterator[Metric]:
        snap = self.figures.latest()
        end = GaugeMetricFamily(
            "pinpipe_log_end_offset",
            "Next offset of each log partition",
            labels=["topic", "partition"],
        )
        lag = GaugeMetricFamily(
            "pinpipe_consumer_lag",
            "Records of a partition the sink or stream job has not committed",
            labels=["consumer", "topic", "partition"],
        )
        for row in snap["log"]["partitions"]:
            labels = [row["topic"], str(row["partition"])]
            end.add_metric(labels, row["end"])
            lag.add_metric(["sink", *labels], row["sink_lag"])
            lag.add_metric(["stream", *labels], row["stream_lag"])
        yield end
        yield lag
        fresh = GaugeMetricFamily(
            "pinpipe_stream_freshness_seconds",
            "Ack → row visible in the stream tables over the last minute",
            labels=["quantile"],
        )
        for q, key in (("0.5", "p50_ms"), ("0.99", "p99_ms")):
            value = snap["freshness"][key]
            if value is not None:
                fresh.add_metric([q], value / 1000)
        yield fresh
        rows = GaugeMetricFamily(
            "pinpipe_table_rows", "Rows per Delta table", labels=["zone", "table"]
        )
        for zone in ("batch", "stream", "quarantine"):
            for table, n in snap["tables"][zone]["tables"].items():
                rows.add_metric([zone, table], n)
        yield rows
        batch = snap["batch"]
        last = GaugeMetricFamily(
            "pinpipe_batch_last_commit_timestamp_seconds", "Time of the last batch commit"
        )
        if batch["last_commit_at"] is not None:
            last.add_metric([], batch["last_commit_at"])
        yield last
        mark = GaugeMetricFamily(
            "pinpipe_batch_watermark_offset",
            "Batch watermark: next offset per partition the batch tables cover",
            labels=["table", "topic", "partition"],
        )
        for table, positions in batch["watermark"].items():
            for where, offset in positions.items():
                topic, _, partition = where.rpartition("/")
                mark.add_metric([table, topic, partition], offset)
        yield mark
        stage = GaugeMetricFamily(
            "pinpipe_stage_state", "1 for the state each stage is in", labels=["stage", "state"]
        )
        restarts = GaugeMetricFamily(
            "pinpipe_stage_restarts", "Restarts of each stage", labels=["stage"]
        )
        for name, health in snap["stages"].items():
            for state in STATES:
                stage.add_metric([name, state], 1.0 if health["state"] == state else 0.0)
            restarts.add_metric([name], health["restarts"])
        yield stage
        yield restarts
        cost = snap.get("console", {})
        yield GaugeMetricFamily(
            "pinpipe_console_sample_cpu_seconds",
            "CPU time the console has spent sampling these figures (what watching costs)",
            value=cost.get("cpu_seconds", 0.0),
        )
        yield GaugeMetricFamily(
            "pinpipe_console_samples", "Snapshots the console took", value=cost.get("samples", 0)
        )
