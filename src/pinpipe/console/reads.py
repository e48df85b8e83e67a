"""Every read the console makes over the lake, with the limits people's queries run under.

Two sealed interactive engines: one for the console's own reads (analytics, quarantine), one
for what visitors ask (Explore, SQL), so a slow question never stalls the live pages. Each
runs one query at a time, under DuckDB's ``memory_limit``, interrupted after
``console.query_timeout_s``, and shows at most ``console.row_limit`` rows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pinpipe.console.explore import ColumnKind, Question, to_sql
from pinpipe.engines import Engine, check_read_only, interactive_engine
from pinpipe.errors import ConfigError
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import TABLES, TableName
from pinpipe.lake.quarantine import STAGES
from pinpipe.serve.query import run_queries, run_sql
from pinpipe.serve.realtime import Ranked, top, trending
from pinpipe.serve.views import contract_columns, load_view
from pinpipe.settings import ConsoleSettings
from pinpipe.transform.queries import QUERIES
from pinpipe.transform.schema import CLEAN_COLUMNS

RANKED: tuple[Ranked, ...] = ("posts_by_category", "events_by_country", "records_by_topic")
ANALYTICS_EVERY_S = 2.0
"""The analytics are recomputed at most this often (when a table they read changed)..."""
ANALYTICS_DUTY = 20
"""... and at most once per this many times their last computation took: live analytics
take at most about 5% of a core, however large the tables or fast the stream."""


class QueryRefused(ConfigError):
    """A visitor's query the console will not run or could not finish; the message says why."""


@dataclass(frozen=True)
class Answer:
    sql: str
    table: pa.Table
    truncated: bool
    seconds: float


class _Limited:
    """One engine, one query at a time, each interrupted after ``timeout_s``."""

    def __init__(self, engine: Engine, timeout_s: float) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.lock = threading.Lock()

    def run(self, fn: Any) -> Any:
        with self.lock:
            fired = threading.Event()

            def interrupt() -> None:
                fired.set()
                self.engine.interrupt()

            timer = threading.Timer(self.timeout_s, interrupt)
            timer.daemon = True
            timer.start()
            try:
                return fn()
            except Exception as exc:
                if fired.is_set():
                    raise QueryRefused(
                        f"the query ran longer than {self.timeout_s:g} s and was stopped "
                        "(console.query_timeout_s); add a filter or a LIMIT"
                    ) from exc
                if "out of memory" in str(exc).lower():
                    raise QueryRefused(
                        "the query needs more memory than the console allows "
                        "(console.memory_limit); add a filter or aggregate more"
                    ) from exc
                raise
            finally:
                timer.cancel()


