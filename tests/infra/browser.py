"""A real browser for the console's tests: Debian's chromium driven by Playwright.

Playwright's own browser builds are never downloaded: it drives the system's ``chromium``
through ``executable_path``. A missing chromium is installed with apt-get when running as root
(CI and the developers' machines); otherwise the error names the command that fixes it. It
never skips: a console test that cannot run a browser fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
APT_FIX = "apt-get update && apt-get install -y chromium"


def find_chromium() -> str | None:
    given = os.environ.get("PINPIPE_CHROMIUM")
    if given:
        return given
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium() -> str:
    """The path of a chromium executable, installing Debian's package if root may."""
    found = find_chromium()
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
        found = find_chromium()
        if found:
            return found
    raise RuntimeError(
        f"the console tests need chromium: run `{APT_FIX}` as root "
        "(or point PINPIPE_CHROMIUM at a Chromium/Chrome executable)"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless chromium for the whole block (one per test session in ``tests/fixtures``)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError(
            "the console tests need Playwright's Python package: pip install -e '.[dev]'"
        ) from exc
    path = ensure_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()
