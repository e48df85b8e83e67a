"""What the supervisor tells the console about its stages: state, last error, last batch run.

The supervisor updates one ``PipelineStatus`` from its threads; the console only reads
snapshots of it. Errors are kept as one short line with file paths masked, because they end up
on a web page.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

StageState = Literal["starting", "running", "restarting", "paused", "failed", "stopped"]
"""``paused``: waiting for disk space (the log's or the lake's disk is full); it resumes itself."""

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"<>:]+){2,}[/\\]?")
MAX_ERROR_CHARS = 300


def public_message(exc: BaseException | str) -> str:
    """One line fit for a page: the first line of the message, paths masked, bounded."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    first = text.strip().splitlines()[0] if text.strip() else "error"
    masked = _PATH.sub("…", first)
    return masked if len(masked) <= MAX_ERROR_CHARS else masked[: MAX_ERROR_CHARS - 1] + "…"


@dataclass
class StageHealth:
    state: StageState = "starting"
    since: float = 0.0
    """Wall-clock seconds when the stage entered ``state``."""
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass
class BatchRun:
    finished_at: float
    raw_records: int
    seconds: float


class PipelineStatus:
    """Thread-safe health of each stage of ``pinpipe up``, plus its last batch run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stages: dict[str, StageHealth] = {}
        self._batch: BatchRun | None = None

    def set(self, stage: str, state: StageState, error: BaseException | None = None) -> None:
        with self._lock:
            health = self._stages.setdefault(stage, StageHealth())
            if state == "restarting":
                health.restarts += 1
            if error is not None:
                health.last_error = public_message(error)
                health.last_error_at = time.time()
            health.state = state
            health.since = time.time()

    def alive(self, stage: str) -> None:
        """The stage did a pass that worked: ``running`` again if it was restarting (cheap,
        called after every pass; a stage already running keeps its ``since``)."""
        with self._lock:
            health = self._stages.setdefault(stage, StageHealth())
            if health.state in ("starting", "restarting"):
                health.state = "running"
                health.since = time.time()

    def batch_ran(self, raw_records: int, seconds: float) -> None:
        with self._lock:
            self._batch = BatchRun(time.time(), raw_records, seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "stages": {name: asdict(h) for name, h in self._stages.items()},
                "batch": asdict(self._batch) if self._batch else None,
            }
