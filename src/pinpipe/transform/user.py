"""Cleaning of user records: ``user_name`` from first and last name, age, date joined."""

from __future__ import annotations

from typing import Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from pinpipe.transform import coerce
from pinpipe.transform.staging import Staged, Stager

MIN_AGE: Final = 0
MAX_AGE: Final = 130


def _parse(fields: ir.Table) -> dict[str, ir.Value]:
    return {
        "_age": coerce.integer(fields.age),
        "_date_joined": coerce.timestamp(fields.date_joined),
    }


def _finish(parsed: ir.Table) -> Staged:
    """Contract columns and the checks that quarantine a bad age or join date.

    ``user_name`` is first and last name with one space, or whichever of them exists.
    """
    first, last = parsed.first_name, parsed.last_name
    name = ibis.ifelse(first.notnull() & last.notnull(), first + " " + last, first.coalesce(last))
    age = parsed._age
    return Staged(
        columns={
            "user_name": name,
            "age": ibis.ifelse(
                coerce.outside(age, MIN_AGE, MAX_AGE), ibis.null(dt.int64), age
            ).cast(dt.int32),
            "date_joined": parsed._date_joined,
        },
        checks=(
            (coerce.invalid(parsed.age, age), "age is not an integer"),
            (coerce.outside(age, MIN_AGE, MAX_AGE), "age out of range"),
            (
                coerce.invalid(parsed.date_joined, parsed._date_joined),
                "date_joined is not a datetime",
            ),
        ),
        issues={},
    )


STAGER: Final = Stager(parse=_parse, finish=_finish)
