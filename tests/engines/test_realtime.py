"""Real-time windows of the embedded stream job: counts per minute, late records, exactly once.

One fixture of pin and geo records with out-of-order and late ingest times (the log's clock
is injected); every expected count was worked out by hand. The windows must not depend on
how the log is cut into micro-batches, and a crash before the counts are flushed must neither
lose them nor count anything twice.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.engines.microbatch import MicroBatchStream
from pinpipe.lake import Lake
from pinpipe.log.base import Log, ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import StreamSettings
from tests.helpers import stream_positions

MIN = 60_000
BASE = (int(time.time() * 1000) // 3_600_000 - 1) * 3_600_000
"""The last hour but one, on the hour: recent enough for a broker's timestamp rules."""
PIN: list[tuple[int, Any]] = [  # (ingest time, value): offsets 0, 1, ...
    (BASE + 10_000, {"index": 1, "title": "I love it", "category": "art"}),
    (BASE + 50_000, {"index": 2, "title": "awful", "category": "diy"}),
    (BASE + MIN + 5_000, {"index": 3, "title": "great", "category": "art"}),
    (BASE + 3 * MIN, {"index": 4, "title": "a chair", "category": None}),
    (BASE + MIN + 30_000, {"index": 5, "title": None, "category": "art"}),  # out of order
    (BASE + 9 * MIN, {"index": 6, "title": "fine", "category": "diy"}),
    (BASE + 2 * MIN, {"index": 7, "title": "late", "category": "art"}),  # 7 min behind: late
    (BASE + 9 * MIN + 30_000, {"index": 8, "title": "ok", "category": "art"}),
    (BASE + 9 * MIN + 40_000, b"not json"),  # quarantined
]
GEO: list[tuple[int, Any]] = [
    (BASE + 20_000, {"ind": 1, "country": "Chad", "latitude": 1, "longitude": 2}),
    (BASE + 40_000, {"ind": 2, "country": "Chad", "latitude": 1, "longitude": 2}),
    (BASE + MIN, {"ind": 3, "country": None, "latitude": 1, "longitude": 2}),
]


def _at(minute: int) -> dt.datetime:
    return dt.datetime.fromtimestamp((BASE + minute * MIN) / 1000, dt.UTC)


POSTS = {  # (window, category) → posts
    (_at(0), "art"): 1,
    (_at(0), "diy"): 1,
    (_at(1), "art"): 2,
    (_at(3), None): 1,
    (_at(9), "diy"): 1,
    (_at(9), "art"): 1,
}
RECORDS = {
    (_at(0), "rt.pin"): 2,
    (_at(1), "rt.pin"): 2,
    (_at(3), "rt.pin"): 1,
    (_at(9), "rt.pin"): 3,
}
RECORDS |= {(_at(0), "rt.geo"): 2, (_at(1), "rt.geo"): 1}
EVENTS = {(_at(0), "Chad"): 2, (_at(1), None): 1}
LATE = {(_at(2), "pin"): 1}
REJECTS = {(_at(9), "pin", "not a JSON object"): 1}


def produce_fixture(log: Log, prefix: str) -> None:
    """The fixture's records to ``<prefix>.pin`` and ``<prefix>.geo``, at their ingest times."""
    _produce(log, f"{prefix}.pin", PIN)
    _produce(log, f"{prefix}.geo", GEO)


def _produce(log: Log, topic: str, records: list[tuple[int, Any]]) -> None:
    for stamp, value in records:
        log.clock = lambda stamp=stamp: stamp  # type: ignore[attr-defined]
        raw = value if isinstance(value, bytes) else orjson.dumps(value)
        log.produce(topic, [ProduceRecord(raw)])


def windows(lake: Lake, name: str, keys: tuple[str, ...], measure: str) -> dict[Any, int]:
    rows = DeltaTable(lake.realtime(name)).to_pyarrow_table().to_pylist()
    found = {(r["window_start"], *(r[k] for k in keys)): r[measure] for r in rows}
    assert len(found) == len(rows), "one row per window and key"
    for r in rows:
        assert r["window_end"] - r["window_start"] == dt.timedelta(minutes=1)
    return found


