"""Delta writes: exactly-once appends survive replays and compaction."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from pinpipe.lake.delta import DeltaRsAppender, DeltaRsStore


def AppendLog(path: Path, prefix: str, **options: int) -> DeltaRsAppender:
    return DeltaRsAppender(DeltaRsStore(), str(path), prefix, **options)


def _rows(offsets: range) -> pa.Table:
    n = len(offsets)
    return pa.table(
        {
            "_topic": ["t.pin"] * n,
            "_partition": pa.array([0] * n, pa.int32()),
            "_offset": pa.array(list(offsets), pa.int64()),
        }
    )


def test_replayed_rows_are_dropped_and_compaction_keeps_every_row(tmp_path: Path) -> None:
    table = AppendLog(tmp_path / "t", "app", compact_every=3)
    for start in range(0, 60, 10):
        assert table.append(_rows(range(start, start + 10)), {("t.pin", 0): start + 10}) == 10
    # A replay of an old batch after a crash commits nothing new.
    assert AppendLog(tmp_path / "t", "app").append(_rows(range(20, 30)), {("t.pin", 0): 30}) == 0
    delta = DeltaTable(str(tmp_path / "t"))
    assert sorted(delta.to_pyarrow_table()["_offset"].to_pylist()) == list(range(60))
    assert len(delta.file_uris()) < 6  # compacted
    assert AppendLog(tmp_path / "t", "app").positions([("t.pin", 0), ("t.geo", 0)]) == {
        ("t.pin", 0): 60,
        ("t.geo", 0): 0,
    }
