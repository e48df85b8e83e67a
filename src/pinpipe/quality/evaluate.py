"""Checks evaluated on each scope: a batch day, a closed stream window, the clock.

Each entry point measures every check that applies to its scope, appends the results to
``tables/quality/results`` (a window exactly once, keyed by its end) and updates the gauges.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping, Sequence

import ibis.expr.types as ir

from pinpipe.engines import Engine
from pinpipe.lake.layout import Lake, Zone
from pinpipe.lake.raw_index import day_bounds, entries_of_day
from pinpipe.quality import measures as m
from pinpipe.quality.checks import SCOPES, CheckResult, Scope
from pinpipe.quality.metrics import observe
from pinpipe.quality.results import append_results
from pinpipe.settings import CheckSettings

WINDOW_APP = "pinpipe-quality:window"
"""App transaction of window results: its version is the end (ms) of the last window recorded."""

Instant = int | dt.datetime
"""Epoch ms or an aware datetime."""


def _ms(value: Instant) -> int:
    return int(value.timestamp() * 1000) if isinstance(value, dt.datetime) else int(value)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _applies(checks: Sequence[CheckSettings], scope: Scope) -> list[CheckSettings]:
    return [c for c in checks if scope in SCOPES[c.kind]]


Reader = Callable[[str], "ir.Table | None"]
"""``engine.read_delta``, memoised for one evaluation (several checks read each table)."""


def _measure(
    lake: Lake,
    engine: Engine,
    read: Reader,
    check: CheckSettings,
    zone: Zone,
    bounds: tuple[int, int],
    examples: int,
    trailing: list[int] | None = None,
    lines: Mapping[str, Sequence[bytes]] | None = None,
) -> m.Measure:
    """One row, quarantine, volume or drift check over ``zone``'s tables between ``bounds``."""
    rows_uri = lake.table(zone, check.table)
    if check.kind in ("null_rate", "accepted_values", "range", "format"):
        return m.column_check(engine, m.between(read(rows_uri), bounds), check, examples)
    if check.kind == "unique":
        return m.unique_check(engine, read(rows_uri), check, examples)
    if check.kind == "schema_drift":
        if lines is not None:
            found: list[dict[str, object]] = []
            m.parse_lines(lines.get(check.table, ()), bounds, found)
            return m.drift_check(found, check)
        entries = (
            entries_of_day(lake, m.day_of(bounds[0]), check.table)
            if zone == "batch"
            else m.entries_between(lake, check.table, bounds)
        )
        return m.drift_check(m.raw_lines(lake, entries, bounds), check)
    rejects = m.between(read(lake.quarantine(check.table, zone)), bounds)
    if zone == "batch":
        records = m.day_records(lake, m.day_of(bounds[0]), check.table)
    else:
        records = m.count(engine, m.between(read(rows_uri), bounds)) + m.count(engine, rejects)
    if check.kind == "quarantine_rate":
        return m.quarantine_check(engine, records, rejects, check, examples)
    if check.kind == "volume":
        unit = "day" if zone == "batch" else "window"
        return m.volume_check(records, trailing or [], check, unit)
    raise AssertionError(check.kind)


def _result(
    check: CheckSettings,
    scope: Scope,
    run_id: str,
    found: m.Measure,
    bounds: tuple[int, int] | None,
) -> CheckResult:
    return CheckResult(
        check=check,
        scope=scope,
        run_id=run_id,
        observed=found.observed,
        threshold=found.threshold,
        failed=found.failed,
        message=found.message,
        key=found.key,
        window_start=bounds[0] if bounds else None,
        window_end=bounds[1] if bounds else None,
        examples=found.examples,
    )


def _trailing_windows(
    lake: Lake, engine: Engine, read: Reader, check: CheckSettings, bounds: tuple[int, int]
) -> list[int]:
    """Records (rows + rejects) of each of the ``baseline`` windows before ``bounds``."""
    width = bounds[1] - bounds[0]
    first, n = bounds[0] - check.baseline * width, check.baseline
    rows = m.window_counts(engine, read(lake.table("stream", check.table)), first, width, n)
    bad = m.window_counts(engine, read(lake.quarantine(check.table, "stream")), first, width, n)
    return [a + b for a, b in zip(rows, bad, strict=True)]


