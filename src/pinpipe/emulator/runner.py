"""``pinpipe emulate``: load the source rows, post them, show progress, report what was acked."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pinpipe.emulator.generator import SourceTables, generate
from pinpipe.emulator.poster import Mode, Stats, run
from pinpipe.emulator.source_db import read_db
from pinpipe.settings import Settings

LOG_EVERY_S = 5.0


def load_source(cfg: Settings, db: str | None) -> SourceTables:
    """Rows from a database when ``db`` is given, else from the seeded generator."""
    return read_db(db) if db else generate(cfg.emulator.rows, cfg.emulator.seed)


def summary(stats: Stats) -> str:
    doors = ", ".join(
        f"{door}/{table} {n:,}" for (door, table), n in sorted(stats.acknowledged.items())
    )
    return (
        f"{stats.rows:,} rows, {stats.total_acknowledged:,} records acknowledged ({doors}), "
        f"{stats.failed:,} failed, {stats.retried:,} retried"
    )


def emulate(
    cfg: Settings,
    *,
    mode: Mode,
    count: int | None,
    rate: float | None,
    db: str | None,
    api_key: str | None,
) -> Stats:
    """Post sampled rows; a progress bar on a terminal, a log line every few seconds otherwise."""
    tables = load_source(cfg, db)
    interactive = sys.stderr.isatty()
    progress = (
        Progress(
            TextColumn("posting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows · {task.fields[acked]} acked"),
            TimeElapsedColumn(),
            transient=True,
        )
        if interactive
        else None
    )
    task = progress.add_task("post", total=count, acked=0) if progress else None
    last_log = time.monotonic()

    def on_progress(stats: Stats) -> None:
        nonlocal last_log
        if progress is not None and task is not None:
            progress.update(task, completed=stats.rows, acked=stats.total_acknowledged)
        elif time.monotonic() - last_log >= LOG_EVERY_S:
            last_log = time.monotonic()
            print(f"emulate: {summary(stats)}", file=sys.stderr, flush=True)

    with progress if progress is not None else nullcontext():
        return run(
            tables,
            mode=mode,
            count=count,
            rate=rate,
            seed=cfg.emulator.seed,
            on_progress=on_progress,
            url=cfg.emulator.url,
            prefix=cfg.emulator.prefix,
            api_key=api_key,
            concurrency=cfg.emulator.concurrency,
        )
