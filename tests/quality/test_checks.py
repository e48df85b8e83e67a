"""Each kind of check fails and passes on crafted data, per stream window, batch day or clock."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pinpipe.engines import Engine, interactive_engine
from pinpipe.lake import Lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.quality import closed_windows, evaluate_clock, evaluate_run, evaluate_window
from pinpipe.quality.metrics import QualityCollector
from pinpipe.settings import CheckSettings, SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from tests.helpers import DAYS, delta_rows, line, log_at
from tests.quality.crafted import MINUTE, T0, cleaned_rows, rejects, window, write, write_realtime


@pytest.fixture
def engine() -> Engine:
    return interactive_engine()


def check(**fields: Any) -> CheckSettings:
    return CheckSettings(**{"name": "c", "table": "pin", **fields})


def judge_window(lake: Lake, engine: Engine, c: CheckSettings) -> Any:
    (result,) = evaluate_window(lake, engine, [c], T0, T0 + MINUTE, record=False)
    return result


CATEGORY = ["art", "travel", None, "mystery"]
AGE = [20, 30, 150, None]
URL = ["https://a/1.png", "https://a/2.png", "ftp:/nope", None]

COLUMN_CASES = [
    # (failing check, passing check, inds that fail)
    (
        check(kind="null_rate", column="category", max_share=0.2),
        check(kind="null_rate", column="category", max_share=0.25),
        [3],
    ),
    (
        check(kind="accepted_values", column="category", values=("art", "travel")),
        check(kind="accepted_values", column="category", values=("art", "travel", "mystery")),
        [4],
    ),
    (
        check(kind="range", column="age", min=0, max=120),
        check(kind="range", column="age", min=0, max=150),
        [3],
    ),
    (
        check(kind="format", column="image_src", pattern=r"https?://\S+"),
        check(kind="format", column="image_src", pattern=r"(https?|ftp):/+\S+"),
        [3],
    ),
]


@pytest.mark.parametrize(
    ("failing", "passing", "bad"), COLUMN_CASES, ids=lambda c: getattr(c, "kind", "")
)
def test_a_column_check_fails_with_examples_and_passes_when_relaxed(
    lake: Lake, engine: Engine, failing: CheckSettings, passing: CheckSettings, bad: list[int]
) -> None:
    write(lake.table("stream", "pin"), cleaned_rows(4, category=CATEGORY, age=AGE, image_src=URL))
    write(
        lake.table("stream", "pin"),
        cleaned_rows(4, at=T0 + MINUTE, category=[None] * 4, age=AGE, image_src=URL),
    )

    result = judge_window(lake, engine, failing)
    assert result.status == "warn"
    assert result.observed == pytest.approx(0.25)  # only the window's 4 rows are judged
    assert [e["ind"] for e in result.examples] == bad
    assert judge_window(lake, engine, passing).status == "pass"


def test_a_block_check_fails_and_a_table_without_rows_passes(lake: Lake, engine: Engine) -> None:
    c = check(kind="null_rate", column="category", severity="block")
    assert judge_window(lake, engine, c).status == "pass"  # no table yet
    write(lake.table("stream", "pin"), cleaned_rows(2, category=[None, "art"]))
    failed = judge_window(lake, engine, c)
    assert (failed.status, failed.blocks) == ("fail", True)
    assert "c (null_rate, pin, block): 1 of 2 rows with NULL category" in failed.describe()


def test_a_duplicate_ind_in_a_batch_table_fails_uniqueness(lake: Lake, engine: Engine) -> None:
    c = check(kind="unique", table="geo", severity="block")
    write(lake.table("batch", "geo"), cleaned_rows(3, table="geo"))
    (passed,) = evaluate_run(lake, engine, [c], DAYS[1], record=False)
    assert passed.status == "pass"
    write(lake.table("batch", "geo"), cleaned_rows(1, table="geo"))
    (failed,) = evaluate_run(lake, engine, [c], DAYS[1], record=False)
    assert failed.status == "fail"
    assert failed.examples == [{"ind": 1, "rows": 2}]


def test_the_quarantine_rate_of_a_window(lake: Lake, engine: Engine) -> None:
    write(lake.table("stream", "pin"), cleaned_rows(3))
    write(lake.quarantine("pin", "stream"), rejects(1) + rejects(5, at=T0 + MINUTE))
    failed = judge_window(lake, engine, check(kind="quarantine_rate", max_share=0.2))
    assert failed.status == "warn"
    assert failed.observed == pytest.approx(0.25)
    assert failed.examples == [{"reason": "missing ind", "rejects": 1}]
    assert (
        judge_window(lake, engine, check(kind="quarantine_rate", max_share=0.25)).status == "pass"
    )


@pytest.mark.parametrize(("current", "status"), [(40, "warn"), (12, "pass"), (1, "warn")])
def test_volume_against_the_trailing_windows(
    lake: Lake, engine: Engine, current: int, status: str
) -> None:
    for i in range(1, 6):
        write(lake.table("stream", "pin"), cleaned_rows(10, at=T0 - i * MINUTE))
    write(lake.table("stream", "pin"), cleaned_rows(current))
    result = judge_window(lake, engine, check(kind="volume", baseline=5, factor=3, min_baseline=5))
    assert result.status == status, result.message
    assert result.observed == pytest.approx(current / 10)


def test_volume_without_a_baseline_passes(lake: Lake, engine: Engine) -> None:
    write(lake.table("stream", "pin"), cleaned_rows(50))
    result = judge_window(lake, engine, check(kind="volume", min_baseline=5))
    assert (result.status, result.observed) == ("pass", None)
    assert "too small to judge" in result.message


def _land(log: EmbeddedLog, lake: Lake, docs: list[dict[str, Any]]) -> None:
    log_at(log, DAYS[1], 12)
    log.produce("pinpipe.geo", [ProduceRecord(orjson.dumps(d)) for d in docs])
    LakeSink(log, lake, SinkSettings(flush_size=100)).run(threading.Event(), once=True)


GEO = {
    "ind": 1,
    "timestamp": "2020-01-01 00:00:00",
    "latitude": 1.0,
    "longitude": 2.0,
    "country": "X",
}


def test_schema_drift_names_fields_that_appear_and_disappear(
    log: EmbeddedLog, lake: Lake, engine: Engine
) -> None:
    c = check(kind="schema_drift", table="geo")
    drifted = {k: v for k, v in GEO.items() if k != "country"} | {"altitude": 8848}
    _land(log, lake, [GEO, drifted])
    (result,) = evaluate_run(lake, engine, [c], DAYS[1], record=False)
    assert result.status == "warn"
    assert result.observed == 1  # country is still in a record: it has not disappeared
    assert "new fields altitude (1 records)" in result.message
    assert result.examples[0] == {"appeared": ["altitude"], "disappeared": []}


def test_schema_drift_passes_on_the_declared_fields_and_judges_windows(
    log: EmbeddedLog, lake: Lake, engine: Engine
) -> None:
    c = check(kind="schema_drift", table="geo")
    _land(log, lake, [GEO, {**GEO, "ind": 2}])
    (result,) = evaluate_run(lake, engine, [c], DAYS[1], record=False)
    assert (result.status, result.observed) == ("pass", 0)
    noon = int(dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC).timestamp() * 1000)
    (in_window,) = evaluate_window(lake, engine, [c], noon, noon + MINUTE, record=False)
    assert "2 raw records" in in_window.message
    (empty,) = evaluate_window(lake, engine, [c], noon + MINUTE, noon + 2 * MINUTE, record=False)
    assert empty.observed is None


def test_missing_fields_are_drift_too(log: EmbeddedLog, lake: Lake, engine: Engine) -> None:
    _land(log, lake, [{"ind": 1, "country": "X"}])
    (result,) = evaluate_run(
        lake, engine, [check(kind="schema_drift", table="geo")], DAYS[1], record=False
    )
    assert result.status == "warn"
    assert result.examples[0]["disappeared"] == ["latitude", "longitude", "timestamp"]


def test_freshness_per_topic_on_the_clock(lake: Lake, engine: Engine) -> None:
    c = check(kind="freshness", minutes=2)
    (silent,) = evaluate_clock(lake, engine, [c], T0, record=False)
    assert silent.status == "warn" and "no pin records at all" in silent.message
    (started,) = evaluate_clock(lake, engine, [c], T0, since=T0 - MINUTE, record=False)
    assert started.status == "pass"

    write(lake.table("stream", "pin"), cleaned_rows(1, at=T0))
    write_realtime(
        lake.realtime("records_by_topic"),
        "records_by_topic",
        [window(T0 + MINUTE, topic="other.pin", records=3)],
    )
    results = evaluate_clock(lake, engine, [c], T0 + 3 * MINUTE, record=False)
    assert [(r.key, r.status, r.observed) for r in results] == [
        ("other.pin", "pass", pytest.approx(2.0)),  # from the real-time aggregate's window
        ("pinpipe.pin", "warn", pytest.approx(3.0)),
    ]


def test_window_results_are_recorded_once_and_exported_as_gauges(
    lake: Lake, engine: Engine
) -> None:
    write(lake.table("stream", "pin"), cleaned_rows(4, category=CATEGORY))
    checks = [
        check(name="nulls", kind="null_rate", column="category"),
        check(name="rejects", kind="quarantine_rate"),
    ]
    collector = QualityCollector()
    collector.observe(evaluate_window(lake, engine, checks, T0, T0 + MINUTE))
    evaluate_window(lake, engine, checks, T0, T0 + MINUTE)  # a replay after a restart
    rows = delta_rows(lake.quality_results)
    assert sorted((r["check"], r["status"], r["scope"]) for r in rows) == [
        ("nulls", "warn", "window"),
        ("rejects", "pass", "window"),
    ]
    nulls = next(r for r in rows if r["check"] == "nulls")
    assert nulls["window_start"] == dt.datetime.fromtimestamp(T0 / 1000, dt.UTC)
    assert orjson.loads(nulls["examples"]) == [{"category": None, "ind": 3}]
    assert nulls["threshold"] == 0.0 and nulls["observed"] == 0.25

    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert 'pinpipe_quality_status{check="nulls",key="",scope="window",table="pin"} 1.0' in text
    assert 'pinpipe_quality_observed{check="nulls",key="",scope="window",table="pin"} 0.25' in text


def test_schema_drift_of_a_window_from_the_stream_jobs_lines(lake: Lake, engine: Engine) -> None:
    """The stream job can hand over the lines it read: no wait for the sink's raw files."""
    c = check(kind="schema_drift", table="geo")
    lines = [
        line({**GEO, "altitude": 1}, topic="pinpipe.geo", timestamp=T0 + 5),
        line(GEO, topic="pinpipe.geo", offset=1, timestamp=T0 + MINUTE),  # the next window
        b'{"torn": ',
    ]
    (result,) = evaluate_window(lake, engine, [c], T0, T0 + MINUTE, record=False,
                                lines={"geo": lines})  # fmt: skip
    assert result.status == "warn" and "new fields altitude (1 records) in 1 raw" in result.message


def test_closed_windows_hands_out_each_window_once(lake: Lake, engine: Engine) -> None:
    c = [check(kind="quarantine_rate")]
    assert closed_windows(lake, engine, T0 + MINUTE + 5) == [(T0, T0 + MINUTE)]  # no backfill
    evaluate_window(lake, engine, c, T0, T0 + MINUTE)
    assert closed_windows(lake, engine, T0 + MINUTE + 5) == []
    assert closed_windows(lake, engine, T0 + 3 * MINUTE) == [
        (T0 + MINUTE, T0 + 2 * MINUTE),
        (T0 + 2 * MINUTE, T0 + 3 * MINUTE),
    ]
    assert len(closed_windows(lake, engine, T0 + 500 * MINUTE)) == 60  # a long outage: capped
