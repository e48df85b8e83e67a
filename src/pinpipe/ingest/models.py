"""The request bodies, declared once: they validate requests and make the OpenAPI schemas.

Each body (produce, v2 consumers, the Kinesis operations) is a ``TypedDict`` checked by a
pydantic ``TypeAdapter`` (validating into plain dicts costs about half of what model
instances do, which shows at 10k requests/s); ``openapi`` takes its schemas from the same
adapters, so the document cannot drift from what the server accepts. A door turns the first
validation error into its own dialect's answer (``Explain``); checks that need settings
(record and request sizes) or the log (does the topic, shard or partition exist) stay in the
doors. Errors come in field order, so fields are declared in the order the doors used to
check them; cross-field rules run before the fields (``BeforeValidator`` on the body).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema
from typing_extensions import TypedDict

from pinpipe.errors import IngestError

T = TypeVar("T")

Explain = Callable[[ErrorDetails], IngestError]
"""A door's answer to the first thing wrong with a body."""

MAX_PARTITION = 2**31
MAX_PARTITION_KEY_CHARS = 256
MAX_PUT_RECORDS = 500
MAX_SHARDS = 1024
MAX_GET_RECORDS = 10_000
MAX_LIST = 10_000
"""The cap of ListStreams' and DescribeStream's ``Limit`` and ListShards' ``MaxResults``."""
MAX_TOPIC_PATTERN_CHARS = 1000
HASH_SPACE = 1 << 128
_HASH_KEY = re.compile(r"^(0|[1-9][0-9]{0,38})$")
CONSUMER_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]*:\d*:stream/([a-zA-Z0-9_.-]{1,128})$")


def validate(adapter: TypeAdapter[T], doc: Any, explain: Explain) -> T:
    """``doc`` checked against ``adapter``; the first error becomes ``explain``'s answer."""
    try:
        return adapter.validate_python(doc)
    except ValidationError as exc:
        raise explain(exc.errors(include_url=False)[0]) from None


def _base64(raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise PydanticCustomError("base64_type", "a base64 string is needed")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        reason = {"reason": str(exc)}
        raise PydanticCustomError("base64", "not valid base64: {reason}", reason) from exc


def _not_null(raw: Any) -> Any:
    if raw is None:
        raise PydanticCustomError("not_null", "must not be null")
    return raw


def _hash_key(raw: Any) -> int:
    if isinstance(raw, str) and _HASH_KEY.match(raw) and int(raw) < HASH_SPACE:
        return int(raw)
    raise PydanticCustomError("hash_key", "ExplicitHashKey must be in the range [0, 2^128-1]")


Base64Bytes = Annotated[
    bytes,
    PlainValidator(_base64),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
"""Bytes sent as base64 text (standard alphabet, padding required)."""

NotNull = Annotated[Any, PlainValidator(_not_null), WithJsonSchema({"not": {"type": "null"}})]
"""Any JSON value except null."""


@dataclass(frozen=True, slots=True)
class Between:
    """An integer in ``low..high`` whose error carries both ends, as Kinesis' messages name them.

    Pydantic's own ``ge``/``le`` errors name one end and a type error none; this check gives
    every failure the error ``int_range`` with ``low`` and ``high`` in its context.
    """

    low: int
    high: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self._check)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def _check(self, raw: Any) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool) and self.low <= raw <= self.high:
            return raw
        ends = {"low": self.low, "high": self.high}
        raise PydanticCustomError("int_range", "must be an integer from {low} to {high}", ends)


Partition = Annotated[int, Field(ge=0, lt=MAX_PARTITION, strict=True)]
PartitionKey = Annotated[str, Field(min_length=1, max_length=MAX_PARTITION_KEY_CHARS, strict=True)]
HashKey = Annotated[
    int,
    PlainValidator(_hash_key),
    WithJsonSchema({"type": "string", "pattern": _HASH_KEY.pattern}),
]
"""Kinesis' ``ExplicitHashKey``: a decimal string below 2**128."""


# -- Kafka REST v2 ---------------------------------------------------------------------------


class V2JsonRecord(TypedDict):
    """A record of the json embedded format: key and value are any JSON, stored as JSON text."""

    key: NotRequired[Any]
    value: NotRequired[Any]
    partition: NotRequired[Partition | None]


