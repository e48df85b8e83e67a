"""Typed, frozen settings: ``pinpipe.toml`` < ``PINPIPE_<SECTION>__<KEY>`` < CLI flags.

``PINPIPE_HOME`` (or ``--home``) is the working directory; relative paths in the settings
resolve against it. Every section is a frozen model so components cannot drift apart at run time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
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


TABLE_TOPIC_PATTERN = r"^.*[._-](pin|geo|user)$"
"""Names that feed a table by the suffix rule (``lake.line.table_of_topic``, tested to agree)."""


class TopicSettings(_Section):
    """Which topics pinpipe creates, writes and consumes: one policy for the ingest API, the
    log and the jobs (``[topics]``; it replaces ``ingest.auto_create_topics``,
    ``log.auto_create_topics`` and ``log.topic_filter``, which still work as old names)."""

    pattern: str = ""
    """Python regular expression searched in a topic name (anchor it: ``^...$``); empty: the
    names that feed a table by the suffix rule (``<anything>.pin``, ``-pin``, ``_pin``, and
    ``geo``, ``user``). The ingest API refuses to write or create other topics (403), the
    log lists only matching topics, so the sink and stream jobs consume only those."""
    auto_create: bool = True
    """Create an allowed topic on its first produce (Kafka's broker default); the native
    Kinesis protocol always needs CreateStream, like Kinesis."""
    max_topics: int = Field(1000, ge=1)
    """Most topics the log holds: creating one more is refused (403 at the ingest API)."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"topics.pattern is not a valid regular expression: {exc}") from exc
        return value

    @property
    def regex(self) -> str:
        """The effective pattern: ``pattern``, else ``TABLE_TOPIC_PATTERN``."""
        return self.pattern or TABLE_TOPIC_PATTERN

    def allows(self, topic: str) -> bool:
        return re.search(self.regex, topic) is not None

    @property
    def subscribe_pattern(self) -> str:
        """``regex`` for a Java whole-name match (Spark's ``subscribePattern``)."""
        return (self.pattern and f".*(?:{self.pattern}).*") or TABLE_TOPIC_PATTERN


OPEN_TOPICS = TopicSettings(pattern=".*")
"""Any valid name: for an ingest app or a log built without a policy (tests, embedding)."""

_MOVED_TOPIC_SETTINGS = {
    ("ingest", "auto_create_topics"): "auto_create",
    ("log", "auto_create_topics"): "auto_create",
    ("log", "topic_filter"): "pattern",
}
"""Old topic settings and their names in ``[topics]``; the old names still work."""


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
    replication_factor: int = Field(1, ge=1)
    """Replicas of a topic pinpipe creates on Kafka."""
    produce_timeout_ms: int = Field(5000, ge=100, le=300_000)
    """Kafka backend: the longest an append waits for the brokers' delivery reports (librdkafka
    ``message.timeout.ms``). Past it the records fail and are not acknowledged: with the
    brokers down, the ingest API answers 503 + Retry-After within about this, never hangs."""
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
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)
    """Errors never echo what was given: it may be a plain API key put where a hash goes."""

    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    api_keys: tuple[ApiKey, ...] = ()
    """Accepted API keys (hashed); required when binding to a non-loopback address.

    Each entry is ``"sha256:<hex>"`` or a table ``{sha256, name, topics, rate_limit, ...}``."""
    api_keys_file: str = ""
    """A TOML file with ``api_keys = [...]`` (entries as in ``api_keys``), relative to home;
    read at start and again on SIGHUP, so keys change without a restart. With a file, an empty
    key list refuses every request (the server never falls open)."""
    tls_cert_file: str = ""
    """PEM certificate (chain) to serve HTTPS with, relative to home; needs ``tls_key_file``."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``."""
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1)
    max_record_bytes: int = Field(1024 * 1024, ge=1)
    max_records_per_request: int = Field(10_000, ge=1)
    max_inflight_bytes: int = Field(256 * 1024 * 1024, ge=1)
    """Request body bytes held in memory at once; past it a request is refused with 503 +
    Retry-After before its body is read, so a flood of large requests cannot grow memory."""
    header_timeout_s: float = Field(10.0, gt=0)
    """A request's head (request line and headers) must arrive within this (else 408)."""
    body_timeout_s: float = Field(30.0, gt=0)
    """A request body must arrive within this (a streamed v3 body: each chunk; else 408)."""
    keep_alive_s: int = Field(5, ge=1)
    """Idle keep-alive connections are closed after this (uvicorn's ``timeout_keep_alive``)."""
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    """Most bytes of a request's head (else 431 and the connection is closed)."""
    rate_limit: float = Field(0, ge=0)
    """Default requests per second per API key (or per client address without keys); 0: off."""
    rate_burst: float = Field(0, ge=0)
    """Token bucket depth; 0 means one second's worth of ``rate_limit``."""
    record_rate_limit: float = Field(0, ge=0)
    """Default records per second per key; 0: off. Kinesis PutRecords fails the excess
    records with ProvisionedThroughputExceededException, other routes answer 429."""
    idempotency_window_s: float = Field(24 * 3600, gt=0)
    """How long a produce request's ``Idempotency-Key`` is remembered: a resend within it
    answers the first send's offsets and appends nothing (embedded log: in the log file,
    so across restarts; Kafka: in the ingest process's memory)."""
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

    @model_validator(mode="after")
    def _tls_pair(self) -> IngestSettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("HTTPS needs both ingest.tls_cert_file and ingest.tls_key_file")
        return self

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
    disk_full_retry_s: float = Field(5.0, gt=0, le=3600)
    """While the lake's (or the log's) disk is full, the stages of ``pinpipe up`` pause and
    check this often whether space was freed, then resume from their committed positions."""


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
    """How often the stream job looks for new records (at the latest: on the embedded log in
    the same process it wakes as soon as records are appended, see ``wake_on_append``)."""
    wake_on_append: bool = True
    """Start the next micro-batch when the log takes records instead of at the next trigger
    (embedded log, same process, as in ``pinpipe up``), once ``min_batch_spacing_ms`` after
    the last one started; a stream job in another process waits for the trigger."""
    min_batch_spacing_ms: int = Field(100, ge=0)
    """With ``wake_on_append``, the least time from one micro-batch's start to the next: back
    to back micro-batches of one record each would take the CPU ingest needs (measured on 2
    cores: waking at once made p99 worse than the 500 ms trigger, not better)."""
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


