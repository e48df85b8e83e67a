"""Render result tables for people (rich tables) and programs (JSON, CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping
from typing import Any, Literal

import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table

Format = Literal["table", "json", "csv", "chart"]
BAR_WIDTH = 40


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Row objects, JSON-ready (timestamps as ISO text, NaN as null)."""
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def to_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table.column_names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(table))
    return out.getvalue()


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
