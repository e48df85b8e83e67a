"""The generator reproduces the shapes and shares of the reference source tables (DATA.md §2).

Tolerances are stated per test; the table is generated once at the default size and seed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import statistics
from collections import Counter, defaultdict
from typing import Any

import pytest
from faker import Faker

from pinpipe.emulator.generator import (
    GEO_FIELDS,
    PIN_FIELDS,
    USER_FIELDS,
    SourceTables,
    category_bounds,
    generate,
)
from pinpipe.errors import ConfigError

ROWS = 11_154
CATEGORIES = [
    "art", "beauty", "christmas", "diy-and-crafts", "education", "event-planning", "finance",
    "home-decor", "mens-fashion", "quotes", "tattoos", "travel", "vehicles",
]  # fmt: skip
STORY = "multi-video(story page format)"
UIE = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMG_ERR = "Image src error."
HEX = "[0-9a-f]"
IMAGE_RE = re.compile(
    rf"^https://i\.pinimg\.com/originals/({HEX}{{2}})/({HEX}{{2}})/({HEX}{{2}})/"
    rf"({HEX}{{32}})\.(jpg|png|webp|gif)$"
)
THUMB_RE = re.compile(
    rf"^https://i\.pinimg\.com/videos/thumbnails/originals/({HEX}{{2}})/({HEX}{{2}})/"
    rf"({HEX}{{2}})/({HEX}{{32}})\.0000001\.jpg$"
)
UUID4_RE = re.compile(rf"^{HEX}{{8}}-{HEX}{{4}}-4{HEX}{{3}}-[89ab]{HEX}{{3}}-{HEX}{{12}}$")


@pytest.fixture(scope="module")
def tables() -> SourceTables:
    return generate()


def faker_list(attr: str) -> set[str]:
    """A list from Faker's en_US providers (countries, first_names, last_names)."""
    for provider in Faker("en_US").get_providers():
        values = getattr(provider, attr, None)
        if values and (attr != "countries" or "Albania" in values):
            return set(values)
    raise LookupError(attr)


def share(rows: list[dict[str, Any]], pred: Any) -> float:
    """Percentage of rows matching ``pred``."""
    return 100.0 * sum(1 for r in rows if pred(r)) / len(rows)


def followers(value: str) -> int | None:
    if value.endswith("k"):
        return int(value[:-1]) * 1_000
    if value.endswith("M"):
        return int(value[:-1]) * 1_000_000
    return int(value) if value.isdigit() else None


def user_key(u: dict[str, Any]) -> tuple[Any, ...]:
    return (u["first_name"], u["last_name"], u["age"], u["date_joined"])


def test_shape_field_order_and_types(tables: SourceTables) -> None:
    assert len(tables) == len(tables.pin) == len(tables.geo) == len(tables.user) == ROWS
    for i, (p, g, u) in enumerate(zip(tables.pin, tables.geo, tables.user, strict=True)):
        assert tuple(p) == PIN_FIELDS and tuple(g) == GEO_FIELDS and tuple(u) == USER_FIELDS
        assert p["index"] == g["ind"] == u["ind"] == i
        assert type(p["follower_count"]) is str and p["downloaded"] in (0, 1)
        assert isinstance(g["timestamp"], dt.datetime) and g["timestamp"].tzinfo is None
        assert isinstance(u["date_joined"], dt.datetime) and u["date_joined"].tzinfo is None
        assert type(g["latitude"]) is float and type(g["longitude"]) is float
        assert type(u["age"]) is int
    assert PIN_FIELDS == (
        "index", "unique_id", "title", "description", "poster_name", "follower_count",
        "tag_list", "is_image_or_video", "image_src", "downloaded", "save_location", "category",
    )  # fmt: skip


def test_no_nulls_or_empty_strings(tables: SourceTables) -> None:
    for table in (tables.pin, tables.geo, tables.user):
        for row in table:
            for value in row.values():
                assert value is not None
                if isinstance(value, str):
                    assert value.strip(), row


