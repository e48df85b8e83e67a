"""Typed, frozen settings: ``pinpipe.toml`` < ``PINPIPE_<SECTION>__<KEY>`` < CLI flags.

``PINPIPE_HOME`` (or ``--home``) is the working directory; relative paths in the settings
resolve against it. Every section is a frozen model so components cannot drift apart at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_HOME = ".pinpipe"
CONFIG_FILE = "pinpipe.toml"


EngineName = Literal["duckdb", "spark"]
ENGINE_NAMES: tuple[EngineName, ...] = ("duckdb", "spark")


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
    retention_ms: int = Field(0, ge=0)
    """Embedded log: drop records older than this per partition (0: keep forever)."""
    retention_bytes: int = Field(0, ge=0)
    """Embedded log: keep at most this many key+value bytes per partition (0: unlimited)."""
    auto_create_topics: bool = True
    """Create a missing topic on first produce (kafka: ``partitions``, ``replication_factor``)."""
    replication_factor: int = Field(1, ge=1)
    """Replicas of a topic pinpipe creates on Kafka."""
    topic_filter: str = ""
    """Regular expression: when set, only matching topics are listed, so the sink and the
    stream job consume only those (several pinpipes sharing one Kafka cluster)."""
    kafka: dict[str, str | int | float | bool] = Field(default_factory=dict, repr=False)
    """Extra librdkafka settings for every client, e.g. SASL/SSL:
    ``PINPIPE_LOG__KAFKA='{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", ...}'``."""


KeyScope = Literal["produce", "read", "all"]


class ApiKey(_Section):
    """One client's API key, stored only as its SHA-256 (``pinpipe keys hash``)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """Hex SHA-256 of the key; the key itself never appears in configuration."""
    name: str = ""
    """Who holds the key (shown in access logs and metrics, never the key)."""
    topics: tuple[str, ...] = ()
    """Topic/stream names or glob patterns this key may use; empty means all."""
    rate_limit: float | None = Field(None, ge=0)
    """Requests per second for this key (token bucket); None: ``ingest.rate_limit``."""
    record_rate_limit: float | None = Field(None, ge=0)
    """Records per second for this key; None: ``ingest.record_rate_limit``."""
    scope: KeyScope = "all"
    """What the key may do: ``produce`` (post records only), ``read`` (read records: the
    console, Kafka consumers) or ``all``."""

    def may(self, action: Literal["produce", "read"]) -> bool:
        return self.scope in ("all", action)


class IngestSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    api_keys: tuple[ApiKey, ...] = ()
    """Accepted API keys (hashed); required when binding to a non-loopback address.

    Each entry is ``"sha256:<hex>"`` or a table ``{sha256, name, topics, rate_limit, ...}``."""
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1)
    max_record_bytes: int = Field(1024 * 1024, ge=1)
    max_records_per_request: int = Field(10_000, ge=1)
    rate_limit: float = Field(0, ge=0)
    """Default requests per second per API key (or per client address without keys); 0: off."""
    rate_burst: float = Field(0, ge=0)
    """Token bucket depth; 0 means one second's worth of ``rate_limit``."""
    record_rate_limit: float = Field(0, ge=0)
    """Default records per second per key; 0: off. Kinesis PutRecords fails the excess
    records with ProvisionedThroughputExceededException, other routes answer 429."""
    auto_create_topics: bool = True
    """Kafka REST and API Gateway routes create unknown topics (Kafka's broker default);
    the native Kinesis protocol always needs CreateStream, like Kinesis."""
    workers: int = Field(1, ge=1, le=64)
    """Server processes for ``pinpipe serve`` (each has its own group commit)."""
    drain_seconds: float = Field(0.0, ge=0)
    """On stop, answer 503 + Retry-After this long (so load balancers move away) first."""
    access_log: bool = True
    """One JSON line per request on the ``pinpipe.ingest.access`` logger."""
    consumer_instances: int = Field(1000, ge=1)
    """Most live v2 consumer instances per process."""
    consumer_timeout_ms: int = Field(300_000, ge=1000)
    """Idle v2 consumer instances are removed after this (Kafka REST's default)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        """Accept ``"sha256:<hex>"`` strings; refuse plain keys with the fix in the message."""
        if isinstance(value, str):
            value = [value]
        items = []
        for item in value or ():
            if isinstance(item, SecretStr):
                item = item.get_secret_value()
            if isinstance(item, str):
                digest = item.removeprefix("sha256:")
                if not item.startswith("sha256:"):
                    raise ValueError(
                        "API keys are stored hashed: use 'sha256:<hex>' "
                        "(print it with `pinpipe keys hash`)"
                    )
                item = {"sha256": digest.lower()}
            items.append(item)
        return tuple(items)


class LakeSettings(_Section):
    root: str = "lake"
    """Lake root: a path (relative to home) or an ``s3://bucket/prefix`` URI."""
    endpoint_url: str = ""
    """S3 endpoint (an S3-compatible server); empty: ``AWS_ENDPOINT_URL_S3``,
    ``AWS_ENDPOINT_URL``, else AWS itself. Credentials always come from the standard AWS chain
    (environment, shared credentials file, instance profile), never from this file."""
    region: str = ""
    """S3 region; empty: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, else us-east-1."""
    addressing: Literal["auto", "path", "virtual"] = "auto"
    """S3 addressing style; auto: path-style with a custom endpoint, virtual-hosted on AWS."""
    retries: int = Field(10, ge=1, le=100)
    """Attempts per S3 request before a transient error (503 SlowDown, 500, timeouts) stops
    the stage; the AWS SDKs back off exponentially between them."""


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
    day_close_grace_ms: int = Field(600_000, ge=0)
    """A file still open when its UTC day has ended this long ago (wall clock) is committed,
    so a day's raw data becomes complete even on an idle partition (0: only by the rules
    above). Files never span two UTC days: a record of a new day always starts a new file."""