class V2BinaryRecord(TypedDict):
    """A record of the binary embedded format: key and value are base64."""

    key: NotRequired[Base64Bytes | None]
    value: NotRequired[Base64Bytes | None]
    partition: NotRequired[Partition | None]


class V2JsonProduce(TypedDict):
    records: Annotated[list[V2JsonRecord], Field(min_length=1)]


class V2BinaryProduce(TypedDict):
    records: Annotated[list[V2BinaryRecord], Field(min_length=1)]


# -- Kafka REST v3 ---------------------------------------------------------------------------

V3Type = Annotated[
    Literal["BINARY", "JSON", "STRING"], BeforeValidator(lambda raw: str(raw).upper())
]
"""Case-insensitive, as Confluent's server takes it; schema types (AVRO, ...) fail here."""


class V3Data(TypedDict):
    type: NotRequired[V3Type]
    data: NotRequired[Any]


class V3Record(TypedDict):
    key: NotRequired[V3Data | None]
    value: NotRequired[V3Data | None]
    partition_id: NotRequired[Partition | None]
    headers: NotRequired[Any]
    """Accepted, not stored."""
    timestamp: NotRequired[Any]
    """Accepted, not stored: the log keeps ingest time."""


# -- Kinesis through API Gateway (the AWS tutorial's mapping templates) ---------------------


class ProxyPutRecord(TypedDict):
    StreamName: NotRequired[Any]
    """Ignored: the path names the stream."""
    Data: NotNull
    PartitionKey: PartitionKey


class ProxyPutRecordsEntry(TypedDict):
    data: Annotated[NotNull, Field(validation_alias=AliasChoices("data", "Data"))]
    partition_key: Annotated[
        PartitionKey, Field(validation_alias=AliasChoices("partition-key", "PartitionKey"))
    ]


class ProxyPutRecords(TypedDict):
    records: Annotated[
        list[ProxyPutRecordsEntry],
        Field(
            min_length=1,
            max_length=MAX_PUT_RECORDS,
            validation_alias=AliasChoices("records", "Records"),
        ),
    ]


# -- Kafka REST v2 consumers -----------------------------------------------------------------


def _lower(raw: Any) -> str:
    """Any JSON value as lower-case text: the proxy's consumer configs are case-insensitive."""
    return str(raw).lower()


def _text_or_none(raw: Any) -> str | None:
    """A consumer name as text; an empty or missing one (``""``, ``null``, ``0``) is None."""
    return str(raw) if raw else None


def _consumer_name(raw: Any) -> Any:
    """``name``, else the older ``id``: the one given is the one checked."""
    if not isinstance(raw, dict) or "id" not in raw:
        return raw
    doc = {k: v for k, v in raw.items() if k != "id"}
    doc["name"] = raw.get("name") or raw["id"]
    return doc


def _regex(raw: Any) -> re.Pattern[str]:
    if not isinstance(raw, str) or len(raw) > MAX_TOPIC_PATTERN_CHARS:
        raise PydanticCustomError("regex_type", "must be a regular expression")
    try:
        return re.compile(raw)
    except re.error as exc:
        reason = {"reason": str(exc)}
        raise PydanticCustomError("regex", "not a valid regex: {reason}", reason) from exc


def _one_subscription(raw: Any) -> Any:
    if isinstance(raw, dict) and (raw.get("topics") is None) == (raw.get("topic_pattern") is None):
        raise PydanticCustomError("subscription", "give exactly one of topics and topic_pattern")
    return raw


ConsumerName = Annotated[
    Annotated[str, Field(pattern=CONSUMER_NAME.pattern)] | None, BeforeValidator(_text_or_none)
]
"""A consumer instance's name; a number is taken as its text, as the proxy's JSON reader does."""
ConsumerFormat = Annotated[Literal["binary", "json"], BeforeValidator(_lower)]
OffsetReset = Annotated[Literal["earliest", "latest", "none"], BeforeValidator(_lower)]
AutoCommit = Annotated[
    bool,
    BeforeValidator(lambda raw: _lower(raw) == "true"),
    WithJsonSchema({"enum": ["true", "false", True, False], "default": "true"}),
]
"""On unless it says false: any value but "true" (any case) turns auto-commit off."""
TopicName = Annotated[str, Field(strict=True)]
"""Checked against the topic naming rules and the key's allow-list by the door."""
TopicPattern = Annotated[
    re.Pattern[str],
    PlainValidator(_regex),
    WithJsonSchema({"type": "string", "format": "regex", "maxLength": MAX_TOPIC_PATTERN_CHARS}),
]
ConsumerPartition = Annotated[int, Field(strict=True)]
"""No bounds here: a partition the topic lacks is the door's 404 / 40402."""
ConsumerOffset = Annotated[int, Field(strict=True, ge=0)]

