"""Alerts delivered once to a real webhook receiver, signed; retried then dead-lettered when it
is down; a restart neither forgets a firing alert nor delivers it twice beyond its key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pinpipe.alerts import AlertEngine, evaluate_rule
from pinpipe.alerts.webhook import idempotency_key
from pinpipe.engines import Engine, interactive_engine
from pinpipe.errors import ConfigError
from pinpipe.lake import Lake
from pinpipe.settings import AlertRule, AlertSettings
from tests.alerts.receiver import Receiver, receiver
from tests.helpers import delta_rows
from tests.quality.crafted import MINUTE, T0, window, write_realtime

SECRET = "s3cr3t-for-tests"
NOW = T0 + 10 * MINUTE
NO_PINS = AlertRule(
    name="no_pins", kind="absent", aggregate="records_by_topic", value="records",
    where={"topic": "*.pin"}, minutes=2,
)  # fmt: skip


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def engine(lake: Lake) -> Engine:
    pins_at(lake, NOW - 4 * MINUTE)  # the last pin window ended 3 minutes before NOW
    return interactive_engine()


def alerts(url: str, **fields: Any) -> AlertSettings:
    return AlertSettings(
        rules=(NO_PINS,), webhook_url=url, secret=SECRET, attempts=3, backoff_seconds=0.01,
        backoff_max_seconds=0.02, cooldown_seconds=300, **fields,
    )  # fmt: skip


def started(lake: Lake, engine: Engine, settings: AlertSettings, clock: Clock) -> AlertEngine:
    return AlertEngine(lake, engine, settings, clock=clock)


def pins_at(lake: Lake, ms: int) -> None:
    write_realtime(lake.realtime("records_by_topic"), "records_by_topic",
                   [window(ms, topic="pinpipe.pin", records=5)])  # fmt: skip


def test_an_alert_is_delivered_once_signed_with_its_idempotency_key(
    lake: Lake, engine: Engine, hook: Receiver
) -> None:
    clock = Clock(NOW)
    alert = started(lake, engine, alerts(hook.url), clock)
    assert [e.state for e in alert.tick()] == ["firing"]
    clock.ms += 30_000
    alert.tick()  # still firing: no second notification

    (got,) = hook.requests
    assert got.signed_with(SECRET)
    assert got.headers["Idempotency-Key"] == idempotency_key("no_pins", "", NOW)
    doc = got.doc
    assert (doc["rule"], doc["status"], doc["value"]) == ("no_pins", "firing", 3.0)
    assert "no records (topic=*.pin) for 3.0 min" in doc["message"]
    (delivered,) = delta_rows(lake.alerts("deliveries"))
    assert (delivered["rule"], delivered["status_code"], delivered["attempts"]) == (
        "no_pins",
        200,
        1,
    )
    (state,) = delta_rows(lake.alerts("firing"))
    assert (state["state"], state["delivery"]) == ("firing", "delivered")
    assert SECRET not in repr(alert.settings)


def test_a_receiver_that_is_down_gets_retries_then_the_dead_letter_table(
    lake: Lake, engine: Engine, hook: Receiver
) -> None:
    hook.down = True
    alert = started(lake, engine, alerts(hook.url), Clock(NOW))
    alert.tick()
    assert len(hook.requests) == 3  # alerts.attempts, backing off in between
    assert len(set(hook.keys)) == 1  # every retry carries the same key
    (dead,) = delta_rows(lake.alerts("dead_letters"))
    assert (dead["rule"], dead["attempts"], dead["status_code"]) == ("no_pins", 3, 503)
    assert dead["error"] == f"HTTP 503 from {hook.url}"
    assert '"rule": "no_pins"' in dead["body"]  # the body, to replay by hand
    assert not lake.storage.exists(lake.alerts("deliveries"))
    (state,) = delta_rows(lake.alerts("firing"))
    assert state["delivery"] == "dead_letter"
    alert.tick()
    assert len(hook.requests) == 3  # dead-lettered once, not retried forever


def test_an_unreachable_receiver_is_dead_lettered_too(lake: Lake, engine: Engine) -> None:
    with receiver() as gone:
        url = gone.url
    alert = started(lake, engine, alerts(url), Clock(NOW))
    alert.tick()
    (dead,) = delta_rows(lake.alerts("dead_letters"))
    assert dead["attempts"] == 3 and dead["status_code"] is None
    assert dead["error"].startswith("ConnectionError from http://127.0.0.1:")


def test_a_restart_while_firing_neither_forgets_nor_repeats(
    lake: Lake, engine: Engine, hook: Receiver
) -> None:
    clock = Clock(NOW)
    started(lake, engine, alerts(hook.url), clock).tick()
    assert len(hook.requests) == 1
    clock.ms += MINUTE
    restarted = started(lake, engine, alerts(hook.url), clock)
    assert [e.state for e in restarted.tick()] == ["firing"]  # known as firing, not new
    assert len(hook.requests) == 1


def test_a_crash_before_delivery_delivers_on_restart_with_the_same_key(
    lake: Lake, engine: Engine, hook: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(NOW)
    first = started(lake, engine, alerts(hook.url), clock)

    def crash(now: int) -> None:
        raise SystemExit("killed after the firing state was committed")

    monkeypatch.setattr(first, "_deliver_pending", crash)
    with pytest.raises(SystemExit):
        first.tick()
    assert hook.requests == []
    pins_at(lake, NOW)  # the condition is over by the restart: the episode is still announced
    clock.ms += MINUTE
    started(lake, engine, alerts(hook.url), clock).tick()
    (got,) = hook.requests
    assert got.headers["Idempotency-Key"] == idempotency_key("no_pins", "", NOW)


def test_a_crash_after_sending_resends_under_the_same_key(
    lake: Lake, engine: Engine, hook: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(NOW)
    first = started(lake, engine, alerts(hook.url), clock)
    saves = 0
    real_save = first.state.save

    def save_then_crash(episodes: Any) -> None:
        nonlocal saves
        saves += 1
        if saves == 2:  # the save that would mark the episode delivered
            raise SystemExit("killed after the POST")
        real_save(episodes)

    monkeypatch.setattr(first.state, "save", save_then_crash)
    with pytest.raises(SystemExit):
        first.tick()
    clock.ms += MINUTE
    again = started(lake, engine, alerts(hook.url), clock)
    again.tick()
    again.tick()
    assert len(hook.requests) == 2 and len(set(hook.keys)) == 1  # at least once, one key
    assert len(hook.accepted()) == 1


def test_the_cooldown_holds_a_new_episode_of_the_same_key(
    lake: Lake, engine: Engine, hook: Receiver
) -> None:
    clock = Clock(NOW)
    alert = started(lake, engine, alerts(hook.url), clock)
    alert.tick()
    pins_at(lake, NOW)  # resolved
    clock.ms += MINUTE
    assert alert.tick() == []
    clock.ms += 3 * MINUTE  # silent again, 4 minutes after the first notification
    assert [e.state for e in alert.tick()] == []  # held by the 5-minute cooldown
    clock.ms += 2 * MINUTE
    (again,) = alert.tick()
    assert len(hook.requests) == 2
    assert hook.keys[1] == idempotency_key("no_pins", "", again.episode_start) != hook.keys[0]


def test_a_slack_body(lake: Lake, engine: Engine, hook: Receiver) -> None:
    started(lake, engine, alerts(hook.url, format="slack"), Clock(NOW)).tick()
    (got,) = hook.requests
    assert got.doc["text"].startswith("*pinpipe alert no_pins*: no records (topic=*.pin)")
    assert got.doc["blocks"][0]["text"]["type"] == "mrkdwn"
    assert got.signed_with(SECRET)


def test_a_rule_naming_a_missing_column_is_skipped_not_fatal(
    lake: Lake, engine: Engine, hook: Receiver
) -> None:
    broken = NO_PINS.model_copy(update={"name": "broken", "value": "nope"})
    settings = alerts(hook.url).model_copy(update={"rules": (broken, NO_PINS)})
    with pytest.raises(ConfigError, match="records_by_topic has no column 'nope'"):
        evaluate_rule(broken, lake, engine, NOW)
    assert [e.rule for e in started(lake, engine, settings, Clock(NOW)).tick()] == ["no_pins"]
    assert [r.doc["rule"] for r in hook.requests] == ["no_pins"]
