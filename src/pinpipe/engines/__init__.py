"""Engines run the engine-neutral transform; ``get_engine`` picks one by name or settings."""

from __future__ import annotations

from pinpipe.engines.base import Engine, Job, StreamRunner, StreamStats
from pinpipe.engines.sql_guard import check_read_only
from pinpipe.errors import ConfigError
from pinpipe.settings import ENGINE_NAMES, Settings, load_settings

ENGINES = ENGINE_NAMES


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name``, imported only when chosen (Spark is an extra)."""
    if name == "duckdb":
        from pinpipe.engines.duckdb import DuckDBEngine

        return DuckDBEngine
    if name == "spark":
        from pinpipe.engines.spark import SparkEngine

        return SparkEngine
    raise ConfigError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


def get_engine(name: str | None = None, *, settings: Settings | None = None) -> Engine:
    """A new engine: ``name``, or the one the settings choose (``engine``, ``PINPIPE_ENGINE``)."""
    settings = settings or load_settings()
    return engine_class(name or settings.engine).from_settings(settings)


def job_command(job: Job, settings: Settings) -> list[str]:
    """The command line running the ``pinpipe`` command ``job`` on the configured engine."""
    return engine_class(settings.engine).job_command(job, settings)


def interactive_engine(*, memory_limit: str | None = None, threads: int | None = None) -> Engine:
    """The engine of interactive reads (``pinpipe sql``, the console), whatever wrote the tables.

    Embedded and sealed: DuckDB with no file or network access, reading Delta through delta-rs;
    ``memory_limit``/``threads`` bound what one reader may take (the console's queries).
    """
    from pinpipe.engines.duckdb import DuckDBEngine

    return DuckDBEngine(external_access=False, memory_limit=memory_limit, threads=threads)


__all__ = [
    "ENGINES",
    "Engine",
    "Job",
    "StreamRunner",
    "StreamStats",
    "check_read_only",
    "engine_class",
    "get_engine",
    "interactive_engine",
    "job_command",
]
