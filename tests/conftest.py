"""Shared fixtures: a pinpipe home in tmp_path, its settings, log and lake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.sampler import payloads
from pinpipe.lake import Lake
from pinpipe.log.base import Log, ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, load_settings

pytest_plugins = ["tests.infra.fixtures"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path, **{"log.fsync": False})


@pytest.fixture
def log(settings: Settings) -> Iterator[EmbeddedLog]:
    with EmbeddedLog(settings.log_path, fsync=False) as log_:
        yield log_


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return settings.open_lake()


@pytest.fixture(scope="session")
def source() -> SourceTables:
    return generate(300, seed=7)


def produce_rows(log_: Log, source: SourceTables, rows: list[int], prefix: str = "pinpipe") -> int:
    """Post rows' pin/geo/user to ``<prefix>.pin|geo|user``; returns records produced."""
    batches: dict[str, list[ProduceRecord]] = {"pin": [], "geo": [], "user": []}
    for row in rows:
        for table, doc in zip(("pin", "geo", "user"), payloads(source, row), strict=True):
            batches[table].append(ProduceRecord(orjson.dumps(doc)))
    for table, records in batches.items():
        log_.produce(f"{prefix}.{table}", records)
    return 3 * len(rows)
