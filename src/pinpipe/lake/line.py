"""The raw line: one log record as one NDJSON line of the lake, defined once.

The sink writes these lines to the raw zone and the stream job builds the same lines from the
records it reads, so every engine parses one format. A line is the record's JSON object plus
the four fields Kafka Connect's InsertField transform would add (``_topic``, ``_partition``,
``_offset``, ``_timestamp`` = ingest epoch ms); a value that is not a JSON object is kept whole
as text under ``_raw`` so the cleaning step can quarantine it with its origin.
"""

from __future__ import annotations

from typing import Final, Literal

import orjson
import pyarrow as pa

from pinpipe.log.base import LogRecord
from pinpipe.settings import TABLE_TOPIC_PATTERN

TableName = Literal["pin", "geo", "user"]
TABLES: Final[tuple[TableName, ...]] = ("pin", "geo", "user")

META_TYPES: Final[dict[str, pa.DataType]] = {
    "_topic": pa.string(),
    "_partition": pa.int32(),
    "_offset": pa.int64(),
    "_timestamp": pa.int64(),
}
"""The metadata fields of every line, with the types readers give them."""

META_COLUMNS: Final[tuple[str, ...]] = tuple(META_TYPES)

RAW_TEXT_FIELD: Final = "_raw"
"""Set on a line whose record value was not a JSON object (the value's text)."""

LINE_FIELD: Final = "_line"
"""The whole line as text, kept by readers so a rejected record is quarantined as it arrived."""

RAW_FIELDS: Final[dict[TableName, tuple[str, ...]]] = {
    "pin": (
        "index",
        "unique_id",
        "title",
        "description",
        "poster_name",
        "follower_count",
        "tag_list",
        "is_image_or_video",
        "image_src",
        "downloaded",
        "save_location",
        "category",
    ),
    "geo": ("ind", "timestamp", "latitude", "longitude", "country"),
    "user": ("ind", "first_name", "last_name", "age", "date_joined"),
}
"""Source fields in source order. Every table accepts ``index`` or ``ind`` as its key."""

TOPIC_SEPARATORS: Final = (".", "-", "_")
"""A topic feeds table ``t`` when its name ends with one of these and ``t``."""

TOPIC_PATTERN: Final = TABLE_TOPIC_PATTERN
"""``table_of_topic`` as a regular expression: the default topic policy (``[topics]``), which
``settings`` defines because the ingest API and the log apply it too (tests keep them equal)."""


def raw_fields(table: TableName) -> tuple[str, ...]:
    """The record fields read for ``table``: its source fields plus both key spellings."""
    fields = RAW_FIELDS[table]
    return fields + tuple(k for k in ("ind", "index") if k not in fields)


def table_of_topic(topic: str) -> TableName | None:
    """The table a topic or stream feeds: names ending ``.pin``, ``-pin`` or ``_pin`` (etc.)."""
    for table in TABLES:
        for sep in TOPIC_SEPARATORS:
            if topic.endswith(sep + table):
                return table
    return None


def decode_value(value: bytes | None) -> dict[str, object] | None:
    """The record value as a JSON object, or None when it is not one.

    A JSON string that itself holds a JSON object (a client that encoded twice, or Kinesis
    ``Data`` sent as a string) is unwrapped once.
    """
    if value is None:
        return None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, str):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError:
            return None
    return doc if isinstance(doc, dict) else None


def encode(topic: str, partition: int, offset: int, timestamp: int, value: bytes | None) -> bytes:
    """The line of one record: the value's fields plus the four metadata fields."""
    doc = decode_value(value)
    if doc is None:
        text = "" if value is None else value.decode("utf-8", "backslashreplace")
        doc = {RAW_TEXT_FIELD: text}
    doc["_topic"] = topic
    doc["_partition"] = partition
    doc["_offset"] = offset
    doc["_timestamp"] = timestamp
    return orjson.dumps(doc)


def lake_line(record: LogRecord) -> bytes:
    """``encode`` of a log record."""
    return encode(record.topic, record.partition, record.offset, record.timestamp, record.value)
