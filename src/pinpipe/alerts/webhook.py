"""The webhook action: a JSON (or Slack) body, signed, with an idempotency key, retried.

``X-Pinpipe-Signature: sha256=<hex HMAC-SHA256 of the body>`` with ``alerts.secret``; the
``Idempotency-Key`` is derived from (rule, key, episode start), so every retry and every resend
after a restart carries the same key and a receiver can drop duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import requests
import tenacity

from pinpipe.settings import AlertSettings

SIGNATURE_HEADER: Final = "X-Pinpipe-Signature"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"


def idempotency_key(rule: str, key: str, episode_start_ms: int) -> str:
    """Stable per episode: the same alert resent carries the same key."""
    return hashlib.sha256(f"{rule}\0{key}\0{episode_start_ms}".encode()).hexdigest()[:32]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Notification:
    """One alert episode to announce (or a test of a rule)."""

    rule: str
    key: str
    episode_start_ms: int
    value: float | None
    message: str
    test: bool = False

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.rule, self.key, self.episode_start_ms)

    def body(self, fmt: Literal["json", "slack"]) -> bytes:
        since = dt.datetime.fromtimestamp(self.episode_start_ms / 1000, dt.UTC)
        doc: dict[str, Any] = {
            "rule": self.rule,
            "key": self.key,
            "status": "test" if self.test else "firing",
            "episode_start": since.isoformat(timespec="milliseconds"),
            "value": self.value,
            "message": self.message,
            "idempotency_key": self.idempotency_key,
        }
        if fmt == "slack":
            title = f"{'[test] ' if self.test else ''}pinpipe alert {self.rule}"
            text = f"*{title}*{f' ({self.key})' if self.key else ''}: {self.message}"
            doc = {
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                "pinpipe": doc,
            }
        return json.dumps(doc, sort_keys=True).encode()


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    status_code: int | None
    error: str


class _Retry(Exception):
    """A failed attempt worth retrying (no answer, 5xx, 429)."""


def deliver(
    url: str,
    note: Notification,
    settings: AlertSettings,
    fmt: Literal["json", "slack"],
    *,
    sleep: Callable[[float], None] = tenacity.nap.sleep,
) -> Outcome:
    """POST ``note`` to ``url``, retried with exponential backoff up to ``alerts.attempts``.

    Errors name the URL and the status, never a header: the signature's secret is not logged.
    """
    body = note.body(fmt)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: note.idempotency_key}
    secret = settings.secret.get_secret_value()
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    attempts = 0
    last_code: int | None = None

    def attempt() -> int:
        nonlocal attempts, last_code
        attempts += 1
        try:
            answer = requests.post(
                url, data=body, headers=headers, timeout=settings.timeout_seconds
            )
        except requests.RequestException as exc:
            raise _Retry(f"{type(exc).__name__} from {url}") from None
        last_code = answer.status_code
        if answer.status_code >= 500 or answer.status_code == 429:
            raise _Retry(f"HTTP {answer.status_code} from {url}")
        return answer.status_code

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.attempts),
        wait=tenacity.wait_exponential(
            multiplier=settings.backoff_seconds, max=settings.backoff_max_seconds
        ),
        retry=tenacity.retry_if_exception_type(_Retry),
        sleep=sleep,
        reraise=True,
    )
    try:
        code = retrying(attempt)
    except _Retry as exc:
        return Outcome(False, attempts, last_code, str(exc))
    if code >= 400:  # refused for good (bad URL, bad signature): retrying will not help
        return Outcome(False, attempts, code, f"HTTP {code} from {url}")
    return Outcome(True, attempts, code, "")
