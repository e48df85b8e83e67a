"""The lake line: one log record as one NDJSON line, shared by the sink and the stream job."""

from __future__ import annotations

import orjson

from pinpipe.log.base import LogRecord
from pinpipe.transform.schema import RAW_TEXT_FIELD


def decode_value(value: bytes | None) -> dict[str, object] | None:
    """The record value as a JSON object, or None when it is not one.

    A JSON string that itself holds a JSON object (a client that encoded twice, or Kinesis
    ``Data`` sent as a string) is unwrapped once.
    """
    if value is None:
        return None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, str):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError:
            return None
    return doc if isinstance(doc, dict) else None


def lake_line(record: LogRecord) -> bytes:
    """The value's fields plus ``_topic``, ``_partition``, ``_offset``, ``_timestamp``.

    A value that is not a JSON object is kept whole as text under ``_raw`` so the cleaning step
    can quarantine it with its origin instead of losing it.
    """
    doc = decode_value(record.value)
    if doc is None:
        text = "" if record.value is None else record.value.decode("utf-8", "backslashreplace")
        doc = {RAW_TEXT_FIELD: text}
    doc["_topic"] = record.topic
    doc["_partition"] = record.partition
    doc["_offset"] = record.offset
    doc["_timestamp"] = record.timestamp
    return orjson.dumps(doc)