class Reader:
    """The console's window on one lake."""

    def __init__(self, lake: Lake, settings: ConsoleSettings) -> None:
        self.lake = lake
        self.settings = settings
        self._own = _Limited(
            interactive_engine(memory_limit=settings.memory_limit, threads=1),
            settings.query_timeout_s * 3,
        )
        self._asked = _Limited(
            interactive_engine(memory_limit=settings.memory_limit), settings.query_timeout_s
        )
        self._answers: tuple[tuple[int, ...], dict[str, pa.Table]] | None = None
        self._computed_at = 0.0
        self._took_s = 0.0
        self._cache_lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._handles_lock = threading.Lock()

    @property
    def store(self) -> Any:
        return self._own.engine.tables

    def close(self) -> None:
        self._own.engine.close()
        self._asked.engine.close()

    # -- what changed -------------------------------------------------------------------------

    def versions(self) -> tuple[int, ...]:
        """Versions of every table the analytics read: a new one means new answers."""
        found = []
        with self._handles_lock:
            for zone in ("batch", "stream"):
                for t in TABLES:
                    uri = self.lake.table(zone, t)
                    table = self._handles.get(uri)
                    if table is None:
                        table = self.store.open(uri)
                        if table is not None:
                            self._handles[uri] = table
                    else:
                        table.update_incremental()
                    found.append(-1 if table is None else table.version())
        return tuple(found)

    # -- the analytics ------------------------------------------------------------------------

    def analytic(self, name: str) -> tuple[tuple[int, ...], pa.Table]:
        """``name`` over the merged view: all of them are computed together (the views are
        loaded once), when a table changed, and at most once per ``ANALYTICS_EVERY_S``, so
        the cost is bounded however many pages watch."""
        if name not in QUERIES:
            raise ConfigError(f"no analytic named {name!r}")
        with self._cache_lock:
            versions = self.versions()
            if self._answers is None or self._answers[0] != versions:
                if all(v < 0 for v in versions):
                    raise ConfigError(
                        "no tables yet: post records (`pinpipe emulate`) and let them land"
                    )
                every = max(ANALYTICS_EVERY_S, self._took_s * ANALYTICS_DUTY)
                wait = self._computed_at + every - time.monotonic()
                if wait > 0 and self._answers is not None:
                    time.sleep(wait)
                    versions = self.versions()
                engine = self._own.engine
                started = time.monotonic()
                answers = self._own.run(
                    lambda: run_queries(self.lake, engine, list(QUERIES), "merged")
                )
                self._answers = (versions, answers)
                self._computed_at = time.monotonic()
                self._took_s = self._computed_at - started
            versions, answers = self._answers
        return versions, answers[name]

    # -- real time -------------------------------------------------------------------------------

    def realtime(self, minutes: int) -> dict[str, pa.Table]:
        """The stream job's one-minute windows: what is hot over the last ``minutes``, and
        which categories are trending against their 15-minute baseline."""
        engine = self._own.engine

        def read() -> dict[str, pa.Table]:
            found: dict[str, pa.Table] = {n: top(self.lake, engine, n, minutes) for n in RANKED}
            found["trending"] = trending(self.lake, engine)
            return found

        result: dict[str, pa.Table] = self._own.run(read)
        return result

    # -- visitors' questions ----------------------------------------------------------------

    def columns(self, source: str) -> dict[str, ColumnKind]:
        """Column → kind of one table, or of the join (``ind`` once)."""
        if source not in (*TABLES, "joined"):
            raise ConfigError(f"choose a table among {', '.join((*TABLES, 'joined'))}")
        tables: list[TableName] = list(TABLES) if source == "joined" else [source]  # type: ignore[list-item]
        found: dict[str, ColumnKind] = {}
        engine = self._own.engine
        for t in tables:
            try:
                schema = contract_columns(t, load_view(self.lake, engine, "merged", t)).schema()
                kinds = {name: _kind(str(typ)) for name, typ in schema.items()}
            except ConfigError:
                kinds = dict.fromkeys(CLEAN_COLUMNS[t], "other")
            for name, kind in kinds.items():
                found.setdefault(name, kind)
        return found

    def explore(self, question: Question) -> Answer:
        sql = to_sql(question, self.columns(question.source))
        return self.sql(sql)

    def sql(self, query: str) -> Answer:
        """A visitor's SQL: the guard first, then the limits; refusals say why."""
        try:
            body = check_read_only(query)
        except ConfigError as exc:
            raise QueryRefused(str(exc)) from exc
        limit = self.settings.row_limit
        wrapped = f"SELECT * FROM (\n{body}\n) AS pinpipe_query LIMIT {limit + 1}"
        engine = self._asked.engine
        started = time.perf_counter()
        try:
            table = self._asked.run(lambda: run_sql(self.lake, engine, wrapped))
        except QueryRefused:
            raise
        except ConfigError as exc:
            raise QueryRefused(_unwrapped(str(exc))) from exc
        seconds = time.perf_counter() - started
        truncated = table.num_rows > limit
        return Answer(body, table.slice(0, limit) if truncated else table, truncated, seconds)

    # -- quarantine ----------------------------------------------------------------------------

    def quarantine(self) -> pa.Table | None:
        """Every quarantined record (both stages, three tables), newest first."""
        parts = []
        for t in TABLES:
            for stage in STAGES:
                dataset = self.store.dataset(self.lake.quarantine(t, stage))
                if dataset is not None:
                    parts.append(dataset.to_table())
        if not parts:
            return None
        table = pa.concat_tables(parts, promote_options="permissive")
        if table.num_rows == 0:
            return table
        order = pc.sort_indices(table, sort_keys=[("_timestamp", "descending")])
        return table.take(order)


def _kind(type_name: str) -> ColumnKind:
    name = type_name.lower().lstrip("!")
    if name.startswith(("int", "uint", "float", "decimal")):
        return "number"
    if name.startswith(("string", "str")):
        return "text"
    if name.startswith(("timestamp", "date")):
        return "time"
    return "other"


def _unwrapped(message: str) -> str:
    """DuckDB's message without the wrapper query's name."""
    return message.replace("pinpipe_query.", "")
