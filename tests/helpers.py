"""Small helpers shared by tests that start pinpipe processes or read its tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable

from pinpipe.ingest import probe
from pinpipe.lake import Lake


def run_pinpipe(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``pinpipe ARGS`` in a child process with ``PINPIPE_HOME=home``; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pinpipe", *args],
        env={**os.environ, "PINPIPE_HOME": str(home), **env},
        capture_output=True,
        text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Block until ``url/healthz`` answers; fail at once if ``proc`` exits first."""
    probe.wait_healthy(url, timeout_s=timeout_s, proc=proc)


def stream_positions(lake: Lake, table: str) -> list[tuple[str, int, int]]:
    """Sorted ``(topic, partition, offset)`` of every row of a stream table (none yet: [])."""
    path = lake.table("stream", table)  # type: ignore[arg-type]
    if not (path / "_delta_log").exists():
        return []
    t = DeltaTable(str(path)).to_pyarrow_table(columns=["_topic", "_partition", "_offset"])
    return sorted(
        zip(
            t["_topic"].to_pylist(),
            t["_partition"].to_pylist(),
            t["_offset"].to_pylist(),
            strict=True,
        )
    )


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for servers the test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
