"""Synthetic source tables that look like the reference Pinterest tables (DATA.md §1-2).

Row ``i`` of ``pin``, ``geo`` and ``user`` describes the same post. Everything random comes
from one ``random.Random(seed)`` (Faker only supplies its en_US word and name lists), so a
seed always yields the same tables and no global random state is touched.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from itertools import accumulate
from typing import Any

from pinpipe.emulator import vocab
from pinpipe.emulator.posters import (
    POST_END,
    POST_START,
    PosterProfile,
    draw_user_geo,
    follower_counts,
    locale_data,
    poster_names,
    posts_per_poster,
)
from pinpipe.emulator.text import CategoryText
from pinpipe.errors import ConfigError

PIN_FIELDS: tuple[str, ...] = (
    "index", "unique_id", "title", "description", "poster_name", "follower_count", "tag_list",
    "is_image_or_video", "image_src", "downloaded", "save_location", "category",
)  # fmt: skip
GEO_FIELDS: tuple[str, ...] = ("ind", "timestamp", "latitude", "longitude", "country")
USER_FIELDS: tuple[str, ...] = ("ind", "first_name", "last_name", "age", "date_joined")

#: Share of a multi-post poster's posts in their home category (the rest go anywhere).
HOME_SHARE = 0.7
_PIN_URL = "https://i.pinimg.com/originals/"
_THUMB_URL = "https://i.pinimg.com/videos/thumbnails/originals/"


@dataclass(frozen=True)
class SourceTables:
    """The three source tables, each a list of row dicts in source field order."""

    pin: list[dict[str, Any]]
    geo: list[dict[str, Any]]
    user: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.pin)


def category_bounds(rows: int) -> list[int]:
    """Start index of each category block (plus ``rows``), the reference blocks scaled."""
    cum = list(accumulate(size for _, size in vocab.CATEGORY_SIZES))
    return [0] + [round(c * rows / vocab.REFERENCE_ROWS) for c in cum]


def _assign_rows(
    posters: list[PosterProfile], homes: list[int], bounds: list[int], rng: random.Random
) -> list[int]:
    """Poster of every row: each post prefers its poster's home category, blocks stay exact."""
    weights = list(accumulate(size for _, size in vocab.CATEGORY_SIZES))
    cats = range(len(vocab.CATEGORIES))
    wanted: list[tuple[int, int]] = []
    for k, poster in enumerate(posters):
        for _ in range(poster.posts):
            home = homes[k]
            if home < 0 or (poster.posts > 1 and rng.random() >= HOME_SHARE):
                home = rng.choices(cats, cum_weights=weights)[0]
            wanted.append((k, home))
    rng.shuffle(wanted)
    room = [bounds[c + 1] - bounds[c] for c in cats]
    blocks: list[list[int]] = [[] for _ in cats]
    spill: list[int] = []
    for k, cat in wanted:
        if room[cat]:
            room[cat] -= 1
            blocks[cat].append(k)
        else:
            spill.append(k)
    free = [c for c in cats for _ in range(room[c])]
    rng.shuffle(free)
    for k, cat in zip(spill, free, strict=True):
        blocks[cat].append(k)
    row_poster: list[int] = []
    for block in blocks:
        rng.shuffle(block)
        row_poster.extend(block)
    return row_poster


def _make_posters(rows: int, rng: random.Random) -> tuple[list[PosterProfile], list[int]]:
    """All posters (the "User Info Error" pseudo-poster last) and their home category (-1: none)."""
    data = locale_data()
    placeholder_posts = round(rows * vocab.SHARE_ALL_PLACEHOLDER)
    counts = posts_per_poster(rows, placeholder_posts, rng)
    weights = list(accumulate(size for _, size in vocab.CATEGORY_SIZES))
    homes = rng.choices(range(len(vocab.CATEGORIES)), cum_weights=weights, k=len(counts))
    followers = follower_counts(counts, rng)
    names = poster_names([vocab.CATEGORIES[h] for h in homes], rng, data)
    posters = [
        PosterProfile(name, fc, n, *draw_user_geo(n, rng, data))
        for name, fc, n in zip(names, followers, counts, strict=True)
    ]
    if placeholder_posts:
        error = vocab.USER_INFO_ERROR
        posters.append(
            PosterProfile(
                error, error, placeholder_posts, *draw_user_geo(placeholder_posts, rng, data)
            )
        )
        homes.append(-1)
    return posters, homes


