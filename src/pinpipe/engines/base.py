"""The engine contract: where raw lines become an Ibis table and Ibis tables become Arrow.

Cleaning and queries are Ibis expressions that know nothing about the engine. An engine reads
lake lines into the *raw relation*, reads and registers tables, executes expressions, and
hands out what only it knows how to do: its Delta table store, its stream job, and the command
that runs a job on it from a scheduler. Nothing outside ``engines/`` asks which engine runs.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa
import pyarrow.dataset as pads

from pinpipe.lake.delta import TableStore
from pinpipe.lake.layout import Lake
from pinpipe.lake.line import LINE_FIELD, META_TYPES, RAW_TEXT_FIELD, TableName, raw_fields
from pinpipe.settings import Settings

RAW_META: Final[dict[str, dt.DataType]] = {
    **{name: dt.dtype(typ) for name, typ in META_TYPES.items()},
    RAW_TEXT_FIELD: dt.string,
    LINE_FIELD: dt.string,
}
"""Metadata columns of the raw relation, before the record's own fields."""

TEXT_FIELDS: Final[tuple[str, ...]] = (*META_TYPES, RAW_TEXT_FIELD)
"""Line fields every engine first reads as text (metadata is cast afterwards)."""

Job = Sequence[str]
"""A ``pinpipe`` command line without the program and global flags: ``["batch", "--date", ...]``."""


def lines_text(lines: Sequence[bytes]) -> pa.Array:
    """Lake lines as an Arrow string array; bytes that are not UTF-8 are kept backslash-escaped."""
    try:
        return pa.array(lines, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([ln.decode("utf-8", "backslashreplace") for ln in lines], pa.string())


def raw_schema(table: TableName) -> ibis.Schema:
    """Schema of the raw relation: metadata, then every record field as nullable text.

    Record fields are JSON values as text (strings unquoted, numbers as written, objects and
    arrays as JSON text); JSON null and a missing key are both NULL.
    """
    return ibis.schema({**RAW_META, **{f: dt.string for f in raw_fields(table)}})


@dataclass
class StreamStats:
    """What a stream job has done since it started (shown by ``up``, ``demo`` and benchmarks)."""

    batches: int = 0
    records: int = 0
    rows: int = 0
    rejects: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    """Ingest timestamp → commit time per committed row (bounded sample)."""
    recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=65_536))
    """``(commit time ms, latency ms)`` of the latest rows, for freshness over a window: at
    most ``RECENT_PER_BATCH`` evenly spaced rows of each micro-batch, so a minute of a fast
    stream still fits and a percentile sorts a few thousand values, not every row."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    MAX_SAMPLES = 1_000_000
    RECENT_PER_BATCH = 256

    def observe(self, ingest_ms: Sequence[int], now_ms: float) -> None:
        if len(self.latencies_ms) < self.MAX_SAMPLES:
            self.latencies_ms.extend(now_ms - t for t in ingest_ms)
        step = -(-len(ingest_ms) // self.RECENT_PER_BATCH) or 1
        with self._lock:
            self.recent.extend((now_ms, now_ms - t) for t in ingest_ms[::step])

    def freshness(self, now_ms: float, window_ms: float = 60_000) -> list[float]:
        """Sorted latencies (ms) of the rows committed in the last ``window_ms``."""
        with self._lock:
            samples = list(self.recent)
        return sorted(lat for at, lat in samples if at >= now_ms - window_ms)


class StreamRunner(Protocol):
    """A running stream job: log → stream tables, exactly once."""

    stats: StreamStats

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        beat: Callable[[], None] | None = None,
    ) -> None:
        """Work until ``stop`` is set (or, with ``once``, until what the log holds is written);
        ``beat()`` after each pass that worked (the supervisor's stage health)."""

    def reset(self) -> None:
        """Forget in-memory positions: the next step resumes where the Delta tables say."""

    def on_windows_merged(self, callback: WindowsMerged) -> None:
        """Call ``callback(closed_before_ms)`` after each merge of the real-time windows: no
        record can still land in a window ending at or before that time (a closed window)."""


WindowsMerged = Callable[[int], None]


class Engine(ABC):
    """Runs the engine-neutral transform: reads raw lines and tables, executes Ibis tables."""

    name: str
    dialect: str
    """The sqlglot dialect of the engine's SQL (for the read-only guard)."""
    _tables: TableStore

    @property
    def tables(self) -> TableStore:
        """The Delta writer whose tables this engine's jobs produce."""
        return self._tables

    def empty_raw(self, table: TableName) -> ibis.Table:
        """The raw relation with no rows (a table nothing was logged for yet)."""
        return self.table(raw_schema(table).to_pyarrow().empty_table())

    @abstractmethod
    def raw_from_files(self, table: TableName, uris: Sequence[str]) -> ibis.Table:
        """The raw relation of lake-line NDJSON files (empty relation for no files)."""

    @abstractmethod
    def raw_from_lines(self, table: TableName, lines: Sequence[bytes]) -> ibis.Table:
        """The raw relation of in-memory lake lines (the stream job's records)."""

    @abstractmethod
    def table(self, arrow: pa.Table | pads.Dataset) -> ibis.Table:
        """An Arrow table or dataset as an Ibis table this engine can execute."""

    @abstractmethod
    def read_delta(self, uri: str) -> ibis.Table | None:
        """The Delta table at ``uri``, or None when there is no table there."""

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

    def stream_runner(self, settings: Settings, lake: Lake) -> StreamRunner:
        """The stream job on this engine: micro-batches read from the configured log."""
        from pinpipe.engines.microbatch import MicroBatchStream
        from pinpipe.log import open_log

        return MicroBatchStream(open_log(settings), lake, self, settings.stream)

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        """The engine as ``settings`` configure it (``get_engine`` calls this)."""
        return cls()

    @classmethod
    @abstractmethod
    def job_command(cls, job: Job, settings: Settings) -> list[str]:
        """The command line that runs the ``pinpipe`` command ``job`` on this engine elsewhere.

        For schedulers (an Airflow DAG, cron, ``pinpipe submit``): they ask the engine what to
        run rather than branching on its name. A class method: building the line must not
        start the engine (a Spark session costs seconds).
        """

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Stop the query running now, from another thread (the console's time limit);
        an engine that cannot stop one lets it finish."""

    def close(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release connections; the engine is unusable afterwards."""
