"""Reading the real-time windows: what is hot over the last minutes, and what is trending.

``top`` sums the one-minute windows that overlap the last N minutes (5, 15 and 60 are the
console's choices); ``trending`` compares each category's posts in the last complete minute
with its average over the minutes before (the *baseline*):
``score = (posts + 1) / (baseline + 1)``, so 1 is usual, 3 is three times the usual rate, and
the +1 keeps a category seen once from scoring as a spike out of nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.transform.realtime import BY_NAME, WINDOW_MS

Ranked = Literal["posts_by_category", "events_by_country", "records_by_topic"]
WINDOW_CHOICES = (5, 15, 60)


def _windows(lake: Lake, engine: Engine, name: str) -> ir.Table:
    found = engine.read_delta(lake.realtime(name))
    if found is None:
        raise ConfigError(
            f"no real-time windows under {lake.realtime(name)} yet: run `pinpipe up` (or "
            "`pinpipe stream`) with stream.realtime on, and post some records"
        )
    return found


def _utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


def top(
    lake: Lake,
    engine: Engine,
    name: Ranked,
    minutes: int,
    *,
    limit: int = 10,
    now_ms: int | None = None,
) -> pa.Table:
    """The keys of ``name`` with the most records in the windows of the last ``minutes``."""
    aggregate = BY_NAME[name]
    windows = _windows(lake, engine, name)
    since = _utc(_now(now_ms) - minutes * 60_000)
    recent = windows.filter(windows.window_end > since)
    (key,) = aggregate.keys
    measures = {aggregate.measure: recent[aggregate.measure].sum()}
    if "scored_titles" in aggregate.sums:
        measures["mean_title_sentiment"] = recent.title_sentiment_sum.sum() / ibis.greatest(
            recent.scored_titles.sum(), 1
        )
    ranked = recent.group_by(key).agg(**measures)
    ranked = ranked.order_by([ranked[aggregate.measure].desc(), ranked[key].asc()]).limit(limit)
    return engine.to_arrow(ranked)


def trending(
    lake: Lake,
    engine: Engine,
    *,
    baseline_minutes: int = 15,
    limit: int = 10,
    now_ms: int | None = None,
) -> pa.Table:
    """Per category: posts in the last complete minute, the baseline, and the score."""
    windows = _windows(lake, engine, "posts_by_category")
    last_start = _now(now_ms) // WINDOW_MS * WINDOW_MS - WINDOW_MS
    last, first = _utc(last_start), _utc(last_start - baseline_minutes * WINDOW_MS)
    recent = windows.filter(windows.window_start >= first, windows.window_start <= last)
    is_last = recent.window_start == last
    per = recent.group_by("category").agg(
        posts=ibis.ifelse(is_last, recent.posts, 0).sum(),
        before=ibis.ifelse(is_last, 0, recent.posts).sum(),
    )
    scored = per.select(
        "category",
        "posts",
        baseline=per.before.cast("float64") / baseline_minutes,
        score=(per.posts + 1) / (per.before.cast("float64") / baseline_minutes + 1),
    )
    return engine.to_arrow(
        scored.order_by([scored.score.desc(), scored.category.asc()]).limit(limit)
    )
