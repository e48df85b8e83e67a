"""Stop signals, handled one way by every long-running command.

The first SIGINT/SIGTERM asks the process to drain and commit (it sets an event the stages
watch); a second one exits at once, for the operator who does not want to wait.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)

FORCED_EXIT_STATUS = 130


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """``stop`` (or a new event), set by the first SIGINT/SIGTERM; a second one exits now."""
    event = stop if stop is not None else threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if event.is_set():
            os._exit(FORCED_EXIT_STATUS)
        log.info(
            "received %s: draining (send it again to exit at once)", signal.Signals(signum).name
        )
        event.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return event
