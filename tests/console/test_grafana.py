"""docs/grafana/pinpipe.json charts only metrics pinpipe exports, and every overview figure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pinpipe.console.metrics import PipelineCollector
from pinpipe.ingest.metrics import IngestMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "pinpipe.json"


class _Figures:
    def latest(self) -> dict[str, Any]:
        return {
            "log": {"partitions": [{"topic": "p.pin", "partition": 0, "end": 5, "sink_lag": 1,
                                    "stream_lag": 0}]},
            "freshness": {"p50_ms": 120.0, "p99_ms": 480.0},
            "tables": {z: {"tables": {"pin": 3}} for z in ("batch", "stream", "quarantine")},
            "batch": {"last_commit_at": 1.0, "watermark": {"pin": {"p.pin/0": 5}}},
            "stages": {"sink": {"state": "running", "restarts": 0}},
        }  # fmt: skip


def exported() -> set[str]:
    names = set()
    for family in PipelineCollector(_Figures()).collect():  # type: ignore[arg-type]
        names |= {s.name for s in family.samples}
    metrics = IngestMetrics()
    metrics.observe("/topics/{topic}", "POST", 200, "p.pin", 1, 10, 0.01)
    metrics.reject("invalid")
    for family in metrics.registry.collect():
        names |= {s.name for s in family.samples}
    return names


def test_dashboard_uses_only_exported_metrics_and_covers_the_overview() -> None:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(pinpipe_[a-z_]+)", e)}
    names = exported()
    assert used <= names, used - names
    overview = {
        "pinpipe_ingest_requests_total", "pinpipe_ingest_records_total",
        "pinpipe_ingest_rejections_total", "pinpipe_log_end_offset", "pinpipe_consumer_lag",
        "pinpipe_stream_freshness_seconds", "pinpipe_table_rows",
        "pinpipe_batch_last_commit_timestamp_seconds", "pinpipe_batch_watermark_offset",
        "pinpipe_stage_state",
    }  # fmt: skip
    assert overview <= used, overview - used