MEMORY_SIZE = r"^\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)$"
"""A DuckDB memory size: ``512MB``, ``3GiB``."""


class DuckDBSettings(_Section):
    """The embedded engine's resources for the batch and stream jobs (not the console's)."""

    memory_limit: str = Field("2GiB", pattern=MEMORY_SIZE)
    """DuckDB's own memory (its default is 80% of RAM); past it, work spills to
    ``temp_directory``. Arrow results handed to Python come on top."""
    threads: int | None = Field(None, ge=1)
    """Threads DuckDB uses [one per core]."""
    temp_directory: str = "tmp/duckdb"
    """Where DuckDB spills (relative to home): on the home's disk, not the current folder."""


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


CheckKind = Literal[
    "null_rate",
    "accepted_values",
    "range",
    "format",
    "unique",
    "freshness",
    "volume",
    "schema_drift",
    "quarantine_rate",
]
Severity = Literal["warn", "block"]


class CheckSettings(_Section):
    """One data-quality check (``[[quality.checks]]``); ``docs/quality-and-alerts.md``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    """Unique name: results, gauges and the gate's message use it."""
    kind: CheckKind
    table: Literal["pin", "geo", "user"]
    severity: Severity = "warn"
    """``block`` fails ``pinpipe quality --date`` (exit 3); ``warn`` only reports."""
    column: str = ""
    """The column of null_rate, accepted_values, range and format (a cleaned-table column)."""
    max_share: float = Field(0.0, ge=0, le=1)
    """Largest passing share of bad rows: NULLs, values outside the accepted set or range,
    text not matching ``pattern``, rejects (quarantine_rate), duplicate inds (unique)."""
    values: tuple[str | int | float | bool, ...] = ()
    """accepted_values: the values allowed (NULL is judged by null_rate, not here)."""
    min: float | None = None
    max: float | None = None
    """range: inclusive bounds (either may be left out)."""
    pattern: str = ""
    """format: a regular expression the whole text must match."""
    minutes: float = Field(10.0, gt=0)
    """freshness: fail when a topic has had no record for this long."""
    baseline: int = Field(5, ge=1)
    """volume: the trailing baseline, in one-minute windows (stream) or days (batch runs)."""
    factor: float = Field(3.0, gt=1)
    """volume: fail when records are above ``factor`` x the baseline or below it / ``factor``."""
    min_baseline: int = Field(10, ge=0)
    """volume: a baseline below this many records is too small to judge (passes)."""


