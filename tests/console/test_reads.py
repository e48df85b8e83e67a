"""The limits people's queries run under, and Explore's menus turned into SQL."""

from __future__ import annotations

import pytest

from pinpipe.console.explore import parse, to_sql
from pinpipe.console.reads import QueryRefused, Reader
from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.errors import ConfigError
from pinpipe.lake import Lake
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import ConsoleSettings
from tests.helpers import produce_rows, stream_once


@pytest.fixture
def landed(log: EmbeddedLog, lake: Lake, source: SourceTables) -> Lake:
    produce_rows(log, source, list(range(120)))
    stream_once(log, lake, get_engine("duckdb"))
    return lake


def reader(lake: Lake, **settings: object) -> Reader:
    return Reader(lake, ConsoleSettings(**settings))  # type: ignore[arg-type]


def test_row_limit_cuts_and_says_so(landed: Lake) -> None:
    answer = reader(landed, row_limit=7).sql("SELECT ind FROM pin ORDER BY ind")
    assert answer.table.num_rows == 7 and answer.truncated
    whole = reader(landed).sql("SELECT ind FROM pin ORDER BY ind;")
    assert not whole.truncated and whole.table.num_rows > 7
    assert whole.table.column("ind").to_pylist()[:7] == answer.table.column("ind").to_pylist()


def test_a_long_query_is_interrupted_with_the_reason(landed: Lake) -> None:
    slow = "SELECT count(*) FROM pin a, pin b, pin c, pin d, pin e WHERE a.title <> e.title"
    with pytest.raises(QueryRefused, match=r"ran longer than 0\.3 s"):
        reader(landed, query_timeout_s=0.3).sql(slow)


def test_memory_limit_refuses_with_the_reason(landed: Lake) -> None:
    big = "SELECT a.ind, list(b.description) FROM pin a, pin b, pin c GROUP BY a.ind"
    with pytest.raises(QueryRefused, match="memory"):
        reader(landed, memory_limit="4MB").sql(big)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("DELETE FROM pin", "read-only"),
        ("SELECT * FROM read_csv('/etc/passwd')", "not permitted"),
        ("SELECT 1; DROP TABLE pin", "one SQL statement"),
        ("SELECT nope FROM pin", "nope"),
    ],
)
def test_refusals_say_why(landed: Lake, query: str, why: str) -> None:
    with pytest.raises(QueryRefused, match=why):
        reader(landed).sql(query)


def test_explore_builds_checked_quoted_sql(landed: Lake) -> None:
    r = reader(landed)
    columns = r.columns("joined")
    assert columns["follower_count"] == "number" and columns["timestamp"] == "time"
    params = {
        "table": ["joined"], "f0_col": ["poster_name"], "f0_op": ["="], "f0_val": ["O'Brien"],
        "f1_col": ["age"], "f1_op": [">="], "f1_val": ["30"], "group": ["year:timestamp"],
        "measure": ["max"], "column": ["follower_count"],
    }  # fmt: skip
    sql = to_sql(parse(params, columns), columns)
    assert "'O''Brien'" in sql and '"age" >= 30' in sql and 'year("timestamp")' in sql
    r.sql(sql)  # runs through the guard


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"table": ["nope"]}, "choose a table"),
        ({"f0_col": ["ind; DROP"], "f0_val": ["1"]}, "no column"),
        ({"f0_col": ["follower_count"], "f0_op": [">"], "f0_val": ["lots"]}, "not a number"),
        ({"measure": ["sum"], "column": ["title"]}, "needs a number column"),
        ({"group": ["year:title"]}, "cannot group"),
    ],
)
def test_explore_refuses_bad_menus(landed: Lake, params: dict[str, list[str]], why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        parse(params, reader(landed).columns("pin"))


def test_analytics_are_computed_together_and_again_only_after_a_commit(
    landed: Lake, log: EmbeddedLog, source: SourceTables
) -> None:
    r = reader(landed)
    before, top = r.analytic("top_country")
    again, joined = r.analytic("users_joined_by_year")
    assert again == before and r.analytic("top_country")[1] is top
    produce_rows(log, source, list(range(120, 200)))
    stream_once(log, landed, get_engine("duckdb"))
    after, joined_after = r.analytic("users_joined_by_year")
    assert after != before
    assert sum(joined_after.column("number_users_joined").to_pylist()) > sum(
        joined.column("number_users_joined").to_pylist()
    )
