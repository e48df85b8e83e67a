"""``pinpipe alerts list``: the rules, then their episodes."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table

from pinpipe.alerts.state import Episode
from pinpipe.settings import AlertRule, AlertSettings


def _at(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def describe(rule: AlertRule) -> str:
    """The rule's condition in a few words."""
    where = "".join(f" {k}~{v}" for k, v in rule.where.items())
    by = f" by {rule.by}" if rule.by else ""
    if rule.kind == "threshold":
        ratio = f" / {rule.ratio_to}" if rule.ratio_to else ""
        return (
            f"sum({rule.aggregate}.{rule.value}{where}){ratio}{by} over {rule.minutes} min "
            f"{rule.op} {rule.threshold:g}"
        )
    if rule.kind == "absent":
        return f"no {rule.aggregate}.{rule.value}{where} for {rule.minutes} min"
    if rule.kind == "baseline":
        mean = f"its {rule.minutes}-min mean"
        return f"{rule.aggregate}.{rule.value}{where}{by} > {rule.factor:g}x {mean}"
    return f"check {rule.check} not passing in {rule.minutes} min"


def print_alerts(
    console: Console, settings: AlertSettings, episodes: dict[tuple[str, str], Episode]
) -> None:
    rules = Table(title="alert rules", title_justify="left")
    for column in ("rule", "kind", "condition", "cooldown", "webhook"):
        rules.add_column(column)
    for r in settings.rules:
        cooldown = settings.cooldown_seconds if r.cooldown_seconds is None else r.cooldown_seconds
        url = r.webhook_url or settings.webhook_url
        rules.add_row(r.name, r.kind, describe(r), f"{cooldown:g}s", url or "(record only)")
    console.print(rules if settings.rules else "no alert rules configured ([[alerts.rules]])")
    if not episodes:
        console.print("no alert has fired")
        return
    state = Table(title="episodes (tables/alerts/firing)", title_justify="left")
    for column in ("rule", "key", "state", "since", "delivery", "notified", "message"):
        state.add_column(column)
    for (name, key), e in sorted(episodes.items(), key=lambda kv: kv[1].state != "firing"):
        style = "bold red" if e.state == "firing" else "green"
        state.add_row(
            name, key, f"[{style}]{e.state}[/]", _at(e.episode_start), e.delivery,
            _at(e.notified_at), e.message,
        )  # fmt: skip
    console.print(state)