def evaluate_run(
    lake: Lake,
    engine: Engine,
    checks: Sequence[CheckSettings],
    day: dt.date,
    *,
    examples: int = 3,
    record: bool = True,
) -> list[CheckResult]:
    """The checks of a batch run over one UTC ingest day (run after ``batch --date``)."""
    bounds = day_bounds(day)
    read = functools.cache(engine.read_delta)
    run_id = f"batch:{day.isoformat()}@{_iso(int(time.time() * 1000))}"
    results = []
    for check in _applies(checks, "run"):
        trailing = None
        if check.kind == "volume":
            days = [day - dt.timedelta(days=i) for i in range(1, check.baseline + 1)]
            counts = [m.day_records(lake, d, check.table) for d in days]
            trailing = [c for c in counts if c]  # days before the lake began do not count
        found = _measure(lake, engine, read, check, "batch", bounds, examples, trailing)
        results.append(_result(check, "run", run_id, found, bounds))
    if record:
        append_results(engine.tables, lake.quality_results, results)
    observe(results)
    return results


def evaluate_window(
    lake: Lake,
    engine: Engine,
    checks: Sequence[CheckSettings],
    start: Instant,
    end: Instant,
    *,
    examples: int = 3,
    record: bool = True,
    lines: Mapping[str, Sequence[bytes]] | None = None,
) -> list[CheckResult]:
    """The checks of one closed stream window ``[start, end)`` (the stream job calls this).

    Reads the stream tables and their quarantine between the bounds; schema drift reads
    ``lines`` (table → the lake lines the stream job read, filtered to the window) when given,
    else the raw zone, which holds a recent window only once the sink has committed it.
    Recorded exactly once: a window ending at or before the last recorded one is measured and
    returned but not appended again (a replay after a restart).
    """
    bounds = (_ms(start), _ms(end))
    read = functools.cache(engine.read_delta)
    run_id = f"window:{_iso(bounds[0])}"
    results = []
    for check in _applies(checks, "window"):
        trailing = None
        if check.kind == "volume":
            trailing = _trailing_windows(lake, engine, read, check, bounds)
        found = _measure(lake, engine, read, check, "stream", bounds, examples, trailing, lines)
        results.append(_result(check, "window", run_id, found, bounds))
    if record:
        append_results(engine.tables, lake.quality_results, results, txn=(WINDOW_APP, bounds[1]))
    observe(results)
    return results


WINDOW_MS = 60_000
MAX_BACKLOG = 60
"""``closed_windows`` hands out at most this many windows per call (a long outage catches up
over several calls, newest last)."""


def evaluated_until(lake: Lake, engine: Engine) -> int | None:
    """The end (epoch ms) of the last stream window whose results are recorded, or None."""
    table = engine.tables.open(lake.quality_results)
    return None if table is None else table.transaction_version(WINDOW_APP)


def closed_windows(lake: Lake, engine: Engine, closed_before: Instant) -> list[tuple[int, int]]:
    """The one-minute windows ending at or before ``closed_before`` not evaluated yet, oldest
    first: the stream job calls ``evaluate_window`` for each. ``closed_before`` is the time no
    record can still land before (the partitions' lowest clock minus the allowed lateness).
    Without any recorded window, only the last closed one is judged (no backfill of history).
    """
    last_end = _ms(closed_before) // WINDOW_MS * WINDOW_MS
    done = evaluated_until(lake, engine)
    first_end = (
        last_end
        if done is None
        else max(done + WINDOW_MS, last_end - (MAX_BACKLOG - 1) * WINDOW_MS)
    )
    return [(end - WINDOW_MS, end) for end in range(first_end, last_end + 1, WINDOW_MS)]


def evaluate_clock(
    lake: Lake,
    engine: Engine,
    checks: Sequence[CheckSettings],
    now: Instant,
    *,
    since: Instant | None = None,
    record: bool = True,
) -> list[CheckResult]:
    """The clock's checks (freshness) at ``now``; with no record at all, idle since ``since``."""
    now_ms = _ms(now)
    since_ms = None if since is None else _ms(since)
    run_id = f"clock:{_iso(now_ms)}"
    results = []
    for check in _applies(checks, "clock"):
        last = m.last_arrivals(lake, engine, check.table)
        for found in m.freshness_checks(last, now_ms, since_ms, check):
            results.append(_result(check, "clock", run_id, found, None))
    if record:
        append_results(engine.tables, lake.quality_results, results)
    observe(results)
    return results
