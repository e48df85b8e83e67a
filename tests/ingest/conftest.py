"""The ingest app over a test log: in process (``client``), or a real server in a thread.

``log`` is the root fixture (the embedded log of the test's home); tests that need other
settings build their own client with ``app_client``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pinpipe.ingest.app import create_app
from pinpipe.ingest.server import serve
from pinpipe.log.base import Log
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import IngestSettings, load_settings

Running = tuple[str, EmbeddedLog]


def app_client(log: Log, **settings: Any) -> TestClient:
    """A test client of the ingest app over ``log`` with ``IngestSettings(**settings)``."""
    return TestClient(create_app(log, IngestSettings(**settings)), raise_server_exceptions=False)


@pytest.fixture
def client(log: EmbeddedLog) -> Iterator[TestClient]:
    """The app with default settings over the test's log."""
    with app_client(log) as client_:
        yield client_


@contextmanager
def running_server(home: Path, **ingest: Any) -> Iterator[Running]:
    overrides = {f"ingest.{k}": v for k, v in ingest.items()}
    settings = load_settings(home=home, **{"ingest.port": 0, "log.fsync": True, **overrides})
    log = EmbeddedLog(settings.log_path, fsync=True)
    ready, stop = threading.Event(), threading.Event()
    bound: list[int] = []
    thread = threading.Thread(
        target=serve,
        args=(settings,),
        kwargs={"log": log, "ready": ready, "stop": stop, "on_bound": lambda h, p: bound.append(p)},
        daemon=True,
    )
    thread.start()
    assert ready.wait(20), "the server did not start"
    try:
        yield f"http://127.0.0.1:{bound[0]}", log
    finally:
        stop.set()
        thread.join(40)
        assert not thread.is_alive()
        log.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Callable[..., Any]:
    return lambda **ingest: running_server(tmp_path, **ingest)
