"""boto3's Kinesis client and the AWS CLI against a running server, endpoint_url only changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from pinpipe.ingest.auth import hash_key
from tests.helpers import Running

pytestmark = pytest.mark.slow


def _kinesis(url: str, key: str = "test") -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key="ignored",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def server(server_factory: Callable[..., Any]) -> Iterator[Running]:
    with server_factory() as running:
        yield running


def test_stream_lifecycle(server: Running) -> None:
    url, log = server
    kinesis = _kinesis(url)
    kinesis.create_stream(StreamName="clicks", ShardCount=3)
    kinesis.get_waiter("stream_exists").wait(StreamName="clicks")
    with pytest.raises(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName="clicks", ShardCount=1)
    assert kinesis.list_streams()["StreamNames"] == ["clicks"]
    description = kinesis.describe_stream(StreamName="clicks")["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    assert description["StreamARN"] == "arn:aws:kinesis:eu-west-1:000000000000:stream/clicks"
    shards = description["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(3)]
    assert shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert shards[-1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    summary = kinesis.describe_stream_summary(StreamARN=description["StreamARN"])
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 3
    assert len(kinesis.list_shards(StreamName="clicks")["Shards"]) == 3
    assert log.describe("clicks").partitions == 3
    kinesis.delete_stream(StreamName="clicks")
    assert kinesis.list_streams()["StreamNames"] == []
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream(StreamName="clicks")


def test_put_and_get_records(server: Running) -> None:
    url, _ = server
    kinesis = _kinesis(url)
    kinesis.create_stream(StreamName="pins", ShardCount=2)
    one = kinesis.put_record(StreamName="pins", Data=b'{"ind": 1}', PartitionKey="user-1")
    assert one["ShardId"].startswith("shardId-") and one["SequenceNumber"].isdigit()
    many = kinesis.put_records(
        StreamName="pins",
        Records=[{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(20)],
    )
    assert many["FailedRecordCount"] == 0 and len(many["Records"]) == 20
    # the explicit hash key picks the shard whose range holds it
    high = kinesis.put_record(
        StreamName="pins", Data=b"x", PartitionKey="p", ExplicitHashKey=str(2**128 - 1)
    )
    assert high["ShardId"] == "shardId-000000000001"
    got: list[bytes] = []
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        iterator = kinesis.get_shard_iterator(
            StreamName="pins", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        response = kinesis.get_records(ShardIterator=iterator, Limit=100)
        got += [r["Data"] for r in response["Records"]]
        after = kinesis.get_records(ShardIterator=response["NextShardIterator"])
        assert after["Records"] == [] and after["MillisBehindLatest"] == 0
    assert sorted(got) == sorted([b'{"ind": 1}', b"x", *[f"r{i}".encode() for i in range(20)]])
    # AFTER_SEQUENCE_NUMBER resumes right after a record
    iterator = kinesis.get_shard_iterator(
        StreamName="pins",
        ShardId=one["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=one["SequenceNumber"],
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert first["Data"] == b'{"ind": 1}' and first["PartitionKey"] == "user-1"
    latest = kinesis.get_shard_iterator(
        StreamName="pins", ShardId="shardId-000000000000", ShardIteratorType="LATEST"
    )["ShardIterator"]
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []


def test_kinesis_errors_and_limits(server: Running) -> None:
    url, _ = server
    kinesis = _kinesis(url)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.put_record(StreamName="missing", Data=b"x", PartitionKey="p")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        kinesis.put_record(StreamName="s", Data=b"x" * (1024 * 1024), PartitionKey="p")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        kinesis.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": "p"}] * 501)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    big = [{"Data": b"x" * 1_000_000, "PartitionKey": "p"} for _ in range(6)]
    with pytest.raises(kinesis.exceptions.InvalidArgumentException):
        kinesis.put_records(StreamName="s", Records=big)
    with pytest.raises(kinesis.exceptions.InvalidArgumentException):
        kinesis.get_records(ShardIterator="bm90IGFuIGl0ZXJhdG9y")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.get_shard_iterator(
            StreamName="s", ShardId="shardId-000000000009", ShardIteratorType="TRIM_HORIZON"
        )


def test_partial_failure_when_records_are_throttled(server_factory: Callable[..., Any]) -> None:
    keys = [{"sha256": hash_key("AKIDLIMITED")[7:], "record_rate_limit": 5}]
    with server_factory(api_keys=keys) as (url, log):
        kinesis = _kinesis(url, "AKIDLIMITED")
        kinesis.create_stream(StreamName="s", ShardCount=1)
        response = kinesis.put_records(
            StreamName="s", Records=[{"Data": b"x", "PartitionKey": "p"}] * 8
        )
        assert response["FailedRecordCount"] == 3
        failed = [r for r in response["Records"] if "ErrorCode" in r]
        assert {r["ErrorCode"] for r in failed} == {"ProvisionedThroughputExceededException"}
        assert log.end_offset("s", 0) == 5
        with pytest.raises(botocore.exceptions.ClientError) as info:
            _kinesis(url, "AKIDWRONG").list_streams()
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_aws_cli(server: Running, tmp_path: Path) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")
    url, log = server
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [aws, "--endpoint-url", url, "--output", "json", "kinesis", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    cli("create-stream", "--stream-name", "cli", "--shard-count", "1")
    put = cli(
        "put-record",
        "--stream-name",
        "cli",
        "--partition-key",
        "p",
        "--data",
        "hello",  # AWS CLI v1 sends the text as the blob's bytes
    )
    assert put["ShardId"] == "shardId-000000000000"
    assert cli("list-streams")["StreamNames"] == ["cli"]
    assert [r.value for r in log.fetch("cli", 0, 0)] == [b"hello"]
