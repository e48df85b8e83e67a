"""The lake on S3: every stage reads and writes the same layout on a real S3-protocol server.

One pipeline (sink → batch → stream → merged queries) runs on a local lake and on an
``s3://`` lake of each server (moto and s3proxy); both must hold the same objects and give the
same answers. Credentials and endpoint come only from the standard AWS environment variables.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pinpipe.emulator.generator import SourceTables
from pinpipe.engines import get_engine
from pinpipe.errors import StorageError
from pinpipe.jobs.batch import run_batch
from pinpipe.lake import Lake, open_lake
from pinpipe.log.base import ProduceRecord
from pinpipe.log.embedded import EmbeddedLog
from pinpipe.settings import SinkSettings, load_settings
from pinpipe.sink.lake_sink import SINK_GROUP, LakeSink
from tests.fixtures import Spawn
from tests.helpers import merged_answers, pinpipe_command, pinpipe_env, produce_rows, stream_once
from tests.infra.s3_server import S3Server

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_lake(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lake]:
    """An empty lake under a fresh bucket, reached through the AWS environment variables."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    settings = load_settings(home=tmp_path, **{"lake.root": f"s3://{bucket}/pinpipe"})
    yield open_lake(settings)


def _keys(s3: S3Server, lake: Lake, prefix: str) -> list[str]:
    bucket, _, root = lake.root.removeprefix("s3://").partition("/")
    client = s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}/")
    keys = [o["Key"].removeprefix(f"{root}/") for p in pages for o in p.get("Contents", [])]
    return sorted(k for k in keys if k.startswith(prefix))


def _pipeline(log: EmbeddedLog, lake: Lake) -> dict[str, list[dict[str, object]]]:
    LakeSink(log, lake, SinkSettings(flush_size=40)).run(threading.Event(), once=True)
    engine = get_engine("duckdb")
    run_batch(lake, engine)
    stream_once(log, lake, engine)
    return merged_answers(lake)


def test_every_stage_on_s3_matches_the_local_lake(
    s3_server: S3Server,
    s3_lake: Lake,
    log: EmbeddedLog,
    source: SourceTables,
    tmp_path: Path,
) -> None:
    produce_rows(log, source, [i % 120 for i in range(200)])
    local = Lake.at(tmp_path / "local-lake")
    expected = _pipeline(log, local)
    log.commit(SINK_GROUP, {(t, 0): 0 for t in ("pinpipe.pin", "pinpipe.geo", "pinpipe.user")})
    assert _pipeline(log, s3_lake) == expected

    raw = _keys(s3_server, s3_lake, "raw/")
    assert raw == [
        f"raw/topics/pinpipe.{t}/partition=0/pinpipe.{t}+0+{o:010d}.json"
        for t in ("geo", "pin", "user")
        for o in range(0, 200, 40)
    ]  # exactly Confluent's S3-sink names under <root>/raw/
    assert [f.uri.removeprefix(s3_lake.root + "/") for f in s3_lake.raw_files()] == raw
    tables = _keys(s3_server, s3_lake, "tables/")
    for zone in ("batch", "stream", "quarantine/batch", "realtime"):  # no stream rejects here
        table = "posts_by_category" if zone == "realtime" else "pin"
        assert any(k.startswith(f"tables/{zone}/{table}/_delta_log/") for k in tables), zone


def test_a_replayed_sink_rewrites_the_same_objects(
    s3_lake: Lake, log: EmbeddedLog, source: SourceTables
) -> None:
    produce_rows(log, source, list(range(50)))
    LakeSink(log, s3_lake, SinkSettings(flush_size=20)).run(threading.Event(), once=True)
    before = {f.uri: s3_lake.storage.read_bytes(f.uri) for f in s3_lake.raw_files()}
    log.commit(SINK_GROUP, {("pinpipe.pin", 0): 20})  # the last commits were lost
    LakeSink(log, s3_lake, SinkSettings(flush_size=20)).run(threading.Event(), once=True)
    after = {f.uri: s3_lake.storage.read_bytes(f.uri) for f in s3_lake.raw_files()}
    assert after == before and len(before) == 9  # 3 objects of 20, 20, 10 records per topic


def test_a_missing_bucket_stops_with_bucket_key_and_fix(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    lake = open_lake(load_settings(home=tmp_path, **{"lake.root": "s3://no-such-bucket/x"}))
    with pytest.raises(StorageError, match=r"no-such-bucket.*create the bucket"):
        lake.storage.write_atomically(lake.raw_file("a.pin", 0, 0), b"{}\n")


def test_kill_9_of_a_sink_writing_to_s3_then_restart_keeps_every_record_once(
    s3_server: S3Server,
    s3_lake: Lake,
    log: EmbeddedLog,
    tmp_path: Path,
    spawn_pinpipe: Spawn,
) -> None:
    total = 20_000
    for start in range(0, total, 2_000):
        log.produce(
            "pinpipe.pin",
            [ProduceRecord(orjson.dumps({"index": i})) for i in range(start, start + 2_000)],
        )
    env = {**s3_server.env(), "PINPIPE_LAKE__ROOT": s3_lake.root, "PINPIPE_SINK__FLUSH_SIZE": "50"}
    child = spawn_pinpipe("sink", env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(s3_lake.raw_files()) < 20:
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(s3_lake.raw_files()) < total // 50, "the kill must land mid-run"
    done = subprocess.run(
        pinpipe_command("sink", "--once"),
        env=pinpipe_env(tmp_path, **env),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    offsets = sorted(
        orjson.loads(line)["_offset"]
        for f in s3_lake.raw_files()
        for line in s3_lake.storage.read_bytes(f.uri).splitlines()
    )
    assert offsets == list(range(total))
    assert [f.start_offset for f in s3_lake.raw_files()] == list(range(0, total, 50))