def test_thirteen_categories_in_alphabetical_blocks(tables: SourceTables) -> None:
    cats = [p["category"] for p in tables.pin]
    blocks = [c for i, c in enumerate(cats) if i == 0 or cats[i - 1] != c]
    assert blocks == CATEGORIES == sorted(CATEGORIES)
    counts = Counter(cats)
    assert counts["art"] == 894 and counts["vehicles"] == 838  # reference blocks at 11,154
    assert cats.index("beauty") == 894 and cats.index("vehicles") == 10316
    for p in tables.pin:
        assert p["save_location"] == f"Local save in /data/{p['category']}"


@pytest.mark.parametrize("rows", [1, 13, 50, 1000, 25_000])
def test_blocks_scale_with_rows(rows: int) -> None:
    bounds = category_bounds(rows)
    assert bounds[0] == 0 and bounds[-1] == rows and bounds == sorted(bounds)
    if rows >= 1000:
        sizes = [b - a for a, b in itertools.pairwise(bounds)]
        assert all(abs(s / rows - 894 / ROWS) < 0.02 for s in sizes[:1])


def test_follower_count_formats_and_shares(tables: SourceTables) -> None:
    values = [p["follower_count"] for p in tables.pin]
    k = [v for v in values if re.fullmatch(r"[1-9]\d*k", v)]
    plain = [v for v in values if re.fullmatch(r"0|[1-9]\d*", v)]
    mega = [v for v in values if re.fullmatch(r"[1-9]\d*M", v)]
    uie = [v for v in values if v == UIE]
    assert len(k) + len(plain) + len(mega) + len(uie) == ROWS  # nothing else, no decimals
    pct = 100 / ROWS
    assert abs(len(k) * pct - 75.5) <= 1.5
    assert abs(len(plain) * pct - 16.4) <= 1.5
    assert abs(len(mega) * pct - 7.2) <= 1.5
    assert abs(len(uie) * pct - 0.9) <= 0.2
    assert all(1 <= int(v[:-1]) <= 985 for v in k)
    assert all(0 <= int(v) <= 940 for v in plain)
    assert {int(v[:-1]) for v in mega} <= {*range(1, 9), 15}
    top = {p["poster_name"] for p in tables.pin if p["follower_count"] == "15M"}
    assert len(top) == 1  # one poster at 15M
    by_poster: dict[str, set[str]] = defaultdict(set)
    for p in tables.pin:
        by_poster[p["poster_name"]].add(p["follower_count"])
    assert all(len(v) == 1 for v in by_poster.values())  # a property of the poster


def test_media_shares(tables: SourceTables) -> None:
    kinds = Counter(p["is_image_or_video"] for p in tables.pin)
    assert set(kinds) == {"image", "video", STORY}
    assert abs(100 * kinds["image"] / ROWS - 90.5) <= 1.5
    assert abs(100 * kinds["video"] / ROWS - 2.8) <= 0.6
    assert abs(100 * kinds[STORY] / ROWS - 6.7) <= 1.0


def test_placeholder_co_occurrence(tables: SourceTables) -> None:
    pin = tables.pin
    for p in pin:
        story = p["is_image_or_video"] == STORY
        assert (p["description"] == "No description available Story format") == story
        assert (p["downloaded"] == 0) == (p["image_src"] == IMG_ERR)
        if p["image_src"] == IMG_ERR:
            assert story
        placeholder = p["poster_name"] == UIE
        assert (p["follower_count"] == UIE) == placeholder
        assert (p["title"] == "No Title Data Available") == placeholder
        if placeholder:
            assert p["tag_list"] == NO_TAGS and story and p["image_src"] == IMG_ERR
        if p["description"] == "No description available":
            assert not story
    stories = [p for p in pin if p["is_image_or_video"] == STORY]
    assert 0.2 <= share(stories, lambda p: p["image_src"] == IMG_ERR) / 100 <= 0.45
    assert abs(share(pin, lambda p: p["description"] == "No description available") - 1.6) <= 0.5
    spaced = share(pin, lambda p: p["tag_list"] == NO_TAGS and p["poster_name"] != UIE)
    assert 0.2 <= spaced <= 0.9
    untitled = share(pin, lambda p: p["title"] == "Untitled" or p["description"] == "Untitled")
    assert 0 < untitled < 0.5