class QualitySettings(_Section):
    max_reject_share: float = Field(0.25, ge=0, le=1)
    """The default ``*_reject_share`` checks (block): ``pinpipe quality --date`` fails (exit 3)
    for a day whose batch rejects exceed this share of its raw records in any table."""
    checks: tuple[CheckSettings, ...] | None = None
    """The checks; None: the default set (``pinpipe.quality.checks.default_checks``)."""
    every_seconds: float = Field(30.0, gt=0)
    """How often ``pinpipe up`` evaluates the clock's checks (freshness)."""
    record_every_seconds: float = Field(300.0, ge=0)
    """The clock's results are recorded when a status changes, else at most this often."""
    examples: int = Field(3, ge=0, le=20)
    """Example rows kept with a failing result."""

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, value: tuple[CheckSettings, ...] | None) -> Any:
        names = [c.name for c in value or ()]
        if len(set(names)) != len(names):
            raise ValueError(f"check names must be unique: {names}")
        return value


AlertKind = Literal["threshold", "absent", "baseline", "quality"]


class AlertRule(_Section):
    """One alert rule (``[[alerts.rules]]``); ``docs/quality-and-alerts.md``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: AlertKind
    """threshold: ``value`` (or its ratio to ``ratio_to``) summed over the last ``minutes``
    beyond ``threshold``; absent: no rows with a positive ``value`` for ``minutes``; baseline:
    the last closed window's ``value`` above ``factor`` x the mean of the ``minutes`` windows
    before it; quality: the data-quality check ``check`` not passing in the last ``minutes``."""
    aggregate: str = ""
    """The real-time aggregate (``tables/realtime/<aggregate>``) of threshold/absent/baseline."""
    value: str = ""
    """Its measure column (``posts``, ``events``, ``records``, ``rejects``, ``late``)."""
    where: dict[str, str] = Field(default_factory=dict)
    """Only rows whose columns match these glob patterns, e.g. ``{topic = "*.pin"}``."""
    by: str = ""
    """Key column: one alert per value (``category``); empty: one alert for the rule."""
    ratio_to: str = ""
    """threshold: divide by this ``aggregate.column`` summed over the same minutes."""
    ratio_where: dict[str, str] = Field(default_factory=dict)
    """Glob patterns the ``ratio_to`` rows must match (``{topic = "*.pin"}``)."""
    op: Literal[">", "<"] = ">"
    threshold: float = 0.0
    minutes: float = Field(5.0, gt=0)
    """The time the condition looks back over (baseline: whole one-minute windows)."""
    factor: float = Field(3.0, gt=1)
    min_baseline: float = Field(1.0, ge=0)
    """baseline: baselines below this are too small to judge."""
    check: str = ""
    """quality: the check's name."""
    cooldown_seconds: float | None = Field(None, ge=0)
    """Least time between two episodes' notifications per key; None: ``alerts.cooldown_seconds``."""
    webhook_url: str = ""
    """Where to deliver; empty: ``alerts.webhook_url``."""
    format: Literal["json", "slack"] | None = None
    """Body format; None: ``alerts.format``."""


