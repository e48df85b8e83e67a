"""Session fixtures for real infrastructure: ``kafka_bootstrap`` starts one Apache Kafka broker.

Every Kafka test (and the Spark Structured Streaming tests) shares one broker per session; it
is started on first use and stopped at the end. Set ``PINPIPE_TEST_KAFKA=host:port`` to use a
broker that is already running (``make kafka``) instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.kafka_broker import start


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``"127.0.0.1:<port>"`` of a single-node KRaft broker running for this test session."""
    existing = os.environ.get("PINPIPE_TEST_KAFKA")
    if existing:
        yield existing
        return
    workdir: Path = tmp_path_factory.mktemp("kafka")
    broker = start(workdir)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
