"""Kinesis' vocabulary for both doors: names, shards, sequence numbers, iterators, errors.

A stream is a log topic and its shards are the topic's partitions. As in Kinesis, a record's
shard is chosen by the MD5 of its partition key (or its ``ExplicitHashKey``) falling into the
shard's hash-key range; the ranges split the 128-bit space evenly, as ``CreateStream`` does.

Sequence numbers are 26-digit decimal strings ``"1" + 5-digit partition + 20-digit offset``:
fixed width, so they sort in offset order within a shard both as text and as numbers, and they
decode back to a log position (``parse_sequence_number``).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import orjson
from pydantic_core import ErrorDetails

from pinpipe.ingest.errors import KinesisError
from pinpipe.ingest.models import (
    HASH_SPACE,
    MAX_GET_RECORDS,
    MAX_PARTITION_KEY_CHARS,
    MAX_PUT_RECORDS,
    STREAM_ARN,
    STREAM_NAME,
    StreamRef,
)
from pinpipe.log.base import Position, TopicInfo

MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
MAX_GET_RECORDS_BYTES = 10 * 1024 * 1024
ITERATOR_TTL_MS = 5 * 60 * 1000
ACCOUNT = "000000000000"


def sequence_number(partition: int, offset: int) -> str:
    """The Kinesis sequence number of a log position (see the module docstring)."""
    return f"1{partition:05d}{offset:020d}"


def parse_sequence_number(sequence: str) -> tuple[int, int]:
    """``(partition, offset)`` back from ``sequence_number``."""
    if len(sequence) != 26 or not (sequence.isascii() and sequence.isdigit()) or sequence[0] != "1":
        raise ValueError(f"not a pinpipe sequence number: {sequence!r}")
    return int(sequence[1:6]), int(sequence[6:])


def shard_id(partition: int) -> str:
    return f"shardId-{partition:012d}"


def parse_shard_id(raw: Any, info: TopicInfo) -> int:
    text = str(raw)
    digits = text.removeprefix("shardId-")
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) > 12
        or int(digits) >= info.partitions
    ):
        raise KinesisError(
            400,
            "ResourceNotFoundException",
            f"Shard {text[:80]} in stream {info.name} under account {ACCOUNT} does not exist",
        )
    return int(digits)


def hash_range(partition: int, shards: int) -> tuple[int, int]:
    """The inclusive hash-key range of a shard (even split of 0 .. 2**128 - 1)."""
    start = -(-partition * HASH_SPACE // shards)
    end = -(-(partition + 1) * HASH_SPACE // shards) - 1
    return start, end


def shard_for(hash_key: int, shards: int) -> int:
    """The shard whose ``hash_range`` holds ``hash_key``."""
    return hash_key * shards >> 128


def key_hash(partition_key: str) -> int:
    """Kinesis' hash of a partition key: MD5 as a 128-bit unsigned integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def stream_name(body: StreamRef) -> str:
    """The stream a validated body names: ``StreamName``, else the name in ``StreamARN``."""
    name = body.get("StreamName")
    if name is not None:
        return name
    found = STREAM_ARN.match(body.get("StreamARN") or "")
    if found is None:  # the models refuse such a body; kept for a body built by hand
        raise no_stream_error()
    return found.group(1)


def check_stream_name(name: Any) -> str:
    """A stream name from a path (the API Gateway door), checked as the models check a body's."""
    if not isinstance(name, str) or not STREAM_NAME.match(name) or name in (".", ".."):
        raise stream_name_error(name)
    return name


def stream_arn(name: str, region: str) -> str:
    return f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{name}"


def result(position: Position) -> dict[str, str]:
    return {
        "SequenceNumber": sequence_number(position.partition, position.offset),
        "ShardId": shard_id(position.partition),
    }


# -- errors, worded as Kinesis words them --------------------------------------------------------


def validation(message: str) -> KinesisError:
    return KinesisError(400, "ValidationException", f"1 validation error detected: {message}")


def stream_name_error(given: Any) -> KinesisError:
    return validation(
        f"Value '{str(given)[:200]}' at 'streamName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length 1 to 128"
    )


def no_stream_error() -> KinesisError:
    return KinesisError(
        400, "InvalidArgumentException", "Either StreamName or StreamARN should be provided."
    )


def not_found(name: str) -> KinesisError:
    return KinesisError(
        400,
        "ResourceNotFoundException",
        f"Stream {name} under account {ACCOUNT} not found.",
    )


def partition_key_error(raw: Any, where: str) -> KinesisError:
    shown = "null" if raw is None else repr(raw)[:80]
    return validation(
        f"Value {shown} at '{where}' failed to satisfy constraint: Member must have length "
        f"between 1 and {MAX_PARTITION_KEY_CHARS}"
    )


def explicit_hash_key_error(raw: Any, where: str) -> KinesisError:
    return KinesisError(
        400,
        "InvalidArgumentException",
        f"Invalid ExplicitHashKey at '{where}'. ExplicitHashKey must be in the range: "
        f"[0, 2^128-1]. Specified value was {str(raw)[:60]}",
    )


def null_error(where: str) -> KinesisError:
    return validation(
        f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
    )


def records_count_error() -> KinesisError:
    return validation(
        "Value at 'records' failed to satisfy constraint: Member must have length between "
        f"1 and {MAX_PUT_RECORDS}"
    )


def record_size_error(where: str, size: int, limit: int) -> KinesisError:
    return validation(
        f"Value at '{where}' failed to satisfy constraint: Member must have length less "
        f"than or equal to {limit} (data + partition key is {size} bytes)"
    )