def assert_windows(lake: Lake, prefix: str = "rt") -> None:
    """The hand-counted windows of the fixture sent to ``<prefix>.*``."""
    records = {(w, t.replace("rt.", f"{prefix}.")): n for (w, t), n in RECORDS.items()}
    assert windows(lake, "posts_by_category", ("category",), "posts") == POSTS
    assert windows(lake, "records_by_topic", ("topic",), "records") == records
    assert windows(lake, "events_by_country", ("country",), "events") == EVENTS
    assert windows(lake, "late_records", ("table",), "late") == LATE
    assert windows(lake, "rejects_by_reason", ("table", "reason"), "rejects") == REJECTS


def _job(log: EmbeddedLog, lake: Lake, **stream: Any) -> MicroBatchStream:
    settings = StreamSettings(allowed_lateness_ms=5 * MIN, **stream)
    return MicroBatchStream(log, lake, DuckDBEngine(threads=1), settings)


@pytest.fixture
def fed(log: EmbeddedLog) -> EmbeddedLog:
    produce_fixture(log, "rt")
    return log


@pytest.mark.parametrize("max_batch", [1, 2, 1000])
def test_windows_count_each_minute_whatever_the_micro_batches(
    fed: EmbeddedLog, lake: Lake, max_batch: int
) -> None:
    _job(fed, lake, max_batch=max_batch, realtime_flush_ms=0).run(threading.Event(), once=True)
    assert_windows(lake)
    sentiment = DeltaTable(lake.realtime("posts_by_category")).to_pyarrow_table().to_pylist()
    by_key = {(r["window_start"], r["category"]): r for r in sentiment}
    assert by_key[(_at(1), "art")]["scored_titles"] == 1  # index 5 has no title
    assert by_key[(_at(0), "art")]["title_sentiment_sum"] > 0.5  # "I love it"
    assert by_key[(_at(0), "diy")]["title_sentiment_sum"] < -0.3  # "awful"


def test_a_crash_before_the_flush_recounts_and_a_replay_counts_nothing_twice(
    fed: EmbeddedLog, lake: Lake
) -> None:
    crashed = _job(fed, lake, max_batch=4, realtime_flush_ms=3_600_000)
    crashed.step()  # the first micro-batch: counted in memory only, stream rows committed
    crashed.step()
    crashed._windows.flush()  # type: ignore[union-attr]  # an earlier flush made it to Delta
    crashed.step()  # then this micro-batch's counts die with the process
    assert stream_positions(lake, "pin"), "stream rows were committed before the crash"

    _job(fed, lake).run(threading.Event(), once=True)  # restart
    assert_windows(lake)
    _job(fed, lake).run(threading.Event(), once=True)  # and once more: nothing new
    assert_windows(lake)
    positions = stream_positions(lake, "pin")
    assert len(positions) == len(set(positions)) == len(PIN) - 1  # no stream row twice


def test_top_and_trending_read_the_last_minutes(fed: EmbeddedLog, lake: Lake) -> None:
    from pinpipe.engines import interactive_engine
    from pinpipe.serve.realtime import top, trending

    _job(fed, lake).run(threading.Event(), once=True)
    reader = interactive_engine()
    now = BASE + 10 * MIN  # just after the fixture's last window (minute 9)
    try:
        last_5 = top(lake, reader, "posts_by_category", 5, now_ms=now).to_pylist()
        last_15 = top(lake, reader, "posts_by_category", 15, now_ms=now).to_pylist()
        countries = top(lake, reader, "events_by_country", 60, now_ms=now).to_pylist()
        hot = trending(lake, reader, baseline_minutes=9, now_ms=now).to_pylist()
    finally:
        reader.close()
    assert [(r["category"], r["posts"]) for r in last_5] == [("art", 1), ("diy", 1)]
    assert [(r["category"], r["posts"]) for r in last_15] == [
        ("art", 4), ("diy", 2), (None, 1)
    ]  # fmt: skip
    assert [(r["country"], r["events"]) for r in countries] == [("Chad", 2), (None, 1)]
    # Minute 9 against minutes 0-8: diy 1 vs 1/9 a minute, art 1 vs 3/9, the NULL 0 vs 1/9.
    by_category = {r["category"]: r for r in hot}
    assert by_category["diy"]["score"] == pytest.approx(2 / (1 / 9 + 1))
    assert by_category["art"]["score"] == pytest.approx(2 / (3 / 9 + 1))
    assert by_category[None]["score"] == pytest.approx(1 / (1 / 9 + 1))
    assert [r["category"] for r in hot] == ["diy", "art", None]
