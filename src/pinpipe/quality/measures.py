"""The measure of each kind of check over the lake's tables, as engine-neutral Ibis.

Row checks read the cleaned tables (batch for a run, stream for a window) between two ingest
times; the quarantine rate and volume count rows and rejects; schema drift reads raw lines;
freshness looks for each topic's last record wherever one is kept. Every function returns the
observed value, whether it fails, a message and a few example rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import orjson

from pinpipe.engines import Engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake, Zone
from pinpipe.lake.line import META_COLUMNS, RAW_FIELDS, RAW_TEXT_FIELD, TableName, table_of_topic
from pinpipe.lake.raw_index import IndexEntry, day_of, entries_of_day
from pinpipe.lake.storage import join
from pinpipe.settings import CheckSettings

KEY_FIELDS = frozenset({"ind", "index"})
"""Every table accepts either name for its key (``lake/line.py``)."""
MAX_DRIFT_LINES = 50_000
"""Schema drift reads at most this many raw lines per evaluation (the newest files first)."""


@dataclass(frozen=True)
class Measure:
    observed: float | None
    threshold: float
    failed: bool
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    key: str = ""


Bounds = tuple[int, int] | None
"""Ingest-time range ``[start, end)`` in epoch ms; None: the whole table."""


def between(table: ir.Table | None, bounds: Bounds) -> ir.Table | None:
    if table is None or bounds is None:
        return table
    start, end = bounds
    return table.filter((table._timestamp >= start) & (table._timestamp < end))


def count(engine: Engine, table: ir.Table | None) -> int:
    if table is None:
        return 0
    return int(engine.to_arrow(table.aggregate(n=table.count()))["n"][0].as_py() or 0)


def window_counts(
    engine: Engine, table: ir.Table | None, first: int, width: int, n: int
) -> list[int]:
    """Rows per window of ``width`` ms, for the ``n`` windows from ``first``: one query."""
    if table is None:
        return [0] * n
    picked = table.filter((table._timestamp >= first) & (table._timestamp < first + n * width))
    bucket = ((picked._timestamp - first) // width).cast("int64").name("bucket")
    counted = engine.to_arrow(picked.group_by(bucket).aggregate(rows=picked.count()))
    counts = [0] * n
    for b, c in zip(counted["bucket"].to_pylist(), counted["rows"].to_pylist(), strict=True):
        counts[int(b)] += int(c)
    return counts


def _bad_rows(check: CheckSettings, table: ir.Table) -> ir.BooleanValue:
    if check.column not in table.columns:
        raise ConfigError(
            f"check {check.name!r}: table {check.table!r} has no column {check.column!r} "
            f"(its columns: {', '.join(c for c in table.columns if not c.startswith('_'))})"
        )
    col = table[check.column]
    if check.kind == "null_rate":
        return col.isnull()
    if check.kind == "accepted_values":
        return col.notnull() & ~col.isin(list(check.values))
    if check.kind == "range":
        outside = ibis.literal(False)
        if check.min is not None:
            outside = outside | (col < check.min)
        if check.max is not None:
            outside = outside | (col > check.max)
        return col.notnull() & outside
    if check.kind == "format":
        return col.notnull() & ~col.cast("string").re_search(f"^(?:{check.pattern})$")
    raise AssertionError(check.kind)


def _what_is_bad(check: CheckSettings) -> str:
    if check.kind == "null_rate":
        return f"NULL {check.column}"
    if check.kind == "accepted_values":
        return f"{check.column} outside {list(check.values)}"
    if check.kind == "range":
        return f"{check.column} outside [{check.min}, {check.max}]"
    return f"{check.column} not matching /{check.pattern}/"


def _share(bad: int, total: int, limit: float, what: str) -> tuple[float | None, bool, str]:
    """The share ``bad / total`` against ``limit``; ``what`` names the bad ones (after "of N")."""
    if total == 0:
        return None, False, "nothing to judge"
    share = bad / total
    verdict = "above" if share > limit else "within"
    return (
        share,
        share > limit,
        f"{bad:,} of {total:,} {what} ({share:.2%}, {verdict} {limit:.2%})",
    )


def column_check(
    engine: Engine, table: ir.Table | None, check: CheckSettings, examples: int
) -> Measure:
    """null_rate, accepted_values, range, format: the share of bad rows."""
    if table is None:
        return Measure(None, check.max_share, False, "no table yet")
    bad = _bad_rows(check, table)
    found = engine.to_arrow(table.aggregate(n=table.count(), bad=bad.ifelse(1, 0).sum()))
    total, nbad = int(found["n"][0].as_py() or 0), int(found["bad"][0].as_py() or 0)
    observed, failed, message = _share(
        nbad, total, check.max_share, f"rows with {_what_is_bad(check)}"
    )
    sample: list[dict[str, Any]] = []
    if failed and examples:
        shown = table.filter(bad).select("ind", check.column).limit(examples)
        sample = engine.to_arrow(shown).to_pylist()
    return Measure(observed, check.max_share, failed, message, sample)


def unique_check(
    engine: Engine, table: ir.Table | None, check: CheckSettings, examples: int
) -> Measure:
    """unique: the share of rows whose ``ind`` another row holds too (a batch table dedupes)."""
    if table is None:
        return Measure(None, check.max_share, False, "no table yet")
    found = engine.to_arrow(table.aggregate(n=table.count(), distinct=table.ind.nunique()))
    total, distinct = int(found["n"][0].as_py() or 0), int(found["distinct"][0].as_py() or 0)
    observed, failed, message = _share(
        total - distinct, total, check.max_share, "rows with a duplicate ind"
    )
    sample: list[dict[str, Any]] = []
    if failed and examples:
        dupes = table.group_by("ind").aggregate(rows=table.count())
        sample = engine.to_arrow(dupes.filter(dupes.rows > 1).limit(examples)).to_pylist()
    return Measure(observed, check.max_share, failed, message, sample)


def quarantine_check(
    engine: Engine, records: int, rejects: ir.Table | None, check: CheckSettings, examples: int
) -> Measure:
    """quarantine_rate: rejects over all the records judged."""
    nrejects = count(engine, rejects)
    observed, failed, message = _share(nrejects, records, check.max_share, "records quarantined")
    sample: list[dict[str, Any]] = []
    if failed and examples and rejects is not None:
        reasons = rejects.group_by("reason").aggregate(rejects=rejects.count())
        top = reasons.order_by(ibis.desc("rejects")).limit(examples)
        sample = engine.to_arrow(top).to_pylist()
    return Measure(observed, check.max_share, failed, message, sample)


def volume_check(current: int, trailing: Sequence[int], check: CheckSettings, unit: str) -> Measure:
    """volume: records against the mean of the trailing windows or days."""
    baseline = sum(trailing) / len(trailing) if trailing else 0.0
    if baseline < max(check.min_baseline, 1e-9):
        return Measure(
            None, check.factor, False,
            f"{current:,} records; baseline {baseline:,.1f} per {unit} too small to judge",
        )  # fmt: skip
    ratio = current / baseline
    failed = ratio > check.factor or ratio < 1 / check.factor
    word = "spike" if ratio > check.factor else "drop" if failed else "within"
    message = (
        f"{current:,} records against a baseline of {baseline:,.1f} per {unit} "
        f"(x{ratio:.2f}: {word} the factor {check.factor:g})"
    )
    return Measure(ratio, check.factor, failed, message)


def parse_lines(texts: Iterable[bytes], bounds: Bounds, found: list[dict[str, Any]]) -> bool:
    """Append the JSON-object records of lake lines ``texts`` in ``bounds`` to ``found``;
    False once ``MAX_DRIFT_LINES`` are there."""
    for text in texts:
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue  # a torn line: the cleaning step quarantines it
        if not isinstance(record, dict) or RAW_TEXT_FIELD in record:
            continue
        stamp = record.get("_timestamp")
        if bounds is not None and not (isinstance(stamp, int) and bounds[0] <= stamp < bounds[1]):
            continue
        found.append(record)
        if len(found) >= MAX_DRIFT_LINES:
            return False
    return True


def raw_lines(lake: Lake, entries: Iterable[IndexEntry], bounds: Bounds) -> list[dict[str, Any]]:
    """Raw records (JSON objects) of ``entries`` between ``bounds``, newest files first, capped."""
    found: list[dict[str, Any]] = []
    for entry in sorted(entries, key=lambda e: e.max_timestamp, reverse=True):
        text = lake.storage.read_bytes(join(lake.root, entry.uri))
        if not parse_lines(text.splitlines(), bounds, found):
            break
    return found


def entries_between(lake: Lake, table: TableName, bounds: tuple[int, int]) -> list[IndexEntry]:
    """Raw objects of ``table`` holding records in ``bounds`` (as far as the sink committed)."""
    start, end = bounds
    first, last = day_of(start), day_of(end - 1)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        e
        for day in days
        for e in entries_of_day(lake, day, table)
        if e.min_timestamp < end and e.max_timestamp >= start
    ]


def drift_check(records: Sequence[dict[str, Any]], check: CheckSettings) -> Measure:
    """schema_drift: fields that appear beyond ``RAW_FIELDS`` or that no record carries."""
    if not records:
        return Measure(None, 0, False, "no raw records to judge")
    declared = set(RAW_FIELDS[check.table]) - KEY_FIELDS
    seen: dict[str, int] = {}
    for record in records:
        for name in record:
            seen[name] = seen.get(name, 0) + 1
    fields = set(seen) - set(META_COLUMNS)
    appeared = sorted(fields - declared - KEY_FIELDS)
    disappeared = sorted(declared - fields) + ([] if fields & KEY_FIELDS else ["ind"])
    drifted = len(appeared) + len(disappeared)
    if not drifted:
        return Measure(0, 0, False, f"{len(records):,} raw records carry the declared fields")
    parts = []
    if appeared:
        parts.append("new fields " + ", ".join(f"{f} ({seen[f]:,} records)" for f in appeared))
    if disappeared:
        parts.append("missing fields " + ", ".join(disappeared))
    sample = [{"appeared": appeared, "disappeared": disappeared}]
    sample += [
        {k: v for k, v in r.items() if k in appeared or k in META_COLUMNS}
        for r in records
        if any(f in r for f in appeared)
    ][:2]
    return Measure(
        float(drifted), 0, True, f"{'; '.join(parts)} in {len(records):,} raw records", sample
    )


def last_arrivals(lake: Lake, engine: Engine, table: TableName) -> dict[str, int]:
    """Epoch ms of each topic's newest record feeding ``table``, wherever one is kept."""
    last: dict[str, int] = {}

    def seen(topic: str, stamp: int | None) -> None:
        if stamp is not None and table_of_topic(topic) == table:
            last[topic] = max(last.get(topic, stamp), stamp)

    realtime = engine.read_delta(lake.realtime("records_by_topic"))
    if realtime is not None:
        newest = realtime.group_by("topic").aggregate(last=realtime.window_start.max())
        for row in engine.to_arrow(newest).to_pylist():
            stamp = row["last"]
            seen(row["topic"], int(stamp.timestamp() * 1000) if stamp is not None else None)
    zones: tuple[Zone, ...] = ("stream", "batch")
    uris = [lake.table(z, table) for z in zones] + [lake.quarantine(table, z) for z in zones]
    for uri in uris:
        rows = engine.read_delta(uri)
        if rows is not None:
            newest = rows.group_by("_topic").aggregate(last=rows._timestamp.max())
            for row in engine.to_arrow(newest).to_pylist():
                if row["_topic"] is not None:
                    seen(row["_topic"], row["last"])
    return last


def freshness_checks(
    last: dict[str, int], now_ms: int, since_ms: int | None, check: CheckSettings
) -> list[Measure]:
    """freshness: minutes since each topic's last record (none yet: since ``since_ms``)."""
    limit = float(check.minutes)
    if not last:
        if since_ms is None:
            return [Measure(None, limit, True, f"no {check.table} records at all")]
        idle = (now_ms - since_ms) / 60_000
        return [Measure(idle, limit, idle > limit, f"no {check.table} records in {idle:.1f} min")]
    found = []
    for topic, stamp in sorted(last.items()):
        idle = (now_ms - stamp) / 60_000
        at = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).isoformat(timespec="seconds")
        verdict = "above" if idle > limit else "within"
        message = f"last record {idle:.1f} min ago ({at}), {verdict} {check.minutes:g} min"
        found.append(Measure(idle, limit, idle > limit, message, key=topic))
    return found


def day_records(lake: Lake, day: dt.date, table: TableName) -> int:
    """Raw records of one ingest day, from the raw zone's index."""
    return sum(e.end_offset - e.start_offset for e in entries_of_day(lake, day, table))