def test_all_placeholder_rows_belong_to_one_user(tables: SourceTables) -> None:
    owners = {
        (*user_key(u), g["latitude"], g["longitude"], g["country"])
        for p, g, u in zip(tables.pin, tables.geo, tables.user, strict=True)
        if p["poster_name"] == UIE
    }
    assert len(owners) == 1
    (owner,) = owners
    assert owner[2] <= 22  # a prolific poster: about 20 years old


def test_poster_names_and_trailing_spaces(tables: SourceTables) -> None:
    names = {p["poster_name"] for p in tables.pin}
    trailing = [n for n in names if n != n.rstrip()]
    assert 0 < len(trailing) < 0.1 * len(names)
    assert all(n == n.lstrip() for n in names)


def test_descriptions_and_titles(tables: SourceTables) -> None:
    descriptions = [p["description"] for p in tables.pin]
    assert max(map(len, descriptions)) <= 180
    assert max(len(p["title"]) for p in tables.pin) <= 199
    cut = [d for d in descriptions if d.endswith("…\xa0")]
    assert abs(100 * len(cut) / ROWS - 37) <= 2
    assert all(160 <= len(d) <= 180 for d in cut)  # cut at a word boundary near 180
    assert not any("…" in d for d in descriptions if not d.endswith("…\xa0"))
    assert 110 <= statistics.median(map(len, descriptions)) <= 170


def test_image_src_formats(tables: SourceTables) -> None:
    for p in tables.pin:
        src, kind = p["image_src"], p["is_image_or_video"]
        if src == IMG_ERR:
            continue
        match = (IMAGE_RE if kind == "image" else THUMB_RE).match(src)
        assert match, src
        a, b, c, h = match.group(1), match.group(2), match.group(3), match.group(4)
        assert a + b + c == h[:6]
    exts = Counter(p["image_src"].rsplit(".", 1)[-1] for p in tables.pin)
    assert exts["jpg"] > exts["png"] > exts["webp"]


def test_tag_lists(tables: SourceTables) -> None:
    eight = 0
    for p in tables.pin:
        if p["tag_list"] == NO_TAGS:
            continue
        tags = p["tag_list"].split(",")
        assert len(tags) in (8, 9) and len(set(tags)) == len(tags)
        eight += len(tags) == 8
        for tag in tags:
            assert tag == tag.strip() and all(w[:1].isupper() for w in tag.split(" ")), tag
    assert 0 < eight < 0.02 * ROWS


def test_unique_ids_are_uuid4(tables: SourceTables) -> None:
    ids = [p["unique_id"] for p in tables.pin]
    assert len(set(ids)) == ROWS
    assert all(UUID4_RE.match(i) for i in ids)


def test_dates(tables: SourceTables) -> None:
    for g, u in zip(tables.geo, tables.user, strict=True):
        assert dt.datetime(2015, 10, 21) <= u["date_joined"] < dt.datetime(2017, 10, 21)  # noqa: DTZ001
        assert dt.datetime(2017, 10, 19) <= g["timestamp"] < dt.datetime(2022, 10, 20)  # noqa: DTZ001
        assert g["timestamp"] > u["date_joined"]
    years = Counter(u["date_joined"].year for u in tables.user)
    assert set(years) == {2015, 2016, 2017}
    post_years = Counter(g["timestamp"].year for g in tables.geo)
    assert set(post_years) == {2017, 2018, 2019, 2020, 2021, 2022}


