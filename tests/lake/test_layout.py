"""The lake layout and storage: Confluent S3-sink object names, atomic writes, zone names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.errors import ConfigError
from pinpipe.lake import Lake
from pinpipe.lake.layout import raw_object_name
from pinpipe.lake.storage import normalize_root


def test_raw_object_names_follow_the_s3_sink(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    assert raw_object_name("streaming-x-pin", 3, 1200) == "streaming-x-pin+3+0000001200.json"
    assert lake.raw_file("a.pin", 0, 5) == (
        f"{tmp_path}/raw/topics/a.pin/partition=0/a.pin+0+0000000005.json"
    )
    assert lake.quarantine("geo", "batch") == f"{tmp_path}/tables/quarantine/batch/geo"
    assert lake.quarantine("geo", "stream") == f"{tmp_path}/tables/quarantine/stream/geo"
    assert lake.result("top_country") == f"{tmp_path}/results/top_country"


def test_raw_files_lists_committed_objects_of_a_table_only(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    for topic, offset in [("a.pin", 10), ("a.pin", 0), ("b-pin", 0), ("a.geo", 0)]:
        lake.storage.write_atomically(lake.raw_file(topic, 0, offset), b'{"x": 1}\n')
    stray = Path(lake.raw_partition_dir("a.pin", 0))
    (stray / ".a.pin+0+0000000020.json.tmp").write_bytes(b"half")  # a write cut short
    (stray / "notes.txt").write_bytes(b"")
    pins = lake.raw_files("pin")
    assert [(f.topic, f.start_offset) for f in pins] == [("a.pin", 0), ("a.pin", 10), ("b-pin", 0)]
    assert all(f.size == 9 for f in pins)
    assert [f.topic for f in lake.raw_files()] == ["a.geo", "a.pin", "a.pin", "b-pin"]
    assert Lake.at(tmp_path / "empty").raw_files() == []


def test_an_atomic_write_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    lake = Lake.at(tmp_path)
    uri = lake.raw_file("a.pin", 0, 0)
    lake.storage.write_atomically(uri, b"old\n")
    lake.storage.write_atomically(uri, b"new\n")
    assert lake.storage.read_bytes(uri) == b"new\n"
    assert [e.uri for e in lake.storage.list_files(lake.root)] == [uri]


def test_roots_are_normalized_and_unsupported_schemes_name_the_fix(tmp_path: Path) -> None:
    assert normalize_root(f"file://{tmp_path}/x/") == str(tmp_path / "x")
    assert normalize_root("gs://bucket/lake/") == "gs://bucket/lake"
    with pytest.raises(ConfigError, match="local path"):
        Lake.at("gs://bucket/lake")
