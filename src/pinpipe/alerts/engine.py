"""The alert engine: rules evaluated on a clock and on new data, episodes kept in Delta,
notifications delivered at least once.

One tick: evaluate every rule; a key that starts firing opens an episode (unless its cooldown
since the last notification has not passed), a key that stops firing resolves its episode;
the firing table is committed; then every episode whose notification is still pending is
delivered (retried; after the last attempt it goes to the dead-letter table). A crash between
commit and delivery leaves the episode pending, so the next start delivers it with the same
idempotency key: at least once, never twice beyond that key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pinpipe.alerts.rules import Condition, evaluate_rule
from pinpipe.alerts.state import AlertState, Delivery, Episode
from pinpipe.alerts.webhook import Notification, deliver
from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.settings import AlertRule, AlertSettings

log = logging.getLogger(__name__)


class AlertEngine:
    """``run(stop)`` in a thread of ``pinpipe up``; ``tick()`` evaluates once; ``test(rule)``."""

    def __init__(
        self,
        lake: Lake,
        engine: Engine,
        settings: AlertSettings,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.lake = lake
        self.engine = engine
        self.settings = settings
        self.rules = {r.name: r for r in settings.rules}
        self.state = AlertState(lake, engine.tables)
        self._clock = clock
        self._sleep = sleep
        self.started_ms = self._now()
        self.episodes = self.state.load()
        self._new_data = threading.Event()
        self._versions: dict[str, int | None] = {}

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _url(self, rule: AlertRule) -> str:
        return rule.webhook_url or self.settings.webhook_url

    def _cooldown_ms(self, rule: AlertRule) -> float:
        seconds = rule.cooldown_seconds
        return 1000 * (self.settings.cooldown_seconds if seconds is None else seconds)

    def notify_new_data(self) -> None:
        """Evaluate soon (the stream job can call this after committing windows)."""
        self._new_data.set()

    def tick(self) -> list[Episode]:
        """Evaluate every rule once, commit the episodes, deliver what is pending."""
        now = self._now()
        changed = False
        for rule in self.rules.values():
            try:
                since = self._since(rule.name)
                conditions = evaluate_rule(rule, self.lake, self.engine, now, since_ms=since)
            except ConfigError as exc:  # a rule naming a column its aggregate lacks
                log.error("alert rule %s skipped: %s", rule.name, exc)
                continue
            except Exception:  # one broken source must not silence the other rules
                log.exception("alert rule %s could not be evaluated", rule.name)
                continue
            changed |= self._apply(rule, conditions, now)
        if changed:
            self.state.save(self.episodes)
        self._deliver_pending(now)
        return [e for e in self.episodes.values() if e.state == "firing"]

    def _since(self, name: str) -> int:
        """Since when an absent rule has seen nothing: this start, or earlier when an episode
        fires from before it (a restart must not resolve "no records for N minutes" just
        because it started anew)."""
        # An absent episode's value is the silence it had seen: it began that long before.
        starts = [
            e.episode_start - int(60_000 * (e.value or 0))
            for (rule, _), e in self.episodes.items()
            if rule == name and e.state == "firing"
        ]
        return min([self.started_ms, *starts])

    def _apply(self, rule: AlertRule, conditions: list[Condition], now: int) -> bool:
        changed = False
        firing = {c.key: c for c in conditions if c.firing}
        for key, c in firing.items():
            current = self.episodes.get((rule.name, key))
            if current is not None and current.state == "firing":
                continue
            notified = None if current is None else current.notified_at
            if notified is not None and now - notified < self._cooldown_ms(rule):
                log.info("alert %s/%s fires again within its cooldown: held", rule.name, key)
                continue
            delivery: Delivery = "pending" if self._url(rule) else "none"
            self.episodes[(rule.name, key)] = Episode(
                rule.name, key, "firing", now, c.value, c.message, delivery, updated_at=now
            )
            log.warning("alert %s%s firing: %s", rule.name, f"/{key}" if key else "", c.message)
            changed = True
        for (name, key), episode in list(self.episodes.items()):
            if name == rule.name and episode.state == "firing" and key not in firing:
                self.episodes[(name, key)] = episode.but(
                    state="resolved", resolved_at=now, updated_at=now
                )
                log.info("alert %s%s resolved", name, f"/{key}" if key else "")
                changed = True
        return changed

    def _deliver_pending(self, now: int) -> None:
        for (name, key), episode in sorted(self.episodes.items()):
            if episode.delivery != "pending":
                continue
            rule = self.rules.get(name)
            if rule is None:  # a rule removed from the settings: its pending alert is kept
                continue
            note = Notification(name, key, episode.episode_start, episode.value, episode.message)
            delivered = self._send(rule, note)
            self.episodes[(name, key)] = episode.but(
                delivery="delivered" if delivered else "dead_letter",
                notified_at=self._now(),
                updated_at=self._now(),
            )
            self.state.save(self.episodes)

    def _send(self, rule: AlertRule, note: Notification) -> bool:
        """Deliver ``note``; record the delivery or the dead letter. Returns whether delivered."""
        url = self._url(rule)
        fmt = rule.format or self.settings.format
        outcome = deliver(url, note, self.settings, fmt, sleep=self._sleep)
        common: dict[str, object] = {
            "rule": note.rule,
            "key": note.key,
            "episode_start": note.episode_start_ms,
            "idempotency_key": note.idempotency_key,
            "url": url,
            "status_code": outcome.status_code,
            "attempts": outcome.attempts,
            "test": note.test,
        }
        if outcome.delivered:
            self.state.delivered({**common, "delivered_at": self._now()})
            log.info("alert %s delivered to %s (%d attempts)", note.rule, url, outcome.attempts)
            return True
        body = note.body(fmt).decode()
        self.state.dead_letter(
            {**common, "error": outcome.error, "body": body, "failed_at": self._now()}
        )
        log.error(
            "alert %s not delivered after %d attempts (%s): kept in %s",
            note.rule, outcome.attempts, outcome.error, self.state.dead_letters_uri,
        )  # fmt: skip
        return False

    def test(self, name: str) -> bool:
        """Send a test notification of rule ``name`` (``pinpipe alerts test``)."""
        rule = self.rules.get(name)
        if rule is None:
            known = ", ".join(self.rules) or "none configured"
            raise ConfigError(f"no alert rule {name!r} (rules: {known})")
        if not self._url(rule):
            raise ConfigError(
                f"alert rule {name!r} has no webhook: "
                "set alerts.webhook_url or the rule's webhook_url"
            )
        now = self._now()
        note = Notification(name, "test", now, None, f"test notification of rule {name}", test=True)
        return self._send(rule, note)

    def _source_versions(self) -> dict[str, int | None]:
        uris = {self.lake.quality_results}
        for rule in self.rules.values():
            if rule.aggregate:
                uris.add(self.lake.realtime(rule.aggregate))
            if rule.ratio_to:
                uris.add(self.lake.realtime(rule.ratio_to.partition(".")[0]))
        versions = {}
        for uri in sorted(uris):
            table = self.engine.tables.open(uri)
            versions[uri] = None if table is None else table.version()
        return versions

    def run(self, stop: threading.Event) -> None:
        """Tick every ``alerts.every_seconds``, and as soon as a source table has new data."""
        last_tick = -float("inf")
        while not stop.is_set():
            versions = self._source_versions()
            fresh = versions != self._versions or self._new_data.is_set()
            if fresh or time.monotonic() - last_tick >= self.settings.every_seconds:
                self._new_data.clear()
                self._versions = versions
                self.tick()
                last_tick = time.monotonic()
            stop.wait(self.settings.poll_seconds)
