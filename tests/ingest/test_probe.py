"""Waiting for an ingest API: a dead server and a silent address get clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pinpipe.errors import PinpipeError
from pinpipe.ingest.probe import wait_healthy
from tests.infra.process import free_port


def test_a_server_that_exits_is_reported_with_its_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    with pytest.raises(PinpipeError, match="exited with status 3"):
        wait_healthy(f"http://127.0.0.1:{free_port()}", timeout_s=30, proc=proc)


def test_nothing_listening_times_out_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PinpipeError, match="did not become healthy"):
        wait_healthy(url, timeout_s=0.3)
