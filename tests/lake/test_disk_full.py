"""The lake on a full disk (a real 32 MiB tmpfs): writes fail with ``LakeFullError`` naming the
object, leave no partial object behind, and a failed Delta commit leaves the table readable at
its previous version; once space is freed the same writes succeed."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pinpipe.engines import get_engine
from pinpipe.errors import DiskFullError, LakeFullError
from pinpipe.lake.storage import Storage
from tests.helpers import SmallDisk


def test_a_raw_object_on_a_full_disk_is_refused_whole_and_written_once_freed(
    disk: SmallDisk,
) -> None:
    storage = Storage.for_root(disk.path / "lake")
    uri = f"{storage.root}/raw/topics/t.pin/partition=0/t.pin+0+0000000000.json"
    data = b'{"n": 1}\n' * 50_000
    storage.write_atomically(uri.replace("+0000000000", "+0000000001"), b"{}\n")  # folder made
    disk.fill()
    with pytest.raises(LakeFullError) as refused:
        storage.write_atomically(uri, data)
    assert isinstance(refused.value, DiskFullError) and refused.value.path == uri
    assert "lake's disk is full" in str(refused.value) and "lake.root" in str(refused.value)
    folder = os.path.dirname(uri)
    assert os.listdir(folder) == ["t.pin+0+0000000001.json"]  # no temp file, no partial object
    disk.free()
    storage.write_atomically(uri, data)
    assert storage.read_bytes(uri) == data


def test_a_failed_delta_append_leaves_the_previous_version_and_a_retry_appends_once(
    disk: SmallDisk,
) -> None:
    uri = str(disk.path / "lake" / "tables" / "stream" / "t")
    appender = get_engine("duckdb").tables.appender(uri, "test")

    def rows(start: int, n: int) -> pa.Table:
        return pa.table(
            {
                "_topic": ["t.pin"] * n,
                "_partition": pa.array([0] * n, pa.int32()),
                "_offset": pa.array(range(start, start + n), pa.int64()),
                "text": [os.urandom(64).hex() for _ in range(n)],  # does not compress away
            }
        )

    assert appender.append(rows(0, 100), {("t.pin", 0): 100}) == 100
    before = DeltaTable(uri).version()
    disk.fill()
    with pytest.raises(LakeFullError) as refused:
        appender.append(rows(100, 50_000), {("t.pin", 0): 50_100})
    assert refused.value.path == uri
    table = DeltaTable(uri)
    assert table.version() == before
    assert table.to_pyarrow_table()["_offset"].to_pylist() == list(range(100))
    disk.free()
    assert appender.append(rows(100, 50_000), {("t.pin", 0): 50_100}) == 50_000
    offsets = DeltaTable(uri).to_pyarrow_table()["_offset"].to_pylist()
    assert sorted(offsets) == list(range(50_100))
