"""``pinpipe up``: a failing stage restarts from its committed position; stop drains."""

from __future__ import annotations

import threading
import time

import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.lake import open_lake
from pinpipe.log import kafka as kafka_module
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.runtime import supervisor as supervisor_module
from pinpipe.runtime.supervisor import Supervisor
from pinpipe.settings import Settings, load_settings
from tests.helpers import produce_rows
from tests.infra.process import free_port


def test_a_crashing_sink_restarts_and_nothing_is_lost(
    settings: Settings, log: EmbeddedLog, source: SourceTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "RESTART_MIN_S", 0.05)
    cfg = load_settings(home=settings.home, **{"ingest.port": free_port(), "sink.flush_size": 10})
    sup = Supervisor(cfg)
    real_add = sup.sink._add
    calls = {"n": 0}

    def flaky_add(tp: tuple[str, int], record: object) -> None:
        calls["n"] += 1
        if calls["n"] == 15:  # mid-file, after one file of 10 was committed
            raise OSError("disk hiccup")
        real_add(tp, record)  # type: ignore[arg-type]

    monkeypatch.setattr(sup.sink, "_add", flaky_add)
    produce_rows(log, source, list(range(30)))
    runner = threading.Thread(target=sup.run)
    runner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sup.stream.stats.records < 90:
        time.sleep(0.05)
    sup.stop.set()
    runner.join(60)
    assert not sup.errors
    lake = open_lake(cfg)
    offsets = sorted(
        int(line.split(b'"_offset":')[1].split(b",")[0])
        for f in lake.raw_files("pin")
        for line in lake.storage.read_bytes(f.uri).splitlines()
    )
    assert offsets == list(range(30))


def test_up_serves_the_quality_gauges_on_its_metrics(
    settings: Settings, log: EmbeddedLog, source: SourceTables
) -> None:
    """The clock's checks (freshness) run in `pinpipe up`, and /metrics shows their verdicts."""
    import requests

    port = free_port()
    cfg = load_settings(home=settings.home, **{"ingest.port": port, "quality.every_seconds": 0.2})
    produce_rows(log, source, list(range(5)))
    sup = Supervisor(cfg)
    runner = threading.Thread(target=sup.run)
    runner.start()
    found = ""
    try:
        assert sup.ready.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "pinpipe_quality_status{" not in found:
            found = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            time.sleep(0.2)
    finally:
        sup.stop.set()
        runner.join(60)
    assert "pinpipe_quality_status{" in found and "pinpipe_quality_observed{" in found
    assert 'scope="clock"' in found  # judged by the clock, with no new data needed


def test_an_unreachable_log_is_retried_for_as_long_as_it_takes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No Kafka broker at all: the sink and the stream job fail attempt after attempt, say so
    once (not once per attempt), show ``restarting`` with the reason, and never give up."""
    monkeypatch.setattr(supervisor_module, "RESTART_MIN_S", 0.05)
    monkeypatch.setattr(supervisor_module, "UNAVAILABLE_RETRY_MAX_S", 0.1)
    monkeypatch.setattr(kafka_module, "REQUEST_TIMEOUT_S", 0.2)
    cfg = load_settings(
        home=settings.home,
        **{
            "ingest.port": free_port(),
            "log.backend": "kafka",
            "log.bootstrap_servers": f"127.0.0.1:{free_port()}",  # nothing listens there
            "console.enabled": False,
        },
    )
    sup = Supervisor(cfg)
    runner = threading.Thread(target=sup.run)
    runner.start()

    def restarts() -> list[int]:
        stages = sup.status.snapshot()["stages"]
        return [stages.get(s, {}).get("restarts", 0) for s in ("sink", "stream")]

    try:
        assert sup.ready.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(restarts()) < 20:
            time.sleep(0.05)
        stages = sup.status.snapshot()["stages"]
    finally:
        sup.stop.set()
        runner.join(60)
    assert min(restarts()) >= 20 and not sup.errors and not runner.is_alive()
    for stage in ("sink", "stream"):
        assert stages[stage]["state"] == "restarting"
        assert "the Kafka broker is unavailable" in stages[stage]["last_error"]
        said = [r for r in caplog.records if r.getMessage().startswith(f"{stage}: the log is")]
        assert len(said) == 1 and said[0].levelname == "WARNING" and not said[0].exc_info
