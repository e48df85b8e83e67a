"""The raw line: one definition of the record → line encoding and the topic → table rule."""

from __future__ import annotations

import re

import orjson
import pytest

from pinpipe.lake.line import TOPIC_PATTERN, decode_value, encode, table_of_topic
from pinpipe.settings import TopicSettings

NAMES = {
    "pinpipe.pin": "pin",
    "streaming-0a1b-geo": "geo",
    "abc_user": "user",
    "pinpipe.pins": None,
    "pin": None,
    "pinpipe.pin.old": None,
    "x.user_geo": "geo",
    "a-b.geo": "geo",
}


@pytest.mark.parametrize(("topic", "table"), NAMES.items())
def test_topic_to_table_and_its_pattern_agree(topic: str, table: str | None) -> None:
    assert table_of_topic(topic) == table
    assert bool(re.fullmatch(TOPIC_PATTERN, topic)) == (table is not None)
    assert TopicSettings().allows(topic) == (table is not None)  # the default topic policy


def test_a_line_is_the_object_plus_the_four_metadata_fields() -> None:
    line = orjson.loads(encode("t.pin", 2, 41, 1_700_000_000_123, b'{"index": 7, "title": "x"}'))
    assert line == {
        "index": 7,
        "title": "x",
        "_topic": "t.pin",
        "_partition": 2,
        "_offset": 41,
        "_timestamp": 1_700_000_000_123,
    }


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (b"[1, 2]", "[1, 2]"),
        (b"{not json", "{not json"),
        (b'"a plain string"', '"a plain string"'),
        (b"\xff\xfe", "\\xff\\xfe"),
        (None, ""),
    ],
)
def test_a_value_that_is_not_an_object_is_kept_whole_under_raw(
    value: bytes | None, raw: str
) -> None:
    line = orjson.loads(encode("t.geo", 0, 0, 0, value))
    assert line["_raw"] == raw and line["_topic"] == "t.geo"


def test_a_twice_encoded_object_is_unwrapped_once() -> None:
    inner = orjson.dumps({"ind": 3})
    assert decode_value(orjson.dumps(inner.decode())) == {"ind": 3}
    assert decode_value(orjson.dumps(orjson.dumps(inner.decode()).decode())) is None
