"""The embedded engine: DuckDB through Ibis, Delta through delta-rs (no DuckDB extensions).

Lake lines are parsed once per line with DuckDB's JSON reader (``read_ndjson_objects``) and one
``json_transform`` into a struct of text fields, which is several times faster than extracting
each field with its own JSON path.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import duckdb
import ibis
import ibis.expr.datatypes as dt
import orjson
import pyarrow as pa
import pyarrow.dataset as pads

from pinpipe.engines.base import RAW_META, TEXT_FIELDS, Engine, Job, lines_text
from pinpipe.engines.sql_guard import check_read_only
from pinpipe.errors import ConfigError
from pinpipe.lake.delta import DeltaRsStore
from pinpipe.lake.line import LINE_FIELD, RAW_TEXT_FIELD, TableName, raw_fields
from pinpipe.lake.storage import Storage, is_local
from pinpipe.settings import Settings

MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest lake line read from a file (DuckDB's default is 16 MiB)."""

_LINES_PER_BATCH = 32_768

_PLACEHOLDERS = itertools.count()


def _json_valid(j: str) -> bool:  # pragma: no cover - signature only, DuckDB runs it
    raise NotImplementedError


def _json_transform(j: str, spec: str) -> Any:  # pragma: no cover - signature only
    raise NotImplementedError


_valid = ibis.udf.scalar.builtin(_json_valid, name="json_valid")


@cache
def _transform(table: TableName) -> tuple[Any, str]:
    """DuckDB ``json_transform`` typed for ``table``'s text fields, and its structure spec."""
    names = (*TEXT_FIELDS, *raw_fields(table))
    struct = dt.Struct({n: dt.string for n in names})
    spec = orjson.dumps(dict.fromkeys(names, "VARCHAR")).decode()
    fn = ibis.udf.scalar.builtin(
        _json_transform, name="json_transform", signature=((dt.string, dt.string), struct)
    )
    return fn, spec


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _lines_table(lines: Sequence[bytes]) -> pa.Table:
    """Lines as a one-column table in several batches, so DuckDB scans them on all threads."""
    text = lines_text(lines)
    chunks = [text.slice(i, _LINES_PER_BATCH) for i in range(0, len(text), _LINES_PER_BATCH)]
    return pa.table({"j": pa.chunked_array(chunks, pa.string())})


