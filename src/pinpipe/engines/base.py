"""The engine contract: where raw lines become an Ibis table and Ibis tables become Arrow.

Cleaning and queries are Ibis expressions that know nothing about the engine; an engine only
reads lake lines into the *raw relation*, reads and registers tables, and executes expressions.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.dataset as pads

from pinpipe.errors import ConfigError
from pinpipe.transform.schema import RAW_TEXT_FIELD, TableName
from pinpipe.transform.staging import raw_fields

LINE_FIELD: Final = "_line"
"""The whole lake line as text, kept so a rejected record can be quarantined as it arrived."""

RAW_META: Final[dict[str, dt.DataType]] = {
    "_topic": dt.string,
    "_partition": dt.int32,
    "_offset": dt.int64,
    "_timestamp": dt.int64,
    RAW_TEXT_FIELD: dt.string,
    LINE_FIELD: dt.string,
}
"""Metadata columns of the raw relation, before the record's own fields."""


def raw_schema(table: TableName) -> ibis.Schema:
    """Schema of the raw relation: metadata, then every record field as nullable text.

    Record fields are JSON values as text (strings unquoted, numbers as written, objects and
    arrays as JSON text); JSON null and a missing key are both NULL.
    """
    return ibis.schema({**RAW_META, **{f: dt.string for f in raw_fields(table)}})


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_READ_ONLY_START = re.compile(r"^\s*\(*\s*(select|with)\b", re.IGNORECASE)
_FORBIDDEN = re.compile(
    r"\b(insert|update|delete|merge|create|drop|alter|attach|detach|copy|export|import|"
    r"install|load|pragma|set|reset|call|checkpoint|vacuum|grant|revoke|truncate|use)\b"
    r"|\b(read_\w+|\w+_scan|glob|getenv|query|query_table|sniff_csv|parquet_\w+|delta_\w+)\s*\(",
    re.IGNORECASE,
)


def check_read_only(query: str) -> str:
    """``query`` without a trailing semicolon, or ConfigError if it is not one SELECT/WITH.

    A lexical guard (comments and literals removed, one statement, starts with SELECT or WITH,
    no writing keyword, no file-reading table function); engines add their own parser check.
    """
    text = _STRINGS.sub("''", _COMMENTS.sub(" ", query)).strip()
    body = text.rstrip().rstrip(";").rstrip()
    if not body:
        raise ConfigError("the SQL query is empty: write one SELECT (or WITH ... SELECT) query")
    if ";" in body:
        raise ConfigError("only one SQL statement is allowed: remove the extra ';' statements")
    if not _READ_ONLY_START.match(body):
        raise ConfigError("only read-only queries are allowed: start the query with SELECT or WITH")
    found = _FORBIDDEN.search(body)
    if found:
        raise ConfigError(
            "only read-only queries over the named views are allowed: "
            f"{(found.group(1) or found.group(2)).upper()!r} is not permitted"
        )
    return query.strip().rstrip(";").rstrip()


class Engine(ABC):
    """Runs the engine-neutral transform: reads raw lines and tables, executes Ibis tables."""

    name: str

    @abstractmethod
    def raw_from_files(self, table: TableName, paths: Sequence[str]) -> ibis.Table:
        """The raw relation of lake-line NDJSON files (empty relation for no files)."""

    @abstractmethod
    def raw_from_lines(self, table: TableName, lines: Sequence[bytes]) -> ibis.Table:
        """The raw relation of in-memory lake lines (the stream job's records)."""

    @abstractmethod
    def table(self, arrow: pa.Table | pads.Dataset) -> ibis.Table:
        """An Arrow table or dataset as an Ibis table this engine can execute."""

    @abstractmethod
    def read_delta(self, path: str) -> ibis.Table | None:
        """The Delta table at ``path``, or None when there is no table there."""

    @abstractmethod
    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        """Execute ``expr`` and return its rows."""

    @abstractmethod
    def sql(self, query: str, views: dict[str, ibis.Table]) -> pa.Table:
        """Run one read-only SELECT over ``views`` (name → table); ConfigError otherwise."""

    def prepare_lines(
        self, table: TableName, build: Callable[[ibis.Table], dict[str, ibis.Table]]
    ) -> Callable[[Sequence[bytes]], dict[str, pa.Table]]:
        """A reusable plan from in-memory lake lines to named outputs (the stream job's path).

        ``build`` turns the raw relation into named outputs. Engines that can should compile
        it once and only bind new lines per call: compiling costs more than a small batch.
        """

        def run(lines: Sequence[bytes]) -> dict[str, pa.Table]:
            outputs = build(self.raw_from_lines(table, lines))
            return {name: self.to_arrow(expr) for name, expr in outputs.items()}

        return run

    @contextmanager
    def materialized(self, expr: ibis.Table) -> Iterator[ibis.Table]:
        """``expr`` computed once for several reads (the batch job reads raw rows 3 times).

        The default recomputes on every read; engines with temp tables or caches override it.
        """
        yield expr

    def overwrite_delta(
        self,
        path: str,
        rows: pa.Table,
        *,
        metadata: dict[str, str] | None = None,
        predicate: str | None = None,
    ) -> bool:
        """Write ``rows`` with the engine's own Delta writer; False leaves it to delta-rs.

        Engines on a cluster (Spark) write through their own Delta library so the tables are
        theirs; the embedded engine returns False and the jobs write with delta-rs.
        """
        return False

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release connections; the engine is unusable afterwards."""
