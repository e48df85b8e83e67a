"""Each kind of alert rule as a condition per key, over the lake's tables at a given instant.

The real-time aggregates are small (one row per minute and key), so a rule reads the minutes
it needs through the engine (Ibis) and decides in Python; nothing here knows which engine runs.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.quality.results import since as results_since
from pinpipe.settings import AlertRule

MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Condition:
    """A rule's verdict for one key at one instant."""

    key: str
    firing: bool
    value: float | None
    message: str


def _at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _matches(row: dict[str, Any], where: dict[str, str]) -> bool:
    return all(
        name not in row or fnmatch.fnmatchcase("" if row[name] is None else str(row[name]), pattern)
        for name, pattern in where.items()
    )


def _windows(
    lake: Lake, engine: Engine, aggregate: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]] | None:
    """Rows of ``tables/realtime/<aggregate>`` whose window starts in ``[start, end)``."""
    table: ir.Table | None = engine.read_delta(lake.realtime(aggregate))
    if table is None:
        return None
    picked = table.filter((table.window_start >= start) & (table.window_start < end))
    return engine.to_arrow(picked).to_pylist()


def _check_columns(rule: AlertRule, rows: list[dict[str, Any]], *columns: str) -> None:
    if rows:
        missing = [c for c in columns if c and c not in rows[0]]
        if missing:
            raise ConfigError(
                f"alert rule {rule.name!r}: {rule.aggregate} has no column {missing[0]!r} "
                f"(its columns: {', '.join(rows[0])})"
            )


def _sums(
    rows: list[dict[str, Any]], value: str, by: str, where: dict[str, str]
) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for row in rows:
        if _matches(row, where):
            key = "" if not by else ("NULL" if row.get(by) is None else str(row[by]))
            sums[key] += float(row[value] or 0)
    return dict(sums)


def threshold(rule: AlertRule, lake: Lake, engine: Engine, now_ms: int) -> list[Condition]:
    """``value`` summed over the last ``minutes`` (per ``by``), or its ratio, beyond a threshold."""
    now = _at(now_ms)
    start = now - rule.minutes * MINUTE
    rows = _windows(lake, engine, rule.aggregate, start, now) or []
    _check_columns(rule, rows, rule.value, rule.by)
    sums = _sums(rows, rule.value, rule.by, rule.where)
    denominators: dict[str, float] | None = None
    if rule.ratio_to:
        aggregate, _, column = rule.ratio_to.partition(".")
        other = _windows(lake, engine, aggregate, start, now) or []
        by = rule.by if other and rule.by in other[0] else ""
        denominators = _sums(other, column, by, rule.ratio_where)
        sums = {k: sums.get(k, 0.0) for k in {*sums, *denominators}} if by else sums
    found = []
    for key, total in sorted(sums.items()):
        measure: float | None = total
        if denominators is not None:
            below = denominators.get(key if rule.by and key in denominators else "", 0.0)
            measure = total / below if below else None
        firing = measure is not None and (
            measure > rule.threshold if rule.op == ">" else measure < rule.threshold
        )
        what = f"{rule.value}/{rule.ratio_to}" if rule.ratio_to else rule.value
        shown = "n/a" if measure is None else f"{measure:.4g}"
        message = (
            f"{what} over the last {rule.minutes:g} min{f' for {key}' if key else ''}: "
            f"{shown} ({rule.op} {rule.threshold:g} fires)"
        )
        found.append(Condition(key, firing, measure, message))
    if not found and rule.op == "<":  # nothing at all is below any positive threshold
        found.append(
            Condition("", rule.threshold > 0, 0.0, f"no {rule.value} in {rule.minutes:g} min")
        )
    return found


