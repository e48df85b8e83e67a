"""The two log backends behind one test interface, for suites that must hold on both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pinpipe.log.base import Clock, Log, wall_clock_ms
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import LogSettings

BACKENDS = ["embedded", "kafka"]


@dataclass
class ManualClock:
    """Ingest time that moves only when the test says so (from now, so brokers keep it)."""

    now: int = field(default_factory=wall_clock_ms)

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class WatchedMonotonic:
    """``time.monotonic`` that counts its readers: a log that waits has to read it."""

    reads: int = 0

    def __call__(self) -> float:
        self.reads += 1
        return time.monotonic()


@dataclass
class Backend:
    """Opens logs over one shared store; ``topic()`` names are unique to the test."""

    name: str
    tmp_path: Path
    bootstrap: str | None = None
    opened: list[Log] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def open(
        self,
        *,
        clock: Clock = wall_clock_ms,
        monotonic: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> Log:
        """A new client of the same log (like another process), with ``LogSettings`` options.

        ``clock`` stamps the records; ``monotonic`` times waits (the embedded log never waits).
        ``auto_create_topics``, ``topic_filter`` and ``max_topics`` are the ``[topics]`` policy.
        """
        policy = {
            "auto_create": options.pop("auto_create_topics", True),
            "topic_filter": options.pop("topic_filter", ""),
            "max_topics": options.pop("max_topics", 0),
        }
        settings = LogSettings(
            backend=self.name,  # type: ignore[arg-type]
            bootstrap_servers=self.bootstrap or "127.0.0.1:9092",
            fsync=False,
            **options,
        )
        log: Log
        if self.name == "kafka":
            from pinpipe.log.kafka import KafkaLog

            log = KafkaLog(settings, clock=clock, monotonic=monotonic, **policy)
        else:
            log = EmbeddedLog(
                self.tmp_path / "log.db",
                default_partitions=settings.partitions,
                fsync=False,
                clock=clock,
                **policy,
            )
        self.opened.append(log)
        return log

    def topic(self, name: str) -> str:
        return f"{name}-{self.run_id}"

    def env(self) -> dict[str, str]:
        """Environment that points a pinpipe subprocess at this log."""
        env = {"PINPIPE_LOG__BACKEND": self.name, "PINPIPE_LOG__FSYNC": "false"}
        if self.bootstrap:
            env["PINPIPE_LOG__BOOTSTRAP_SERVERS"] = self.bootstrap
        return env


def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Body of a parametrized fixture: starts Kafka only for the Kafka parameter."""
    bootstrap = request.getfixturevalue("kafka_bootstrap") if request.param == "kafka" else None
    backend = Backend(request.param, tmp_path, bootstrap)
    yield backend
    for log in backend.opened:
        log.close()
