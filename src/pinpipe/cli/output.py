"""Render result tables for people (rich tables) and programs (JSON, CSV)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from pinpipe.serve.formats import rows, to_csv, to_json

__all__ = [
    "Format", "emit", "render_chart", "render_compact", "render_table", "rows", "to_csv", "to_json",
]  # fmt: skip

Format = Literal["table", "json", "csv", "chart"]
BAR_WIDTH = 40
COMPACT_ROWS = 12
COMPACT_BAR = 16


def render_table(console: Console, title: str, table: pa.Table) -> None:
    grid = Table(title=title, title_justify="left", title_style="bold")
    for name in table.column_names:
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type
        )
        grid.add_column(name, justify="right" if numeric else "left")
    for row in rows(table):
        grid.add_row(*("" if v is None else _cell(v) for v in row.values()))
    console.print(grid)


def _measure(table: pa.Table) -> str | None:
    """The last numeric column: what a chart of the result shows."""
    numeric = [
        n
        for n in table.column_names
        if pa.types.is_integer(table.schema.field(n).type)
        or pa.types.is_floating(table.schema.field(n).type)
    ]
    return numeric[-1] if numeric else None


def render_compact(
    console: Console, title: str, table: pa.Table, limit: int = COMPACT_ROWS
) -> None:
    """At most ``limit`` rows (the top ones by the measure when there are more), a small bar
    beside the measure, then how many rows were left out and the command that shows them."""
    measure = _measure(table)
    data = rows(table)
    heading = title
    if len(data) <= limit + 2:  # "… 1 more" would save nothing: show them all
        limit = len(data)
    if len(data) > limit and measure is not None:
        data = sorted(data, key=lambda r: -(r[measure] or 0))
        heading = f"{title} (top {limit} of {len(data)} by {measure})"
    shown, rest = data[:limit], len(data) - limit
    grid = Table()
    for name in table.column_names:
        grid.add_column(name, justify="right" if name == measure else "left")
    bar_of = measure if measure is not None and len(shown) > 1 else None
    if bar_of is not None:
        grid.add_column("", no_wrap=True)
    top = max((float(r[bar_of] or 0) for r in shown), default=0.0) if bar_of else 0.0
    for row in shown:
        cells = ["" if v is None else _cell(v) for v in row.values()]
        if bar_of is not None:
            value = float(row[bar_of] or 0)
            cells.append("[cyan]" + "█" * max(1, round(COMPACT_BAR * value / top)) + "[/cyan]"
                         if top > 0 and value > 0 else "")  # fmt: skip
        grid.add_row(*cells)
    console.print(f"[bold]{heading}[/bold]")
    console.print(grid)
    if rest > 0:
        console.print(f"  … {rest:,} more: [bold]pinpipe query {title}[/bold]")


def render_chart(console: Console, title: str, table: pa.Table) -> None:
    """Horizontal bars of the last numeric column, labelled by the other columns."""
    numeric = [
        n
        for n in table.column_names
        if pa.types.is_integer(table.schema.field(n).type)
        or pa.types.is_floating(table.schema.field(n).type)
    ]
    if not numeric or table.num_rows == 0:
        render_table(console, title, table)
        return
    measure = numeric[-1]
    data = rows(table)
    labels = [" · ".join(str(v) for k, v in r.items() if k != measure) for r in data]
    values = [float(r[measure] or 0) for r in data]
    top = max(values) or 1.0
    width = max(len(label) for label in labels)
    console.print(f"[bold]{title}[/bold] ({measure})")
    for label, value in zip(labels, values, strict=True):
        bar = "█" * max(1, round(BAR_WIDTH * value / top)) if value > 0 else ""
        console.print(f"  {label:<{width}}  [cyan]{bar}[/cyan] {_cell(value)}")
    console.print()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def emit(console: Console, results: Mapping[str, pa.Table], fmt: Format, *, many: bool) -> None:
    """Print ``results``: one table per name, or one JSON object / CSV per name."""
    if fmt == "json":
        if many:
            print(to_json({name: rows(t) for name, t in results.items()}))
        else:
            (table,) = results.values()
            print(to_json(rows(table)))
        return
    for name, table in results.items():
        if fmt == "csv":
            if many:
                print(f"# {name}")
            print(to_csv(table), end="")
        elif fmt == "chart":
            render_chart(console, name, table)
        else:
            render_table(console, name, table)
