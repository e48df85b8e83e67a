"""Names shared by every stage: the three tables, their raw fields and the lake-line metadata."""

from __future__ import annotations

from typing import Final, Literal

TableName = Literal["pin", "geo", "user"]
TABLES: Final[tuple[TableName, ...]] = ("pin", "geo", "user")

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

CLEAN_COLUMNS: Final[dict[TableName, tuple[str, ...]]] = {
    "pin": (
        "ind",
        "unique_id",
        "title",
        "description",
        "follower_count",
        "poster_name",
        "tag_list",
        "is_image_or_video",
        "image_src",
        "save_location",
        "category",
    ),
    "geo": ("ind", "country", "coordinates", "timestamp"),
    "user": ("ind", "user_name", "age", "date_joined"),
}
"""Cleaned columns in contract order (DATA.md §3)."""

META_COLUMNS: Final[tuple[str, ...]] = ("_topic", "_partition", "_offset", "_timestamp")
"""Added to every lake line like Kafka Connect's InsertField; ``_timestamp`` is ingest epoch ms."""

RAW_TEXT_FIELD: Final = "_raw"
"""Set on a lake line whose record value was not a JSON object (the value's text)."""

QUARANTINE_COLUMNS: Final[tuple[str, ...]] = (
    "reason",
    "stage",
    "_topic",
    "_partition",
    "_offset",
    "_timestamp",
    "raw",
)


def table_of_topic(topic: str) -> TableName | None:
    """The table a topic or stream feeds: names ending ``.pin``, ``-pin`` or ``_pin`` (etc.)."""
    for table in TABLES:
        for sep in (".", "-", "_"):
            if topic.endswith(sep + table):
                return table
    return None
