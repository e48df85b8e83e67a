"""Typed, frozen settings: ``pinpipe.toml`` < ``PINPIPE_<SECTION>__<KEY>`` < CLI flags.

``PINPIPE_HOME`` (or ``--home``) is the working directory; relative paths in the settings
resolve against it. Every section is a frozen model so components cannot drift apart at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pinpipe.lake import Lake

DEFAULT_HOME = ".pinpipe"
CONFIG_FILE = "pinpipe.toml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogSettings(_Section):
    backend: Literal["embedded", "kafka"] = "embedded"
    """Which log backend carries the records."""
    path: str = "log.db"
    """Embedded log file (SQLite, WAL mode), relative to home."""
    partitions: int = Field(1, ge=1, le=1024)
    """Partitions of a topic created on first use."""
    fsync: bool = True
    """fsync every append before acknowledging (off only for throwaway runs)."""
    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap servers (kafka backend)."""


class IngestSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    api_keys: tuple[SecretStr, ...] = ()
    """Accepted API keys; required when binding to a non-loopback address."""
    max_request_bytes: int = 10 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024


class LakeSettings(_Section):
    root: str = "lake"
    """Lake root directory, relative to home."""


class SinkSettings(_Section):
    flush_size: int = Field(1000, ge=1)
    """Records per raw file before it is committed."""
    rotate_interval_ms: int = Field(60_000, ge=1)
    """Commit a file once a record is this much newer (record time) than its first record."""
    poll_interval_ms: int = Field(200, ge=1)
    idle_commit_ms: int = Field(0, ge=0)
    """Commit an open file once the log has been idle this long (wall clock; 0: never).

    Off by default: files then close only by count or record time, so a replay rewrites the
    same objects. Turning it on trades that for fresher raw files; nothing is duplicated or
    lost either way, because a replay always restarts at a committed file boundary."""


class StreamSettings(_Section):
    trigger_interval_ms: int = Field(500, ge=1)
    """How often the stream job looks for new records."""
    max_batch: int = Field(50_000, ge=1)
    """At most this many records per micro-batch."""
    group: str = "pinpipe-stream"


class BatchSettings(_Section):
    engine: Literal["duckdb", "spark"] = "duckdb"
    """Engine for batch cleaning and queries."""
    every_minutes: int = Field(1440, ge=0)
    """How often ``pinpipe up`` runs the batch job itself (0: never)."""


class EmulatorSettings(_Section):
    prefix: str = "pinpipe"
    url: str = "http://127.0.0.1:8082"
    seed: int = 100
    rows: int = Field(11_154, ge=1)


class Settings(BaseSettings):
    """All of pinpipe's configuration."""

    model_config = SettingsConfigDict(
        frozen=True,
        env_prefix="PINPIPE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Path(DEFAULT_HOME)
    log: LogSettings = LogSettings()
    ingest: IngestSettings = IngestSettings()
    lake: LakeSettings = LakeSettings()
    sink: SinkSettings = SinkSettings()
    stream: StreamSettings = StreamSettings()
    batch: BatchSettings = BatchSettings()
    emulator: EmulatorSettings = EmulatorSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_path())
        return (init_settings, env_settings, toml, file_secret_settings)

    def resolve(self, relative: str) -> Path:
        """A path from the settings, made absolute against home."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else (self.home / path).resolve()

    @property
    def log_path(self) -> Path:
        return self.resolve(self.log.path)

    @property
    def lake_root(self) -> Path:
        return self.resolve(self.lake.root)

    def open_lake(self) -> Lake:
        return Lake(self.lake_root)


def _config_path() -> Path:
    """``$PINPIPE_CONFIG`` or ``./pinpipe.toml``."""
    return Path(os.environ.get("PINPIPE_CONFIG", CONFIG_FILE))


def load_settings(**overrides: Any) -> Settings:
    """Settings from file and environment, with ``overrides`` (CLI flags) on top.

    ``overrides`` uses dotted keys for sections, e.g. ``{"ingest.port": 9000}``; ``None``
    values mean "flag not given" and are ignored.
    """
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            nested.setdefault(section, {})[name] = value
        else:
            nested[section] = value
    base = Settings()
    if not nested:
        return base
    merged = base.model_dump()
    for key, value in nested.items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return Settings.model_validate(merged)
