"""Engine-neutral coercions from raw text to typed values, as Ibis expressions.

Regular expressions here are written for the common subset of RE2 (DuckDB) and java.util.regex
(Spark): literal characters, classes, ``\\A``/``\\z`` anchors, no back-references in replacements
(``re_extract`` with a group number is used instead, which both engines spell the same).
"""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

WHITESPACE: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff"
)
"""Trimmed from both ends of text: Unicode White_Space (ASCII controls, NEL, NO-BREAK SPACE,
OGHAM, EN QUAD..HAIR SPACE, LINE/PARAGRAPH SEPARATOR, NARROW NBSP, MMSP, IDEOGRAPHIC SPACE)
plus the invisible ZERO WIDTH SPACE and BOM that copy-pasted text carries.
"""

_TRIM: Final = f"\\A[{WHITESPACE}]+|[{WHITESPACE}]+\\z"

_INT: Final = r"\A([+-]?[0-9]{1,18})(?:\.0*)?\z"
"""Up to 18 digits (the int64 cast cannot overflow); ``7528.0`` is accepted as 7528."""

_FLOAT: Final = r"\A[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\z"

_DATETIME: Final = (
    r"\A([0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)?)"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?\z"
)
"""Group 1 is the wall time; both engines cast it (``T`` or space, fraction truncated to µs)."""

_PLAIN_COUNT: Final = r"\A[0-9]{1,18}\z"
_SCALED_COUNT: Final = r"\A([0-9]{1,12}(?:\.[0-9]{1,9})?)([kKM])\z"
_COUNT_DECIMAL: Final = dt.Decimal(21, 9)
"""Exact arithmetic for ``1.2k``: a double would make ``1.0005k`` 1000.4999…"""


def text(value: ir.StringValue) -> ir.StringValue:
    """Trimmed text, NULL when empty or only white space."""
    return value.re_replace(_TRIM, "").nullif("")


def without(value: ir.StringValue, placeholders: tuple[str, ...]) -> ir.StringValue:
    """``value`` with the exact placeholder strings turned into NULL."""
    if not placeholders:
        return value
    return ibis.ifelse(value.isin(placeholders), ibis.null(dt.string), value)


def invalid(value: ir.Value, parsed: ir.Value) -> ir.BooleanValue:
    """Text was given but did not coerce."""
    return value.notnull() & parsed.isnull()


def outside(parsed: ir.NumericValue, low: float, high: float) -> ir.BooleanValue:
    """A coerced number outside ``low..high`` (NULL is not outside)."""
    return (~parsed.between(low, high)).fill_null(False)


def integer(value: ir.StringValue) -> ir.IntegerValue:
    """An int64 from integer text (``7528``, ``+7``, ``007``, ``7528.0``), else NULL.

    More than 18 digits is not read as an integer (it could not be one of ours anyway).
    """
    return value.re_extract(_INT, 1).try_cast(dt.int64)


def real(value: ir.StringValue) -> ir.FloatingValue:
    """A float64 from decimal text (``-84.4944``, ``1e-3``); NaN/Infinity are not numbers."""
    return ibis.ifelse(value.re_search(_FLOAT), value.try_cast(dt.float64), ibis.null(dt.float64))


def timestamp(value: ir.StringValue) -> ir.TimestampValue:
    """A timestamp without time zone: the wall time as sent, any ``Z``/offset dropped.

    Accepts ``2020-08-28 03:52:47``, a ``T`` separator, fractional seconds (truncated to
    microseconds) and a bare date (midnight). Impossible dates and times give NULL.
    """
    return value.re_extract(_DATETIME, 1).try_cast(dt.Timestamp())


def follower_count(value: ir.StringValue) -> ir.IntegerValue:
    """An int64 from ``942``, ``942k``, ``1.2k`` (1,200), ``8M``; anything else is NULL.

    ``k``/``K`` mean ×1,000 and ``M`` ×1,000,000 (lowercase ``m`` is ambiguous and refused);
    a fractional result is rounded half up (``1.0005k`` → 1,001).
    """
    number = value.re_extract(_SCALED_COUNT, 1)
    multiplier = ibis.ifelse(value.re_extract(_SCALED_COUNT, 2) == "M", 1_000_000, 1_000)
    product = (number.try_cast(_COUNT_DECIMAL) * multiplier.cast(dt.Decimal(7, 0))).round(0)
    return ibis.cases(
        (value.re_search(_PLAIN_COUNT), value.try_cast(dt.int64)),
        (value.re_search(_SCALED_COUNT), product.cast(dt.int64)),
        else_=ibis.null(dt.int64),
    )