def put_records_size_error() -> KinesisError:
    """PutRecords' limit on the whole request (data plus partition keys)."""
    return KinesisError(
        400,
        "InvalidArgumentException",
        f"Records size exceeds {MAX_PUT_RECORDS_BYTES // (1024 * 1024)} MB limit",
    )


def explain(error: ErrorDetails, *, native: bool) -> KinesisError:
    """A body's first validation error as Kinesis words it (``where`` as AWS names it).

    The doors differ only for a put entry that is not an object: the native protocol cannot
    deserialize it, while API Gateway's template hands it on to a failing validation.
    """
    loc, given, kind = error["loc"], error["input"], error["type"]
    if kind == "missing":
        given = None
    if not loc:
        if kind == "stream_ref":
            return no_stream_error()
        if kind == "next_token":
            return KinesisError(400, "InvalidArgumentException", "Invalid NextToken.")
        return KinesisError(400, "SerializationException", "the request body must be a JSON object")
    field = str(loc[0])
    if field.lower() == "records":
        return _explain_records(error, native=native)
    where = field[0].lower() + field[1:]
    shown = str(given)[:40]
    if kind == "int_range":
        ends = error.get("ctx", {})
        return validation(
            f"Value '{shown}' at '{where}' failed to satisfy constraint: Member must have value "
            f"between {ends.get('low')} and {ends.get('high')}"
        )
    if field == "StreamName":
        return stream_name_error(given)
    if field == "StreamARN":
        return validation(f"Value '{str(given)[:200]}' at 'streamARN' failed to satisfy constraint")
    if field == "ShardIteratorType":
        return validation(
            f"Value '{shown}' at 'shardIteratorType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, "
            "AT_TIMESTAMP, TRIM_HORIZON, LATEST]"
        )
    if field == "ShardIterator":
        return validation("Value at 'shardIterator' failed to satisfy constraint: length 1..512")
    if field == "StartingSequenceNumber":
        return invalid_sequence_number_error(given)
    if field == "Timestamp":
        return timestamp_error()
    if field in ("Data", "PartitionKey", "ExplicitHashKey"):
        return _explain_put_field(error, "", field, given)
    if given is None:
        return null_error(where)
    return validation(f"Value '{shown}' at '{where}' failed to satisfy constraint: {error['msg']}")


def explain_get_records(error: ErrorDetails) -> KinesisError:
    """GetRecords words a bad ``Limit`` its own way (InvalidArgumentException)."""
    if error["loc"][:1] == ("Limit",):
        return KinesisError(
            400,
            "InvalidArgumentException",
            f"Limit must be between 1 and {MAX_GET_RECORDS}, was {str(error['input'])[:20]}",
        )
    return explain(error, native=True)


def _explain_records(error: ErrorDetails, *, native: bool) -> KinesisError:
    loc = error["loc"]
    if len(loc) == 1:
        return records_count_error()
    where = f"records.{int(loc[1]) + 1}.member"
    if len(loc) == 2:
        if native:
            return KinesisError(400, "SerializationException", f"'{where}' must be an object")
        return validation(f"Value at '{where}' failed to satisfy constraint: an object")
    given = None if error["type"] == "missing" else error["input"]
    return _explain_put_field(error, f"{where}.", str(loc[2]), given)


def _explain_put_field(error: ErrorDetails, where: str, field: str, given: Any) -> KinesisError:
    """A put record's ``Data``, ``PartitionKey`` or ``ExplicitHashKey`` (either door's case)."""
    if field.lower() == "data":
        if error["type"] == "base64":
            return KinesisError(400, "SerializationException", f"'{where}data' is not valid base64")
        return null_error(f"{where}data")
    if field == "ExplicitHashKey":
        return explicit_hash_key_error(given, f"{where}explicitHashKey")
    return partition_key_error(given, f"{where}partitionKey")


def invalid_sequence_number_error(given: Any) -> KinesisError:
    return KinesisError(
        400, "InvalidArgumentException", f"Invalid StartingSequenceNumber {str(given)[:40]}"
    )


def timestamp_error() -> KinesisError:
    return KinesisError(
        400, "InvalidArgumentException", "AT_TIMESTAMP needs a Timestamp (epoch seconds or ISO)"
    )


# -- shard iterators ---------------------------------------------------------------------------


def make_iterator(stream: str, partition: int, offset: int) -> str:
    """An opaque iterator: base64 of ``[stream, partition, offset, issued ms]``.

    It carries no secret: GetRecords checks the caller's rights on the stream it names again.
    """
    raw = orjson.dumps([stream, partition, offset, time.time_ns() // 1_000_000])
    return base64.b64encode(raw).decode()


def read_iterator(token: Any) -> tuple[str, int, int]:
    """``(stream, partition, offset)``; InvalidArgument or ExpiredIterator when unusable."""
    if not isinstance(token, str) or not 1 <= len(token) <= 512:
        raise validation("Value at 'shardIterator' failed to satisfy constraint: length 1..512")
    try:
        stream, partition, offset, issued = orjson.loads(base64.b64decode(token, validate=True))
        ok = all(isinstance(v, int) for v in (partition, offset, issued))
        if not (ok and isinstance(stream, str)):
            raise ValueError("bad iterator fields")
    except (ValueError, TypeError) as exc:
        raise KinesisError(400, "InvalidArgumentException", "Invalid ShardIterator.") from exc
    if time.time_ns() // 1_000_000 - issued > ITERATOR_TTL_MS:
        raise KinesisError(
            400,
            "ExpiredIteratorException",
            "Iterator expired. The iterator was created over "
            "5 minutes ago; get a new one with GetShardIterator.",
        )
    return stream, partition, offset
