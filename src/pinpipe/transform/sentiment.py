"""Sentiment of a pin's title and description: VADER's compound score, -1 (negative) .. 1.

VADER (``vaderSentiment``) ships its lexicon inside the wheel, so scoring needs no download
at run time, and it is built for short social-media text like pin titles. It is pure Python
(about 70 µs a text here), and the emulated stream repeats its rows, so scores are memoised
by text. ``sentiment`` is an Ibis scalar UDF: the same expression runs on DuckDB and Spark.
"""

from __future__ import annotations

import functools

import ibis
import ibis.expr.types as ir
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

MEMO_TEXTS = 262_144
"""Distinct texts whose scores are kept (a few MB; the reference data has ~21k)."""


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@functools.lru_cache(maxsize=MEMO_TEXTS)
def score(text: str | None) -> float | None:
    """VADER's compound score of ``text`` (None for no text, 0.0 for neutral words)."""
    if text is None or not text.strip():
        return None
    return float(_analyzer().polarity_scores(text)["compound"])


@ibis.udf.scalar.python
def sentiment(text: str) -> float:
    """The Ibis form of ``score``, evaluated by whichever engine runs the expression.

    Give it non-blank text or NULL (``col.strip().nullif("")``): DuckDB passes no NULL to a
    UDF and lets none come back.
    """
    return score(text)  # type: ignore[return-value]  # NULL for no text


def _text(column: ir.StringValue) -> ir.StringValue:
    return column.strip().nullif("")


def with_sentiment(pin: ir.Table) -> ir.Table:
    """``pin`` plus ``title_sentiment`` and ``description_sentiment`` (NULL without text)."""
    return pin.mutate(
        title_sentiment=sentiment(_text(pin.title)),
        description_sentiment=sentiment(_text(pin.description)),
    )
