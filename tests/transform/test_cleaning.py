"""Cleaning rules of DATA.md §3, one by one, on lake lines as the sink writes them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.lake.line import META_COLUMNS, TableName
from pinpipe.transform.cleaning import REJECT_COLUMNS, clean, data_quality, latest
from pinpipe.transform.schema import CLEAN_COLUMNS
from tests.helpers import cleaned, line, rows

PIN = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "description": "No description available Story format",
    "poster_name": "User Info Error",
    "follower_count": "User Info Error",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}
GEO = {
    "ind": 7528,
    "timestamp": "2020-08-28 03:52:47",
    "latitude": -89.9787,
    "longitude": -173.293,
    "country": "Albania",
}
USER = {"ind": 7528, "first_name": "Abigail", "last_name": "Ali", "age": 20,
        "date_joined": "2015-10-24 11:23:51"}  # fmt: skip


def wall(*parts: int) -> dt.datetime:
    """A naive datetime: cleaned timestamps carry no time zone, on purpose."""
    return dt.datetime(*parts)  # noqa: DTZ001


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(threads=2)
    yield eng
    eng.close()


def one(engine: DuckDBEngine, table: TableName, value: Any) -> dict[str, Any]:
    result = cleaned(engine, table, [value])
    assert rows(engine, result.rejects) == []
    (row,) = rows(engine, result.rows)
    return row


def reasons(engine: DuckDBEngine, table: TableName, values: list[Any]) -> list[str]:
    result = cleaned(engine, table, values)
    assert rows(engine, result.rows) == []
    return [r["reason"] for r in rows(engine, result.rejects.order_by("_offset"))]


def test_pin_all_placeholders_become_null(engine: DuckDBEngine) -> None:
    row = one(engine, "pin", PIN)
    assert list(row) == [*CLEAN_COLUMNS["pin"], *META_COLUMNS]
    assert row == {
        "ind": 7528,
        "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
        "title": None,
        "description": None,
        "follower_count": None,
        "poster_name": None,
        "tag_list": None,
        "is_image_or_video": "multi-video(story page format)",
        "image_src": None,
        "save_location": "/data/mens-fashion",
        "category": "mens-fashion",
        "_topic": "abc.pin",
        "_partition": 0,
        "_offset": 0,
        "_timestamp": 1_700_000_000_000,
    }


@pytest.mark.parametrize(
    ("field", "placeholder"),
    [
        ("title", "No Title Data Available"),
        ("title", "Untitled"),
        ("description", "No description available"),
        ("description", "No description available Story format"),
        ("description", "Untitled"),
        ("poster_name", "User Info Error"),
        ("follower_count", "User Info Error"),
        ("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"),
        ("image_src", "Image src error."),
    ],
)
def test_each_placeholder_is_null_even_with_padding(
    engine: DuckDBEngine, field: str, placeholder: str
) -> None:
    assert one(engine, "pin", {**PIN, field: placeholder})[field] is None
    assert one(engine, "pin", {**PIN, field: f" {placeholder}\u00a0"})[field] is None


def test_placeholders_are_exact_strings(engine: DuckDBEngine) -> None:
    row = one(engine, "pin", {**PIN, "title": "untitled", "description": "Untitled story"})
    assert (row["title"], row["description"]) == ("untitled", "Untitled story")
    # Placeholders belong to their own column: "Untitled" is a fine poster name.
    assert one(engine, "pin", {**PIN, "poster_name": "Untitled"})["poster_name"] == "Untitled"


@pytest.mark.parametrize("blank", ["", "   ", "\u00a0", "\t\n", "\u3000\u2003", "\ufeff"])
def test_empty_and_whitespace_only_text_is_null(engine: DuckDBEngine, blank: str) -> None:
    row = one(engine, "pin", {**PIN, "title": blank, "category": blank, "unique_id": blank})
    assert (row["title"], row["category"], row["unique_id"]) == (None, None, None)
    assert one(engine, "geo", {**GEO, "country": blank})["country"] is None


def test_text_is_trimmed_including_unicode_spaces(engine: DuckDBEngine) -> None:
    row = one(
        engine,
        "pin",
        {**PIN, "poster_name": "Mujer de 10 ", "description": "Cut near 180…\u00a0",
         "title": "\u2003 Title \u3000", "tag_list": "A,B\n"},
    )  # fmt: skip
    assert row["poster_name"] == "Mujer de 10"
    assert row["description"] == "Cut near 180…"
    assert row["title"] == "Title"
    assert row["tag_list"] == "A,B"
    assert one(engine, "pin", {**PIN, "title": "a\u00a0 b"})["title"] == "a\u00a0 b"


@pytest.mark.parametrize(
    ("sent", "count"),
    [
        ("942k", 942_000),
        ("1k", 1_000),
        ("1.2k", 1_200),
        ("12K", 12_000),
        ("0.5k", 500),
        ("1.0005k", 1_001),  # half rounds up
        ("1.0004k", 1_000),
        ("1.0015k", 1_002),  # exact decimal arithmetic, no float drift
        ("8M", 8_000_000),
        ("15M", 15_000_000),
        ("2.5M", 2_500_000),
        ("0", 0),
        ("940", 940),
        (" 23 ", 23),
        (7528, 7528),
    ],
)
def test_follower_count(engine: DuckDBEngine, sent: object, count: int) -> None:
    assert one(engine, "pin", {**PIN, "follower_count": sent})["follower_count"] == count


@pytest.mark.parametrize("sent", ["3m", "1.5", "-5", "1,234", "1.2 k", "k", "12kk", "abc", 1.5])
def test_uncoercible_follower_count_is_null_and_counted(engine: DuckDBEngine, sent: object) -> None:
    result = cleaned(engine, "pin", [{**PIN, "follower_count": sent}, PIN])
    assert [r["follower_count"] for r in rows(engine, result.rows)] == [None, None]
    assert rows(engine, result.quality) == [
        {"table": "pin", "issue": "follower_count is not a number", "count": 1}
    ]


def test_data_quality_of_clean_input_and_other_tables(engine: DuckDBEngine) -> None:
    raw = engine.raw_from_lines("pin", [line({**PIN, "follower_count": "5k"})])
    assert rows(engine, data_quality("pin", raw)) == [
        {"table": "pin", "issue": "follower_count is not a number", "count": 0}
    ]
    assert rows(engine, data_quality("geo", engine.raw_from_lines("geo", []))) == []


def test_save_location_keeps_the_path(engine: DuckDBEngine) -> None:
    assert (
        one(engine, "pin", {**PIN, "save_location": "Local save in /data/art"})["save_location"]
        == "/data/art"
    )
    assert (
        one(engine, "pin", {**PIN, "save_location": "/data/art "})["save_location"] == "/data/art"
    )


@pytest.mark.parametrize("table", ["pin", "geo", "user"])
@pytest.mark.parametrize("key", ["ind", "index"])
@pytest.mark.parametrize(("sent", "ind"), [(7528, 7528), ("7528", 7528), (" 42 ", 42),
                                           ("+7", 7), ("007", 7), (3.0, 3), (-1, -1)])  # fmt: skip
def test_either_key_spelling_and_numbers_as_strings(
    engine: DuckDBEngine, table: TableName, key: str, sent: object, ind: int
) -> None:
    base = {"pin": PIN, "geo": GEO, "user": USER}[table]
    value = {k: v for k, v in base.items() if k not in ("ind", "index")} | {key: sent}
    assert one(engine, table, value)["ind"] == ind


def test_pin_prefers_index_and_geo_prefers_ind(engine: DuckDBEngine) -> None:
    assert one(engine, "pin", {**PIN, "index": 1, "ind": 2})["ind"] == 1
    assert one(engine, "geo", {**GEO, "ind": 1, "index": 2})["ind"] == 1
    assert one(engine, "user", {**USER, "ind": None, "index": 3})["ind"] == 3


def test_geo_row(engine: DuckDBEngine) -> None:
    row = one(engine, "geo", {**GEO, "latitude": "-89.9787", "country": " Albania "})
    assert list(row) == [*CLEAN_COLUMNS["geo"], *META_COLUMNS]
    assert row["coordinates"] == [-89.9787, -173.293]
    assert row["timestamp"] == wall(2020, 8, 28, 3, 52, 47)
    assert row["country"] == "Albania"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2020-08-28 03:52:47", wall(2020, 8, 28, 3, 52, 47)),
        ("2020-08-28T03:52:47", wall(2020, 8, 28, 3, 52, 47)),
        ("2020-08-28T03:52:47.25", wall(2020, 8, 28, 3, 52, 47, 250000)),
        ("2020-08-28T03:52:47.123456789", wall(2020, 8, 28, 3, 52, 47, 123456)),
        ("2020-08-28T03:52:47Z", wall(2020, 8, 28, 3, 52, 47)),
        ("2020-08-28T03:52:47+05:30", wall(2020, 8, 28, 3, 52, 47)),  # wall time kept
        ("2020-08-28 03:52:47.5-0700", wall(2020, 8, 28, 3, 52, 47, 500000)),
        ("2020-08-28", wall(2020, 8, 28)),
    ],
)
def test_datetimes(engine: DuckDBEngine, sent: str, expected: dt.datetime) -> None:
    assert one(engine, "geo", {**GEO, "timestamp": sent})["timestamp"] == expected
    assert one(engine, "user", {**USER, "date_joined": sent})["date_joined"] == expected


def test_missing_values_are_null_not_rejects(engine: DuckDBEngine) -> None:
    row = one(engine, "geo", {"ind": 1, "latitude": "", "longitude": 12.5})
    assert (row["coordinates"], row["timestamp"], row["country"]) == ([None, 12.5], None, None)
    assert one(engine, "geo", {"ind": 1})["coordinates"] is None
    row = one(engine, "user", {"ind": 1})
    assert (row["user_name"], row["age"], row["date_joined"]) == (None, None, None)


def test_user_row(engine: DuckDBEngine) -> None:
    row = one(engine, "user", {**USER, "age": "20"})
    assert list(row) == [*CLEAN_COLUMNS["user"], *META_COLUMNS]
    assert (row["user_name"], row["age"]) == ("Abigail Ali", 20)
    assert row["date_joined"] == wall(2015, 10, 24, 11, 23, 51)


@pytest.mark.parametrize(
    ("first", "last", "name"),
    [(" Ann ", "Lee", "Ann Lee"), ("Ann", None, "Ann"), ("", "Lee", "Lee"), (None, None, None)],
)
def test_user_name(engine: DuckDBEngine, first: Any, last: Any, name: Any) -> None:
    assert (
        one(engine, "user", {**USER, "first_name": first, "last_name": last})["user_name"] == name
    )


@pytest.mark.parametrize("age", [0, 130, "17", 60.0])
def test_ages_in_range(engine: DuckDBEngine, age: object) -> None:
    assert one(engine, "user", {**USER, "age": age})["age"] == int(float(str(age)))


def test_rejects_with_reasons(engine: DuckDBEngine) -> None:
    assert reasons(engine, "geo", [
        {**GEO, "ind": None},
        {k: v for k, v in GEO.items() if k != "ind"},
        {**GEO, "ind": "abc"},
        {**GEO, "ind": 1.5},
        {**GEO, "ind": 2**31},
        {**GEO, "ind": -(2**31) - 1},
        {**GEO, "ind": "1" * 30},
        {**GEO, "timestamp": "yesterday"},
        {**GEO, "timestamp": "2020-02-30 00:00:00"},
        {**GEO, "latitude": "abc"},
        {**GEO, "latitude": "NaN"},
        {**GEO, "latitude": 90.0001},
        {**GEO, "longitude": True},
        {**GEO, "longitude": -180.5},
        [1, 2],
        "just text",
    ]) == [
        "missing ind", "missing ind", "ind is not an integer", "ind is not an integer",
        "ind out of range", "ind out of range", "ind is not an integer",
        "timestamp is not a datetime", "timestamp is not a datetime",
        "latitude is not a number", "latitude is not a number", "latitude out of range",
        "longitude is not a number", "longitude out of range",
        "not a JSON object", "not a JSON object",
    ]  # fmt: skip
    assert reasons(engine, "user", [
        {**USER, "age": "x"}, {**USER, "age": 20.5}, {**USER, "age": 131}, {**USER, "age": -1},
        {**USER, "date_joined": "2015/10/24"}, {**USER, "index": "", "ind": " "},
    ]) == [
        "age is not an integer", "age is not an integer", "age out of range", "age out of range",
        "date_joined is not a datetime", "missing ind",
    ]  # fmt: skip
    assert reasons(engine, "pin", [b"not json", {**PIN, "index": "x"}]) == [
        "not a JSON object",
        "ind is not an integer",
    ]


def test_first_failing_check_wins(engine: DuckDBEngine) -> None:
    assert reasons(engine, "geo", [{**GEO, "ind": "x", "latitude": 100}]) == [
        "ind is not an integer"
    ]


def test_reject_rows_keep_origin_and_line(engine: DuckDBEngine) -> None:
    sent = line({**USER, "age": "x"}, topic="abc.user", partition=2, offset=41, timestamp=99)
    result = clean("user", engine.raw_from_lines("user", [sent]))
    (reject,) = rows(engine, result.rejects)
    assert list(reject) == list(REJECT_COLUMNS)
    assert reject == {
        "table": "user",
        "reason": "age is not an integer",
        "_topic": "abc.user",
        "_partition": 2,
        "_offset": 41,
        "_timestamp": 99,
        "raw": sent.decode(),
    }


def test_every_raw_row_lands_exactly_once(engine: DuckDBEngine) -> None:
    values: list[Any] = [GEO, {**GEO, "latitude": 91}, b"{oops", {**GEO, "ind": 2}, {}, "x", GEO]
    result = cleaned(engine, "geo", values)
    kept = sorted(r["_offset"] for r in rows(engine, result.rows))
    rejected = sorted(r["_offset"] for r in rows(engine, result.rejects))
    assert kept == [0, 3, 6]
    assert rejected == [1, 2, 4, 5]


def test_latest_arrival_wins_across_topics(engine: DuckDBEngine) -> None:
    lines = [
        line({**USER, "age": 1}, topic="abc.user", offset=0, timestamp=10),
        line({**USER, "age": 2}, topic="streaming-abc-user", offset=0, timestamp=30),
        line({**USER, "age": 3}, topic="abc.user", offset=1, timestamp=20),
        line({**USER, "ind": 9, "age": 4}, topic="abc.user", partition=0, offset=2, timestamp=50),
        line({**USER, "ind": 9, "age": 5}, topic="abc.user", partition=1, offset=0, timestamp=50),
        line({**USER, "ind": 8, "age": 6}, topic="abc.user", offset=3, timestamp=70),
        line({**USER, "ind": 8, "age": 7}, topic="streaming-abc-user", offset=1, timestamp=70),
        line({**USER, "ind": 8, "age": 8}, topic="abc.user", offset=4, timestamp=70),
    ]
    result = clean("user", engine.raw_from_lines("user", lines))
    out = rows(engine, latest(result.rows).order_by("ind"))
    # ind 8: same time, 'streaming-abc-user' > 'abc.user'; ind 9: same topic, partition 1 wins.
    assert [(r["ind"], r["age"]) for r in out] == [(8, 7), (9, 5), (7528, 2)]


@pytest.mark.parametrize("table", ["pin", "geo", "user"])
def test_empty_input(engine: DuckDBEngine, table: TableName) -> None:
    result = clean(table, engine.raw_from_lines(table, []))
    out = engine.to_arrow(latest(result.rows))
    assert out.num_rows == 0
    assert out.column_names == [*CLEAN_COLUMNS[table], *META_COLUMNS]
    assert engine.to_arrow(result.rejects).column_names == list(REJECT_COLUMNS)


def test_clean_types(engine: DuckDBEngine) -> None:
    import pyarrow as pa

    pin = engine.to_arrow(cleaned(engine, "pin", [PIN]).rows).schema
    assert (pin.field("ind").type, pin.field("follower_count").type) == (pa.int32(), pa.int64())
    geo = engine.to_arrow(cleaned(engine, "geo", [GEO]).rows).schema
    assert geo.field("coordinates").type.value_type == pa.float64()
    assert geo.field("timestamp").type == pa.timestamp("us")
    user = engine.to_arrow(cleaned(engine, "user", [USER]).rows).schema
    assert (user.field("age").type, user.field("date_joined").type) == (
        pa.int32(),
        pa.timestamp("us"),
    )