def generate(rows: int = 11_154, seed: int = 100) -> SourceTables:
    """Generate ``rows`` posts as three aligned source tables, deterministically for ``seed``."""
    if rows < 1:
        raise ConfigError(f"rows must be at least 1, got {rows}: pass a positive row count")
    rng = random.Random(seed)
    posters, homes = _make_posters(rows, rng)
    bounds = category_bounds(rows)
    row_poster = _assign_rows(posters, homes, bounds, rng)
    placeholder = posters[-1] if homes and homes[-1] < 0 else None
    placeholder_share = (placeholder.posts / rows) if placeholder else 0.0
    regular = 1.0 - placeholder_share

    # Shares among ordinary rows, so the totals over all rows match the reference.
    story = max(0.0, (vocab.SHARE_STORY - placeholder_share) / regular)
    video = vocab.SHARE_VIDEO / regular
    story_errors = vocab.SHARE_STORY_IMAGE_ERROR * vocab.SHARE_STORY
    story_error = max(
        0.0, (story_errors - placeholder_share) / max(1e-9, vocab.SHARE_STORY - placeholder_share)
    )
    no_description = vocab.SHARE_NO_DESCRIPTION / (1.0 - vocab.SHARE_STORY)
    no_tags = vocab.SHARE_NO_TAGS / regular
    truncated = vocab.SHARE_TRUNCATED / (1.0 - vocab.SHARE_STORY - vocab.SHARE_NO_DESCRIPTION)
    sizes = [size for _, size in vocab.CATEGORY_SIZES]
    mean_weight = sum(
        vocab.MEDIA_WEIGHT[c] * s for c, s in zip(vocab.CATEGORIES, sizes, strict=True)
    ) / sum(sizes)

    words = locale_data().words
    ext_names = [e for e, _ in vocab.IMAGE_EXTENSIONS]
    ext_weights = list(accumulate(w for _, w in vocab.IMAGE_EXTENSIONS))
    post_span = int((POST_END - POST_START).total_seconds())

    pin: list[dict[str, Any]] = []
    geo: list[dict[str, Any]] = []
    user: list[dict[str, Any]] = []
    for c, category in enumerate(vocab.CATEGORIES):
        text = CategoryText.build(category, words)
        media = vocab.MEDIA_WEIGHT[category] / mean_weight
        p_story, p_video = story * media, video * media
        save_location = f"Local save in /data/{category}"
        for i in range(bounds[c], bounds[c + 1]):
            poster = posters[row_poster[i]]
            h = f"{rng.getrandbits(128):032x}"
            path = f"{h[0:2]}/{h[2:4]}/{h[4:6]}/{h}"
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if poster is placeholder:
                kind, title, description = vocab.STORY, vocab.NO_TITLE, vocab.STORY_DESCRIPTION
                tags, image_src = vocab.NO_TAGS, vocab.IMAGE_SRC_ERROR
            else:
                r = rng.random()
                kind = (
                    vocab.STORY
                    if r < p_story
                    else vocab.VIDEO
                    if r < p_story + p_video
                    else vocab.IMAGE
                )
                if kind == vocab.IMAGE:
                    ext = rng.choices(ext_names, cum_weights=ext_weights)[0]
                    image_src = f"{_PIN_URL}{path}.{ext}"
                elif kind == vocab.STORY and rng.random() < story_error:
                    image_src = vocab.IMAGE_SRC_ERROR
                else:
                    image_src = f"{_THUMB_URL}{path}.0000001.jpg"
                title = (
                    vocab.UNTITLED
                    if rng.random() < vocab.SHARE_UNTITLED
                    else text.title(rng, poster.name)
                )
                if kind == vocab.STORY:
                    description = vocab.STORY_DESCRIPTION
                elif rng.random() < no_description:
                    description = vocab.NO_DESCRIPTION
                elif rng.random() < vocab.SHARE_UNTITLED:
                    description = vocab.UNTITLED
                else:
                    description = text.description(rng, rng.random() < truncated)
                tags = vocab.NO_TAGS if rng.random() < no_tags else text.tag_list(rng)
            pin.append(
                {
                    "index": i,
                    "unique_id": uid,
                    "title": title,
                    "description": description,
                    "poster_name": poster.name,
                    "follower_count": poster.follower_count,
                    "tag_list": tags,
                    "is_image_or_video": kind,
                    "image_src": image_src,
                    "downloaded": 0 if image_src == vocab.IMAGE_SRC_ERROR else 1,
                    "save_location": save_location,
                    "category": category,
                }
            )
            geo.append(
                {
                    "ind": i,
                    "timestamp": POST_START
                    + timedelta(seconds=int(rng.random() * (post_span + 1))),
                    "latitude": poster.latitude,
                    "longitude": poster.longitude,
                    "country": poster.country,
                }
            )
            user.append(
                {
                    "ind": i,
                    "first_name": poster.first_name,
                    "last_name": poster.last_name,
                    "age": poster.age,
                    "date_joined": poster.date_joined,
                }
            )
    return SourceTables(pin=pin, geo=geo, user=user)
