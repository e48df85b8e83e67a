"""Pin sentiment: VADER's compound score on hand-checked titles, and the tenth analytic."""

from __future__ import annotations

import threading

import ibis
import pyarrow as pa
import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine, interactive_engine
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.serve.query import run_sql
from pinpipe.settings import SinkSettings
from pinpipe.sink.lake_sink import LakeSink
from pinpipe.transform.queries import median_sentiment_by_category
from pinpipe.transform.sentiment import score
from tests.helpers import produce_rows


@pytest.mark.parametrize(
    ("title", "sign"),
    [
        ("I love this beautiful sunset!", 1),
        ("The best chocolate cake, so delicious", 1),
        ("This is terrible and ugly.", -1),
        ("The worst recipe ever :(", -1),
        ("Wooden chair", 0),
        ("Not bad at all", 1),  # negation flips "bad"
    ],
)
def test_titles_score_with_the_sign_a_reader_would_give(title: str, sign: int) -> None:
    value = score(title)
    assert value is not None and -1.0 <= value <= 1.0
    if sign == 0:
        assert value == 0.0
    else:
        assert value * sign > 0.3, value


def test_no_text_has_no_score_and_repeats_are_memoised() -> None:
    assert score(None) is None and score("   ") is None
    score.cache_clear()
    for _ in range(3):
        score("Happy holidays")
    assert score.cache_info().hits == 2 and score.cache_info().misses == 1


def test_median_sentiment_by_category_on_both_embedded_engines() -> None:
    pin = ibis.memtable(
        pa.table(
            {
                "ind": [1, 2, 3, 4, 5],
                "category": ["diy", "diy", "diy", "art", None],
                "title": ["I love it", "awful", "A chair", None, "great"],
                "description": ["great day", "  ", "sad and bad", None, "great"],
            }
        )
    )
    diy_description = (score("great day") + score("sad and bad")) / 2  # type: ignore[operator]
    for engine in (get_engine("duckdb"), interactive_engine()):
        art, diy = engine.to_arrow(median_sentiment_by_category(pin, pin, pin)).to_pylist()
        assert art == {
            "category": "art",
            "pins": 1,
            "median_title_sentiment": None,
            "median_description_sentiment": None,
        }
        assert diy["category"] == "diy" and diy["pins"] == 3
        assert diy["median_title_sentiment"] == 0.0  # one positive, one negative, one neutral
        assert diy["median_description_sentiment"] == pytest.approx(diy_description)


def test_sql_sees_each_pins_sentiment_in_the_pin_sentiment_view(
    log: EmbeddedLog, lake: Lake, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(40)))
    LakeSink(log, lake, SinkSettings()).run(threading.Event(), once=True)
    run_batch(lake, get_engine("duckdb"))
    reader = interactive_engine()
    try:
        got = run_sql(
            lake, reader, "SELECT ind, title, title_sentiment FROM pin_sentiment ORDER BY ind"
        ).to_pylist()
    finally:
        reader.close()
    assert len(got) == 40
    for row in got:
        text = (row["title"] or "").strip() or None
        assert row["title_sentiment"] == score(text), row
    assert any(r["title_sentiment"] not in (None, 0.0) for r in got), "some titles carry feeling"
