"""The nine analytics of DATA.md §4, and a tenth (median sentiment by category), as
engine-neutral Ibis over deduplicated clean tables.

Every query takes (pin, geo, user) with the contract columns, joins on ``ind`` (inner), leaves
out rows whose grouping key or measure is NULL, breaks ties by the name column ascending and
returns its documented columns ordered by the first column, then the second. Medians are exact
(``median`` compiles to DuckDB ``percentile_cont(0.5)`` and Spark ``percentile(x, 0.5)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from pinpipe.transform.sentiment import with_sentiment

Query = Callable[[ir.Table, ir.Table, ir.Table], ir.Table]

POST_YEARS: Final = (2018, 2022)
JOIN_YEARS: Final = (2015, 2020)
AGE_GROUPS: Final = (("18-24", 18, 24), ("25-35", 25, 35), ("36-50", 36, 50), ("+50", 51, None))
"""Label, first and last age; younger than 18 belongs to no group."""


def _pin(pin: ir.Table) -> ir.Table:
    return pin.select("ind", "category", "poster_name", "follower_count")


def _age_group(age: ir.IntegerValue) -> ir.StringValue:
    branches = [
        (age >= low if high is None else age.between(low, high), label)
        for label, low, high in AGE_GROUPS
    ]
    return ibis.cases(*branches, else_=ibis.null(dt.string))


def _top(counts: ir.Table, key: str, name: str, measure: str) -> ir.Table:
    """The row with the largest ``measure`` per ``key``; ties go to the smallest ``name``."""
    window = ibis.window(group_by=counts[key], order_by=[counts[measure].desc(), counts[name]])
    ranked = counts.mutate(_rank=ibis.row_number().over(window))
    return ranked.filter(ranked._rank == 0).select(key, name, measure).order_by([key, name])


def _top_category(posts: ir.Table, key: str) -> ir.Table:
    posts = posts.filter(posts[key].notnull(), posts.category.notnull())
    counts = posts.group_by([key, "category"]).aggregate(category_count=posts.count())
    return _top(counts, key, "category", "category_count")


def category_by_country(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    posts = _pin(pin).join(geo.select("ind", "country"), "ind")
    return _top_category(posts, "country")


def category_by_year(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    located = geo.select("ind", post_year=geo.timestamp.year())
    posts = _pin(pin).join(located, "ind")
    posts = posts.filter(posts.post_year.between(*POST_YEARS))
    return _top_category(posts, "post_year")


def top_user_by_country(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    posts = _pin(pin).join(geo.select("ind", "country"), "ind")
    posts = posts.filter(
        posts.country.notnull(), posts.poster_name.notnull(), posts.follower_count.notnull()
    )
    return _top(posts, "country", "poster_name", "follower_count")


def top_country(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    tops = top_user_by_country(pin, geo, user)
    best = tops.order_by([tops.follower_count.desc(), tops.country]).limit(1)
    return best.select("country", "follower_count")


def category_by_age_group(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    posts = _pin(pin).join(user.select("ind", age_group=_age_group(user.age)), "ind")
    return _top_category(posts, "age_group")


def _users(pin: ir.Table, user: ir.Table) -> ir.Table:
    """One row per user (user_name, age, date_joined) with the most followers of any post."""
    users = user.filter(user.user_name.notnull(), user.age.notnull(), user.date_joined.notnull())
    posts = _pin(pin).join(users.select("ind", "user_name", "age", "date_joined"), "ind")
    per_user = posts.group_by(["user_name", "age", "date_joined"]).aggregate(
        follower_count=posts.follower_count.max()
    )
    return per_user.mutate(
        age_group=_age_group(per_user.age), join_year=per_user.date_joined.year()
    )


def _median(users: ir.Table, keys: list[str]) -> ir.Table:
    users = users.filter(users.follower_count.notnull(), *(users[k].notnull() for k in keys))
    medians = users.group_by(keys).aggregate(
        median_follower_count=users.follower_count.median().cast(dt.float64)
    )
    return medians.order_by(keys)


def _in_join_years(users: ir.Table) -> ir.Table:
    return users.filter(users.join_year.between(*JOIN_YEARS))


def median_followers_by_age_group(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    return _median(_users(pin, user), ["age_group"])


def users_joined_by_year(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    """Counted from the user table alone: joining needs no post (a user is still distinct)."""
    known = user.filter(user.user_name.notnull(), user.age.notnull(), user.date_joined.notnull())
    users = known.select("user_name", "age", "date_joined").distinct()
    users = users.mutate(join_year=users.date_joined.year())
    users = _in_join_years(users)
    counts = users.group_by("join_year").aggregate(number_users_joined=users.count())
    return counts.order_by("join_year")


def median_followers_by_join_year(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    return _median(_in_join_years(_users(pin, user)), ["join_year"])


def median_followers_by_join_year_and_age_group(
    pin: ir.Table, geo: ir.Table, user: ir.Table
) -> ir.Table:
    return _median(_in_join_years(_users(pin, user)), ["age_group", "join_year"])


def median_sentiment_by_category(pin: ir.Table, geo: ir.Table, user: ir.Table) -> ir.Table:
    """Per category: pins, and the median sentiment of their titles and descriptions.

    Not one of DATA.md's nine: pins without a category are left out, a pin without a title
    (or description) counts only in the other median.
    """
    scored = with_sentiment(pin.filter(pin.category.notnull()))
    return (
        scored.group_by("category")
        .agg(
            pins=scored.count(),
            median_title_sentiment=scored.title_sentiment.median(),
            median_description_sentiment=scored.description_sentiment.median(),
        )
        .order_by("category")
    )


QUERIES: Final[dict[str, Query]] = {
    "category_by_country": category_by_country,
    "category_by_year": category_by_year,
    "top_user_by_country": top_user_by_country,
    "top_country": top_country,
    "category_by_age_group": category_by_age_group,
    "median_followers_by_age_group": median_followers_by_age_group,
    "users_joined_by_year": users_joined_by_year,
    "median_followers_by_join_year": median_followers_by_join_year,
    "median_followers_by_join_year_and_age_group": median_followers_by_join_year_and_age_group,
    "median_sentiment_by_category": median_sentiment_by_category,
}
"""Query name → query: DATA.md's nine in its order, then the sentiment analytic."""