class AlertSettings(_Section):
    rules: tuple[AlertRule, ...] = ()
    webhook_url: str = ""
    """Default webhook of every rule (empty: rules without their own URL are only recorded)."""
    secret: SecretStr = SecretStr("")
    """HMAC-SHA256 key of ``X-Pinpipe-Signature`` (``PINPIPE_ALERTS__SECRET``; never logged)."""
    format: Literal["json", "slack"] = "json"
    """json: pinpipe's body; slack: a Slack incoming-webhook body (``text`` and blocks)."""
    cooldown_seconds: float = Field(300.0, ge=0)
    every_seconds: float = Field(15.0, gt=0)
    """Evaluate every rule at least this often (and whenever a source table has a new version)."""
    poll_seconds: float = Field(1.0, gt=0)
    """How often the source tables' versions are looked at for new data."""
    attempts: int = Field(5, ge=1, le=50)
    """Delivery attempts before the alert goes to the dead-letter table."""
    backoff_seconds: float = Field(0.5, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    timeout_seconds: float = Field(5.0, gt=0)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: tuple[AlertRule, ...]) -> Any:
        names = [r.name for r in value]
        if len(set(names)) != len(names):
            raise ValueError(f"alert rule names must be unique: {names}")
        return value


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
    """Kafka topics the Structured Streaming job subscribes to (Java regex, whole name);
    empty: the topics ``topics.pattern`` allows."""


class EmulatorSettings(_Section):
    prefix: str = "pinpipe"
    url: str = "http://127.0.0.1:8082"
    seed: int = 100
    rows: int = Field(11_154, ge=1)
    concurrency: int = Field(1, ge=1, le=64)
    """Posters sending at once (each its own connection); 1 posts as the reference does."""


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
    memory_limit: str = Field("512MB", pattern=MEMORY_SIZE)
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
        hide_input_in_errors=True,  # a value put in the wrong place may be a secret
    )

    home: Path = Path(DEFAULT_HOME)
    engine: EngineName = "duckdb"
    """The engine of the jobs (batch, stream, query): ``PINPIPE_ENGINE`` or ``--engine``.
    Interactive reads (``sql``) always run on the embedded engine over the same tables."""
    topics: TopicSettings = TopicSettings()
    log: LogSettings = LogSettings()
    ingest: IngestSettings = IngestSettings()
    lake: LakeSettings = LakeSettings()
    sink: SinkSettings = SinkSettings()
    stream: StreamSettings = StreamSettings()
    batch: BatchSettings = BatchSettings()
    duckdb: DuckDBSettings = DuckDBSettings()
    emulator: EmulatorSettings = EmulatorSettings()
    spark: SparkSettings = SparkSettings()
    quality: QualitySettings = QualitySettings()
    maintain: MaintainSettings = MaintainSettings()
    alerts: AlertSettings = AlertSettings()
    console: ConsoleSettings = ConsoleSettings()

    @model_validator(mode="before")
    @classmethod
    def _move_topic_settings(cls, data: Any) -> Any:
        """Old topic settings (``log.topic_filter``, ...) move to ``[topics]``; a clash fails."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        topics = data.get("topics", {})
        topics = dict(
            topics.model_dump(exclude_unset=True) if isinstance(topics, BaseModel) else topics
        )
        for (section, old), new in _MOVED_TOPIC_SETTINGS.items():
            given = data.get(section)
            if isinstance(given, BaseModel) or not isinstance(given, dict) or old not in given:
                continue
            given = dict(given)
            value = _topic_setting(new, given.pop(old))
            data[section] = given
            default = TopicSettings.model_fields[new].default
            if new in topics and _topic_setting(new, topics[new]) not in (default, value):
                raise ValueError(
                    f"{section}.{old} is now topics.{new}, which is also set (to another "
                    f"value): remove {section}.{old}"
                )
            topics[new] = value
        if topics:
            data["topics"] = topics
        return data

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


def _topic_setting(name: str, value: Any) -> Any:
    """``value`` as ``TopicSettings.<name>`` takes it (``"false"`` from the environment, ...)."""
    return getattr(TopicSettings.model_validate({name: value}), name)


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
