"""Which row to post next, and the JSON-ready payloads of a row.

Like the reference emulator: one seeded ``random.Random``, rows drawn uniformly with
replacement from ``0..11000`` (so the log is full of exact duplicates, and rows past 11000 are
never sent). Before each row the reference drew its sleep (``randrange(0, 2)`` seconds) from the
same generator; we draw and discard it too, so seed 100 replays the reference sequence
7528, 2863, 5730, 8304, ...

A source larger than the reference data (``emulator.rows`` / ``--rows`` above 11,154) is
sampled over all its rows instead, so growth runs bring new inds with the data rather than
saturating at the reference's 11,001 distinct rows.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from pinpipe.emulator.generator import SourceTables
from pinpipe.errors import ConfigError

#: The reference emulator's ``random.randint(0, 11000)``.
REFERENCE_MAX_ROW = 11_000
#: The reference data's size: up to it, rows are drawn as the reference drew them.
REFERENCE_ROWS = 11_154
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sample_rows(n_rows: int, seed: int = 100) -> Iterator[int]:
    """An endless, reproducible stream of row offsets: ``0..min(11000, n_rows - 1)`` like the
    reference for a source of the reference's size or smaller, ``0..n_rows - 1`` above it."""
    if n_rows < 1:
        raise ConfigError(f"cannot sample from {n_rows} rows: seed the source tables first")
    rng = random.Random(seed)
    high = min(REFERENCE_MAX_ROW, n_rows - 1) if n_rows <= REFERENCE_ROWS else n_rows - 1
    while True:
        rng.randrange(0, 2)  # the reference's sleep draw, kept so the sequence matches
        yield rng.randint(0, high)


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.strftime(DATETIME_FORMAT) if isinstance(v, dt.datetime) else v
        for k, v in record.items()
    }


def payloads(
    tables: SourceTables, row: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The pin, geo and user records of ``row`` (copies), datetimes as ``YYYY-MM-DD HH:MM:SS``."""
    return _jsonable(tables.pin[row]), _jsonable(tables.geo[row]), _jsonable(tables.user[row])
