"""Engines run the engine-neutral transform; ``get_engine`` picks one by name."""

from __future__ import annotations

from typing import Any

from pinpipe.engines.base import Engine
from pinpipe.errors import ConfigError

ENGINES = ("duckdb", "spark")


def get_engine(name: str = "duckdb", **options: Any) -> Engine:
    """A new engine called ``name``; ``options`` go to its constructor."""
    if name == "duckdb":
        from pinpipe.engines.duckdb import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "spark":
        from pinpipe.engines.spark import SparkEngine

        if "settings" not in options and "session" not in options:
            from pinpipe.settings import load_settings

            options["settings"] = load_settings().spark  # pinpipe.toml [spark], PINPIPE_SPARK__*
        return SparkEngine(**options)
    raise ConfigError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["ENGINES", "Engine", "get_engine"]
