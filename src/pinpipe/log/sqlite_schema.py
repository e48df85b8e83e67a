"""The embedded log's SQLite file: connection settings and schema.

Records live in an ordinary rowid table with a unique index on (topic, partition, offset):
rows of ~500 bytes are too wide for a ``WITHOUT ROWID`` table to pay off, and the index keeps
fetches a single range scan. ``partitions.next_offset`` is the high-water mark, advanced in
the same transaction as the inserts, so offsets stay dense whatever process appends.
``partitions.start_offset`` is the log-start offset retention moves forward, and
``partitions.size_bytes`` the bytes of key and value held, kept exact in the same transactions
so size retention never has to scan the table. ``idempotency`` maps a produce request's
idempotency key to what it appended (positions as int64 pairs), written in the append's own
transaction; ``created_ms`` is the append's ingest time, also what expiry prunes by, and
``topic_id`` lets deleting a topic forget its keys.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000
WAL_LIMIT_BYTES = 64 * 1024 * 1024

_MIGRATE_1_TO_2 = """
ALTER TABLE partitions ADD COLUMN start_offset INTEGER NOT NULL DEFAULT 0;
ALTER TABLE partitions ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE partitions SET size_bytes = (
    SELECT coalesce(sum(coalesce(length(key), 0) + coalesce(length(value), 0)), 0)
    FROM records r WHERE r.topic_id = partitions.topic_id AND r.partition = partitions.partition
)
"""

_IDEMPOTENCY = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    topic_id INTEGER NOT NULL,
    positions BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_ms)
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions >= 1),
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
    topic_id INTEGER NOT NULL REFERENCES topics (id),
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    start_offset INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (topic_id, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    topic_id INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    key BLOB,
    value BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS records_position ON records (topic_id, partition, offset);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
"""
    + _IDEMPOTENCY
)


def connect(path: Path, *, fsync: bool, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves) with WAL settings.

    ``synchronous=FULL`` fsyncs the WAL on every commit, which is what makes an acknowledged
    append survive power loss; ``NORMAL`` only survives process crashes.
    """
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=64,
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")  # WAL shrinks back after bursts
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL and create the tables (idempotent, safe from many processes)."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch to WAL mode (got {mode!r})")
    conn.execute("PRAGMA wal_autocheckpoint = 4000")  # ~16 MiB between checkpoints
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"log schema version {version} is newer than this pinpipe ({SCHEMA_VERSION})"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        migrations = {0: _SCHEMA, 1: _MIGRATE_1_TO_2 + ";" + _IDEMPOTENCY, 2: _IDEMPOTENCY}
        script = migrations.get(version, "")
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
