"""``pinpipe quality``'s output: the results as a table and a small bar chart."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from pinpipe.cli.output import render_chart
from pinpipe.engines import Engine
from pinpipe.lake import Lake
from pinpipe.quality import CheckResult
from pinpipe.quality.results import latest, to_arrow

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def _render(console: Console, title: str, rows: pa.Table) -> None:
    grid = Table(title=title, title_justify="left")
    for column in ("check", "table", "key", "scope", "window", "observed", "threshold", "status"):
        grid.add_column(column, justify="right" if column in ("observed", "threshold") else "left")
    for r in rows.to_pylist():
        start = r["window_start"]
        window = "" if start is None else start.strftime("%Y-%m-%d %H:%M")
        observed = "" if r["observed"] is None else f"{r['observed']:.4g}"
        status = f"[{STYLE[r['status']]}]{r['status']}[/]"
        grid.add_row(
            r["check"], r["table"], r["key"], r["scope"], window, observed,
            f"{r['threshold']:.4g}", status,
        )  # fmt: skip
    console.print(grid)
    failing = [r for r in rows.to_pylist() if r["status"] != "pass"]
    for r in failing:
        console.print(f"  [{STYLE[r['status']]}]{r['check']}[/]: {r['message']}")
    # The chart: how close each check is to its threshold (1.0 = at the threshold).
    ratios = [
        (r["check"] + (f" · {r['key']}" if r["key"] else ""), r["observed"] / r["threshold"])
        for r in rows.to_pylist()
        if r["observed"] is not None and r["threshold"]
    ]
    if ratios:
        chart = pa.table({"check": [c for c, _ in ratios], "of_threshold": [v for _, v in ratios]})
        render_chart(console, "observed / threshold", chart)


def print_report(console: Console, lake: Lake, engine: Engine) -> None:
    """The newest result of every check and key."""
    rows = latest(engine, lake.quality_results)
    if rows.num_rows == 0:
        console.print(
            "no data-quality results yet (run `pinpipe quality --date D` or `pinpipe up`)"
        )
        return
    _render(console, "data quality: latest result of each check", rows)


def print_gate(console: Console, results: Sequence[CheckResult]) -> None:
    _render(console, "data quality of the day", to_arrow(results, 0))
