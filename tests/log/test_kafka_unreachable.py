"""The Kafka backend with no broker to talk to: bounded failures that say the log is away.

No broker listens on the address these logs are given (a free loopback port), so every call
meets what a stopped broker looks like to librdkafka: refused connections. The broker going
away and coming back under a running pipeline is ``tests/e2e/test_broker_outage.py``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from pinpipe.errors import ConfigError, LogUnavailableError
from pinpipe.log import kafka as kafka_module
from pinpipe.log.base import ProduceRecord
from pinpipe.log.kafka import KafkaLog
from pinpipe.log.kafka_config import producer_config
from pinpipe.settings import LogSettings
from tests.infra.process import free_port


def _nowhere(**settings: object) -> LogSettings:
    return LogSettings(backend="kafka", bootstrap_servers=f"127.0.0.1:{free_port()}", **settings)


def test_the_produce_timeout_is_librdkafkas_message_timeout() -> None:
    config = producer_config(_nowhere(produce_timeout_ms=1234))
    assert config["message.timeout.ms"] == 1234


@pytest.mark.parametrize("key", ["message.timeout.ms", "delivery.timeout.ms"])
def test_log_kafka_cannot_set_the_delivery_timeout_behind_the_setting(key: str) -> None:
    with pytest.raises(ConfigError, match=r"log\.produce_timeout_ms"):
        producer_config(_nowhere(kafka={key: 60_000}))


@pytest.mark.timeout(60)
def test_appends_and_reads_without_a_broker_fail_as_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_module, "REQUEST_TIMEOUT_S", 1.0)
    with KafkaLog(_nowhere(produce_timeout_ms=500)) as log:
        (result,) = log.produce_many([("a.pin", [ProduceRecord(b"{}")])])
        assert isinstance(result, LogUnavailableError)
        assert "the Kafka broker is unavailable" in str(result)
        with pytest.raises(LogUnavailableError):
            log.produce("a.pin", [ProduceRecord(b"{}")])
        with pytest.raises(LogUnavailableError, match="topic metadata"):
            log.topics()
        with pytest.raises(LogUnavailableError, match="offsets of group"):
            log.committed("pinpipe-sink", "a.pin", 0)


@pytest.mark.timeout(60)
def test_a_blocking_call_on_an_event_loop_is_logged_as_the_bug_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker call on a loop's thread would stall every request of that loop for as long
    as the broker takes (the whole timeout when it is down); the log names the call."""
    monkeypatch.setattr(kafka_module, "REQUEST_TIMEOUT_S", 0.5)
    monkeypatch.setattr(kafka_module, "_warned_on_loop", set())
    with KafkaLog(_nowhere()) as log:
        log_calls = ThreadPoolExecutor(1)

        async def handler() -> None:
            with pytest.raises(LogUnavailableError):  # off the loop: as the ingest app does
                await asyncio.get_running_loop().run_in_executor(log_calls, log.topics)
            assert "event loop" not in caplog.text
            with pytest.raises(LogUnavailableError):  # on the loop: the bug
                log.topics()

        asyncio.run(handler())
        log_calls.shutdown()
    assert "blocking Kafka call list_topics on an event loop thread" in caplog.text
