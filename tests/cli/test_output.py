"""Result rendering: JSON row objects, CSV, tables and bar charts."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from rich.console import Console

from pinpipe.cli.output import emit, render_chart, render_compact, rows, to_csv

TABLE = pa.table(
    {
        "age_group": ["18-24", "25-35"],
        "median_follower_count": [66000.0, 16500.0],
    }
)


def test_rows_are_json_ready() -> None:
    naive = dt.datetime(2020, 1, 2, 3, 4, 5)  # noqa: DTZ001 - tables hold wall time as sent
    table = pa.table({"t": [naive], "x": [float("nan")]})
    assert rows(table) == [{"t": "2020-01-02 03:04:05", "x": None}]


def test_csv_has_a_header_and_one_line_per_row() -> None:
    assert to_csv(TABLE).splitlines() == [
        "age_group,median_follower_count",
        "18-24,66000.0",
        "25-35,16500.0",
    ]


def test_json_for_all_queries_is_one_object_of_row_lists(capsys: object) -> None:
    emit(Console(), {"a": TABLE, "b": TABLE.slice(0, 1)}, "json", many=True)
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out == {
        "a": [
            {"age_group": "18-24", "median_follower_count": 66000.0},
            {"age_group": "25-35", "median_follower_count": 16500.0},
        ],
        "b": [{"age_group": "18-24", "median_follower_count": 66000.0}],
    }


def test_chart_bars_scale_with_the_measure() -> None:
    console = Console(record=True, width=100)
    render_chart(console, "median", TABLE)
    lines = [ln for ln in console.export_text().splitlines() if "█" in ln]
    assert lines[0].count("█") == 40 and lines[1].count("█") == 10
    assert "66,000" in lines[0] and "16,500" in lines[1]


def test_compact_shows_the_top_rows_with_bars_then_how_many_more() -> None:
    counts = list(range(1, 31))
    table = pa.table({"country": [f"c{n:02d}" for n in counts], "n": counts})
    console = Console(record=True, width=100)
    render_compact(console, "category_by_country", table, limit=12)
    text = console.export_text()
    shown = [ln for ln in text.splitlines() if "█" in ln]
    assert len(shown) == 12 and "c30" in shown[0] and "c19" in shown[-1]
    assert shown[0].count("█") > shown[-1].count("█")
    assert "top 12 of 30 by n" in text
    assert "… 18 more: pinpipe query category_by_country" in text


def test_compact_keeps_short_results_whole_and_in_order() -> None:
    console = Console(record=True, width=100)
    render_compact(console, "median", TABLE)
    text = console.export_text()
    assert text.index("18-24") < text.index("25-35") and "more" not in text


def test_compact_shows_a_result_just_over_the_limit_whole() -> None:
    table = pa.table({"k": [f"k{i}" for i in range(13)], "n": list(range(13))})
    console = Console(record=True, width=100)
    render_compact(console, "t", table, limit=12)
    text = console.export_text()
    assert "k0" in text and "k12" in text and "more" not in text
