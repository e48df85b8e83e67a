"""``pinpipe up`` killed -9 while an alert fires, then restarted: the alert is still firing,
and it is not delivered a second time."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pinpipe.alerts.webhook import idempotency_key
from tests.alerts.receiver import Receiver, receiver
from tests.fixtures import Spawn
from tests.helpers import delta_rows, wait_healthy
from tests.infra.process import free_port

NO_PINS = {"name": "no_pins", "kind": "absent", "aggregate": "records_by_topic",
           "value": "records", "where": {"topic": "*.pin"}, "minutes": 0.03}  # fmt: skip
SENTINEL = {**NO_PINS, "name": "sentinel", "where": {"topic": "*.never"}, "minutes": 0.01}
"""Only in the second run: its delivery proves the restarted engine has evaluated no_pins."""


def _env(hook: Receiver, *rules: dict[str, object]) -> dict[str, str]:
    return {
        "PINPIPE_ALERTS__RULES": json.dumps(rules),
        "PINPIPE_ALERTS__WEBHOOK_URL": hook.url,
        "PINPIPE_ALERTS__SECRET": "up-secret",
        "PINPIPE_ALERTS__EVERY_SECONDS": "0.2",
        "PINPIPE_ALERTS__POLL_SECONDS": "0.1",
        "PINPIPE_BATCH__EVERY_MINUTES": "0",
    }


def _wait_for(hook: Receiver, rule: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(r.doc["rule"] == rule for r in hook.requests):
            return
        time.sleep(0.1)
    raise AssertionError(f"no delivery of {rule} in {timeout_s}s: {hook.requests}")


def _recorded(table: Path, delivery: str, timeout_s: float = 60) -> dict[str, object]:
    """The one firing row once its delivery reads ``delivery``."""
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = delta_rows(table) if table.exists() else []
        if len(rows) == 1 and rows[0]["delivery"] == delivery:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no firing row with delivery {delivery!r} in {timeout_s}s: {rows}")


def _delivered(home: Path) -> list[str]:
    table = home / "lake/tables/alerts/deliveries"
    return sorted(str(r["rule"]) for r in delta_rows(table)) if table.exists() else []


def _wait_until(done: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} in {timeout_s}s")
        time.sleep(0.1)


def test_kill_9_while_an_alert_fires_then_restart(tmp_path: Path, spawn_pinpipe: Spawn) -> None:
    with receiver() as hook:
        port = free_port()
        up = spawn_pinpipe("up", "--port", str(port), env=_env(hook, NO_PINS))
        wait_healthy(f"http://127.0.0.1:{port}", up)
        _wait_for(hook, "no_pins")
        # The receiver's 200 is recorded a moment after it arrives; a kill before that is
        # at-least-once's resend (same key), not what this test is about.
        before = _recorded(tmp_path / "lake/tables/alerts/firing", "delivered")
        up.kill()
        up.wait(30)
        assert before["state"] == "firing"
        assert delta_rows(tmp_path / "lake/tables/alerts/firing") == [before]

        again = spawn_pinpipe("up", "--port", str(port), env=_env(hook, NO_PINS, SENTINEL))
        wait_healthy(f"http://127.0.0.1:{port}", again)
        _wait_for(hook, "sentinel")
        _wait_until(lambda: "sentinel" in _delivered(tmp_path), "the sentinel's delivery row")
        again.kill()
        again.wait(30)

    no_pins = [r for r in hook.requests if r.doc["rule"] == "no_pins"]
    start = int(before["episode_start"].timestamp() * 1000)
    assert [r.headers["Idempotency-Key"] for r in no_pins] == [
        idempotency_key("no_pins", "", start)
    ]
    assert all(r.signed_with("up-secret") for r in hook.requests)
    after = {r["rule"]: r for r in delta_rows(tmp_path / "lake/tables/alerts/firing")}
    assert after["no_pins"]["state"] == "firing"  # not forgotten, not resolved by the restart
    assert after["no_pins"]["episode_start"] == before["episode_start"]
    assert _delivered(tmp_path) == ["no_pins", "sentinel"]