def absent(
    rule: AlertRule, lake: Lake, engine: Engine, now_ms: int, since_ms: int
) -> list[Condition]:
    """No row with a positive ``value`` (matching ``where``) for ``minutes``."""
    now = _at(now_ms)
    lookback = now - max(rule.minutes * 10, 60) * MINUTE
    rows = _windows(lake, engine, rule.aggregate, lookback, now + MINUTE) or []
    _check_columns(rule, rows, rule.value)
    ends = [
        int(row["window_end"].timestamp() * 1000)
        for row in rows
        if _matches(row, rule.where) and (row[rule.value] or 0) > 0
    ]
    last = max(ends, default=None)
    idle_ms = now_ms - (last if last is not None else since_ms)
    idle = idle_ms / 60_000
    what = ", ".join(f"{k}={v}" for k, v in rule.where.items()) or rule.aggregate
    message = (
        f"no {rule.value} ({what}) for {idle:.1f} min" if idle > rule.minutes
        else f"last {rule.value} ({what}) {idle:.1f} min ago"
    )  # fmt: skip
    return [Condition("", idle > rule.minutes, idle, message)]


def baseline(rule: AlertRule, lake: Lake, engine: Engine, now_ms: int) -> list[Condition]:
    """The last closed window's ``value`` per key above ``factor`` x its trailing mean."""
    now = _at(now_ms)
    rows = _windows(lake, engine, rule.aggregate, now - (rule.minutes + 2) * MINUTE, now) or []
    _check_columns(rule, rows, rule.value, rule.by)
    closed = [r for r in rows if r["window_end"] <= now and _matches(r, rule.where)]
    if not closed:
        return []
    last = max(r["window_start"] for r in closed)
    current = _sums([r for r in closed if r["window_start"] == last], rule.value, rule.by, {})
    windows = max(1, round(rule.minutes))
    trailing = [r for r in closed if last - windows * MINUTE <= r["window_start"] < last]
    before = _sums(trailing, rule.value, rule.by, {})
    found = []
    for key in sorted({*current, *before}):
        mean = before.get(key, 0.0) / windows
        value = current.get(key, 0.0)
        ratio = value / mean if mean else None
        firing = mean >= max(rule.min_baseline, 1e-9) and value > rule.factor * mean
        times = "n/a" if ratio is None else f"{ratio:.2f}"
        message = (
            f"{rule.value}{f' of {key}' if key else ''} in the window of {last:%H:%M}: {value:g} "
            f"against a baseline of {mean:.3g} per minute (x{times}, above x{rule.factor:g} fires)"
        )
        found.append(Condition(key, firing, ratio, message))
    return found


def quality(rule: AlertRule, lake: Lake, engine: Engine, now_ms: int) -> list[Condition]:
    """The data-quality check ``check``'s newest result per table and key in ``minutes``."""
    rows = results_since(engine, lake.quality_results, _at(now_ms) - rule.minutes * MINUTE)
    newest: dict[str, dict[str, Any]] = {}
    for row in rows.to_pylist():
        if row["check"] != rule.check:
            continue
        key = f"{row['table']}/{row['key']}" if row["key"] else row["table"]
        if key not in newest or row["evaluated_at"] > newest[key]["evaluated_at"]:
            newest[key] = row
    return [
        Condition(
            key,
            row["status"] != "pass",
            row["observed"],
            f"{rule.check}: {row['status']}: {row['message']}",
        )
        for key, row in sorted(newest.items())
    ]


def evaluate_rule(
    rule: AlertRule, lake: Lake, engine: Engine, now_ms: int, *, since_ms: int | None = None
) -> list[Condition]:
    """The rule's conditions at ``now_ms``; ``absent`` counts idleness from ``since_ms`` when
    nothing was ever seen (the engine's start)."""
    if rule.kind in ("threshold", "absent", "baseline") and not (rule.aggregate and rule.value):
        raise ConfigError(f"alert rule {rule.name!r}: {rule.kind} needs `aggregate` and `value`")
    if rule.kind == "threshold":
        return threshold(rule, lake, engine, now_ms)
    if rule.kind == "absent":
        return absent(rule, lake, engine, now_ms, now_ms if since_ms is None else since_ms)
    if rule.kind == "baseline":
        return baseline(rule, lake, engine, now_ms)
    if not rule.check:
        raise ConfigError(f"alert rule {rule.name!r}: quality needs `check` (a check's name)")
    return quality(rule, lake, engine, now_ms)
