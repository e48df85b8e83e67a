"""Rules and window checks over what the real stream job writes (not crafted tables)."""

from __future__ import annotations

import orjson

from pinpipe.alerts import evaluate_rule
from pinpipe.engines import interactive_engine
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.quality import evaluate_window
from pinpipe.settings import AlertRule, CheckSettings
from tests.helpers import stream_once
from tests.quality.crafted import MINUTE, T0


def test_rules_and_checks_read_the_stream_jobs_tables(log: EmbeddedLog, lake: Lake) -> None:
    engine = interactive_engine()
    for minute, categories in enumerate([["art"], ["art"], ["art", "art", "art", "art", None]]):
        log.clock = lambda m=minute: T0 + m * MINUTE + 1_000
        docs = [{"index": i, "title": "t", "category": c} for i, c in enumerate(categories)]
        log.produce("pinpipe.pin", [ProduceRecord(orjson.dumps(d)) for d in docs])
    log.clock = lambda: T0 + 2 * MINUTE + 2_000
    log.produce("pinpipe.pin", [ProduceRecord(b"not json")])
    stream_once(log, lake, engine)

    trending = AlertRule(name="t", kind="baseline", aggregate="posts_by_category", value="posts",
                         by="category", factor=3, minutes=2, min_baseline=1)  # fmt: skip
    found = {c.key: c for c in evaluate_rule(trending, lake, engine, T0 + 3 * MINUTE)}
    assert found["art"].firing and found["art"].value == 4.0
    rate = AlertRule(name="q", kind="threshold", aggregate="rejects_by_reason", value="rejects",
                     ratio_to="records_by_topic.records", threshold=0.1, minutes=3)  # fmt: skip
    (quarantine,) = evaluate_rule(rate, lake, engine, T0 + 3 * MINUTE)
    assert quarantine.firing and quarantine.value == 1 / 8

    checks = [
        CheckSettings(name="nulls", kind="null_rate", table="pin", column="category"),
        CheckSettings(name="rejects", kind="quarantine_rate", table="pin", max_share=0.1),
        CheckSettings(name="volume", kind="volume", table="pin", baseline=2, min_baseline=1),
    ]
    results = evaluate_window(lake, engine, checks, T0 + 2 * MINUTE, T0 + 3 * MINUTE)
    assert [(r.check.name, r.status, r.observed) for r in results] == [
        ("nulls", "warn", 0.2),
        ("rejects", "warn", 1 / 6),
        ("volume", "warn", 6.0),
    ]
