"""Cleaning of geolocation records: coordinates as ``[latitude, longitude]``, a timestamp."""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from pinpipe.transform import coerce
from pinpipe.transform.staging import Staged, Stager


def _parse(fields: ir.Table) -> dict[str, ir.Value]:
    return {
        "_timestamp_value": coerce.timestamp(fields.timestamp),
        "_latitude": coerce.real(fields.latitude),
        "_longitude": coerce.real(fields.longitude),
    }


def _finish(parsed: ir.Table) -> Staged:
    """Contract columns and the checks that quarantine a bad timestamp or coordinate.

    One missing coordinate keeps its place as NULL (``[NULL, 12.5]``); with both missing the
    array itself is NULL.
    """
    lat, lon = parsed._latitude, parsed._longitude
    coordinates = ibis.ifelse(
        lat.isnull() & lon.isnull(),
        ibis.null(dt.Array(dt.float64)),
        ibis.array([lat, lon]).cast(dt.Array(dt.float64)),
    )
    return Staged(
        columns={
            "country": parsed.country,
            "coordinates": coordinates,
            "timestamp": parsed._timestamp_value,
        },
        checks=(
            (
                coerce.invalid(parsed.timestamp, parsed._timestamp_value),
                "timestamp is not a datetime",
            ),
            (coerce.invalid(parsed.latitude, lat), "latitude is not a number"),
            (coerce.outside(lat, -90.0, 90.0), "latitude out of range"),
            (coerce.invalid(parsed.longitude, lon), "longitude is not a number"),
            (coerce.outside(lon, -180.0, 180.0), "longitude out of range"),
        ),
        issues={},
    )


STAGER: Final = Stager(parse=_parse, finish=_finish)
