"""Each kind of alert rule on crafted real-time aggregates and quality results."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pinpipe.alerts import evaluate_rule
from pinpipe.engines import Engine, interactive_engine
from pinpipe.lake import Lake
from pinpipe.quality import evaluate_window
from pinpipe.settings import AlertRule, CheckSettings
from tests.quality.crafted import MINUTE, T0, cleaned_rows, window, write, write_realtime

NOW = T0 + 10 * MINUTE


@pytest.fixture
def engine() -> Engine:
    return interactive_engine()


def rule(**fields: Any) -> AlertRule:
    return AlertRule(**{"name": "r", **fields})


QUARANTINE_RATE = rule(
    kind="threshold", aggregate="rejects_by_reason", value="rejects",
    ratio_to="records_by_topic.records", threshold=0.05, minutes=5,
)  # fmt: skip


def _records_and_rejects(lake: Lake, rejects: int) -> None:
    minutes = [NOW - i * MINUTE for i in range(1, 6)]
    records = [window(m, topic="pinpipe.pin", records=20) for m in minutes]
    write_realtime(lake.realtime("records_by_topic"), "records_by_topic", records)
    bad = [window(minutes[0], table="pin", reason="missing ind", rejects=rejects)]
    write_realtime(lake.realtime("rejects_by_reason"), "rejects_by_reason", bad)


def test_quarantine_rate_above_5_percent_over_5_minutes(lake: Lake, engine: Engine) -> None:
    assert evaluate_rule(QUARANTINE_RATE, lake, engine, NOW) == []  # no aggregates yet
    _records_and_rejects(lake, 6)  # 6 of 100 records in the last 5 minutes
    (fires,) = evaluate_rule(QUARANTINE_RATE, lake, engine, NOW)
    assert fires.firing and fires.value == pytest.approx(0.06)
    assert "rejects/records_by_topic.records over the last 5 min: 0.06" in fires.message
    (later,) = evaluate_rule(QUARANTINE_RATE, lake, engine, NOW + 2 * MINUTE)  # 6 of 60
    assert later.firing
    (calm,) = evaluate_rule(
        QUARANTINE_RATE.model_copy(update={"threshold": 0.1}), lake, engine, NOW
    )
    assert not calm.firing


def test_no_pin_records_for_2_minutes(lake: Lake, engine: Engine) -> None:
    absent = rule(kind="absent", aggregate="records_by_topic", value="records",
                  where={"topic": "*.pin"}, minutes=2)  # fmt: skip
    (started,) = evaluate_rule(absent, lake, engine, NOW, since_ms=NOW - MINUTE)
    assert not started.firing  # nothing seen, but the engine started a minute ago
    (silent,) = evaluate_rule(absent, lake, engine, NOW, since_ms=NOW - 3 * MINUTE)
    assert silent.firing and "no records (topic=*.pin) for 3.0 min" in silent.message
    rows = [window(NOW - 2 * MINUTE, topic="pinpipe.pin", records=1),
            window(NOW - MINUTE, topic="pinpipe.geo", records=9)]  # fmt: skip
    write_realtime(lake.realtime("records_by_topic"), "records_by_topic", rows)
    (recent,) = evaluate_rule(absent, lake, engine, NOW, since_ms=NOW - 30 * MINUTE)
    assert not recent.firing and recent.value == pytest.approx(1.0)
    (stale,) = evaluate_rule(absent, lake, engine, NOW + 2 * MINUTE, since_ms=0)
    assert stale.firing and stale.value == pytest.approx(3.0)  # geo records do not count


def test_a_category_above_3x_its_trailing_baseline(lake: Lake, engine: Engine) -> None:
    trending = rule(kind="baseline", aggregate="posts_by_category", value="posts", by="category",
                    factor=3, minutes=5, min_baseline=1)  # fmt: skip
    rows = []
    for i in range(2, 7):  # the five windows before the last closed one
        rows += [window(NOW - i * MINUTE, category="art", posts=2),
                 window(NOW - i * MINUTE, category=None, posts=4)]  # fmt: skip
    rows += [
        window(NOW - MINUTE, category="art", posts=7),  # 3.5 x 2: trending
        window(NOW - MINUTE, category=None, posts=12),  # 3 x 4: not above 3x
        window(NOW - MINUTE, category="new", posts=50),  # no baseline: not judged
        window(NOW, category="art", posts=100),  # the open window does not count
    ]
    write_realtime(lake.realtime("posts_by_category"), "posts_by_category", rows)
    found = {c.key: c for c in evaluate_rule(trending, lake, engine, NOW)}
    assert {k: c.firing for k, c in found.items()} == {"NULL": False, "art": True, "new": False}
    assert found["art"].value == pytest.approx(3.5)


def test_a_quality_rule_fires_on_a_check_that_does_not_pass(lake: Lake, engine: Engine) -> None:
    nulls = CheckSettings(name="pin_nulls", kind="null_rate", table="pin", column="category")
    watch = rule(kind="quality", check="pin_nulls", minutes=5)
    write(lake.table("stream", "pin"), cleaned_rows(2, category=["art", None]))
    assert evaluate_rule(watch, lake, engine, NOW) == []
    evaluate_window(lake, engine, [nulls], T0, T0 + MINUTE)
    (fires,) = evaluate_rule(watch, lake, engine, int(time.time() * 1000))
    assert fires.key == "pin" and fires.firing and fires.value == 0.5
    assert "pin_nulls: warn: 1 of 2 rows with NULL category" in fires.message


def test_the_quarantine_rate_of_one_table(lake: Lake, engine: Engine) -> None:
    _records_and_rejects(lake, 6)
    geo = [window(NOW - MINUTE, topic="pinpipe.geo", records=1000)]
    write_realtime(lake.realtime("records_by_topic"), "records_by_topic", geo)
    pins = QUARANTINE_RATE.model_copy(
        update={"where": {"table": "pin"}, "ratio_where": {"topic": "*.pin"}}
    )
    (rate,) = evaluate_rule(pins, lake, engine, NOW)
    assert rate.firing and rate.value == pytest.approx(0.06)  # geo records do not dilute it
    (diluted,) = evaluate_rule(QUARANTINE_RATE, lake, engine, NOW)
    assert not diluted.firing and diluted.value == pytest.approx(6 / 1100)
