"""Cleaning of pin records (DATA.md §3): placeholders, follower counts, save locations."""

from __future__ import annotations

from typing import Final

import ibis.expr.types as ir

from pinpipe.transform import coerce
from pinpipe.transform.staging import Staged, Stager

PLACEHOLDERS: Final[dict[str, tuple[str, ...]]] = {
    "title": ("No Title Data Available", "Untitled"),
    "description": (
        "No description available",
        "No description available Story format",
        "Untitled",
    ),
    "poster_name": ("User Info Error",),
    "follower_count": ("User Info Error",),
    "tag_list": ("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",),
    "image_src": ("Image src error.",),
}
"""Exact strings (after trimming) that mean "no data" in the source."""

_TEXT: Final = (
    "unique_id",
    "title",
    "description",
    "poster_name",
    "tag_list",
    "is_image_or_video",
    "image_src",
    "category",
)
_SAVE_PREFIX: Final = r"\ALocal save in +"

FOLLOWER_COUNT_ISSUE: Final = "follower_count is not a number"


def _parse(fields: ir.Table) -> dict[str, ir.Value]:
    followers = coerce.without(fields.follower_count, PLACEHOLDERS["follower_count"])
    return {
        "_followers_text": followers,
        "_followers": coerce.follower_count(followers),
    }


def _finish(parsed: ir.Table) -> Staged:
    """Nothing in a pin is rejected besides its key; a bad follower count is only counted."""
    cols: dict[str, ir.Value] = {
        name: coerce.without(parsed[name], PLACEHOLDERS.get(name, ())) for name in _TEXT
    }
    cols["follower_count"] = parsed._followers
    cols["save_location"] = coerce.text(parsed.save_location.re_replace(_SAVE_PREFIX, ""))
    bad_count = coerce.invalid(parsed._followers_text, parsed._followers)
    return Staged(columns=cols, checks=(), issues={FOLLOWER_COUNT_ISSUE: bad_count})


STAGER: Final = Stager(parse=_parse, finish=_finish)
