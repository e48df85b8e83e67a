"""The nine analytics on a small fixture; every expected row was worked out by hand.

Fixture notes: ind 9 and 10 have no country, ind 10 no timestamp, 11 no user, 12 no pin,
14 no category; post years 2017 and 2023 are out of range; join years 2014 and 2021 are out of
range; Bob (18, 2015-06-01) posts twice (ind 2, 10), Bob aged 19 is another user; Gus posts
twice; ages 17, 18, 24, 25, 35, 36, 50, 51 and NULL all occur.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import ibis
import pyarrow as pa
import pytest

from pinpipe.engines.duckdb import DuckDBEngine
from pinpipe.transform.queries import QUERIES

D = dt.datetime

PIN = [  # ind, category, poster_name, follower_count
    (1, "art", "P1", 100),
    (2, "art", "P2", 500),
    (3, "beauty", "P3", 500),
    (4, "beauty", "P4", 200),
    (5, "travel", "P5", None),
    (6, "travel", "P6", 900),
    (7, "travel", "P7", 50),
    (8, "vehicles", "P8", 1000),
    (9, "quotes", None, 2000),
    (10, "quotes", "P9", 2000),
    (11, "quotes", "P10", 700),
    (13, "art", "P2", 1000),
    (14, None, "P11", 50),
]
GEO = [  # ind, country, timestamp
    (1, "Angola", D(2018, 1, 1)),
    (2, "Angola", D(2018, 6, 1)),
    (3, "Angola", D(2019, 1, 1)),
    (4, "Angola", D(2019, 6, 1)),
    (5, "Angola", D(2017, 12, 31, 23, 59, 59)),
    (6, "Benin", D(2023, 1, 1)),
    (7, "Benin", D(2022, 12, 31, 23, 59, 59)),
    (8, "Benin", D(2022, 5, 5)),
    (9, None, D(2020, 1, 1)),
    (10, None, None),
    (11, "Chad", D(2020, 2, 2)),
    (12, "Chad", D(2021, 1, 1)),
    (13, "Chad", D(2021, 3, 3)),
    (14, "Benin", D(2022, 1, 1)),
]
USER = [  # ind, user_name, age, date_joined
    (1, "Ann", 17, D(2015, 3, 1)),
    (2, "Bob", 18, D(2015, 6, 1)),
    (3, "Cat", 24, D(2016, 1, 1)),
    (4, "Dan", 25, D(2016, 1, 1)),
    (5, "Eve", 35, D(2017, 1, 1)),
    (6, "Fay", 36, D(2014, 12, 31)),
    (7, "Gus", 50, D(2020, 5, 5)),
    (8, "Hal", 51, D(2021, 1, 1)),
    (9, "Ivy", None, D(2015, 7, 7)),
    (10, "Bob", 18, D(2015, 6, 1)),
    (12, "Zed", 40, D(2016, 2, 2)),
    (13, "Bob", 19, D(2015, 6, 1)),
    (14, "Gus", 50, D(2020, 5, 5)),
]

EXPECTED: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {
    "category_by_country": (
        ("country", "category", "category_count"),
        # Angola: art 2 and beauty 2 tie, art comes first; Chad: quotes 1 (11), art 1 (13).
        [("Angola", "art", 2), ("Benin", "travel", 2), ("Chad", "art", 1)],
    ),
    "category_by_year": (
        ("post_year", "category", "category_count"),
        # 2017 and 2023 are out; 2022: travel 1 and vehicles 1 tie, 14 has no category.
        [
            (2018, "art", 2),
            (2019, "beauty", 2),
            (2020, "quotes", 2),
            (2021, "art", 1),
            (2022, "travel", 1),
        ],
    ),
    "top_user_by_country": (
        ("country", "poster_name", "follower_count"),
        # Angola: P2 and P3 tie at 500; ind 9 (2000) has no country and no poster.
        [("Angola", "P2", 500), ("Benin", "P8", 1000), ("Chad", "P2", 1000)],
    ),
    "top_country": (("country", "follower_count"), [("Benin", 1000)]),
    "category_by_age_group": (
        ("age_group", "category", "category_count"),
        # 17 and NULL ages have no group; 25-35: beauty 1 and travel 1 tie.
        [
            ("+50", "vehicles", 1),
            ("18-24", "art", 2),
            ("25-35", "beauty", 1),
            ("36-50", "travel", 2),
        ],
    ),
    "median_followers_by_age_group": (
        ("age_group", "median_follower_count"),
        # users: Bob18 max(500, 2000) = 2000, Cat 500, Bob19 1000 -> 1000; Dan 200; Fay 900 and
        # Gus 50 -> 475; Hal 1000; Eve has no count, Ann no group, Ivy no age.
        [("+50", 1000.0), ("18-24", 1000.0), ("25-35", 200.0), ("36-50", 475.0)],
    ),
    "users_joined_by_year": (
        ("join_year", "number_users_joined"),
        # 2015: Ann, Bob18, Bob19 (Bob18 twice counts once); 2016: Cat, Dan, Zed; Ivy (no
        # age) is not a complete user; Fay 2014 and Hal 2021 are out.
        [(2015, 3), (2016, 3), (2017, 1), (2020, 1)],
    ),
    "median_followers_by_join_year": (
        ("join_year", "median_follower_count"),
        # 2015: 100, 2000, 1000; 2016: 500, 200; 2017: only Eve, no count; 2020: Gus 50.
        [(2015, 1000.0), (2016, 350.0), (2020, 50.0)],
    ),
    "median_followers_by_join_year_and_age_group": (
        ("age_group", "join_year", "median_follower_count"),
        [
            ("18-24", 2015, 1500.0),
            ("18-24", 2016, 500.0),
            ("25-35", 2016, 200.0),
            ("36-50", 2020, 50.0),
        ],
    ),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(threads=2)
    yield eng
    eng.close()


def tables() -> tuple[ibis.Table, ibis.Table, ibis.Table]:
    def table(names: list[str], types: list[pa.DataType], data: list[tuple[Any, ...]]) -> Any:
        cols = {
            n: pa.array([r[i] for r in data], t)
            for i, (n, t) in enumerate(zip(names, types, strict=True))
        }
        return ibis.memtable(pa.table(cols))

    ts = pa.timestamp("us")
    pin = table(["ind", "category", "poster_name", "follower_count"],
                [pa.int32(), pa.string(), pa.string(), pa.int64()], PIN)  # fmt: skip
    geo = table(["ind", "country", "timestamp"], [pa.int32(), pa.string(), ts], GEO)
    user = table(["ind", "user_name", "age", "date_joined"],
                 [pa.int32(), pa.string(), pa.int32(), ts], USER)  # fmt: skip
    return pin, geo, user


def test_every_query_is_covered() -> None:
    """DATA.md's nine here; the sentiment analytic in test_sentiment.py."""
    assert list(QUERIES) == [*EXPECTED, "median_sentiment_by_category"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_query(engine: DuckDBEngine, name: str) -> None:
    columns, expected = EXPECTED[name]
    out = engine.to_arrow(QUERIES[name](*tables()))
    assert tuple(out.column_names) == columns
    assert [tuple(r.values()) for r in out.to_pylist()] == expected


def test_medians_are_doubles_and_exact(engine: DuckDBEngine) -> None:
    out = engine.to_arrow(QUERIES["median_followers_by_age_group"](*tables()))
    assert out.schema.field("median_follower_count").type == pa.float64()
    sql = ibis.to_sql(QUERIES["median_followers_by_join_year"](*tables()), dialect="duckdb")
    assert "QUANTILE_CONT" in sql.upper() and "APPROX" not in sql.upper()


def test_extra_columns_are_ignored(engine: DuckDBEngine) -> None:
    pin, geo, user = tables()
    pin = pin.mutate(_topic=ibis.literal("abc.pin"), title=ibis.literal("t"))
    geo = geo.mutate(_topic=ibis.literal("abc.geo"))
    user = user.mutate(_topic=ibis.literal("abc.user"))
    out = engine.to_arrow(QUERIES["category_by_country"](pin, geo, user))
    assert out.num_rows == 3


@pytest.mark.parametrize("name", list(EXPECTED))
def test_empty_tables(engine: DuckDBEngine, name: str) -> None:
    pin, geo, user = (t.limit(0) for t in tables())
    out = engine.to_arrow(QUERIES[name](pin, geo, user))
    assert (out.num_rows, tuple(out.column_names)) == (0, EXPECTED[name][0])