ConsumerCreate = TypedDict(
    "ConsumerCreate",
    {
        "format": NotRequired[ConsumerFormat],
        "auto.offset.reset": NotRequired[OffsetReset],
        "auto.commit.enable": NotRequired[AutoCommit],
        "name": NotRequired[ConsumerName],
        "id": NotRequired[ConsumerName],
    },
)
"""``POST /consumers/{group}``: defaults binary, latest, auto-commit on, a random name."""


class ConsumerSubscription(TypedDict):
    """Exactly one of ``topics`` and ``topic_pattern``."""

    topics: NotRequired[Annotated[list[TopicName], Field(min_length=1)] | None]
    topic_pattern: NotRequired[TopicPattern | None]


class TopicPartitionRef(TypedDict):
    topic: TopicName
    partition: ConsumerPartition


class TopicPartitionOffset(TypedDict):
    topic: TopicName
    partition: ConsumerPartition
    offset: ConsumerOffset


class ConsumerPartitions(TypedDict):
    """Assignments, seeks to the beginning or end, and committed-offset queries."""

    partitions: list[TopicPartitionRef]


class ConsumerSeek(TypedDict):
    offsets: list[TopicPartitionOffset]


class ConsumerCommit(TypedDict):
    """Each ``offset`` is the last record consumed; without ``offsets``, every position."""

    offsets: NotRequired[list[TopicPartitionOffset] | None]


# -- Kinesis control plane (JSON 1.1 operations, also reached through API Gateway) ----------


def _stream_name(raw: Any) -> str:
    if isinstance(raw, str) and STREAM_NAME.match(raw) and raw not in (".", ".."):
        return raw
    raise PydanticCustomError("stream_name", "not a stream name")


def _stream_arn(raw: Any) -> str:
    if isinstance(raw, str) and STREAM_ARN.match(raw):
        return raw
    raise PydanticCustomError("stream_arn", "not a Kinesis stream ARN")


def _stream_ref(raw: Any) -> Any:
    """``StreamName`` or ``StreamARN`` is needed; with both, the name is used and the ARN unread."""
    if not isinstance(raw, dict):
        return raw
    if raw.get("StreamName") is not None:
        drop = "StreamARN"
    elif isinstance(raw.get("StreamARN"), str):
        drop = "StreamName"
    else:
        raise PydanticCustomError(
            "stream_ref", "Either StreamName or StreamARN should be provided."
        )
    return {k: v for k, v in raw.items() if k != drop} if drop in raw else raw


def _shards_token(raw: Any) -> Any:
    """ListShards' ``NextToken`` names the stream (base64 of its name) unless the body does."""
    if not isinstance(raw, dict) or not isinstance(raw.get("NextToken"), str):
        return raw
    try:
        name = base64.b64decode(raw["NextToken"]).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise PydanticCustomError("next_token", "Invalid NextToken.") from exc
    return {"StreamName": name, **raw}


StreamName = Annotated[
    str,
    PlainValidator(_stream_name),
    WithJsonSchema(
        {"type": "string", "pattern": STREAM_NAME.pattern, "not": {"enum": [".", ".."]}}
    ),
]
StreamARN = Annotated[
    str,
    PlainValidator(_stream_arn),
    WithJsonSchema({"type": "string", "pattern": STREAM_ARN.pattern}),
]
Text = Annotated[str, Field(strict=True)]
IteratorType = Literal[
    "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP", "TRIM_HORIZON", "LATEST"
]
Timestamp = Annotated[float, Field(strict=True)] | Text
"""Epoch seconds, as a number or text, or ISO 8601 text; read only for AT_TIMESTAMP."""


class StreamRef(TypedDict):
    """The stream an operation is about: by name, or by ARN when the name is absent."""

    StreamName: NotRequired[StreamName]
    StreamARN: NotRequired[StreamARN]