class StreamSettings(_Section):
    trigger_interval_ms: int = Field(500, ge=1)
    """How often the stream job looks for new records."""
    max_batch: int = Field(50_000, ge=1)
    """At most this many records per micro-batch."""
    group: str = "pinpipe-stream"
    realtime: bool = True
    """Maintain the one-minute windows under ``tables/realtime/`` (posts per category, ...)."""
    allowed_lateness_ms: int = Field(300_000, ge=0)
    """A record this much older than the newest one before it in its partition still updates
    its window; an older one is counted in ``late_records`` instead."""
    realtime_flush_ms: int = Field(2_000, ge=0)
    """How often the embedded stream job merges window counts into the lake (Spark: every
    micro-batch)."""


class BatchSettings(_Section):
    every_minutes: int = Field(1440, ge=0)
    """How often ``pinpipe up`` runs the batch job itself (0: never)."""


class MaintainSettings(_Section):
    raw_retention_days: int = Field(0, ge=0)
    """Delete raw objects of ingest days older than this, once the batch tables cover them
    (0: keep the raw zone forever). Uncovered raw data is never deleted."""
    vacuum_retention_hours: int = Field(168, ge=0)
    """VACUUM keeps files that versions of the last this many hours use (readers holding an
    older snapshot would fail: below 168 hours only when no reader holds one that long)."""
    trim_stream: bool = True
    """Delete stream-table rows the batch tables cover (below the watermark): the merged view
    does not read them, and the stream tables stay small."""


class QualitySettings(_Section):
    max_reject_share: float = Field(0.25, ge=0, le=1)
    """``pinpipe quality`` fails (exit 3) for a day whose batch rejects exceed this share of
    its raw records in any table."""


class SparkSettings(_Section):
    """Where and how the Spark engine runs (``--engine spark``)."""

    master: str = "local[2]"
    """Spark master URL: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``; empty:
    the session spark-submit (or a Databricks job) configured, used as it is."""
    remote: str = ""
    """Spark Connect URL (``sc://host:15002``); when set it replaces ``master``."""
    driver_memory: str = "1g"
    shuffle_partitions: int = Field(4, ge=1)
    """``spark.sql.shuffle.partitions``: small on one machine, raise it on a cluster."""
    resolve_jars: bool = True
    """Fetch delta-spark, spark-sql-kafka and s3a (hadoop-aws with the AWS SDK's S3 modules)
    from Maven Central once (off: the cluster has them)."""
    jars_cache: str = ""
    """Where resolved jars are cached (default ``~/.cache/pinpipe/spark-jars``)."""
    conf: dict[str, str] = {}
    """Extra Spark configuration, applied last."""
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    """Where the Structured Streaming job starts on a fresh checkpoint."""
    topic_pattern: str = ""
    """Kafka topics the Structured Streaming job subscribes to (Java regex); empty: every
    topic that feeds a table (``pinpipe.lake.line.TOPIC_PATTERN``)."""


class EmulatorSettings(_Section):
    prefix: str = "pinpipe"
    url: str = "http://127.0.0.1:8082"
    seed: int = 100
    rows: int = Field(11_154, ge=1)


class ConsoleSettings(_Section):
    """The web console (``/ui`` of ``pinpipe up``, or ``pinpipe console``)."""

    enabled: bool = True
    """Serve the console at ``/ui`` on the ingest port in ``pinpipe up``."""
    host: str = "127.0.0.1"
    """Bind address of ``pinpipe console`` (``pinpipe up`` serves it on the ingest address)."""
    port: int = Field(8083, ge=0, le=65535)
    """Port of ``pinpipe console``."""
    query_timeout_s: float = Field(10.0, gt=0, le=600)
    """An Explore or SQL query still running after this is interrupted."""
    row_limit: int = Field(5_000, ge=1, le=1_000_000)
    """Most rows a query shows (the page says when there were more)."""
    memory_limit: str = Field("512MB", pattern=r"^\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)$")
    """DuckDB ``memory_limit`` of the console's queries."""
    session_hours: float = Field(12.0, gt=0)
    """A sign-in lasts this long."""
    secret_file: str = "console.secret"
    """Signing secret of session cookies, relative to home; created once, mode 0600."""
    refresh_ms: int = Field(1000, ge=100)
    """How often the live pages get new figures."""


class Settings(BaseSettings):
    """All of pinpipe's configuration."""

    model_config = SettingsConfigDict(
        frozen=True,
        env_prefix="PINPIPE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Path(DEFAULT_HOME)
    engine: EngineName = "duckdb"
    """The engine of the jobs (batch, stream, query): ``PINPIPE_ENGINE`` or ``--engine``.
    Interactive reads (``sql``) always run on the embedded engine over the same tables."""
    log: LogSettings = LogSettings()
    ingest: IngestSettings = IngestSettings()
    lake: LakeSettings = LakeSettings()
    sink: SinkSettings = SinkSettings()
    stream: StreamSettings = StreamSettings()
    batch: BatchSettings = BatchSettings()
    emulator: EmulatorSettings = EmulatorSettings()
    spark: SparkSettings = SparkSettings()
    quality: QualitySettings = QualitySettings()
    maintain: MaintainSettings = MaintainSettings()
    console: ConsoleSettings = ConsoleSettings()

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
    def lake_root(self) -> str:
        """The lake root as a URI: a local path made absolute against home, or as given."""
        root = self.lake.root
        scheme = root.partition("://")[0] if "://" in root else ""
        if scheme and scheme != "file":
            return root.rstrip("/")
        return str(self.resolve(root.removeprefix("file://")))


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
