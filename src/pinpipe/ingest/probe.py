"""Wait for an ingest API to come up: for scripts, benchmarks and tests that start one."""

from __future__ import annotations

import subprocess
import time

import requests

from pinpipe.errors import PinpipeError


def wait_healthy(
    url: str, *, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until ``url/healthz`` answers 200; give up early if ``proc`` (the server) exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PinpipeError(f"the server at {url} exited with status {proc.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    if proc is not None:
        proc.kill()
    raise PinpipeError(f"{url} did not become healthy within {timeout_s:.0f}s")
