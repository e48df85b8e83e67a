"""The same checks and rules give the same verdicts on Spark as on the embedded engine."""

from __future__ import annotations

import threading
from typing import Any

import orjson

from pinpipe.alerts import evaluate_rule
from pinpipe.engines import Engine, interactive_engine
from pinpipe.engines.spark import SparkEngine
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.quality import evaluate_clock, evaluate_run, evaluate_window
from pinpipe.settings import AlertRule, CheckSettings, SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import DAYS, delta_rows, log_at
from tests.quality.crafted import MINUTE, T0, cleaned_rows, rejects, window, write, write_realtime

CHECKS = (
    CheckSettings(name="nulls", kind="null_rate", table="pin", column="category", max_share=0.2),
    CheckSettings(name="values", kind="accepted_values", table="pin", column="category",
                  values=("art", "travel")),
    CheckSettings(name="ages", kind="range", table="pin", column="age", min=0, max=120),
    CheckSettings(name="urls", kind="format", table="pin", column="image_src",
                  pattern=r"https?://\S+"),
    CheckSettings(name="rejects", kind="quarantine_rate", table="pin", max_share=0.1),
    CheckSettings(name="volume", kind="volume", table="pin", baseline=2, min_baseline=1),
    CheckSettings(name="unique", kind="unique", table="pin", severity="block"),
    CheckSettings(name="drift", kind="schema_drift", table="geo"),
    CheckSettings(name="fresh", kind="freshness", table="pin", minutes=1),
)  # fmt: skip


def _verdicts(results: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.check.name, r.key, r.status, r.observed, r.message, r.examples) for r in results]


def test_checks_and_rules_agree_on_both_engines(
    lake: Lake, log: EmbeddedLog, spark_engine: SparkEngine
) -> None:
    values = {
        "category": ["art", None, "mystery", "travel"],
        "age": [20, 150, None, 30],
        "image_src": ["https://a/1", "nope", None, "http://b/2"],
    }
    for zone in ("stream", "batch"):
        write(lake.table(zone, "pin"), cleaned_rows(4, **values))
    write(lake.table("batch", "pin"), cleaned_rows(1, **{k: v[:1] for k, v in values.items()}))
    write(lake.table("stream", "pin"), cleaned_rows(2, at=T0 - MINUTE, **values))
    write(lake.quarantine("pin", "stream"), rejects(1))
    log_at(log, DAYS[1], 12)
    log.produce("pinpipe.geo", [ProduceRecord(orjson.dumps({"ind": 1, "extra": True}))])
    LakeSink(log, lake, SinkSettings()).run(threading.Event(), once=True)
    posts = [window(T0, category="art", posts=3), window(T0, category=None, posts=1)]
    write_realtime(lake.realtime("posts_by_category"), "posts_by_category", posts)
    rule = AlertRule(name="posts", kind="threshold", aggregate="posts_by_category",
                     value="posts", by="category", threshold=2, minutes=5)  # fmt: skip

    def judge(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
        return {
            "window": _verdicts(
                evaluate_window(lake, engine, CHECKS, T0, T0 + MINUTE, record=False)
            ),
            "run": _verdicts(evaluate_run(lake, engine, CHECKS, DAYS[1], record=False)),
            "clock": _verdicts(evaluate_clock(lake, engine, CHECKS, T0 + 5 * MINUTE, record=False)),
            "rule": [
                (c.key, c.firing, c.value) for c in evaluate_rule(rule, lake, engine, T0 + MINUTE)
            ],
        }

    embedded = judge(interactive_engine())
    assert judge(spark_engine) == embedded
    assert {v[0]: v[2] for v in embedded["window"]} == {
        "nulls": "warn", "values": "warn", "ages": "warn", "urls": "warn", "rejects": "warn",
        "volume": "warn", "drift": "warn",
    }  # fmt: skip
    assert {v[0]: v[2] for v in embedded["run"]}["unique"] == "fail"
    assert [v[2] for v in embedded["clock"]] == ["warn"]
    assert embedded["rule"] == [("NULL", False, 1.0), ("art", True, 3.0)]
    evaluate_window(lake, spark_engine, CHECKS, T0, T0 + MINUTE)  # recorded by Spark's store
    assert len(delta_rows(lake.quality_results)) == 7
