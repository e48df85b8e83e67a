"""The produce request bodies, declared once: they validate requests and make the OpenAPI schemas.

Each door's body is a ``TypedDict`` checked by a pydantic ``TypeAdapter`` (validating into
plain dicts costs about half of what model instances do, which shows at 10k requests/s);
``openapi`` takes its schemas from the same adapters, so the document cannot drift from what
the server accepts. A door turns the first validation error into its own dialect's answer
(``Explain``); checks that need settings (record and request sizes) or the log stay in the
doors.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, TypeVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from pinpipe.errors import IngestError

T = TypeVar("T")

Explain = Callable[[ErrorDetails], IngestError]
"""A door's answer to the first thing wrong with a body."""

MAX_PARTITION = 2**31
MAX_PARTITION_KEY_CHARS = 256
MAX_PUT_RECORDS = 500
HASH_SPACE = 1 << 128
_HASH_KEY = re.compile(r"^(0|[1-9][0-9]{0,38})$")


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


# -- Kinesis JSON 1.1 ------------------------------------------------------------------------


class PutRecordInput(TypedDict):
    StreamName: NotRequired[str]
    StreamARN: NotRequired[str]
    Data: Base64Bytes
    PartitionKey: PartitionKey
    ExplicitHashKey: NotRequired[HashKey | None]
    SequenceNumberForOrdering: NotRequired[Any]


class PutRecordsEntry(TypedDict):
    Data: Base64Bytes
    PartitionKey: PartitionKey
    ExplicitHashKey: NotRequired[HashKey | None]


class PutRecordsInput(TypedDict):
    StreamName: NotRequired[str]
    StreamARN: NotRequired[str]
    Records: Annotated[list[PutRecordsEntry], Field(min_length=1, max_length=MAX_PUT_RECORDS)]


V2_JSON = TypeAdapter(V2JsonProduce)
V2_BINARY = TypeAdapter(V2BinaryProduce)
V3_RECORD = TypeAdapter(V3Record)
PROXY_PUT_RECORD = TypeAdapter(ProxyPutRecord)
PROXY_PUT_RECORDS = TypeAdapter(ProxyPutRecords)
PUT_RECORD = TypeAdapter(PutRecordInput)
PUT_RECORDS = TypeAdapter(PutRecordsInput)