class CreateStreamInput(TypedDict):
    StreamName: StreamName
    ShardCount: NotRequired[Annotated[int, Between(1, MAX_SHARDS)]]
    """Without it, the on-demand stream's 4 shards (5 through API Gateway's template)."""


class DeleteStreamInput(StreamRef):
    """``EnforceConsumerDeletion`` is accepted and not needed: streams have no consumers."""


class ListStreamsInput(TypedDict):
    Limit: NotRequired[Annotated[int, Between(1, MAX_LIST)]]
    ExclusiveStartStreamName: NotRequired[Text | None]
    NextToken: NotRequired[Text | None]


class DescribeStreamInput(StreamRef):
    Limit: NotRequired[Annotated[int, Between(1, MAX_LIST)]]
    ExclusiveStartShardId: NotRequired[Text | None]


class DescribeStreamSummaryInput(StreamRef):
    """Only the stream."""


class ListShardsInput(StreamRef):
    MaxResults: NotRequired[Annotated[int, Between(1, MAX_LIST)]]
    ExclusiveStartShardId: NotRequired[Text | None]
    NextToken: NotRequired[Text | None]


class GetShardIteratorInput(StreamRef):
    ShardId: Text
    """Any text: one the stream lacks is ResourceNotFoundException, not a validation error."""
    ShardIteratorType: IteratorType
    StartingSequenceNumber: NotRequired[Text]
    Timestamp: NotRequired[Timestamp]


class GetRecordsInput(TypedDict):
    ShardIterator: Annotated[str, Field(strict=True, min_length=1, max_length=512)]
    Limit: NotRequired[Annotated[int, Between(1, MAX_GET_RECORDS)]]


# -- Kinesis JSON 1.1 puts ------------------------------------------------------------------------


class PutRecordInput(StreamRef):
    Data: Base64Bytes
    PartitionKey: PartitionKey
    ExplicitHashKey: NotRequired[HashKey | None]
    SequenceNumberForOrdering: NotRequired[Any]


class PutRecordsEntry(TypedDict):
    Data: Base64Bytes
    PartitionKey: PartitionKey
    ExplicitHashKey: NotRequired[HashKey | None]


class PutRecordsInput(StreamRef):
    Records: Annotated[list[PutRecordsEntry], Field(min_length=1, max_length=MAX_PUT_RECORDS)]


V2_JSON = TypeAdapter(V2JsonProduce)
V2_BINARY = TypeAdapter(V2BinaryProduce)
V3_RECORD = TypeAdapter(V3Record)
PROXY_PUT_RECORD = TypeAdapter(ProxyPutRecord)
PROXY_PUT_RECORDS = TypeAdapter(ProxyPutRecords)
PUT_RECORD = TypeAdapter(Annotated[PutRecordInput, BeforeValidator(_stream_ref)])
PUT_RECORDS = TypeAdapter(Annotated[PutRecordsInput, BeforeValidator(_stream_ref)])

CONSUMER_CREATE = TypeAdapter(Annotated[ConsumerCreate, BeforeValidator(_consumer_name)])
CONSUMER_SUBSCRIPTION = TypeAdapter(
    Annotated[ConsumerSubscription, BeforeValidator(_one_subscription)]
)
CONSUMER_PARTITIONS = TypeAdapter(ConsumerPartitions)
CONSUMER_SEEK = TypeAdapter(ConsumerSeek)
CONSUMER_COMMIT = TypeAdapter(ConsumerCommit)

CREATE_STREAM = TypeAdapter(CreateStreamInput)
DELETE_STREAM = TypeAdapter(Annotated[DeleteStreamInput, BeforeValidator(_stream_ref)])
LIST_STREAMS = TypeAdapter(ListStreamsInput)
DESCRIBE_STREAM = TypeAdapter(Annotated[DescribeStreamInput, BeforeValidator(_stream_ref)])
DESCRIBE_STREAM_SUMMARY = TypeAdapter(
    Annotated[DescribeStreamSummaryInput, BeforeValidator(_stream_ref)]
)
LIST_SHARDS = TypeAdapter(
    Annotated[ListShardsInput, BeforeValidator(_stream_ref), BeforeValidator(_shards_token)]
)
GET_SHARD_ITERATOR = TypeAdapter(Annotated[GetShardIteratorInput, BeforeValidator(_stream_ref)])
GET_RECORDS = TypeAdapter(GetRecordsInput)
