"""API keys from a file, re-read on SIGHUP: add a key and retire an old one without downtime.

The file is TOML, ``api_keys = ["sha256:<hex>", {sha256 = "...", name = "...", ...}]``, the
entries as in ``ingest.api_keys`` and validated by the same rules (plain keys are refused).
Running apps register their reload with ``watch``; one SIGHUP handler, installed from the main
thread (``install_sighup_handler``: ``pinpipe serve`` itself, the supervisor under ``pinpipe
up``), reloads them all. A file that fails to read or validate keeps the keys in use, with
the reason in the server log (never a key: the file holds only digests).
"""

from __future__ import annotations

import logging
import signal
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pydantic

from pinpipe.errors import ConfigError
from pinpipe.settings import ApiKey, IngestSettings

logger = logging.getLogger("pinpipe.ingest")

_reloads: list[Callable[[], None]] = []
_lock = threading.Lock()
_hups = 0
"""SIGHUPs received so far: a server that read its file before it could ``watch`` checks
whether one came in between (``hups``) and reloads then."""


def read_key_file(path: str | Path) -> tuple[ApiKey, ...]:
    """The keys a file holds; ``ConfigError`` naming the file and the problem."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read ingest.api_keys_file {str(path)!r}: {exc}") from exc
    if set(doc) - {"api_keys"}:
        raise ConfigError(f"ingest.api_keys_file {str(path)!r} may only hold api_keys = [...]")
    try:
        return IngestSettings(api_keys=doc.get("api_keys", ())).api_keys
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"ingest.api_keys_file {str(path)!r}: {first['msg']} at {first['loc']}"
        ) from None


def watch(reload: Callable[[], None]) -> Callable[[], None]:
    """Reload with SIGHUP from now on; returns the call that stops it."""
    with _lock:
        _reloads.append(reload)

    def unwatch() -> None:
        with _lock:
            if reload in _reloads:
                _reloads.remove(reload)

    return unwatch


def hups() -> int:
    return _hups


def reload_all() -> None:
    with _lock:
        reloads = list(_reloads)
    for reload in reloads:
        reload()


def install_sighup_handler() -> bool:
    """SIGHUP reloads every watched key file; only the main thread may install it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return False

    def handle(signum: int, frame: FrameType | None) -> None:
        global _hups
        _hups += 1
        reload_all()

    signal.signal(signal.SIGHUP, handle)
    return True
