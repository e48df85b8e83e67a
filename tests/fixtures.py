"""Every shared fixture, registered once as a pytest plugin (``tests/conftest.py``).

Heavy services start once per test session and are shared: ``kafka_bootstrap`` (one Apache
Kafka broker, KRaft), ``spark_engine`` (one local[2] SparkSession), ``s3_server`` (moto, then
s3proxy) and ``airflow_venv`` (Airflow 3 in its own venv). Factories hand out
what a test needs several of: ``backend`` opens logs of either backend, ``server_factory``
runs ingest servers, ``spawn_pinpipe`` starts ``pinpipe`` child processes; all are stopped
when the test ends. ``client`` is the ingest app in process; ``disk`` is a small real
filesystem (tmpfs) for the full-disk tests.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.lake import Lake, open_lake
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import Settings, SparkSettings, load_settings
from tests.helpers import (
    Running,
    SmallDisk,
    app_client,
    pinpipe_command,
    pinpipe_env,
    running_server,
    small_disk,
)
from tests.log.backends import BACKENDS, Backend, backend_fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from pinpipe.engines.spark import SparkEngine
    from tests.infra.s3_server import S3Server

Spawn = Callable[..., "subprocess.Popen[bytes]"]


def pytest_configure(config: pytest.Config) -> None:
    """No test may reach beyond loopback: the AWS SDKs' last credential source is the
    instance-metadata address, so it is switched off for every client the tests start."""
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a home in ``tmp_path`` (no fsync: these logs are throwaway)."""
    return load_settings(home=tmp_path, **{"log.fsync": False})


@pytest.fixture
def log(settings: Settings) -> Iterator[EmbeddedLog]:
    """The embedded log of ``settings``' home."""
    with EmbeddedLog(settings.log_path, fsync=False) as log_:
        yield log_


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return open_lake(settings)


@pytest.fixture(scope="session")
def source() -> SourceTables:
    """Three small generated source tables, shared (read-only) by every test."""
    return generate(300, seed=7)


@pytest.fixture
def client(log: EmbeddedLog) -> Iterator[TestClient]:
    """An in-process client of the ingest app, default settings, over the test's log."""
    with app_client(log) as client_:
        yield client_


@pytest.fixture
def server_factory(tmp_path: Path) -> Callable[..., AbstractContextManager[Running]]:
    """``server_factory(**ingest_settings)``: a real ingest server in a thread, as a context."""
    return lambda **ingest: running_server(tmp_path, **ingest)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each log backend in turn (embedded, then a real Kafka broker): logs opened on one store."""
    yield from backend_fixture(request, tmp_path)


@pytest.fixture
def spawn_pinpipe(tmp_path: Path) -> Iterator[Spawn]:
    """``spawn_pinpipe(*args, home=tmp_path, env=None, **popen)``: a ``pinpipe`` child process.

    Children still running when the test ends are killed, so a failing test leaks nothing.
    """
    children: list[subprocess.Popen[bytes]] = []

    def spawn(
        *args: str, home: Path | None = None, env: dict[str, str] | None = None, **popen: object
    ) -> subprocess.Popen[bytes]:
        popen.setdefault("stdout", subprocess.DEVNULL)
        popen.setdefault("stderr", subprocess.PIPE)
        child: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            pinpipe_command(*args), env=pinpipe_env(home or tmp_path, **(env or {})), **popen
        )
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(30)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real 32 MiB filesystem (tmpfs) at ``tmp_path/disk``, unmounted when the test ends.

    Ask for it before ``spawn_pinpipe`` so children are stopped before it is unmounted.
    """
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``"127.0.0.1:<port>"`` of a single-node KRaft broker running for this test session.

    Set ``PINPIPE_TEST_KAFKA=host:port`` to use a broker already running (``make kafka``).
    """
    existing = os.environ.get("PINPIPE_TEST_KAFKA")
    if existing:
        yield existing
        return
    from tests.infra.kafka_broker import start

    broker = start(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def spark_engine() -> SparkEngine:
    """One Spark engine (local[2], small) for every Spark test: starting Spark costs seconds."""
    from pinpipe.engines.spark import SparkEngine

    return SparkEngine(SparkSettings(master="local[2]", driver_memory="1g", shuffle_partitions=2))


@pytest.fixture(scope="session", params=["moto", "s3proxy"])
def s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """Each S3-protocol server in turn (moto, then s3proxy), one per test session."""
    from tests.infra.s3_server import start

    server = start(request.param, tmp_path_factory.mktemp(f"s3-{request.param}"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def airflow_venv(pytestconfig: pytest.Config) -> Path:
    """Airflow's own venv, built once (its pip output shown live, even under capture)."""
    from tests.infra.airflow_env import ensure_venv

    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        return ensure_venv()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium (Debian's, through Playwright) per test module that asks.

    Module, not session, scope: Playwright's sync API keeps an event loop running in the
    main thread while it is open, and every later test calling ``asyncio.run`` would fail.
    """
    from tests.infra.browser import chromium

    with chromium() as browser_:
        yield browser_
