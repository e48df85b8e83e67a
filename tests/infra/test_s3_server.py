"""The S3 test servers serve what the lake needs: boto3, delta-rs and pyarrow, on each server.

One server of each kind per module (moto, s3proxy); every test runs against both. Where the
servers differ (s3proxy checks signatures, moto does not) the test says which does what.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from deltalake import DeltaTable, write_deltalake
from pyarrow import fs

from tests.infra import s3_server
from tests.infra.s3_server import KINDS, S3Server, S3ServerError, start

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    """One running server of each kind for this module."""
    began = time.monotonic()
    running = start(request.param, tmp_path_factory.mktemp(f"s3-{request.param}"))
    print(f"{request.param} ready in {time.monotonic() - began:.2f} s")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def bucket(server: S3Server) -> str:
    """A fresh bucket per test, so tests on one server do not see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    server.create_bucket(name)
    return name


def test_objects_put_get_and_list_by_prefix(server: S3Server, bucket: str) -> None:
    client = server.client()
    for key in ("raw/a/1.json", "raw/a/2.json", "raw/b/1.json"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert client.get_object(Bucket=bucket, Key="raw/a/2.json")["Body"].read() == b"raw/a/2.json"
    listed = client.list_objects_v2(Bucket=bucket, Prefix="raw/a/")
    assert [o["Key"] for o in listed["Contents"]] == ["raw/a/1.json", "raw/a/2.json"]
    delimited = client.list_objects_v2(Bucket=bucket, Prefix="raw/", Delimiter="/")
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["raw/a/", "raw/b/"]


def test_create_bucket_is_idempotent(server: S3Server, bucket: str) -> None:
    server.create_bucket(bucket)
    names = [b["Name"] for b in server.client().list_buckets()["Buckets"]]
    assert names.count(bucket) == 1


def test_conditional_put_if_none_match_is_honoured(server: S3Server, bucket: str) -> None:
    """delta-rs commits ``_delta_log/N.json`` with ``If-None-Match: *``: a second must fail."""
    client = server.client()
    client.put_object(Bucket=bucket, Key="_delta_log/0.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=bucket, Key="_delta_log/0.json", Body=b"second", IfNoneMatch="*")
    assert raised.value.response["Error"]["Code"] == "PreconditionFailed"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    body = client.get_object(Bucket=bucket, Key="_delta_log/0.json")["Body"].read()
    assert body == b"first"


def test_signatures_checked_by_s3proxy_only(server: S3Server, bucket: str) -> None:
    """s3proxy rejects a wrong secret like AWS would; moto accepts any credentials."""
    wrong = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=server.region,
    )
    if server.kind == "s3proxy":
        with pytest.raises(ClientError) as raised:
            wrong.list_objects_v2(Bucket=bucket)
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    else:
        assert wrong.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_env_alone_reaches_the_server(
    server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain ``boto3.client("s3")`` finds the server from ``env()`` with no arguments."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    client.put_object(Bucket=bucket, Key="from-env", Body=b"ok")
    assert client.get_object(Bucket=bucket, Key="from-env")["Body"].read() == b"ok"


def test_delta_table_two_commits(server: S3Server, bucket: str) -> None:
    uri = f"s3://{bucket}/t"
    options = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": server.region,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
    }
    assert server.storage_options() == options
    first = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    second = pa.table({"id": [4], "name": ["d"]})
    write_deltalake(uri, first, storage_options=options)
    write_deltalake(uri, second, mode="append", storage_options=options)
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3, 4]
    keys = server.client().list_objects_v2(Bucket=bucket, Prefix="t/_delta_log/")["Contents"]
    commits = sorted(o["Key"] for o in keys if o["Key"].endswith(".json"))
    assert commits == [f"t/_delta_log/{n:020d}.json" for n in (0, 1)]


def test_delta_commit_from_a_stale_handle_lands_as_the_next_version(
    server: S3Server, bucket: str
) -> None:
    """A writer behind the log hits the existing ``N.json`` (conditional PUT) and retries."""
    uri = f"s3://{bucket}/race"
    options = server.storage_options()
    write_deltalake(uri, pa.table({"id": [1]}), storage_options=options)
    stale = DeltaTable(uri, storage_options=options)  # at version 0
    write_deltalake(uri, pa.table({"id": [2]}), mode="append", storage_options=options)
    write_deltalake(stale, pa.table({"id": [3]}), mode="append")  # tries 1, lands as 2
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 2
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]


def test_a_key_that_is_also_a_prefix(server: S3Server, bucket: str) -> None:
    """``x`` and ``x/y`` can coexist on S3 and moto; s3proxy's filesystem backend refuses
    (a file cannot also be a directory) with a 500, so lake layouts must never need both."""
    client = server.client(retries={"max_attempts": 1})
    client.put_object(Bucket=bucket, Key="x", Body=b"file")
    if server.kind == "s3proxy":
        with pytest.raises(ClientError) as raised:
            client.put_object(Bucket=bucket, Key="x/y", Body=b"under")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    else:
        client.put_object(Bucket=bucket, Key="x/y", Body=b"under")
        listed = client.list_objects_v2(Bucket=bucket, Prefix="x")["Contents"]
        assert [o["Key"] for o in listed] == ["x", "x/y"]


def test_pyarrow_filesystem_write_list_read(server: S3Server, bucket: str) -> None:
    s3 = fs.S3FileSystem(
        endpoint_override=server.endpoint.removeprefix("http://"),
        scheme="http",
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
    )
    with s3.open_output_stream(f"{bucket}/dir/part-0.txt") as out:
        out.write(b"hello lake")
    infos = s3.get_file_info(fs.FileSelector(f"{bucket}/dir", recursive=True))
    assert [(i.path, i.size) for i in infos] == [(f"{bucket}/dir/part-0.txt", 10)]
    with s3.open_input_stream(f"{bucket}/dir/part-0.txt") as src:
        assert src.read() == b"hello lake"


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(S3ServerError, match="unknown S3 server kind"):
        start("minio", tmp_path)


def test_a_server_that_exits_early_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = [sys.executable, "-c", "print('port already in use', flush=True); raise SystemExit(3)"]
    monkeypatch.setattr(s3_server, "_moto_command", lambda port: crash)
    began = time.monotonic()
    with pytest.raises(S3ServerError, match=r"exited with 3[\s\S]*port already in use"):
        start("moto", tmp_path / "w")
    assert time.monotonic() - began < 10
    assert not (tmp_path / "w").exists()  # stop() removed what start() made


def test_cli_starts_reuses_and_stops_a_background_server(tmp_path: Path) -> None:
    env = {**os.environ, "PINPIPE_S3_STATE": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "tests.infra.s3_server", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=True,
        )
        return done.stdout.splitlines()

    lines = cli("start", "moto")
    endpoint = lines[-1]
    assert endpoint.startswith("http://127.0.0.1:")
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines[:-1])
    assert exported["AWS_ENDPOINT_URL_S3"] == endpoint
    assert (tmp_path / "s3-moto" / "server.json").exists()
    try:
        assert cli("start", "moto")[-1] == endpoint  # the running one, not a second
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
            region_name=exported["AWS_REGION"],
        )
        assert client.list_buckets()["Buckets"] == []
    finally:
        assert "stopped" in cli("stop", "moto")[-1]
    assert not (tmp_path / "s3-moto").exists()
