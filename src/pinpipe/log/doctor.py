"""Checking and recovering a damaged embedded-log file (``pinpipe doctor``).

Acknowledged records live in the log file, so a damaged one must never be served as if it
were whole: ``pinpipe up`` and ``pinpipe serve`` refuse to start on a file that fails
SQLite's integrity check (fail closed), and ``pinpipe doctor`` says what is wrong and copies
everything still readable into a new file, record by record where a page is unreadable,
reporting the offsets it could not save. The damaged file is never written to. ``backup``
and ``restore`` copy a log file consistently while pinpipe runs (SQLite's online backup).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pinpipe.errors import LogError
from pinpipe.log.sqlite_schema import connect, init_schema

CHUNK = 500
"""Records copied per read; a chunk that fails is retried one record at a time."""
_TABLES = ("topics", "partitions", "group_offsets", "idempotency")


class DamagedLogError(LogError):
    """The log file fails its integrity check: acknowledged records may be unreadable."""


@dataclass
class Diagnosis:
    path: Path
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass
class Recovery:
    source: Path
    target: Path
    records: int = 0
    lost_rows: int = 0
    lost: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)
    """Offset ranges ``[start, end)`` per partition that the new file does not hold."""
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def diagnose(path: Path, *, quick: bool = False) -> Diagnosis:
    """What is wrong with the log file at ``path`` (nothing: ``healthy``)."""
    found = Diagnosis(path)
    if not path.exists():
        found.problems.append(f"{path} does not exist")
        return found
    try:
        with _read_only(path) as conn:
            pragma = "quick_check" if quick else "integrity_check"
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}(20)")]
            if rows != ["ok"]:
                found.problems += [f"SQLite {pragma}: {r}" for r in rows]
                return found
            for name, partition, start, end, held in conn.execute(
                "SELECT t.name, p.partition, p.start_offset, p.next_offset, "
                "(SELECT count(*) FROM records r WHERE r.topic_id = p.topic_id "
                " AND r.partition = p.partition AND r.offset >= p.start_offset) "
                "FROM partitions p JOIN topics t ON t.id = p.topic_id"
            ):
                if held != end - start:
                    found.problems.append(
                        f"{name}[{partition}]: holds {held} records, its offsets "
                        f"{start}..{end - 1} need {end - start}"
                    )
    except sqlite3.DatabaseError as exc:
        found.problems.append(f"SQLite cannot read the file: {exc}")
    return found


def refuse_if_damaged(path: Path) -> None:
    """Fail closed: raise ``DamagedLogError`` naming the fix when the file is damaged."""
    if not path.exists():
        return
    found = diagnose(path, quick=True)
    if not found.healthy:
        raise DamagedLogError(
            f"the log file {path} is damaged ({found.problems[0]}); pinpipe will not serve "
            "it, as acknowledged records may be unreadable. Stop every pinpipe using it, run "
            "`pinpipe doctor --recover`, check its report, then move the recovered file in place"
        )


def _copy_records(src: sqlite3.Connection, dst: sqlite3.Connection, report: Recovery) -> None:
    (high,) = src.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()
    insert = (
        "INSERT OR IGNORE INTO records (topic_id, partition, offset, timestamp, key, value) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    select = (
        "SELECT topic_id, partition, offset, timestamp, key, value FROM records "
        "WHERE rowid >= ? AND rowid < ?"
    )
    for low in range(1, high + 1, CHUNK):
        try:
            rows = src.execute(select, (low, low + CHUNK)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rowid in range(low, min(low + CHUNK, high + 1)):
                try:
                    rows += src.execute(select, (rowid, rowid + 1)).fetchall()
                except sqlite3.DatabaseError:
                    report.lost_rows += 1
        dst.executemany(insert, rows)
        report.records += len(rows)


def _gaps(dst: sqlite3.Connection, report: Recovery) -> None:
    """Per partition, the offsets between log start and end the new file does not hold."""
    partitions = dst.execute(
        "SELECT t.name, p.topic_id, p.partition, p.start_offset, p.next_offset "
        "FROM partitions p JOIN topics t ON t.id = p.topic_id ORDER BY 1, 3"
    ).fetchall()
    for name, topic_id, partition, start, end in partitions:
        expected = start
        missing: list[tuple[int, int]] = []
        for (offset,) in dst.execute(
            "SELECT offset FROM records WHERE topic_id = ? AND partition = ? AND offset >= ? "
            "ORDER BY offset",
            (topic_id, partition, start),
        ):
            if offset > expected:
                missing.append((expected, offset))
            expected = offset + 1
        if expected < end:
            missing.append((expected, end))
        if missing:
            report.lost[(name, partition)] = missing


def recover(source: Path, target: Path) -> Recovery:
    """Copy what is readable of ``source`` into a new log file ``target`` (must not exist)."""
    if target.exists():
        raise LogError(f"{target} exists already: name a new file (--to) or remove it first")
    report = Recovery(source, target)
    dst = connect(target, fsync=True)
    try:
        init_schema(dst)
        with _read_only(source) as src:
            dst.execute("BEGIN IMMEDIATE")
            for table in _TABLES:
                try:
                    rows = src.execute(f"SELECT * FROM {table}").fetchall()
                except sqlite3.DatabaseError as exc:
                    report.notes.append(f"table {table} is unreadable ({exc}); not copied")
                    continue
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    dst.executemany(f"INSERT OR IGNORE INTO {table} VALUES ({marks})", rows)
            _copy_records(src, dst, report)
            # A partition's end can only be what its records prove when its row was lost.
            dst.execute(
                "INSERT OR IGNORE INTO partitions (topic_id, partition, next_offset) "
                "SELECT topic_id, partition, max(offset) + 1 FROM records "
                "GROUP BY topic_id, partition"
            )
            dst.execute(
                "UPDATE partitions SET size_bytes = (SELECT coalesce(sum(coalesce(length(key), "
                "0) + coalesce(length(value), 0)), 0) FROM records r WHERE r.topic_id = "
                "partitions.topic_id AND r.partition = partitions.partition)"
            )
            dst.execute("COMMIT")
        _gaps(dst, report)
    finally:
        dst.close()
    return report


def backup(source: Path, target: Path) -> int:
    """A consistent copy of the log file at ``source`` taken while pinpipe runs (SQLite's
    online backup: every record committed before it starts is in it); records copied."""
    if target.exists():
        raise LogError(f"{target} exists already: back up to a new file")
    if not source.exists():
        raise LogError(f"there is no log file at {source}: check --home")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with _read_only(source) as src:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=1024)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            (count,) = dst.execute("SELECT count(*) FROM records").fetchone()
            dst.commit()
        finally:
            dst.close()
    partial.replace(target)  # the backup exists only once it is whole
    return int(count)


def restore(backup_file: Path, target: Path) -> int:
    """Put a backup in place as the log file ``target`` (which must not exist yet)."""
    if target.exists():
        raise LogError(
            f"{target} exists: restore into a new home, or move the current log aside first"
        )
    found = diagnose(backup_file)
    if not found.healthy:
        raise DamagedLogError(f"the backup {backup_file} is damaged: {found.problems[0]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(backup_file, partial)
    partial.replace(target)
    conn = connect(target, fsync=True)
    try:
        init_schema(conn)  # back to WAL, migrated to this release's schema
        (count,) = conn.execute("SELECT count(*) FROM records").fetchone()
    finally:
        conn.close()
    return int(count)
