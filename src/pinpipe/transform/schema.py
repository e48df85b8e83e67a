"""The cleaned tables' contract (DATA.md §3); the raw side is ``pinpipe.lake.line``."""

from __future__ import annotations

from typing import Final

from pinpipe.lake.line import TableName

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
