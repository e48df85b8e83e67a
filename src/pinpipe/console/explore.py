"""Explore: a question asked with menus (table, filters, group-by, measure) turned into SQL.

The SQL is built from names checked against the tables' columns and from literals quoted
here, then runs through the same read-only guard and limits as the SQL editor; the page shows
the text it ran, so the menus also teach the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from pinpipe.errors import ConfigError

Source = Literal["pin", "geo", "user", "joined"]
Measure = Literal["count", "count_distinct", "sum", "median", "max"]
Op = Literal["=", "!=", "<", "<=", ">", ">=", "contains", "is empty", "is not empty"]

SOURCES: Final[dict[Source, str]] = {
    "pin": "pin",
    "geo": "geo",
    "user": "user",
    "joined": "pin ⋈ geo ⋈ user (on ind)",
}
MEASURES: Final[dict[Measure, str]] = {
    "count": "count of rows",
    "count_distinct": "distinct count of",
    "sum": "sum of",
    "median": "median of",
    "max": "max of",
}
OPS: Final[tuple[Op, ...]] = get_args(Op)
MAX_FILTERS: Final = 3
YEAR_PREFIX: Final = "year:"
"""A group-by of ``year:<timestamp column>`` groups by that column's year."""

_FROM: Final[dict[Source, str]] = {
    "pin": "pin",
    "geo": "geo",
    "user": '"user"',
    "joined": 'pin JOIN geo USING (ind) JOIN "user" USING (ind)',
}

ColumnKind = Literal["number", "text", "time", "other"]


@dataclass(frozen=True)
class Filter:
    column: str
    op: Op
    value: str = ""


@dataclass(frozen=True)
class Question:
    source: Source = "pin"
    filters: tuple[Filter, ...] = ()
    group_by: str = ""
    measure: Measure = "count"
    column: str = ""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str, kind: ColumnKind, column: str) -> str:
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{column} holds numbers: {value!r} is not a number") from None
        return repr(int(number)) if number.is_integer() else repr(number)
    return "'" + value.replace("'", "''") + "'"


def parse(params: dict[str, list[str]], columns: dict[str, ColumnKind]) -> Question:
    """A ``Question`` from query parameters, refusing names that are not the table's."""

    def one(name: str, default: str = "") -> str:
        values = params.get(name) or [default]
        return values[0].strip()

    source = one("table", "pin")
    if source not in SOURCES:
        raise ConfigError(f"choose a table among {', '.join(SOURCES)}, not {source!r}")
    measure = one("measure", "count")
    if measure not in MEASURES:
        raise ConfigError(f"choose a measure among {', '.join(MEASURES)}, not {measure!r}")
    filters = []
    for i in range(MAX_FILTERS):
        column, op, value = one(f"f{i}_col"), one(f"f{i}_op", "="), one(f"f{i}_val")
        if not column:
            continue
        if column not in columns:
            raise ConfigError(f"no column {column!r} in {source}")
        if op not in OPS:
            raise ConfigError(f"choose a comparison among {', '.join(OPS)}, not {op!r}")
        if not value and op not in ("is empty", "is not empty"):
            raise ConfigError(f"the filter on {column} needs a value")
        if op in ("=", "!=", "<", "<=", ">", ">="):
            _literal(value, columns[column], column)  # refuses a number column's bad value
        filters.append(Filter(column, op, value))
    group_by = one("group")
    if group_by:
        base = group_by.removeprefix(YEAR_PREFIX)
        if base not in columns or (group_by != base and columns[base] != "time"):
            raise ConfigError(f"cannot group {source} by {group_by!r}")
    column = one("column")
    if measure != "count":
        if column not in columns:
            raise ConfigError(f"choose the column to take the {measure} of")
        if measure in ("sum", "median") and columns[column] != "number":
            raise ConfigError(f"{measure} needs a number column; {column} is not one")
    return Question(source, tuple(filters), group_by, measure, column)


def to_sql(question: Question, columns: dict[str, ColumnKind]) -> str:
    """The SELECT answering ``question``; every name is checked, every value quoted."""
    q = question
    measure = {
        "count": "count(*)",
        "count_distinct": f"count(DISTINCT {quote(q.column)})",
        "sum": f"sum({quote(q.column)})",
        "median": f"median({quote(q.column)})",
        "max": f"max({quote(q.column)})",
    }[q.measure]
    label = q.measure if q.measure == "count" else f"{q.measure}_{q.column}"
    where = []
    for f in q.filters:
        col = quote(f.column)
        if f.op == "is empty":
            where.append(f"{col} IS NULL")
        elif f.op == "is not empty":
            where.append(f"{col} IS NOT NULL")
        elif f.op == "contains":
            text = f.value.lower().replace("'", "''")
            where.append(f"contains(lower(CAST({col} AS VARCHAR)), '{text}')")
        else:
            where.append(f"{col} {f.op} {_literal(f.value, columns[f.column], f.column)}")
    lines = []
    if q.group_by:
        base = q.group_by.removeprefix(YEAR_PREFIX)
        key = f"year({quote(base)})" if q.group_by != base else quote(base)
        name = f"{base}_year" if q.group_by != base else base
        lines.append(f"SELECT {key} AS {quote(name)}, {measure} AS {quote(label)}")
    else:
        lines.append(f"SELECT {measure} AS {quote(label)}")
    lines.append(f"FROM {_FROM[q.source]}")
    if where:
        lines.append("WHERE " + "\n  AND ".join(where))
    if q.group_by:
        lines.append("GROUP BY 1")
        lines.append("ORDER BY 2 DESC, 1")
    return "\n".join(lines)