def test_geo_values(tables: SourceTables) -> None:
    faker_countries = faker_list("countries")
    assert len(faker_countries) == 243
    countries = Counter(g["country"] for g in tables.geo)
    assert set(countries) <= faker_countries
    assert len(countries) >= 225
    assert countries.most_common(1)[0][0].startswith("A")  # prolific posters: "A..." countries
    for g in tables.geo:
        assert -90 <= g["latitude"] <= 90 and -180 <= g["longitude"] <= 180
        for v in (g["latitude"], g["longitude"]):
            assert float(f"{v:.6g}") == v  # about six significant digits
    assert statistics.median(g["latitude"] for g in tables.geo) < -30  # skewed towards -90


def test_users(tables: SourceTables) -> None:
    firsts, lasts = faker_list("first_names"), faker_list("last_names")
    for u in tables.user:
        assert 20 <= u["age"] <= 60
        assert u["first_name"] in firsts and u["last_name"] in lasts
    posts = Counter(user_key(u) for u in tables.user)
    assert abs(len(posts) - 5307) <= 0.08 * 5307
    singles = sum(1 for n in posts.values() if n == 1)
    assert abs(singles - 3869) <= 0.08 * 3869
    assert max(posts.values()) >= 100  # heavy tail


def test_user_and_geo_belong_to_the_poster(tables: SourceTables) -> None:
    owner: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for p, g, u in zip(tables.pin, tables.geo, tables.user, strict=True):
        owner[p["poster_name"]].add((*user_key(u), g["latitude"], g["longitude"], g["country"]))
    assert all(len(v) == 1 for v in owner.values())
    assert len({next(iter(v)) for v in owner.values()}) == len(owner)  # one poster, one user


def test_prolific_posters_are_young_early_and_followed(tables: SourceTables) -> None:
    posts = Counter(user_key(u) for u in tables.user)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p, u in zip(tables.pin, tables.user, strict=True):
        n = posts[user_key(u)]
        group = "1" if n == 1 else "2-4" if n < 5 else "5-19" if n < 20 else "20+"
        groups[group].append({"followers": followers(p["follower_count"]), **u})

    def median_followers(rows: list[dict[str, Any]]) -> float:
        return statistics.median(r["followers"] for r in rows if r["followers"] is not None)

    assert median_followers(groups["1"]) <= 10_000
    assert median_followers(groups["20+"]) >= 100_000
    assert median_followers(groups["1"]) < median_followers(groups["2-4"])
    assert median_followers(groups["2-4"]) < median_followers(groups["5-19"])
    assert statistics.mean(r["age"] for r in groups["20+"]) < 23
    assert 37 < statistics.mean(r["age"] for r in groups["1"]) < 43
    early = statistics.median_low(r["date_joined"] for r in groups["20+"])
    assert early < statistics.median_low(r["date_joined"] for r in groups["1"])
    by_age: dict[bool, list[int]] = defaultdict(list)
    for p, u in zip(tables.pin, tables.user, strict=True):
        value = followers(p["follower_count"])
        if value is not None and (u["age"] <= 24 or u["age"] > 50):
            by_age[u["age"] <= 24].append(value)
    assert statistics.median(by_age[True]) > 10 * statistics.median(by_age[False])


def test_deterministic_per_seed() -> None:
    assert generate(600, seed=3) == generate(600, seed=3)
    assert generate(600, seed=3).pin != generate(600, seed=4).pin


@pytest.mark.parametrize("rows", [1, 2, 13, 57, 300])
def test_small_tables(rows: int) -> None:
    t = generate(rows, seed=rows)
    assert len(t.pin) == len(t.geo) == len(t.user) == rows
    assert [p["index"] for p in t.pin] == list(range(rows))


def test_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        generate(0)


def test_default_size_is_the_reference_table(tables: SourceTables) -> None:
    """``generate()`` makes the reference's 11,154 rows (its speed is in ``make bench``)."""
    assert len(tables) == len(tables.geo) == len(tables.user) == ROWS
