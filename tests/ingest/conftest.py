"""A real ingest server on a free loopback port, run in a thread like ``pinpipe up`` does."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pinpipe.ingest.server import serve
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import load_settings

Running = tuple[str, EmbeddedLog]


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