class DuckDBEngine(Engine):
    """In-process engine for one machine; ``threads``/``memory_limit`` go to DuckDB.

    ``external_access=False`` (the interactive engine behind ``pinpipe sql``) forbids DuckDB
    every file and network access: it then only reads tables handed to it as Arrow.
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        storage_options: dict[str, str] | None = None,
        external_access: bool = True,
        temp_directory: str | None = None,
    ) -> None:
        config: dict[str, Any] = {}
        if temp_directory is not None:
            config["temp_directory"] = temp_directory
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        if not external_access:
            config["enable_external_access"] = False
        self._con = ibis.duckdb.connect(**config)
        self._tables = DeltaRsStore(storage_options)
        self._sql_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DuckDBEngine:
        """DuckDB with the ``duckdb`` section's memory, threads and spill folder."""
        own = settings.duckdb
        spill = settings.resolve(own.temp_directory)
        spill.mkdir(parents=True, exist_ok=True)  # DuckDB makes only the last folder
        return cls(threads=own.threads, memory_limit=own.memory_limit, temp_directory=str(spill))

    @property
    def backend(self) -> Any:
        """The Ibis DuckDB backend, for callers that need backend-specific features."""
        return self._con

    def raw_from_files(self, table: TableName, uris: Sequence[str]) -> ibis.Table:
        if not uris:
            return self.empty_raw(table)
        if not all(is_local(u) for u in uris):
            return self._raw_from_objects(table, uris)
        files = "[" + ", ".join(_sql_text(str(u)) for u in uris) + "]"
        # Lines as text (CSV of one column: \x01 never occurs unescaped in JSON), so a line
        # that is not JSON (a torn write) keeps its text for the quarantine row, as fast as
        # DuckDB's JSON reader.
        src = self._con.sql(
            f"SELECT j FROM read_csv({files}, columns = {{'j': 'VARCHAR'}}, header = false, "
            f"delim = '\x01', quote = '', escape = '', auto_detect = false, "
            f"strict_mode = false, max_line_size = {MAX_LINE_BYTES}, "
            f"buffer_size = {MAX_LINE_BYTES})"  # its default, 16 lines' worth, is 1 GiB
        )
        return self._parse_lines(table, src)

    def _raw_from_objects(self, table: TableName, uris: Sequence[str]) -> ibis.Table:
        """Raw files on an object store, read through ``pyarrow.fs`` (no DuckDB extension).

        Read like local files: a line that is not JSON (a torn write) keeps its text.
        """
        lines = [
            line
            for uri in uris
            for line in Storage.for_uri(uri).read_bytes(uri).splitlines()
            if line.strip()
        ]
        return self._parse_lines(table, ibis.memtable(_lines_table(lines)))

    def raw_from_lines(self, table: TableName, lines: Sequence[bytes]) -> ibis.Table:
        if not lines:
            return self.empty_raw(table)
        return self._parse_lines(table, ibis.memtable(_lines_table(lines)))

    def _parse_lines(self, table: TableName, src: ibis.Table) -> ibis.Table:
        checked = ibis.ifelse(_valid(src.j), src.j, ibis.null(dt.string))
        return self._parse(table, checked, src)

    def prepare_lines(
        self, table: TableName, build: Callable[[ibis.Table], dict[str, ibis.Table]]
    ) -> Callable[[Sequence[bytes]], dict[str, pa.Table]]:
        """Compile once against a named placeholder; each call binds new lines to that name."""
        name = f"pinpipe_lines_{table}_{next(_PLACEHOLDERS)}"
        placeholder = ibis.table({"j": "string"}, name=name)
        outputs = build(self._parse_lines(table, placeholder))
        plans = {
            out: (str(self._con.compile(expr)), expr.schema().to_pyarrow())
            for out, expr in outputs.items()
        }
        con = self._con.con

        def run(lines: Sequence[bytes]) -> dict[str, pa.Table]:
            with self._sql_lock:
                con.register(name, _lines_table(lines))
                try:
                    return {
                        out: con.sql(sql).to_arrow_table().cast(schema)
                        for out, (sql, schema) in plans.items()
                    }
                finally:
                    con.unregister(name)

        return run

    def _parse(self, table: TableName, json: ibis.Value, src: ibis.Table) -> ibis.Table:
        """The raw relation from text lines ``src.j`` (``json`` is NULL where not valid JSON)."""
        transform, spec = _transform(table)
        is_object = json.lstrip().startswith("{").fill_null(False)
        parsed = src.select(
            j=src.j,
            is_object=is_object,
            doc=transform(ibis.ifelse(is_object, json, ibis.null(dt.string)), spec),
        ).view()
        # view() keeps Ibis from inlining ``doc`` into every column: one JSON parse per line.
        src, is_object, doc = parsed, parsed.is_object, parsed.doc
        cols: dict[str, ibis.Value] = {}
        for name, typ in RAW_META.items():
            if name == LINE_FIELD:
                cols[name] = src.j
            elif name == RAW_TEXT_FIELD:
                cols[name] = ibis.ifelse(is_object, doc[name], src.j.fill_null(""))
            elif typ.is_string():
                cols[name] = doc[name]
            else:
                cols[name] = doc[name].try_cast(typ)
        for name in raw_fields(table):
            cols[name] = doc[name]
        return src.select(**cols)

    def table(self, arrow: pa.Table | pads.Dataset) -> ibis.Table:
        return ibis.memtable(arrow)

    def read_delta(self, uri: str) -> ibis.Table | None:
        dataset = self._tables.dataset(uri)
        return None if dataset is None else self.table(dataset)

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        return self._con.to_pyarrow(expr)

    def sql(self, query: str, views: dict[str, ibis.Table]) -> pa.Table:
        body = check_read_only(query, dialect=self.dialect)
        try:
            statements = duckdb.extract_statements(body)
        except duckdb.Error as exc:
            raise ConfigError(f"the SQL query does not parse: {exc}") from exc
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise ConfigError("only one read-only SELECT (or WITH ... SELECT) query is allowed")
        with self._sql_lock:
            created: list[str] = []
            try:
                for name, expr in views.items():
                    # Ibis registers a view's UDFs (sentiment) only before executing an
                    # expression; a view is compiled, not executed, so run that hook here.
                    self._con._run_pre_execute_hooks(expr)
                    self._con.create_view(name, expr, overwrite=True)
                    created.append(name)
                return self._con.raw_sql(body).to_arrow_table()
            except duckdb.Error as exc:
                raise ConfigError(f"the SQL query failed: {exc}") from exc
            finally:
                for name in created:
                    quoted = '"' + name.replace('"', '""') + '"'
                    self._con.raw_sql(f"DROP VIEW IF EXISTS {quoted}")

    @contextmanager
    def materialized(self, expr: ibis.Table) -> Iterator[ibis.Table]:
        """A temporary table holding ``expr``'s rows, dropped on exit."""
        name = f"pinpipe_tmp_{next(_PLACEHOLDERS)}"
        table = self._con.create_table(name, expr, temp=True)
        try:
            yield table
        finally:
            self._con.con.execute(f"DROP TABLE IF EXISTS {name}")  # Ibis 12 drop_table fails

    @classmethod
    def job_command(cls, job: Job, settings: Settings) -> list[str]:
        """``pinpipe`` itself, in this Python, pointed at the same home, lake and engine."""
        return [
            sys.executable, "-m", "pinpipe", "--home", str(settings.home),
            "--lake", settings.lake_root, "--engine", cls.name, *job,
        ]  # fmt: skip

    def interrupt(self) -> None:
        self._con.con.interrupt()

    def close(self) -> None:
        self._con.disconnect()
