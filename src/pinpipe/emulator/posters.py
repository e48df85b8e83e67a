"""The poster model: who posts how much, and what their user and geo rows look like.

In the reference data the user and geo of a row belong to the poster, not the post. A poster
with ``n`` posts carries the column-wise minimum of ``n`` independent draws (so prolific
posters are young, joined early, have "A..." names and sit near (-90, -180)), and prolific
posters have far more followers. Sampling the minimum directly (inverse CDF of
``1 - (1 - u)**n``) costs O(1) per poster, which keeps a million rows cheap.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, pairwise

from faker import Faker

from pinpipe.emulator import vocab

#: Posts per user -> number of users in the 11,154-row reference table, without the
#: "User Info Error" pseudo-poster (modelled separately).
POSTS_PER_POSTER: tuple[tuple[int, int], ...] = (
    (1, 3869), (2, 640), (3, 272), (4, 156), (5, 88), (6, 65), (7, 36), (8, 35), (9, 22),
    (10, 25), (11, 11), (12, 9), (13, 8), (14, 8), (15, 6), (16, 5), (17, 1), (18, 7), (19, 5),
    (20, 3), (21, 3), (23, 1), (24, 4), (26, 1), (28, 3), (30, 1), (31, 1), (32, 1), (35, 3),
    (36, 1), (38, 1), (44, 1), (45, 2), (47, 1), (49, 1), (53, 1), (54, 1), (60, 1), (68, 1),
    (81, 1), (86, 2), (88, 1), (140, 1), (244, 1),
)  # fmt: skip

#: Per-post follower quantile function of ordinary posts: (cumulative share, followers).
#: Knots sit on the format boundaries so the plain/k/M shares come out as in the reference.
_PLAIN_END = 0.164 / 0.991
_THOUSANDS_END = 1 - 0.072 / 0.991
FOLLOWER_QUANTILES: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.05, 31.0), (0.10, 206.0), (_PLAIN_END, 940.0),
    (_PLAIN_END, 1_000.0), (0.25, 4_000.0), (0.50, 30_000.0), (0.75, 203_000.0),
    (0.90, 903_000.0), (_THOUSANDS_END, 985_000.0),
    (_THOUSANDS_END, 1_000_000.0), (0.95, 2_000_000.0), (0.99, 5_000_000.0), (1.0, 8_999_999.0),
)  # fmt: skip
TOP_FOLLOWERS = "15M"
#: Follower rank score = SLOPE * log(posts) + BONUS if posts > 1, + NOISE * N(0, 1). Tuned so
#: median followers per post are near the reference 1k / 21k / 64k / 500k for posters with
#: 1 / 2-4 / 5-19 / 20+ posts (we get about 1k / 45k / 110k / 520k: the reference medians
#: come from a 40% sample and no smooth rank model hits all four).
FOLLOWER_RANK_SLOPE = 0.5
FOLLOWER_RANK_BONUS = 2.0
FOLLOWER_RANK_NOISE = 1.25

# Source datetimes are naive (MySQL DATETIME); joins all end before the first post.
JOIN_START = dt.datetime(2015, 10, 21, 3, 17, 47)  # noqa: DTZ001
JOIN_END = dt.datetime(2017, 10, 19, 15, 13, 41)  # noqa: DTZ001
POST_START = dt.datetime(2017, 10, 19, 15, 13, 42)  # noqa: DTZ001
POST_END = dt.datetime(2022, 10, 19, 17, 54, 26)  # noqa: DTZ001


@dataclass(frozen=True, slots=True)
class PosterProfile:
    """One poster: their pin-level identity plus the user and geo every post of theirs carries."""

    name: str
    follower_count: str
    posts: int
    first_name: str
    last_name: str
    age: int
    date_joined: dt.datetime
    latitude: float
    longitude: float
    country: str


@dataclass(frozen=True, slots=True)
class _Weighted:
    """Alphabetically sorted values with cumulative weights, for minimum-of-n draws."""

    values: tuple[str, ...]
    cum: tuple[float, ...]

    def min_of(self, u: float) -> str:
        return self.values[min(bisect.bisect_right(self.cum, u * self.cum[-1]), len(self.cum) - 1)]


@dataclass(frozen=True, slots=True)
class LocaleData:
    """Faker en_US lists, drawn from with our own seeded ``random.Random`` for speed.

    Faker's weighted ``first_name()`` costs ~60 µs a call; bisecting its own weights is ~1 µs.
    """

    first_names: _Weighted
    last_names: _Weighted
    countries: _Weighted
    words: tuple[str, ...]


@lru_cache(maxsize=1)
def locale_data() -> LocaleData:
    fake = Faker("en_US")
    people = next(p for p in fake.get_providers() if hasattr(p, "last_names"))
    address = next(
        p for p in fake.get_providers() if hasattr(p, "countries") and "Albania" in p.countries
    )
    lorem = next(p for p in fake.get_providers() if hasattr(p, "word_list"))

    def weighted(items: dict[str, float]) -> _Weighted:
        ordered = sorted(items.items())
        return _Weighted(tuple(k for k, _ in ordered), tuple(accumulate(w for _, w in ordered)))

    countries: dict[str, float] = {}
    for name in address.countries:  # Faker's list names Congo and Korea twice: keep the weight
        countries[name] = countries.get(name, 0.0) + 1.0
    return LocaleData(
        first_names=weighted(dict(people.first_names)),
        last_names=weighted(dict(people.last_names)),
        countries=weighted(countries),
        words=tuple(lorem.word_list),
    )


def min_uniform(rng: random.Random, n: int) -> float:
    """A draw of the minimum of ``n`` independent U(0, 1) variables."""
    return 1.0 - (1.0 - rng.random()) ** (1.0 / n)


def posts_per_poster(rows: int, placeholder_posts: int, rng: random.Random) -> list[int]:
    """Posts of each ordinary poster, the reference histogram scaled to ``rows``."""
    target = rows - placeholder_posts
    scale = rows / vocab.REFERENCE_ROWS
    counts: list[int] = []
    for posts, users in POSTS_PER_POSTER:
        expected = users * scale
        k = int(expected) + (rng.random() < expected - int(expected))
        counts.extend([posts] * k)
    rng.shuffle(counts)
    total = sum(counts)
    while total > target:  # too many posts: drop posters, then top up with one-post posters
        total -= counts.pop()
    counts.extend([1] * (target - total))
    rng.shuffle(counts)
    return counts


def _follower_value(p: float) -> float:
    knots = FOLLOWER_QUANTILES
    for (p0, v0), (p1, v1) in pairwise(knots):
        if p <= p1 and p1 > p0:
            frac = (p - p0) / (p1 - p0)
            lo, hi = math.log10(v0 + 1), math.log10(v1 + 1)
            return float(10 ** (lo + frac * (hi - lo)) - 1)
    return knots[-1][1]


def format_followers(value: float) -> str:
    """Render like the scraper did: plain below 1,000, integer ``k`` then integer ``M``."""
    if value < 1_000:
        return str(int(value))
    if value < 1_000_000:
        return f"{min(985, max(1, round(value / 1_000)))}k"
    return f"{min(8, int(value // 1_000_000))}M"


def follower_counts(posts: list[int], rng: random.Random) -> list[str]:
    """Follower strings per poster: ranked by noisy prolificness, mapped to per-post quantiles.

    Mapping each poster's share of posts onto the per-post quantile function makes the format
    shares exact (up to one poster's weight) whatever the seed, while the ranking keeps
    prolific posters on top.
    """
    scores = [
        FOLLOWER_RANK_SLOPE * math.log(n)
        + (FOLLOWER_RANK_BONUS if n > 1 else 0.0)
        + FOLLOWER_RANK_NOISE * rng.gauss()
        for n in posts
    ]
    order = sorted(range(len(posts)), key=scores.__getitem__)
    total = sum(posts)
    result = [""] * len(posts)
    done = 0
    for k in order:
        result[k] = format_followers(_follower_value((done + posts[k] / 2) / total))
        done += posts[k]
    if order:
        result[order[-1]] = TOP_FOLLOWERS
    return result


def draw_user_geo(
    posts: int, rng: random.Random, data: LocaleData
) -> tuple[str, str, int, dt.datetime, float, float, str]:
    """first, last, age, date_joined, latitude, longitude, country: minima of ``posts`` draws."""
    join_span = (JOIN_END - JOIN_START).total_seconds()
    first = data.first_names.min_of(min_uniform(rng, posts))
    last = data.last_names.min_of(min_uniform(rng, posts))
    age = 20 + min(40, int(41 * min_uniform(rng, posts)))
    joined = JOIN_START + dt.timedelta(seconds=int(join_span * min_uniform(rng, posts)))
    lat = float(f"{-90 + 180 * min_uniform(rng, posts):.6g}")
    lon = float(f"{-180 + 360 * min_uniform(rng, posts):.6g}")
    country = data.countries.min_of(min_uniform(rng, posts))
    return first, last, age, joined, lat, lon, country


def _title(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def _poster_name(rng: random.Random, data: LocaleData, category: str) -> str:
    nouns, adjectives = vocab.CATEGORY_WORDS[category]
    first = rng.choice(data.first_names.values)
    last = rng.choice(data.last_names.values)
    style = rng.random()
    if style < 0.35:
        return f"{first} {last}"
    if style < 0.45:
        return f"{first} | {_title(rng.choice(nouns))} {rng.choice(vocab.BLOG_SUFFIXES)}"
    if style < 0.60:
        return f"The {_title(rng.choice(adjectives))} {_title(rng.choice(nouns))}"
    if style < 0.75:
        a, b = rng.sample(vocab.BRAND_WORDS, 2)
        return ("The" if rng.random() < 0.3 else "") + a.capitalize() + b.capitalize()
    if style < 0.88:
        return f"{_title(rng.choice(adjectives))} {_title(rng.choice(vocab.BRAND_WORDS))}"
    if style < 0.95:
        return f"{first}'s {_title(rng.choice(nouns))} {_title(rng.choice(vocab.BRAND_WORDS))}"
    return f"{_title(rng.choice(nouns)).replace(' ', '')}{rng.choice(vocab.BRAND_WORDS)}.com"


def poster_names(categories: list[str], rng: random.Random, data: LocaleData) -> list[str]:
    """One distinct display name per poster (a name maps to one user); a few end in a space."""
    taken = {vocab.USER_INFO_ERROR}
    names: list[str] = []
    for category in categories:
        name = _poster_name(rng, data, category)
        tries = 0
        while name in taken or name.strip() in taken:
            tries += 1
            name = _poster_name(rng, data, category)
            if tries > 5:
                name = f"{name} {rng.randint(2, 10**6)}"
        taken.add(name)
        if rng.random() < vocab.SHARE_TRAILING_SPACE:
            name += " "
        names.append(name)
    return names
