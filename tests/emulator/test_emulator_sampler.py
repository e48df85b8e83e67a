"""The sampler replays the reference emulator's row sequence; payloads are JSON-ready."""

from __future__ import annotations

import json
from itertools import islice

import pytest

from pinpipe.emulator.generator import generate
from pinpipe.emulator.sampler import payloads, sample_rows
from pinpipe.errors import ConfigError


def test_seed_100_replays_the_reference_sequence() -> None:
    # The rows every reference README shows: 7528 first, then 2863, 5730, ...
    expected = [7528, 2863, 5730, 8304, 8731, 1313, 4315, 10794, 5494, 5069, 2923, 3089]
    assert list(islice(sample_rows(11_154), 12)) == expected


def test_reproducible_and_seeded() -> None:
    assert list(islice(sample_rows(500, 7), 50)) == list(islice(sample_rows(500, 7), 50))
    assert list(islice(sample_rows(500, 7), 50)) != list(islice(sample_rows(500, 8), 50))


def test_range_and_replacement() -> None:
    rows = list(islice(sample_rows(5), 200))
    assert set(rows) == {0, 1, 2, 3, 4}  # with replacement: duplicates galore
    reference = list(islice(sample_rows(11_154), 5_000))
    assert max(reference) <= 11_000  # like the reference: rows past 11000 are never sent
    grown = list(islice(sample_rows(50_000), 5_000))
    assert max(grown) > 11_154  # a larger source brings new inds
    assert list(islice(sample_rows(1), 3)) == [0, 0, 0]
    with pytest.raises(ConfigError):
        next(sample_rows(0))


def test_payloads_are_json_ready_copies() -> None:
    tables = generate(50, seed=2)
    pin, geo, user = payloads(tables, 7)
    assert pin == tables.pin[7] and pin is not tables.pin[7]
    assert list(geo) == ["ind", "timestamp", "latitude", "longitude", "country"]
    assert geo["timestamp"] == tables.geo[7]["timestamp"].strftime("%Y-%m-%d %H:%M:%S")
    assert user["date_joined"] == tables.user[7]["date_joined"].strftime("%Y-%m-%d %H:%M:%S")
    assert len(geo["timestamp"]) == 19 and geo["timestamp"][10] == " "
    json.dumps([pin, geo, user])
    geo["country"] = "changed"
    assert tables.geo[7]["country"] != "changed"
